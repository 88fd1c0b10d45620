"""Sweep speed: the cost model over many points, `pearray sweep` per worker count, verification.

Run: ``python bench/bench_sweep.py [--points 10000] [--workers 1 2] [--workload minilm-l6]
[--verify-points 0]``.

Writes a space of at least ``--points`` design points (int8, lut, shiftadd and bitserial_fp16 at
every shape from a list, buffer sizes crossed) to a temporary folder, then prints

* the cost model alone, in this process: :func:`models.cost_batch.evaluate_batch` on every valid
  point (cold: an empty on-disk fact cache, each distinct hardware configuration's facts read
  once from a probe accelerator; cold, facts on disk: a new process's state with the facts in
  :mod:`models.hardware_cache`, as any run after the first on the same code; warm: those facts
  in memory), in point x layer evaluations per second, next to the scalar
  :func:`models.cost.evaluate` on a sample;
* the whole sweep once per ``--workers`` value (a new LocalCluster each, its start-up, the
  Parquet journal, results and Pareto plots included): wall time, rows/s, point x layer
  evaluations/s; then the same sweep resumed with nothing left to do.

With ``--verify-points N`` it also times ``--verify all`` on N tiny int8 points per worker count
(each run on designs no earlier run built: Verilator builds are cached, so buffer sizes differ
per run and per bench invocation), prints the per-task times and what 10 machines would do. The
machine may be shared: the load average is printed.
"""
from __future__ import annotations

import argparse
import io
import math
import os
import resource
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from models.cost import evaluate  # noqa: E402
from models import cost_batch, hardware_cache  # noqa: E402
from models.cost_batch import evaluate_batch  # noqa: E402
from models.sweep_space import load_space  # noqa: E402
from models.workloads import get_workload  # noqa: E402
from sim.cli import main as pearray  # noqa: E402

SIDES = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def space_text(points, workload):
    # per buffer size: 5 kind settings x 2 dataflows x every (rows, cols) pair of SIDES
    per_kib = 5 * 2 * len(SIDES) ** 2
    acts = [16 * 2 ** i for i in range(max(1, math.ceil(points / per_kib)))]
    return f"""
kinds = ["int8", "lut", "shiftadd", "bitserial_fp16"]
rows = {list(SIDES)}
cols = {list(SIDES)}
act_kib = {acts}
workloads = ["{workload}"]
[options.lut]
weight_bits = [2, 4]
[options.shiftadd]
group_size = ["none"]
"""


def _cpu_seconds():
    """CPU seconds of this process and of its finished children (the LocalCluster's workers)."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def run(argv):
    """``pearray argv`` in this process: (wall seconds, exit status, output, CPU seconds)."""
    out, err = io.StringIO(), io.StringIO()
    start, cpu = time.perf_counter(), _cpu_seconds()
    with redirect_stdout(out), redirect_stderr(err):
        status = pearray(argv)
    return (time.perf_counter() - start, status, out.getvalue() + err.getvalue(),
            _cpu_seconds() - cpu)


def _bench_batch(configs, gemms, evaluations):
    for label in ("cold, empty fact cache", "cold, facts on disk", "warm"):
        if label == "cold, facts on disk":     # a new process: nothing in memory
            hardware_cache.HARDWARE.clear_memory()
            cost_batch._probe.cache_clear()
        start, cpu = time.perf_counter(), time.process_time()
        evaluate_batch(configs, gemms)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"  cost model, batch ({label}): {len(configs)} points x {len(gemms)} layers in "
              f"{seconds:.2f} s wall = {evaluations / seconds:,.0f} point x layer evaluations/s "
              f"({cpu:.2f} s CPU = {evaluations / cpu:,.0f}/s per core)")


def bench_model(space, workload):
    """The cost model alone on every valid point of ``space``, cold then warm, and the scalar
    model on a sample."""
    configs = [p.cost_config() for p in space.valid_points]
    gemms = get_workload(workload)
    evaluations = len(configs) * len(gemms)
    # CPU seconds of this process too: on a shared machine the wall time says more about the
    # other users than about the model
    # a fact cache of this run's own: "cold" starts from nothing
    before = os.environ.get("PEARRAY_HARDWARE_DIR")
    with tempfile.TemporaryDirectory(prefix="pearray-bench-hardware-") as facts:
        os.environ["PEARRAY_HARDWARE_DIR"] = facts
        hardware_cache.HARDWARE.clear_memory()
        cost_batch._probe.cache_clear()
        _bench_batch(configs, gemms, evaluations)
    if before is None:
        del os.environ["PEARRAY_HARDWARE_DIR"]
    else:
        os.environ["PEARRAY_HARDWARE_DIR"] = before
    hardware_cache.HARDWARE.clear_memory()
    sample = configs[::max(1, len(configs) // 200)]
    start, cpu = time.perf_counter(), time.process_time()
    for config in sample:
        evaluate(config, gemms)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"  cost model, scalar: {len(sample)} points in {seconds:.2f} s wall = "
          f"{len(sample) * len(gemms) / seconds:,.0f} point x layer evaluations/s "
          f"({len(sample) * len(gemms) / cpu:,.0f}/s per CPU second)")


def bench_verify(tmp, points, worker_counts):
    """``--verify all`` on ``points`` tiny designs per worker count; per-task times and the
    projection to 10 machines."""
    # act buffer depths unique to this run (the verification GEMM needs 512 words): every run
    # builds its designs, as a fresh machine would (the build cache is shared)
    stamp = 600 + (time.time_ns() // 1000) % 50_000
    per_task = {}
    for index, workers in enumerate(worker_counts):
        # an int8 2x2 act word is 16 bits: depth words = depth * 16 / 8192 KiB, exactly
        kib = [(stamp + 100 * index + i) / 512 for i in range(points)]
        verify = tmp / f"verify{workers}.toml"
        verify.write_text(f"""
