"""Which part of a PE the energy model misses against OpenSTA, and how much OpenSTA's own figure
moves with the netlist's structure (issue 14's energy target).

For each registered variant's PE (or ``--kinds``), on the MiniLM port activities at 100 MHz, 45 nm
pJ per step (II cycles, the Stillmaker factor the model uses):

* the model's registers (``reg``, ``reg_en``: their dynamic energy), the rest of its datapath and
  its idle energy (clock, leakage), :func:`models.energy_vs_sta.step_energy_terms`;
* OpenSTA's energy of the mapped PE per cell role (:func:`models.instance_power.role_power`): the
  flip-flops (clock + D), the cells that drive a flop's D (where synthesis folds an enable and a
  reset into the logic before the register) and the other logic;
* the same PE with its data inputs (``act``, ``weight``, ``acc_in``) registered by a wrapper, as
  in the array, at the same port activities (a flop's Q takes its D's activity and duty in
  OpenSTA), the wrapper's flops not counted: once with the PE's own netlist kept (only its
  inputs' slews change: a few per cent, more where a flop drives an unbuffered high-fan-out
  input), once flattened with the wrapper by the same Yosys/ABC recipe (ABC maps the same
  function anew; a PE whose logic shrinks below 80 % of its cells is not compared). Those
  changes against the PE alone are OpenSTA's own scatter for one function, which no composition
  rule of the model can follow.

Prints one line per PE, the model's counts within +-15 % against the PE alone and against it
flattened with registered inputs, and the range of OpenSTA's changes. A diagnostic: nothing
here is fitted or feeds the model. Needs yosys, the osu018 liberty and sta.

``--mac-contexts``: instead, the INT8 PE's function (a signed a x b + c into a register) at several
widths in five contexts (combinational alone; registered; with an enable; with a reset; with
both, the PE's own), synthesised by the same recipe, OpenSTA at the INT8 PE's measured port means
(toggles and duty per port, ``valid`` always 1): the logic's energy (flops left out) per context.

``--signals NAME ...`` (with one ``--kinds`` kind, its first variant): instead, OpenSTA's density
in situ of the PE's named internal signals (the Verilog wires Amaranth names, kept through
synthesis with a ``keep`` attribute, read through BUFX2 probes:
:func:`models.primitive_outputs.net_density`), toggles per cycle, next to the model's input
toggles per step of every inventory part (:meth:`models.part_activity.PartActivity.item_activity`).

    python bench/bench_energy_context.py [--kinds int8 ovp ...] [--mac-contexts]
    python bench/bench_energy_context.py --kinds wfp16 --signals e_a0 shift0 step
"""

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import energy_vs_sta, instance_power, part_activity, primitive_outputs, sta, synth  # noqa: E402
from models.activity import unit_activity  # noqa: E402
from models.inventory import unit_items  # noqa: E402
from models.registry import PE_KINDS, get_kind  # noqa: E402
from models.tech import value as tech_value  # noqa: E402

CLOCK_MHZ = 100.0
DATA = ("act", "weight", "acc_in")
WRAPPER = "pearray_registered_inputs"


def registered_inputs(text, top):
    """Verilog ``text`` plus a module :data:`WRAPPER` with ``top``'s ports that registers the
    :data:`DATA` inputs (one flop per bit on ``clk``) and passes everything else through."""
    header = re.search(rf"^module {re.escape(top)}\(.*?^endmodule", text, re.M | re.S)
    # a port named by a Verilog keyword is an escaped identifier (GOBO's ``\\table``), which
    # ends at a blank
    ports = re.findall(r"^\s*(input|output)\s+(\[\d+:\d+\]\s+)?(\\?\w+)\s*;", header[0], re.M)
    ports = [(d, w, f"{n} " if n.startswith("\\") else n) for d, w, n in ports]
    lines, conns = [], []
    for direction, width, name in ports:
        width = width or ""
        lines.append(f"  {direction} {width}{name};")
        if direction == "input" and name in DATA:
            lines.append(f"  reg {width}{name}_q;\n  always @(posedge clk) {name}_q <= {name};")
            conns.append(f".{name}({name}_q)")
        else:
            conns.append(f".{name}({name})")
    names = ", ".join(n for _, _, n in ports)
    return (f"{text}\nmodule {WRAPPER}({names});\n" + "\n".join(lines)
            + f"\n  {top} pe ({', '.join(conns)});\nendmodule\n")


