"""Part by part: the sim-basis model's energy of each PE inventory part against the same primitive
simulated on the values that part sees on the real stream (issue 14's under-counted PEs).

For the integer PEs whose datapath is a few word-level operations on their ports (INT8, the ANT
4-bit modes, OVP): the MiniLM port stream of the bottom PE (:func:`models.activity.pe_ports`, the
stream the whole-PE reference replays), each inventory part's input values computed from it as the
hardware file's ``elaborate`` computes them (the product of the integer fields, the exponent sum,
the shifted terms and their sums, the register's D and enable), and the part's own mapped
primitive (:func:`models.characterise_sim.mapped`, the table's netlist) simulated on them with zero
delay and priced as OpenSTA 2.0.17 prices toggles (:func:`models.characterise_sim.energy_pj`), 45 nm
pJ per step. Next to it the model's figure for that part (``energy_vs_sta.step_energy_terms``,
``basis="sim"``, its pin loads included) and, per PE, the whole mapped PE's simulated toggles at
the same pricing (the ``sim@STA`` reference of ``bench_energy_vs_sim_power.py``). The parts'
real-stream sum against the whole PE is what the netlist builds beyond the parts (synthesis
merging them, the nets between them); the model against the parts' real-stream figures is the
activity rule's error, part by part. A diagnostic, not a target.

    python bench/bench_energy_parts.py [--kinds int8 ant ovp]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hw.ant_decoder import ELEMENT_WIDTH as ANT_W, EXP_WIDTH as ANT_E, INT_WIDTH as ANT_I  # noqa: E402
from hw.ovp_decoder import get_mode  # noqa: E402
from models import (activity, characterise_sim, energy_vs_sta, gate_toggles, netlist_power,  # noqa: E402
                    synth)
from models.inventory import unit_items  # noqa: E402
from models.part_activity import part_activity  # noqa: E402
from models.registry import PE_KINDS, get_kind  # noqa: E402
from models.tech import value as tech_value  # noqa: E402

CLOCK_MHZ = 100.0


def _field(value, lo, n, signed=False):
    x = (int(value) >> lo) & ((1 << n) - 1)
    return x - (1 << n) if signed and x >> (n - 1) else x


def _wrap(values, n):
    return [int(v) & ((1 << n) - 1) for v in values]


def _exp_int_parts(proto, ports, pairs, E, I, W):
    """Inputs per inventory line of an exponent-integer MAC (ANT's, OVP's ``elaborate``)."""
    items = unit_items(proto)
    act, weight, acc_in = ports["act"][0], ports["weight"][0], ports["acc_in"][0]
    A = proto.acc_width
    terms, products, exps, shifts = [], [], [], []
    for j, l in pairs:
        ea = [_field(v, j * W, E) for v in act]
        ia = [_field(v, j * W + E, I, True) for v in act]
        ew = [_field(v, l * W, E) for v in weight]
        iw = [_field(v, l * W + E, I, True) for v in weight]
        prod = [x * y for x, y in zip(ia, iw)]
        sh = [x + y for x, y in zip(ea, ew)]
        products.append({"a": _wrap(ia, I), "b": _wrap(iw, I)})
        exps.append({"a": ea, "b": ew})
        terms.append([p << s for p, s in zip(prod, sh)])
        shifts.append((prod, sh))
    lines = [[prim, widths, [], n] for prim, widths, n, _ in items]
    # walk the inventory in order, handing each line its instances' inputs
    queue = {"smult": list(products), "add_exp": list(exps),
             "shiftn": [{"a": _wrap(p, 2 * I), "sh": s} for p, s in shifts]}
    partial, adds = terms[0], []
    for t in terms[1:]:
        adds.append({"a": _wrap(partial, A), "b": _wrap(t, A)})
        partial = [x + y for x, y in zip(partial, t)]
    adds.append({"a": _wrap(partial, A), "b": list(acc_in)})
    d = _wrap([x + int(c) for x, c in zip(partial, acc_in)], A)
    for line in lines:
        prim, widths, _, n = line
        if prim == "smult":
            line[2] = [queue["smult"].pop(0) for _ in range(n)]
        elif prim == "shiftn":
            line[2] = [queue["shiftn"].pop(0) for _ in range(n)]
        elif prim == "add" and queue["add_exp"] and widths[0] < A // 2:
            line[2] = [queue["add_exp"].pop(0) for _ in range(n)]
        elif prim == "add":
            line[2] = [adds.pop(0) for _ in range(n)]
        elif prim == "reg_en":
            line[2] = [{"d": d, "en": list(ports["valid"][0])}]
    return [line[:3] for line in lines]


def part_inputs(kind, options, ports):
    """[[primitive, widths, [{input port: value per cycle}, one per instance]], ...] per line of
    the PE's inventory."""
    proto = get_kind(kind).prototype(**dict(options))
    if kind == "int8":
        act, weight, acc_in = ports["act"][0], ports["weight"][0], ports["acc_in"][0]
        sa = [_field(v, 0, 8, True) for v in act]
        sw = [_field(v, 0, 8, True) for v in weight]
        d = _wrap([x * y + int(c) for x, y, c in zip(sa, sw, acc_in)], proto.acc_width)
        return [["mac", (8, 8, proto.acc_width), [{"a": list(act), "b": list(weight), "c": list(acc_in)}]],
                ["reg_en", (proto.acc_width,), [{"d": d, "en": list(ports["valid"][0])}]]]
    if kind == "ant" and not proto.fused:
        return _exp_int_parts(proto, ports, proto.pairs(), ANT_E, ANT_I, ANT_W)
    if kind == "ovp":
        fmt = get_mode(proto.mode)
        return _exp_int_parts(proto, ports, ((0, 0), (1, 1)), fmt.exp_width, fmt.int_width, fmt.element_width)
    raise ValueError(f"no part decomposition for {kind} {options}")