kinds = ["int8"]
rows = [2]
cols = [2]
dataflows = ["ws"]
act_kib = {kib}
workloads = ["16x64x20"]
""")
        out = tmp / f"v{workers}"
        seconds, status, _, _ = run(["sweep", str(verify), "--out", str(out), "--workers", str(workers),
                                      "--verify", "all"])
        rows = pd.read_parquet(out / "results.parquet")
        tasks = rows.verify_seconds.to_numpy()
        per_task[workers] = tasks
        print(f"  verify {points} point(s), {workers} worker(s): {seconds:.1f} s wall (exit {status}); "
              f"per task {tasks.mean():.1f} s mean, {tasks.max():.1f} s max, "
              f"{tasks.sum():.1f} s summed; {', '.join(sorted(set(rows.verify_status)))}")
    base = min(worker_counts)
    tasks = per_task[base]
    task = tasks.mean()
    print(f"  10 machines x 2 worker processes (20 tasks at a time), from the {base}-worker run's "
          f"mean task of {task:.1f} s (a Verilator build, then the run): 1,000 points take about "
          f"ceil(1000 / 20) x {task:.1f} s = {math.ceil(1000 / 20) * task / 60:.0f} min, against "
          f"{1000 * task / 60 / 2:.0f} min on this 2-core machine; the scheduler adds "
          f"milliseconds per task, so the speed-up stays near the worker count while points >> "
          f"workers (each machine builds its own designs: its build cache is its own)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--workload", default="minilm-l6")
    ap.add_argument("--verify-points", type=int, default=0)
    ap.add_argument("--no-sweep", action="store_true", help="only the model (and verify) benches")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="pearray-bench-sweep-") as tmp:
        tmp = Path(tmp)
        space_path = tmp / "space.toml"
        space_path.write_text(space_text(args.points, args.workload))
        space = load_space(space_path)
        valid = len(space.valid_points)
        layers = len(get_workload(args.workload))
        print(f"space: {len(space.points)} points ({valid} valid) x {args.workload} ({layers} layers)")
        bench_model(space, args.workload)
        for workers in [] if args.no_sweep else args.workers:
            seconds, status, text, cpu = run(["sweep", str(space_path), "--out",
                                              str(tmp / f"w{workers}"), "--workers", str(workers)])
            if status != 0:
                print(text)
                return 1
            print(f"  sweep, {workers} worker(s): {seconds:6.1f} s wall ({cpu:.1f} s CPU, workers "
                  f"included), {len(space.points) / seconds:8.0f} rows/s, {valid * layers / seconds:9.0f} "
                  f"point x layer evaluations/s")
            seconds, _, _, cpu = run(["sweep", str(space_path), "--out", str(tmp / f"w{workers}"),
                                      "--workers", str(workers)])
            print(f"      resumed with nothing left to do: {seconds:.1f} s wall ({cpu:.1f} s CPU)")
        if args.verify_points:
            bench_verify(tmp, args.verify_points, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
