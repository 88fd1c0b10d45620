"""Accuracy-run speed: the whole `pearray accuracy` table, per design, without the cache.

Run: ``python bench/bench_accuracy.py [--quick] [--model smollm2|minilm|both] [--pe KIND]``.

Scores every supported registry variant (or one kind's variants with ``--pe``) against a fresh,
temporary cache, so every number is computed, and prints per design the CPU seconds (all
threads) and wall seconds, then the totals against the issue's targets: the full table < 20 min,
``--quick`` < 3 min, on this machine's 2 cores (designs are scored in ``--workers`` forked
processes, default the CPU count: both models' designs and fp32 references in one pool, longest
first). The machine may be shared: the load average is printed before and after, and the CPU
time (this process and its workers) is the honest figure when others are running. Exit status
1 if the wall-clock target is missed.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim import accuracy  # noqa: E402

TARGET_FULL_S = 20 * 60
TARGET_QUICK_S = 3 * 60


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", choices=("smollm2", "minilm", "both"), default="both")
    ap.add_argument("--pe", help="only this kind's registry variants")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="processes scoring designs")
    args = ap.parse_args(argv)
    designs = [d for d in accuracy.registry_designs() if accuracy.supported(d) is None
               and (args.pe is None or d.kind.name == args.pe)]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"{len(designs)} designs{' (--quick)' if args.quick else ''}", flush=True)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    models = ("smollm2", "minilm") if args.model == "both" else (args.model,)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PEARRAY_ACCURACY_DIR"] = tmp
        runs = []
        for model in models:
            t = time.perf_counter()
            if model == "smollm2":
                data = accuracy.smollm2_data(windows=accuracy.QUICK_WINDOWS if args.quick else accuracy.DEFAULT_WINDOWS)
            else:
                data = accuracy.minilm_data(args.quick)
            print(f"{model}: data {time.perf_counter() - t:.1f} s wall", flush=True)
            runs.append((model, designs, data))
        # every model's designs in one pool, longest first: no core idles between the models
        results = accuracy.run_many(runs, workers=args.workers,
                                    progress=lambda label: print(f"  {label} ...", end="", flush=True))
        for model, (summary, rows) in zip(models, results):
            print(f"\n{model} fp32 reference: cpu {summary['cpu_s']:.1f} s, wall {summary['wall_s']:.1f} s")
            for r in rows:
                metric = (f"ppl {r['ppl']:.3f}" if model == "smollm2"
                          else f"rho_human {r['spearman_human']:.4f} rho_fp32 {r['spearman_fp32']:.4f}")
                print(f"  {r['design']:34s} {metric:40s} cpu {r['cpu_s']:7.1f} s  wall {r['wall_s']:7.1f} s")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0 + children.ru_utime + children.ru_stime
    target = TARGET_QUICK_S if args.quick else TARGET_FULL_S
    print(f"total: wall {wall:.0f} s, cpu {cpu:.0f} s (target wall < {target} s); "
          f"load average now {os.getloadavg()[0]:.1f}")
    return 0 if wall < target else 1


if __name__ == "__main__":
    sys.exit(main())
