"""Run a GEMM on a design in a simulator (Verilator or Icarus, through cocotb) and compare it with
the golden model."""

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.layout import lane_words, unpack_words
from models.cycles import gemm_cycles, outlier_columns

from .build import build
from .cocotb_gemm import JOB_ENV
from .simulators import VERILATOR

WATCHDOG_FACTOR = 4     # a run may take this many times the model's cycles (+ slack) before it fails
WATCHDOG_SLACK = 1000


class SimulationError(RuntimeError):
    """The simulation itself failed (watchdog, build or cocotb error); the message says which."""


@dataclass(frozen=True)
class SimResult:
    design: object
    m: int
    k: int
    n: int
    acts: np.ndarray          # the integer codes the RTL received (M x K)
    weights: np.ndarray       # (K x N)
    rtl_out: np.ndarray       # raw integers the RTL produced (M x N)
    golden_out: np.ndarray    # the golden model's integers (M x N)
    cycles: int               # the RTL's cycle counter
    model: object             # models.cycles.CycleEstimate
    sim_seconds: float        # wall time of the run phase (start .. done) in the simulator
    wall_seconds: float       # whole simulator process incl. loading and read-back
    build_seconds: float      # 0 when the build came from the cache

    @property
    def mismatches(self):
        return int(np.count_nonzero(self.rtl_out != self.golden_out))

    @property
    def passed(self):
        return self.mismatches == 0 and self.cycles == self.model.cycles

    @property
    def cycles_per_second(self):
        return self.cycles / self.sim_seconds if self.sim_seconds > 0 else float("inf")


@dataclass(frozen=True)
class GemmJob:
    """A GEMM prepared for a design: its operands (:class:`models.registry.GemmOperands`: checked
    codes, the kind's extra operand), packed buffer words and the model's cycle prediction.

    ``extra_words`` are the further buffers the extra operand fills (e.g. the per-group
    dequantisation parameters of a grouped design), ``((host_sel, words), ...)``, loaded through the
    host port after the activations and weights.
    """
    design: object
    operands: object
    layout: object
    act_words: list
    weight_words: list
    model: object
    extra_words: tuple = ()

    acts = property(lambda self: self.operands.acts)
    weights = property(lambda self: self.operands.weights)
    extra = property(lambda self: self.operands.extra)

    @property
    def watchdog_cycles(self):
        return WATCHDOG_FACTOR * self.model.cycles + WATCHDOG_SLACK

    def golden_out(self):
        """The golden model's exact integers (M x N) for this job."""
        return self.design.kind.golden(self.operands, self.design.facts.pe)

    def result(self, out_words, cycles, **timings):
        """Unpack the RTL's output words and pair them with the golden model's output."""
        pe = self.design.facts.pe
        out_lanes = unpack_words(out_words, pe.acc_width, self.design.cols)
        m, k, n = self.layout.m, self.layout.k, self.layout.n
        return SimResult(design=self.design, m=m, k=k, n=n, acts=self.acts, weights=self.weights,
                         rtl_out=self.layout.out_matrix(out_lanes), golden_out=self.golden_out(),
                         cycles=cycles, model=self.model, **timings)


def prepare_gemm(design, operands):
    """Pack ``operands`` (a :class:`models.registry.GemmOperands` from ``design.kind.operands``:
    codes already checked for the design's PE) for ``design`` (a
    :class:`models.design.DesignConfig`). ValueError for shapes that do not fit its buffers."""
    pe = design.facts.pe
    m, k, n = operands.shape
    layout = design.layout(m, k, n)
    return GemmJob(
        design=design, operands=operands, layout=layout,
        act_words=lane_words(pe.act_lanes(layout.act_lanes(operands.acts)), pe.act_code_width),
        weight_words=lane_words(pe.weight_lanes(layout.weight_lanes(operands.weights)),
                                pe.weight_code_width),
        model=gemm_cycles(design.timing(), m, k, n, outlier_columns(operands.extra)),
        extra_words=design.facts.extra_buffer_words(layout, operands.extra))


def simulate_gemm(design, operands, *, simulator=VERILATOR):
    """Run one GEMM on ``design`` in ``simulator`` (a :class:`sim.simulators.Simulator`, default
    Verilator) through cocotb; see :func:`prepare_gemm`. ToolchainError if it is not installed."""
    return simulate_job(prepare_gemm(design, operands), simulator=simulator)


def simulate_job(job, *, simulator=VERILATOR):
    """Run a prepared :class:`GemmJob` in ``simulator`` through cocotb."""
    design = job.design
    t0 = time.perf_counter()
    built = build(design, simulator=simulator)
    build_seconds = time.perf_counter() - t0

    runs = built.directory / "runs"
    runs.mkdir(exist_ok=True)
    job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=runs))
    # the run folder stays only when something points at it (a waveform, a failure's log); an
    # interrupted or finished run leaves nothing behind
    keep = built.waves
    try:
        layout = job.layout
        job_path = job_dir / "job.json"
        job_path.write_text(json.dumps({
            "act_words": [format(w, "x") for w in job.act_words],
            "weight_words": [format(w, "x") for w in job.weight_words],
            "extra_buffers": [[sel, [format(w, "x") for w in words]] for sel, words in job.extra_words],
            "stream_len": layout.stream_len, "fold_outer": layout.fold_outer,
            "fold_inner": layout.fold_inner, "out_words": layout.out_depth,
            "watchdog_cycles": job.watchdog_cycles,
        }))
        result_path = job_dir / "result.json"

        # deferred like Simulator.runner(): cocotb_tools.runner takes ~0.1 s to import
        from cocotb_tools.runner import get_results
        t1 = time.perf_counter()
        crashed = None
        with simulator.environment():
            os.environ[JOB_ENV] = str(job_path)
            runner = simulator.runner()
            try:
                runner.test(test_module="sim.cocotb_gemm", hdl_toplevel="top",
                            hdl_toplevel_lang="verilog", build_dir=built.directory / "obj",
                            test_dir=job_dir, results_xml=str(job_dir / "results.xml"),
                            waves=built.waves, log_file=job_dir / "sim.log")
            except SystemExit as e:  # cocotb's runner exits on a failed test under pytest or a crash
                crashed = e.code
        wall_seconds = time.perf_counter() - t1
        failed = crashed is not None or get_results(job_dir / "results.xml")[1] > 0
        if failed or not result_path.exists():
            log_path = job_dir / "sim.log"
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            reason = next((line.split("WatchdogTimeout:")[-1].strip() for line in log.splitlines()
                           if "WatchdogTimeout:" in line), None)
            keep = keep or reason is None
            raise SimulationError(reason or f"cocotb test failed (exit {crashed}); see {log_path}")
        result = json.loads(result_path.read_text())
    finally:
        if not keep:
            shutil.rmtree(job_dir, ignore_errors=True)
    return job.result([int(w, 16) for w in result["out_words"]], result["cycles"],
                      sim_seconds=result["run_seconds"], wall_seconds=wall_seconds,
                      build_seconds=build_seconds)
