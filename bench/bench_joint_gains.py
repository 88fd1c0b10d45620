"""Whether a primitive's output gains measured one input port at a time hold when every input
toggles (issue 14's energy target: the ``gains`` propagation rule).

For each point of the primitive table in ``--families`` (default: the families that drive other
parts in the PE inventories' chains), OpenSTA's mean output toggles per output bit per input toggle
with every data input toggling at 0.5 together (duty 0.5), next to the sum of the per-port gains
of :mod:`models.primitive_outputs` (each port alone, the others constant at duty 0.5), both
measured now through BUFX2 probes (:func:`models.primitive_outputs.joint_gain`). OpenSTA
propagates densities gate by gate as duty-weighted sums of the inputs' densities, so the two agree
to rounding; a difference would mean the stored gains misstate a PE's all-toggling inputs.

    python bench/bench_joint_gains.py [--families mult add mux ...]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import characterise, primitive_outputs  # noqa: E402

CHAIN_FAMILIES = ("add", "mux", "mult", "smult", "usmult", "shift", "shiftn", "scneg", "cneg", "lead1", "inc")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="*", default=list(CHAIN_FAMILIES), help="primitive families")
    args = ap.parse_args(argv)
    points = sorted({(p["family"], tuple(p["widths"])) for p in characterise.load_table()["points"]
                     if p["family"] in args.families})
    worst = 0.0
    for family, widths in points:
        joint, summed = primitive_outputs.joint_gain(family, widths)
        gap = abs(joint - summed) / summed if summed else abs(joint)
        worst = max(worst, gap)
        print(f"{family:8s} {','.join(map(str, widths)):12s} all toggling {joint:7.4f}   "
              f"sum of ports {summed:7.4f}   {gap:6.2%}", flush=True)
    print(f"{len(points)} points; largest relative difference {worst:.2%}")


if __name__ == "__main__":
    main()
