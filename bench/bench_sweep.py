"""Sweep speed: wall time of `pearray sweep` over a generated space, per worker count.

Run: ``python bench/bench_sweep.py [--points 2000] [--workers 1 2] [--workload minilm-l6]
[--verify-points 0]``.

Writes a space of about ``--points`` design points (int8, lut, shiftadd and bitserial_fp16 at
every shape from a list, buffer sizes crossed) to a temporary folder and sweeps it once per
``--workers`` value (a new LocalCluster each, its start-up included), printing the wall time,
point x workload rows per second and point x layer evaluations per second. With
``--verify-points N`` it also times ``--verify all`` on N tiny int8 points (Verilator builds: the
per-task time tells what a larger cluster would do). The machine may be shared: the load
average is printed.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.sweep_space import load_space  # noqa: E402
from models.workloads import get_workload  # noqa: E402
from sim.cli import main as pearray  # noqa: E402

SIDES = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def space_text(points, workload):
    # per buffer size: 5 kind settings x 2 dataflows x every (rows, cols) pair of SIDES
    per_kib = 5 * 2 * len(SIDES) ** 2
    acts = [16 * 2 ** i for i in range(max(1, round(points / per_kib)))]
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


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with redirect_stdout(out), redirect_stderr(err):
        status = pearray(argv)
    return time.perf_counter() - start, status, out.getvalue() + err.getvalue()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--workload", default="minilm-l6")
    ap.add_argument("--verify-points", type=int, default=0)
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
        for workers in args.workers:
            seconds, status, text = run(["sweep", str(space_path), "--out", str(tmp / f"w{workers}"),
                                         "--workers", str(workers)])
            if status != 0:
                print(text)
                return 1
            print(f"  {workers} worker(s): {seconds:6.1f} s wall, {len(space.points) / seconds:8.0f} "
                  f"rows/s, {valid * layers / seconds:9.0f} point x layer evaluations/s")
            seconds, _, _ = run(["sweep", str(space_path), "--out", str(tmp / f"w{workers}"),
                                 "--workers", str(workers)])
            print(f"      resumed with nothing left to do: {seconds:.1f} s")
        if args.verify_points:
            verify = tmp / "verify.toml"
            verify.write_text(f"""
kinds = ["int8"]
rows = [2]
cols = {list(range(2, 2 + args.verify_points))}
dataflows = ["ws"]
workloads = ["16x64x20"]
""")
            for workers in args.workers:
                seconds, status, text = run(["sweep", str(verify), "--out", str(tmp / f"v{workers}"),
                                             "--workers", str(workers), "--verify", "all"])
                print(f"  verify {args.verify_points} point(s), {workers} worker(s): {seconds:.1f} s "
                      f"wall (exit {status})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