def primitive_on_stream(family, widths, inputs):
    """45 nm pJ per cycle of one primitive's mapped netlist on ``inputs`` ({port: values})."""
    netlist = characterise_sim.mapped(family, tuple(widths))
    if netlist is None:
        return 0.0
    n = len(next(iter(inputs.values())))
    stream = {}
    for b in gate_toggles.compile_netlist(netlist).bits:
        port, _, index = b.partition("[")
        i = int(index[:-1]) if index else 0
        stream[b] = [(int(v) >> i) & 1 for v in inputs[port]] if port in inputs else [0] * n
    return (characterise_sim.energy_pj(netlist, stream, lanes=1, warmup=2)
            * tech_value("scale.energy.180_1v8_to_45_0v9"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", default=["int8", "ant", "ovp"])
    args = ap.parse_args(argv)
    for name in args.kinds:
        for label, options in PE_KINDS[name].variants:
            key = tuple(sorted(dict(options).items()))
            try:
                ports, _ = activity.pe_ports(name, key, "minilm")
                lines = part_inputs(name, key, ports)
            except ValueError as e:
                print(f"{label}: {e}")
                continue
            proto = get_kind(name).prototype(**dict(key))
            terms = energy_vs_sta.step_energy_terms(proto, part_activity(name, key, "minilm"), "sim")
            netlist = synth.synthesize(name, unit="pe", pe_options=key).netlist()
            power = netlist_power.simulated_power(netlist, gate_toggles.pe_stream(name, key), CLOCK_MHZ)
            whole = energy_vs_sta.sta_step_energy_pj(name, key, power) * power.as_opensta_2019.total / power.power.total
            ii = proto.initiation_interval
            print(f"{label}: whole PE sim@STA {whole:.3f} pJ/step (45 nm)")
            real_sum = model_sum = 0.0
            for (prim, widths, instances), (_, dynamic, idle) in zip(lines, terms):
                real = sum(primitive_on_stream(prim, widths, inputs) for inputs in instances) * ii
                real_sum += real
                model_sum += dynamic + idle
                print(f"  {prim:8s} {str(widths):14s} x{len(instances)}  on its real values {real:7.4f}  "
                      f"model {dynamic + idle:7.4f}  {(dynamic + idle) / real - 1 if real else 0:+6.0%}")
            print(f"  parts on real values {real_sum:.3f} ({real_sum / whole - 1:+.0%} of the whole PE), "
                  f"model {model_sum:.3f} ({model_sum / real_sum - 1:+.0%} of the parts, "
                  f"{model_sum / whole - 1:+.0%} of the whole PE)", flush=True)


if __name__ == "__main__":
    main()