def input_flops(netlist):
    """Flop instances of the :data:`WRAPPER` module whose D is one of its :data:`DATA` input bits
    (the wrapper's registers)."""
    body = netlist.split(f"module {WRAPPER}(", 1)[1].split("endmodule", 1)[0]
    return {inst for inst, (typ, pins) in instance_power.cells(f"module {WRAPPER}(" + body).items()
            if instance_power.is_flop(typ) and pins.get("D", "").split("[")[0] in DATA}


def role_pj(netlist, top, activity, per_step):
    """{role: 45 nm pJ per step} of a flat mapped netlist (:func:`models.instance_power.role_power`)."""
    split = instance_power.role_power(netlist, top, synth.liberty_path(), clock_mhz=CLOCK_MHZ,
                                      activity=activity)
    return {role: mw * per_step for role, mw in split.items()}


def in_context_pj(text, top, activity, per_step, keep_hierarchy):
    """(45 nm pJ per step, mapped cells) of the PE ``top`` of Verilog ``text`` with its data
    inputs registered (:func:`registered_inputs`), the wrapper's flops not counted.
    ``keep_hierarchy``: the PE module is mapped on its own (the same netlist as alone: only its
    inputs' slews change), else flattened with the wrapper (ABC maps the logic anew)."""
    if keep_hierarchy:
        text = text.replace(f"module {top}(", f"(* keep_hierarchy *)\nmodule {top}(", 1)
    r = synth.synthesize_verilog(registered_inputs(text, top), WRAPPER)
    netlist = r.netlist()
    seq, comb, power = instance_power.instance_power(netlist, WRAPPER, synth.liberty_path(),
                                                     clock_mhz=CLOCK_MHZ, activity=activity)
    registers = input_flops(netlist)
    # an input bit the PE never reads (an unused lane) loses its flop in synthesis
    if not 0 < len(registers) <= sum(b.split("[")[0] in DATA for b in activity):
        raise RuntimeError(f"{top}: {len(registers)} input registers found in context")
    mw = seq.total + comb.total - sum(power[f].total for f in registers)
    return mw * per_step, sum(r.mapped_cells.values()) - len(registers)


#: the register contexts of :func:`mac_contexts`: (ports, what the clock edge does)
CONTEXTS = {"alone": None, "register": ("", "y <= c + p;"), "enable": ("en", "if (en) y <= c + p;"),
            "reset": ("rst", "if (rst) y <= 0; else y <= c + p;"),
            "enable+reset": ("rst, en", "if (rst) y <= 0; else if (en) y <= c + p;")}
MAC_WIDTHS = ((8, 8, 32), (8, 8, 24), (8, 8, 17), (4, 4, 16), (8, 4, 32))


def mac_verilog(widths, context):
    """Verilog of ``y = c + a * b`` (signed ``widths`` a, b, c) in one of :data:`CONTEXTS`."""
    a, b, c = widths
    ports = f"input signed [{a - 1}:0] a; input signed [{b - 1}:0] b; input signed [{c - 1}:0] c;"
    product = f"wire signed [{a + b - 1}:0] p = a * b;"
    if CONTEXTS[context] is None:
        return f"module t(a, b, c, y); {ports} output signed [{c - 1}:0] y; {product} assign y = c + p; endmodule\n"
    extra, update = CONTEXTS[context]
    inputs = f"input clk{', ' + extra if extra else ''};"
    return (f"module t(clk, {extra + ', ' if extra else ''}a, b, c, y); {inputs} {ports} "
            f"output reg signed [{c - 1}:0] y; {product} always @(posedge clk) {update} endmodule\n")


