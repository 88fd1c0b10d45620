"""Cost-model speed: single-GEMM design-point evaluations per second, and a whole network.

Run: ``python bench/bench_cost.py [--seconds 2] [--pe int8] [--rows 16] [--cols 16]``.

Builds the per-design inventory once (cached), then evaluates single GEMMs of varying shape on
that design in a loop for ``--seconds`` and prints the rate (target >= 10,000/s), then times a
whole network's layer list (each workload of :mod:`models.workloads`, target well under 1 s) on a
fresh design point (first call: inventory and the hardware facts built) and again (cached). Exit status 1 if a target
is missed. The machine may be shared: the load average is printed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.cost import CostConfig, _model, evaluate  # noqa: E402
from models.workloads import WORKLOADS, Gemm  # noqa: E402

TARGET_RATE = 10_000
TARGET_NETWORK_S = 1.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--pe", default="int8")
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--cols", type=int, default=16)
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")

    config = CostConfig(args.pe, args.rows, args.cols)
    t0 = time.perf_counter()
    evaluate(config, Gemm("warm", 64, 64, 64))
    print(f"first evaluation (inventory build) {1e3 * (time.perf_counter() - t0):.1f} ms")
    shapes = [Gemm(f"g{i}", 16 + 37 * i % 500, 64 + 61 * i % 900, 32 + 29 * i % 700) for i in range(97)]
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        for g in shapes:
            evaluate(config, g)
        n += len(shapes)
    rate = n / (time.perf_counter() - start)
    ok = rate >= TARGET_RATE
    print(f"single-GEMM evaluations: {rate:,.0f}/s on {args.pe} {args.rows}x{args.cols} "
          f"(target >= {TARGET_RATE:,}/s: {'ok' if ok else 'MISSED'})")

    for i, (name, gemms) in enumerate(WORKLOADS.items()):
        # a design not evaluated yet: the first call builds its inventory (Amaranth facts included)
        fresh = CostConfig(args.pe, args.rows + 1 + i, args.cols + 1 + i)
        t0 = time.perf_counter()
        result = evaluate(fresh, gemms)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluate(fresh, gemms)
        warm = time.perf_counter() - t0
        ok &= cold < TARGET_NETWORK_S
        print(f"{name:18s} {len(gemms):2d} layers: {1e3 * cold:7.2f} ms first (inventory built), "
              f"{1e3 * warm:6.3f} ms cached; {result.tops:.3f} TOPS, {result.tops_per_w:.3f} TOPS/W, "
              f"{len(result.memory_bound_layers)} memory-bound layers")
    print(f"cached inventories: {_model.cache_info().currsize}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
