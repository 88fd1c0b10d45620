"""Simulation speed: the cocotb path vs a native Verilator C++ harness on the same GEMM.

Run: ``python bench/bench_sim.py [--quick] [--repeats 3] [--seed 0]`` (``make bench``).

Builds (cached) a 16x16 INT8 weight-stationary design and runs one random 256x256x256 GEMM
(``--quick``: 8x8 array, 64x64x64) through (a) :func:`sim.run.simulate_gemm`, cocotb 2.1 driving
Verilator, and (b) :func:`sim.native.run_native`, a small C++ harness built by the same Verilator
from the same Verilog with the same flags. Both time only the start..done phase; each path runs
``--repeats`` times (interleaved) and the best is reported. Prints cycles, seconds and cycles/s
per path and the ratio cocotb/native (target >= 0.5).

Exit status is non-zero only if a run is not bit-exact with the golden model or its cycle count
differs from the model; missing the speed target is reported, not failed. The machine may be
shared with other builds: timings are noisy (the load average is printed).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.build import build  # noqa: E402
from models.design import DesignConfig  # noqa: E402
from sim.native import build_native, run_native  # noqa: E402
from sim.run import simulate_gemm  # noqa: E402

TARGET_RATIO = 0.5


def _load():
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="8x8 array, 64x64x64 GEMM (smoke test)")
    p.add_argument("--repeats", type=int, default=3, help="runs per path; the best is reported")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rows = cols = 8 if args.quick else 16
    m = k = n = 64 if args.quick else 256

    design = DesignConfig.sized_for("int8", rows, cols, "ws", m, k, n)
    rng = np.random.default_rng(args.seed)
    acts = rng.integers(-128, 128, size=(m, k))
    weights = rng.integers(-128, 128, size=(k, n))
    print(f"{rows}x{cols} int8 ws array ({design.slug}), GEMM {m}x{k}x{n}, "
          f"{args.repeats} runs per path, best reported", flush=True)
    print(f"before: {_load()}  (shared machine: expect noise)", flush=True)

    t0 = time.perf_counter()
    design.verilog()
    print(f"verilog generation: {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    build(design)
    print(f"cocotb build: {time.perf_counter() - t0:.1f} s (0 s = cached)", flush=True)
    native_build = build_native(design)
    print(f"native build: {native_build.build_seconds:.1f} s (0 s = cached)", flush=True)

    paths = {"cocotb": simulate_gemm, "native": run_native}
    results = {name: [] for name in paths}
    for i in range(args.repeats):
        for name, run in paths.items():
            r = run(design, design.kind.operands(acts, weights, design.facts.pe))
            results[name].append(r)
            print(f"  run {i + 1} {name:6s}: {r.sim_seconds:.4f} s start..done, "
                  f"{r.cycles_per_second:,.0f} cycles/s, process {r.wall_seconds:.2f} s, "
                  f"bit-exact {r.mismatches == 0}, cycles==model {r.cycles == r.model.cycles}",
                  flush=True)

    ok = all(r.passed for rs in results.values() for r in rs)
    best = {name: min(rs, key=lambda r: r.sim_seconds) for name, rs in results.items()}
    model_cycles = best["native"].model.cycles
    print()
    print(f"{'path':8s} {'cycles':>9s} {'run s':>9s} {'cycles/s':>12s} {'us/cycle':>9s} "
          f"{'bit-exact':>9s} {'cycles==model':>13s}")
    for name, r in best.items():
        exact = all(x.mismatches == 0 for x in results[name])
        cyc_ok = all(x.cycles == x.model.cycles for x in results[name])
        print(f"{name:8s} {r.cycles:9d} {r.sim_seconds:9.4f} {r.cycles_per_second:12,.0f} "
              f"{1e6 * r.sim_seconds / r.cycles:9.2f} {str(exact):>9s} {str(cyc_ok):>13s}")
    print(f"model cycles: {model_cycles}")
    ratio = best["cocotb"].cycles_per_second / best["native"].cycles_per_second
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"ratio cocotb/native (cycles/s): {ratio:.3f}  -> target >= {TARGET_RATIO} {verdict}")
    print(f"after: {_load()}")
    if not ok:
        print("FAIL: a run was not bit-exact or its cycle count differs from the model")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