def mac_contexts():
    """Print :data:`MAC_WIDTHS` x :data:`CONTEXTS`: the logic's 45 nm pJ per cycle at the INT8
    PE's port means."""
    parts = part_activity.part_activity("int8", (), "minilm")
    port = {"a": "act", "b": "weight", "c": "acc_in"}
    per_cycle = 1e-3 / (CLOCK_MHZ * 1e6) * 1e12 * tech_value("scale.energy.180_1v8_to_45_0v9")
    for widths in MAC_WIDTHS:
        figures = []
        for context in CONTEXTS:
            r = synth.synthesize_verilog(mac_verilog(widths, context), "t")
            netlist = r.netlist()
            activity = {bit: ((0.0, 1.0) if bit == "en" else
                              (parts.rate(port[bit[0]]), parts.duty(port[bit[0]])))
                        for bit in sta.input_bits(netlist) if bit != "rst"}
            split = role_pj(netlist, "t", activity, per_cycle)
            figures.append(f"{context} {split['logic'] + split['flop_input']:.3f}")
        print(f"mac {widths}: " + ", ".join(figures), flush=True)


def kept(text, signals):
    """Verilog ``text`` with a ``keep`` attribute on the wires named ``signals`` (synthesis keeps
    their nets and names)."""
    for name in signals:
        text, n = re.subn(rf"^(\s*)(wire|reg)(\s+\[\d+:\d+\])?\s+{re.escape(name)};",
                          lambda m: f"{m[1]}(* keep *) {m[2]}{m[3] or ''} {name};", text, flags=re.M)
        if n != 1:
            raise ValueError(f"no signal {name!r} in the PE's Verilog")
    return text


