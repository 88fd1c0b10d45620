"""Time to quantise (quantise + dequantise) a 4096 x 4096 fp32 matrix in every format.

Run: ``python bench/bench_quant.py [--n 4096] [--formats int8,mxfp4] [--repeat 3]``.  Prints one
line per format (target < 2 s each; nothing is asserted).  Single-threaded numpy; the machine may be
shared, so with ``--repeat N`` each format runs N times: "wall s" is then the median and every run's
wall time is listed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.quant import FORMATS, ovp, ovp_search, relative_error  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--formats", default=None, help="comma-separated subset of FORMATS")
    p.add_argument("--repeat", type=int, default=1, help="runs per format (median wall; all runs listed)")
    args = p.parse_args(argv)
    names = list(FORMATS) if args.formats is None else args.formats.split(",")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((args.n, args.n)) * 0.05).astype(np.float32)
    print(f"matrix {args.n}x{args.n} fp32, numpy {np.__version__}")
    print(f"{'format':26s} {'wall s':>8s} {'cpu s':>8s} {'rel.err':>8s}")

    def run(label, fn):
        walls, cpus = [], []
        for _ in range(max(1, args.repeat)):
            t0, c0 = time.perf_counter(), time.process_time()
            y = fn()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        dt, dc = float(np.median(walls)), float(np.median(cpus))
        flag = "" if dt < 2.0 else "  (over the 2 s target)"
        runs = "  runs " + " ".join(f"{w:.2f}" for w in walls) if len(walls) > 1 else ""
        print(f"{label:26s} {dt:8.2f} {dc:8.2f} {relative_error(x, y):8.4f}{flag}{runs}", flush=True)

    for name in names:
        run(name, lambda: FORMATS[name](x))
    # OVP with a given alpha (no search), for comparison with the searched variants above
    alpha = ovp_search.x_max_3sigma(x) * np.float32(1.11)
    run("ovp-int4 (given alpha)", lambda: ovp.fake_quant_ovp(x, "int4", alpha=alpha))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
