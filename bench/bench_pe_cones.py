"""Per-PE area of a synthesised weight-stationary array next to the cost model's PE.

Run: ``python bench/bench_pe_cones.py --kind ant [--side 4] [--variant "ANT W4A4 int"] [--before-abc]``.

For each registered variant of the kind (or the one named): the ``side`` x ``side`` array as
:func:`models.synth.synthesize` builds it (flattened, cached), split by register fan-in cone
(:func:`models.netlist_cones.register_cones`): per PE its accumulator's flops and the
combinational cells they read (its multiplies, adds, the acc_out hold select and the bank select
in front of it), in osu018 um^2 (180 nm, unscaled), next to the model's average PE
(``pes`` group / PEs, the same units; the model counts the bank select in ``slot_regs``). A
diagnostic (issue 14's ANT arrays), not a target.

``--before-abc``: also the gates of each PE's cone as Yosys hands the array to ABC (the same
script as :func:`models.synth.synthesize` up to ``techmap; opt -fast``, Yosys's one-gate cells,
:func:`models.netlist_cones.gate_cones`): whether PEs that are the same word-level logic are
already different gate netlists before ABC maps them (ANT W4A4 int 2x2: 980 and 1,226 gates for
the two row-1 PEs, whose word-level cells are the same, while the array carried the decoders'
constant bits; 779 and 781 since it does not, :mod:`hw.array`).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import synth, tech  # noqa: E402
from models.cost_primitives import primitive  # noqa: E402
from models.cost_vs_synth import variant_settings  # noqa: E402
from models.inventory import array_items_ws  # noqa: E402
from models.netlist_cones import gate_cones, register_cones  # noqa: E402
from models.registry import get_kind  # noqa: E402

PE_REGISTER = re.compile(r"pe_(\d+)_(\d+)\.acc_out")
#: the steps of Yosys 0.23's ``synth -run fine:`` before its ``abc -fast`` (the gate netlist ABC gets)
FINE_TO_TECHMAP = "opt -fast -full\nmemory_map\nopt -full\ntechmap\nopt -fast\nwrite_json gates.json\n"


def gates_before_abc(kind, R, C, setting):
    """{register: (flops, gates)} of the ``R`` x ``C`` ws array as Yosys hands it to ABC: the
    mapping script of :mod:`models.synth` cut before its fine stage's ``abc -fast``."""
    text, top = synth.array_verilog(kind, R, C, "ws", setting)
    fine = f"synth -flatten -top {top} -run fine:"
    script = synth._script(top, R + 2)   # the flow's own script (rounds as synthesize starts them)
    script = script[:script.index(fine)] + FINE_TO_TECHMAP
    with tempfile.TemporaryDirectory(prefix="pearray-cones-") as work:
        (Path(work) / "design.v").write_text(text)
        synth.find_yosys().run(script, work, what=top)
        design = json.loads((Path(work) / "gates.json").read_text())
    return gate_cones(design, prefer=PE_REGISTER)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", required=True, help="a registered PE kind with a ws dataflow")
    ap.add_argument("--side", type=int, default=4, help="array side (default 4)")
    ap.add_argument("--variant", help="one variant label (default: every variant)")
    ap.add_argument("--before-abc", action="store_true",
                    help="also each PE's gates before ABC (runs Yosys up to techmap)")
    args = ap.parse_args(argv)
    kind = get_kind(args.kind)
    R = C = args.side
    to_180 = 1 / tech.value("scale.area.180_to_45")      # model primitives are 45 nm figures
    areas = synth.liberty_areas()
    for label, setting in variant_settings(kind):
        if args.variant and label != args.variant:
            continue
        proto = kind.prototype(**dict(setting))
        pes = [i for i in array_items_ws(proto, R, C) if i.group == "pes"]
        model = sum(i.count * primitive(i.prim, *i.widths).area_um2 for i in pes) * to_180 / (R * C)
        r = synth.synthesize(args.kind, rows=R, cols=C, pe_options=setting)
        cones, shared = register_cones(r.netlist(), areas)
        print(f"{label}: {R}x{C} ws, synthesis {r.area_um2:,.0f} um^2 (180 nm), cells in several "
              f"cones {shared:,.0f}; model PE average {model:,.0f} (with its acc_out register)")
        rows = {}
        for name, cone in cones.items():
            m = PE_REGISTER.fullmatch(name)
            if m:
                row, col = map(int, m.groups())
                rows.setdefault(row, []).append((col, cone))
        for row in sorted(rows):
            line = "  ".join(f"c{col} {c.flop_area + c.area:7,.0f} ({c.flops} ff)"
                             for col, c in sorted(rows[row], key=lambda x: x[0]))
            print(f"  row {row}: {line}")
        if args.before_abc:
            gates = gates_before_abc(args.kind, R, C, setting)
            print("  before ABC (Yosys gates in each PE's acc_out cone):")
            for row in range(R):
                print(f"  row {row}: " + "  ".join(f"c{col} {gates[f'pe_{row}_{col}.acc_out'][1]:6,}"
                                                  for col in range(C)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
