"""The top's enabled registers of an output-stationary array as its mapped netlist builds them,
against the characterised ``reg_en`` primitive on the same register's data and enable (issue 14:
BitMoD FP16-act's array top, the os check's largest miss).

For a ``--sides`` x ``--sides`` array of ``--kind`` (its first dataflow, os) on the MiniLM L0 FFN1
array stream (:func:`models.activity.array_run`, the first fold a warm-up), every register of the
top with a load enable (a flop whose ``D`` cone reads its own ``Q``, an enable and one data net
per bit): the sim@STA energy of its own cells in the flattened netlist
(:mod:`models.cell_owners`: its flops and the logic in front of them; 45 nm pJ per cycle, its
flops' clock pins apart), and the table's ``reg_en`` primitive of its width
(:func:`models.characterise_sim.mapped`, the same flow alone) simulated on that register's own
``D`` data and enable values from the array simulation, priced the same way. The difference is
the mapping: alone Yosys / ABC builds each bit as ``MUX2X1`` (select = enable) + ``NOR2X1``
(reset), which does not switch while the data holds; in the array it builds ``OAI21`` + ``AOI21``
reading the shared inverted enable, whose middle node follows the enable whenever the data bit is
0. Needs yosys (or the synthesis cache) and the osu018 liberty.

    python bench/bench_enable_mapping.py [--kind bitserial_fp16] [--variant BitMoD] [--sides 2]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import activity, cell_owners, characterise_sim, gate_toggles, netlist_power, synth  # noqa: E402
from models.array_energy import CLOCK_MHZ, sim_sta_pj  # noqa: E402
from models.flat_netlist import flat_netlist  # noqa: E402
from models.registry import PE_KINDS  # noqa: E402
from models.tech import value as tech_value  # noqa: E402

#: the control nets an enabled register's cone reads besides its data (``act_valid`` delayed
#: into ``valid$N``) and the reset
ENABLES = ("act_valid", "valid")


def enabled_registers(netlist):
    """{top register: [(Q net, data net, enable net), ...] per bit} of the registers of a mapped
    array (not a PE's) whose every bit's ``D`` cone reads, through combinational cells only,
    exactly its own ``Q``, one enable net (:data:`ENABLES`), the reset and one data net."""
    alias = gate_toggles.aliases(netlist)
    driver = {}
    flops = []
    for typ, name, conns in gate_toggles.named_instances(netlist):
        conns = {p: alias.get(s, s) for p, s in conns.items()}
        driver[conns.get("Q") or conns.get("Y")] = (typ, conns)
        if typ.startswith(cell_owners.FLOP_PREFIX) and not cell_owners.pe_of(name):
            flops.append(conns)

    def leaves(net):
        found, stack, seen = set(), [net], set()
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            typ, conns = driver.get(n, ("", {}))
            if not typ or typ.startswith(cell_owners.FLOP_PREFIX):
                found.add(n)
            else:
                stack += [s for p, s in conns.items() if p != "Y"]
        return found

    regs = {}
    for conns in flops:
        q = conns["Q"]
        rest = leaves(conns["D"]) - {q, "rst"}
        enables = [n for n in rest if n.split("$")[0].split("[")[0] in ENABLES]
        data = rest - set(enables)
        if q in leaves(conns["D"]) and len(enables) == 1 and len(data) == 1:
            regs.setdefault(q.split("[")[0], []).append((q, data.pop(), enables[0]))
    return {r: bits for r, bits in regs.items() if bits}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="bitserial_fp16", help="PE kind (default bitserial_fp16)")
    ap.add_argument("--variant", default="", help="the first variant whose label contains this (default: the first)")
    ap.add_argument("--sides", type=int, default=2, help="array rows = cols (default 2)")
    args = ap.parse_args(argv)
    if args.kind not in PE_KINDS:
        ap.error(f"unknown PE kind {args.kind!r}")
    if args.sides < 1:
        ap.error("--sides must be >= 1")
    found = [(label, options) for label, options in PE_KINDS[args.kind].variants if args.variant in label]
    if not found:
        ap.error(f"no variant of {args.kind} matches --variant {args.variant!r}")
    label, options = found[0]
    options = tuple(sorted(dict(options).items()))
    dataflow = PE_KINDS[args.kind].dataflows[0]
    folds = 8
    run = activity.array_run(args.kind, args.sides, args.sides, dataflow, options, "minilm", m=32, folds=folds)
    warmup = run.cycles // folds
    netlist = flat_netlist(synth.synthesize(args.kind, rows=args.sides, cols=args.sides, dataflow=dataflow,
                                            pe_options=options))
    regs = enabled_registers(netlist)
    watch = sorted({n for bits in regs.values() for _, d, e in bits for n in (d, e)})
    stream = gate_toggles.port_stream(run.ports)
    toggles, traces = gate_toggles.simulate_trace(netlist, stream, watch, warmup)
    toggles.update(netlist_power.port_toggles(stream, warmup))
    owner = cell_owners.cell_owners(netlist)
    owners = netlist_power.grouped_power(netlist, toggles, CLOCK_MHZ, owner.__getitem__)
    scale = tech_value("scale.energy.180_1v8_to_45_0v9")
    print(f"{label} {args.sides}x{args.sides} {dataflow}, {run.cycles - warmup} cycles after the warm-up; "
          f"45 nm pJ/cycle, sim@STA")
    print(f"{'register':18s} {'bits':>4s} {'enable':>10s} {'en tg/cyc':>9s} {'array':>7s} {'clock':>6s} "
          f"{'reg_en alone':>12s} {'clock':>6s} {'beyond clock: array / alone':>28s}")
    sums = [0.0, 0.0]
    for reg, bits in sorted(regs.items()):
        power = owners.get("top/" + reg)
        if power is None:
            continue
        p = power.as_opensta_2019
        array = sim_sta_pj(power)
        clock = 2 * power.clock_pin_mw / p.total * array if p.total else 0.0
        cycles = len(traces[bits[0][2]])
        alone_stream = {"rst": [0] * cycles, "en": traces[bits[0][2]]}
        for i, (_, d, _) in enumerate(bits):
            alone_stream[f"d[{i}]"] = traces[d]
        primitive = characterise_sim.mapped("reg_en", (len(bits),))
        alone = characterise_sim.energy_pj(primitive, alone_stream, lanes=1, warmup=2) * scale
        idle = {"rst": [0] * 4, "en": [0] * 4, **{f"d[{i}]": [0] * 4 for i in range(len(bits))}}
        alone_clock = characterise_sim.energy_pj(primitive, idle, lanes=1, warmup=2) * scale
        en = traces[bits[0][2]]
        en_toggles = sum(a != b for a, b in zip(en[1:], en)) / max(1, len(en) - 1)
        ratio = (array - clock) / (alone - alone_clock) if alone > alone_clock else float("inf")
        sums[0] += array - clock
        sums[1] += alone - alone_clock
        print(f"{reg:18s} {len(bits):4d} {bits[0][2]:>10s} {en_toggles:9.2f} {array:7.3f} {clock:6.3f} "
              f"{alone:12.3f} {alone_clock:6.3f} {array - clock:9.3f} / {alone - alone_clock:6.3f} ({ratio:.1f}x)")
    print(f"enabled registers beyond their clock: array {sums[0]:.3f} pJ/cycle, reg_en alone on the same "
          f"values {sums[1]:.3f}")


if __name__ == "__main__":
    main()
