"""cocotb test module: run one GEMM job described by the JSON file named in $PEARRAY_TB_JOB.

The job holds the packed buffer words (hex; ``extra_buffers``: ``[host_sel, words]`` pairs for
the buffers beyond act/weight a design may have), the sequencer configuration and a watchdog; the
result (cycles, output words, timings) is written next to it as result.json. Comparison against
the golden model happens outside the simulator, in :mod:`sim.run`.
"""

import json
import os
import time
from pathlib import Path

import cocotb

from sim.tb import AcceleratorTB

JOB_ENV = "PEARRAY_TB_JOB"


@cocotb.test()
async def run_gemm_job(dut):
    job_path = Path(os.environ[JOB_ENV])
    job = json.loads(job_path.read_text())
    tb = AcceleratorTB(dut)
    await tb.reset()
    t0 = time.perf_counter()
    await tb.load("act", [int(w, 16) for w in job["act_words"]])
    await tb.load("weight", [int(w, 16) for w in job["weight_words"]])
    for sel, words in job.get("extra_buffers", ()):
        await tb.load_sel(sel, [int(w, 16) for w in words])
    t1 = time.perf_counter()
    cycles, run_seconds = await tb.run(job["stream_len"], job["fold_outer"], job["fold_inner"],
                                       watchdog_cycles=job["watchdog_cycles"])
    t2 = time.perf_counter()
    out_words = await tb.read("out", job["out_words"])
    t3 = time.perf_counter()
    result = {"cycles": cycles, "out_words": [format(w, "x") for w in out_words],
              "load_seconds": t1 - t0, "run_seconds": run_seconds, "readback_seconds": t3 - t2}
    tmp = job_path.with_name("result.json.tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(job_path.with_name("result.json"))