def signal_densities(name, signals):
    """Print OpenSTA's in-situ density of each of ``signals`` of kind ``name``'s first variant's
    PE, then the model's input toggles per step of each inventory part."""
    label, options = PE_KINDS[name].variants[0]
    key = tuple(sorted(dict(options).items()))
    text, top = synth.unit_verilog(name, "pe", key)
    r = synth.synthesize_verilog(kept(text, signals), top)
    netlist, act = r.netlist(), unit_activity(name, "pe", key, "minilm").as_sta()
    print(f"{label}: {sum(r.mapped_cells.values())} cells with the signals kept "
          f"({sum(synth.synthesize(name, unit='pe', pe_options=key).mapped_cells.values())} without)")
    for signal in signals:
        nets = sorted(set(re.findall(rf"\b{re.escape(signal)}\[\d+\]", netlist))) or [signal]
        density = primitive_outputs.net_density(netlist, top, nets, act)
        print(f"  {signal:20s} {len(nets):3d} bits  OpenSTA in situ {density:6.3f} toggles/cycle", flush=True)
    parts = part_activity.part_activity(name, key, "minilm")
    for part in unit_items(get_kind(name).prototype(**dict(options))):
        if part[0] not in part_activity.REGISTERS:
            a = parts.item_activity(part[0], part[1], part[3], getattr(part, "drivers", ()),
                                    getattr(part, "inputs", ()))
            print(f"  model {part[0]} {part[1][:3]}: inputs {a:.3f} toggles/step")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", help="PE kinds (default: all registered)")
    ap.add_argument("--signals", nargs="*", help="named internal signals of one kind's PE (see the docstring)")
    ap.add_argument("--mac-contexts", action="store_true",
                    help="the INT8 PE's MAC in five register contexts instead (see the docstring)")
    args = ap.parse_args(argv)
    if args.mac_contexts:
        mac_contexts()
        return
    if args.signals:
        if len(args.kinds or ()) != 1 or args.kinds[0] not in PE_KINDS:
            ap.error("--signals takes exactly one registered PE kind in --kinds")
        try:
            signal_densities(args.kinds[0], args.signals)
        except ValueError as e:
            ap.error(str(e))
        return
    unknown = sorted(set(args.kinds or ()) - set(PE_KINDS))
    if unknown:
        ap.error(f"unknown PE kind {unknown[0]!r}; one of {', '.join(PE_KINDS)}")
    scale = tech_value("scale.energy.180_1v8_to_45_0v9")
    rows = []
    for name in args.kinds or list(PE_KINDS):
        for label, options in PE_KINDS[name].variants:
            key = tuple(sorted(dict(options).items()))
            proto = get_kind(name).prototype(**dict(options))
            parts = part_activity.part_activity(name, key, "minilm")
            reg = comb = idle = 0.0
            for prim, dynamic, idle_pj in energy_vs_sta.step_energy_terms(proto, parts):
                if prim in part_activity.REGISTERS:
                    reg += dynamic
                else:
                    comb += dynamic
                idle += idle_pj
            model = reg + comb + idle
            # mW at 100 MHz -> pJ per cycle at 180 nm, times II, scaled to 45 nm as the model
            per_step = 1e-3 / (CLOCK_MHZ * 1e6) * 1e12 * proto.initiation_interval * scale
            act = unit_activity(name, "pe", key, "minilm").as_sta()
            alone = synth.synthesize(name, unit="pe", pe_options=key)
            split = role_pj(alone.netlist(), alone.top, act, per_step)
            text, top = synth.unit_verilog(name, "pe", key)
            reference, cells = sum(split.values()), sum(alone.mapped_cells.values())
            slew, _ = in_context_pj(text, top, act, per_step, keep_hierarchy=True)
            context, context_cells = in_context_pj(text, top, act, per_step, keep_hierarchy=False)
            fig = (f"{label:36s} model reg {reg:6.3f} logic {comb:7.3f} idle {idle:6.3f} = {model:7.3f} | "
                   f"OpenSTA flops {split['flop']:6.3f} D-logic {split['flop_input']:6.3f} "
                   f"logic {split['logic']:7.3f} = {reference:7.3f} | "
                   f"inputs from flops {slew / reference - 1:+4.0%}, ")
            if context_cells < 0.8 * cells:
                # synthesis dropped part of the PE's logic behind the registers: not the same
                # netlist function any more, so not a comparison
                rows.append((label, model / reference - 1, None, None, slew / reference - 1))
                print(f"{fig}flattened with them: {context_cells} cells against {cells}, not compared | "
                      f"model {model / reference - 1:+4.0%}", flush=True)
                continue
            rows.append((label, model / reference - 1, model / context - 1, context / reference - 1,
                         slew / reference - 1))
            print(f"{fig}flattened with them {context:7.3f} ({context / reference - 1:+4.0%}; cells {cells} / "
                  f"{context_cells}) | model {model / reference - 1:+4.0%} / {model / context - 1:+4.0%}", flush=True)
    for what, i in (("the PE alone", 1), ("the PE flattened with registered inputs", 2)):
        errors = [(r[i], r[0]) for r in rows if r[i] is not None]
        worst = max(errors, key=lambda e: abs(e[0]))
        print(f"model against {what}: {sum(abs(e) <= 0.15 for e, _ in errors)}/{len(errors)} within "
              f"+-15 %, largest |error| {abs(worst[0]):.0%} ({worst[1]})")
    for what, i in (("inputs from flops", 4), ("flattened with them", 3)):
        changes = sorted(r[i] for r in rows if r[i] is not None)
        print(f"OpenSTA's own figure, {what}, against the PE alone: {changes[0]:+.0%} .. "
              f"{changes[-1]:+.0%}, {sum(abs(c) > 0.15 for c in changes)}/{len(changes)} beyond +-15 %")

if __name__ == "__main__":
    main()
