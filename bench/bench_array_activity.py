"""How far the cost model's array energy moves when each PE is priced at the activity it sees in
the array instead of the column run's (issue 14 item 4: "a small array").

:func:`models.cost.evaluate` prices every PE of an array of any size at one activity, measured on
the bottom PE of a 4-row weight-stationary column (:func:`models.part_activity.part_activity`).
The array check (``bench_array_energy.py``, the report's array-energy section) prices each PE at
what it sees on the array's own stream (:func:`models.part_activity.array_activities`). For each
registered variant (or ``--kinds``) and ``--sides`` x ``--sides`` array in the kind's first
dataflow this prints both model figures over the same window of the MiniLM L0 FFN1 array stream
(:func:`models.array_energy.activity_pricing_pj`: dynamic energy of the array's groups, 45 nm,
``--basis``) and the column pricing's difference; then the largest difference per side. No
synthesis or simulation of a netlist: numpy streams only (an output-stationary array's stream
takes ~1.5 min at 2x2, so ``--dataflows ws`` is the default).

    python bench/bench_array_activity.py [--kinds int8 ant ...] [--sides 2 4 8] [--basis sim|sta]
        [--dataflows ws os]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.array_energy import activity_pricing_pj  # noqa: E402
from models.cost_primitives import BASES  # noqa: E402
from models.registry import PE_KINDS  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", choices=sorted(PE_KINDS), help="PE kinds (default: all registered)")
    ap.add_argument("--sides", nargs="*", type=int, default=[2, 4, 8], help="array sides (default: 2 4 8)")
    ap.add_argument("--basis", choices=BASES, default="sim")
    ap.add_argument("--dataflows", nargs="*", choices=["ws", "os"], default=["ws"],
                    help="the kinds whose first dataflow is one of these (default: ws)")
    args = ap.parse_args(argv)
    if any(s < 1 for s in args.sides):
        ap.error(f"--sides must be positive, not {args.sides}")
    worst = {}
    print(f"{'design':36s} {'array':9s} {'own pJ':>10s} {'column pJ':>10s} {'column/own-1':>12s}")
    for name in args.kinds or list(PE_KINDS):
        kind = PE_KINDS[name]
        if kind.dataflows[0] not in args.dataflows:
            continue
        for label, options in kind.variants:
            for side in args.sides:
                t = time.perf_counter()
                try:
                    own, column = activity_pricing_pj(name, options, side, side, basis=args.basis)
                except ValueError as e:      # the real tensor is too small for this array's stream
                    print(f"{label:36s} {side}x{side:<7d} skipped: {e}")
                    continue
                d = column / own - 1
                print(f"{label:36s} {side}x{side:<7d} {own:10.1f} {column:10.1f} {d:+12.1%}"
                      f"  ({time.perf_counter() - t:.1f} s)", flush=True)
                if abs(d) > abs(worst.get(side, (0, ""))[0]):
                    worst[side] = (d, label)
    for side, (d, label) in sorted(worst.items()):
        print(f"largest difference at {side}x{side}: {d:+.1%} ({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
