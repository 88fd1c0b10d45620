"""Part by part: the sim-basis model's energy of each PE inventory part against the same primitive
simulated on the values that part sees on the real stream (issue 14's under-counted PEs).

For the PEs whose datapath is a few word-level operations on their ports (INT8, the ANT 4-bit
modes, OVP, MixPE's shift-add, BitFusion's multi-brick products, the LUT PE cycle by cycle, the
wfp16 FP16-activation PEs): the MiniLM port stream of the bottom PE (:func:`models.activity.pe_ports`, the
stream the whole-PE reference replays), each inventory part's input values computed from it as the
hardware file's ``elaborate`` computes them (the product of the integer fields, the exponent sum,
the shifted terms and their sums, the register's D and enable; each kind's decomposition is
checked to line up with its inventory), and the part's own mapped
primitive (:func:`models.characterise_sim.mapped`, the table's netlist) simulated on them with zero
delay and priced as OpenSTA 2.0.17 prices toggles (:func:`models.characterise_sim.energy_pj`), 45 nm
pJ per step. Next to it the model's figure for that part (``energy_vs_sta.step_energy_terms``,
``basis="sim"``, its pin loads included) and, per PE, the whole mapped PE's simulated toggles at
the same pricing (the ``sim@STA`` reference of ``bench_energy_vs_sim_power.py``). The parts'
real-stream sum against the whole PE is what the netlist builds beyond the parts (synthesis
merging them, the nets between them); the model against the parts' real-stream figures is the
activity rule's error, part by part. For a PE whose step sum Yosys merges into one ``$macc``
(:mod:`models.merged_sums`: OVP, ANT) also that ``csa`` on its real addends (MixPE: its gated rows'
structure, :mod:`models.gated_sum_sim`, on the real ports): the model's merged parts are priced as
it, so compare them with it rather than with the parts alone. A
diagnostic, not a target.

``--independent`` adds each part simulated on an independent stand-in of its real values: every
input bit a two-state chain of its own with that bit's measured toggles per cycle and duty
(:func:`independent_bits`), so the columns' difference is what the values' structure (bits that
move together: a sign-extended ``acc_in``'s copies of its sign) does that the per-bit statistics,
and so the random-bit primitive curves, cannot see.

    python bench/bench_energy_parts.py [--kinds int8 ant ovp shiftadd bitfusion lut wfp16] [--labels LABEL ...]
        [--independent]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hw.ant_decoder import ELEMENT_WIDTH as ANT_W, EXP_WIDTH as ANT_E, INT_WIDTH as ANT_I  # noqa: E402
from hw.lut_precompute import ENTRY_WIDTH, GROUP  # noqa: E402
from hw.ovp_decoder import get_mode  # noqa: E402
from hw.pe_wfp16 import FP16_EXP_BITS as FP16_EXP, FP16_FRAC_BITS as FP16_FRAC  # noqa: E402
from models import (activity, characterise_sim, energy_vs_sta, gate_toggles, gated_sum_sim,  # noqa: E402
                    netlist_power, synth)
from models.gated_sum_sim import gated_rows  # noqa: E402
from models.inventory import unit_items  # noqa: E402
from models.merged_sums import member_key, merged_sums  # noqa: E402
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
    build = {"shiftadd": _shiftadd_parts, "bitfusion": _bitfusion_parts, "lut": _lut_parts,
             "wfp16": _wfp16_parts}.get(kind)
    if build is None:
        raise ValueError(f"no part decomposition for {kind} {options}")
    lines = build(proto, ports)
    # the decomposition follows the hardware file; it must line up with the inventory it prices
    listed = [(prim, tuple(widths), n) for prim, widths, n, _ in unit_items(proto)]
    built = [(prim, tuple(widths), len(instances)) for prim, widths, instances in lines]
    if listed != built:
        raise ValueError(f"part decomposition {built} does not match the inventory {listed}")
    return lines


def _shiftadd_parts(proto, ports):
    """:class:`hw.pe_shiftadd.ShiftAddPE`: per weight bit i the activation gated by it (the AND
    part sees act and the bit spread over the word), the running sum's adders (the sum so far
    above bit i and the gated term, the signed weight's top term subtracted), the accumulate add
    and the register."""
    B, W = proto.weight_bits, proto.act_width
    act, weight, acc_in = ports["act"][0], ports["weight"][0], ports["acc_in"][0]
    a = [_field(v, 0, W, True) for v in act]
    bits = [[(int(w) >> i) & 1 for w in weight] for i in range(B)]
    gated = [{"a": list(act), "b": [(1 << W) - 1 if b else 0 for b in bits[i]]} for i in range(B)]
    terms = [[x if b else 0 for x, b in zip(a, bits[i])] for i in range(B)]
    total, adds = terms[0], []
    for i in range(1, B):
        sign = -1 if proto.weight_signed and i == B - 1 else 1
        adds.append({"a": [s >> i for s in total], "b": terms[i]})
        total = [s + sign * (t << i) for s, t in zip(total, terms[i])]
    out = unit_items(proto)[-1][1][0]
    lines = [["and", (W,), gated]]
    if B > 1:
        lines.append(["add", (W + 1,), adds])
    lines.append(["add", (out,), [{"a": total, "b": list(acc_in)}]])
    d = _wrap([s + _field(c, 0, out, True) for s, c in zip(total, acc_in)], out)
    return lines + [["reg_en", (out,), [{"d": d, "en": list(ports["valid"][0])}]]]


def _bitfusion_parts(proto, ports):
    """:class:`hw.pe_bitfusion.BitFusionPE` with multi-brick operands: each fused product's
    brick multiplier on its two elements, the carry-save sum of the products and ``acc_in``
    (each addend sign-extended to the sum's width), the register."""
    f, pa, pw = proto.fused_products, proto.act_bits, proto.weight_bits
    if proto.act_slices == proto.weight_slices == 1:
        raise ValueError("no part decomposition for one-brick products (a $macc of f terms)")
    act, weight, acc_in = ports["act"][0], ports["weight"][0], ports["acc_in"][0]
    items = unit_items(proto)
    mult, widths = items[0][0], tuple(items[0][1])
    out = items[-1][1][0]
    products = [[_field(a, j * pa, pa, proto.act_signed) * _field(w, j * pw, pw, proto.weight_signed)
                 for a, w in zip(act, weight)] for j in range(f)]
    lines = [[mult, widths, [{"a": [_field(a, j * pa, pa) for a in act],
                              "b": [_field(w, j * pw, pw) for w in weight]} for j in range(f)]]]
    addends = [_wrap(p, out) for p in products] + [_wrap(acc_in, out)]
    total = [sum(x) for x in zip(*products)]
    prim, widths = items[1][0], tuple(items[1][1])
    if prim == "csa":
        lines.append([prim, widths, [{f"x{i}": v for i, v in enumerate(addends)}]])
    else:
        lines.append([prim, widths, [{"a": addends[0], "b": addends[1]}]])
    d = _wrap([t + int(c) for t, c in zip(total, acc_in)], out)
    return lines + [["reg_en", (out,), [{"d": d, "en": list(ports["valid"][0])}]]]


def _lut_parts(proto, ports):
    """:class:`hw.pe_lut.LutPE`, cycle by cycle as ``elaborate`` sequences it: the entry mux, the
    conditional negation, the acc_out register and, for B = 1, the add of ``acc_in`` and the plane
    register (loaded with 0); for B > 1 the plane select, the Horner add and its register, the
    plane register and its decrement, the ``active`` flag, acc_out, acc_hold and the final adds
    (the narrow ``2*partial + term`` and acc_hold's)."""
    B, E = proto.weight_bits, ENTRY_WIDTH
    items = unit_items(proto)
    width = {i: tuple(it[1]) for i, it in enumerate(items)}
    out = width[3 if B == 1 else 8][0]
    plane_reg = active = partial = acc_hold = 0
    rows = {k: [] for k in ("plane", "index", "negate", "term", "partial", "hold", "next", "narrow",
                            "out_d", "en_out", "partial_d", "en_partial", "next_d", "en_plane",
                            "active_d", "en_active", "raw_entry")}
    act, weight, acc_in, valid = ([int(x) for x in ports[p][0]] for p in ("act", "weight", "acc_in", "valid"))
    for a, w, c, v in zip(act, weight, acc_in, valid):
        plane = B - 1 if v else plane_reg
        nibble = (w >> (plane * GROUP)) & ((1 << GROUP) - 1)
        index, negate = nibble >> 1, nibble & 1
        entry = _field(a, index * E, E, True)
        term = -entry if negate else entry
        narrow = (partial << 1) + term
        final = bool(active and not v and plane == 0)
        for k, x in (("plane", plane), ("index", index), ("negate", negate), ("term", term),
                     ("partial", partial), ("hold", acc_hold), ("next", plane_reg), ("narrow", narrow),
                     ("raw_entry", _field(a, index * E, E))):
            rows[k].append(x)
        # the next state, as the sync domain loads it
        if v:
            nxt, en_plane = max(B - 2, 0), 1
        elif active and plane_reg:
            nxt, en_plane = plane_reg - 1, 1
        else:
            nxt, en_plane = plane_reg, 0
        rows["next_d"].append(max(B - 2, 0) if v else (plane_reg - 1) % (1 << width[5 if B > 1 else 4][0]))
        rows["en_plane"].append(en_plane)
        if B == 1:
            rows["out_d"].append(_wrap([_field(c, 0, out, True) + term], out)[0])
            rows["en_out"].append(v)
        else:
            rows["out_d"].append(_wrap([acc_hold + narrow], out)[0])
            rows["en_out"].append(int(final))
            rows["partial_d"].append(term if v else narrow)
            rows["en_partial"].append(int(bool(v or (active and plane != 0))))
            rows["active_d"].append(v)
            rows["en_active"].append(int(bool(v or final)))
            if v:
                partial, acc_hold, active = term, _field(c, 0, proto.acc_width, True), 1
            elif active:
                if plane == 0:
                    active = 0
                else:
                    partial = narrow
        plane_reg = nxt
    entry_mux = {"sel": rows["index"], "d": act}
    term_neg = {"x": rows["raw_entry"], "s": rows["negate"]}
    if B == 1:
        return [["mux", width[0], [entry_mux]], ["scneg", width[1], [term_neg]],
                ["add", (out,), [{"a": rows["term"], "b": acc_in}]],
                ["reg_en", (out,), [{"d": rows["out_d"], "en": valid}]],
                ["reg_en", width[4], [{"d": rows["next_d"], "en": rows["en_plane"]}]]]
    if len(items) != 12:
        raise ValueError("no part decomposition for a LUT PE without acc_hold (acc_in 0)")
    shifted = [p << 1 for p in rows["partial"]]
    return [["mux", width[0], [entry_mux]], ["scneg", width[1], [term_neg]],
            ["mux", width[2], [{"sel": rows["plane"], "d": weight}]],
            ["add", width[3], [{"a": shifted, "b": rows["term"]}]],
            ["reg_en", width[4], [{"d": rows["partial_d"], "en": rows["en_partial"]}]],
            ["reg_en", width[5], [{"d": rows["next_d"], "en": rows["en_plane"]}]],
            ["add", width[6], [{"a": rows["next"], "b": [-1] * len(act)}]],
            ["reg_en", width[7], [{"d": rows["active_d"], "en": rows["en_active"]}]],
            ["reg_en", width[8], [{"d": rows["out_d"], "en": rows["en_out"]}]],
            ["reg_en", width[9], [{"d": acc_in, "en": valid}]],
            ["add", width[10], [{"a": shifted, "b": rows["term"]}]],
            ["add", width[11], [{"a": rows["narrow"], "b": rows["hold"]}]]]


def _wfp16_parts(proto, ports):
    """:class:`hw.pe_wfp16.Wfp16PE` per element: the exponent decode table on the FP16 exponent
    field, the significand multiplier, the sign's conditional negation, the shift-amount add, the
    product's shift; the terms' add, the accumulate add and the register."""
    fmt = proto._format
    E, W, n = fmt.exp_width, fmt.element_width, fmt.elements
    act, weight, acc_in = ports["act"][0], ports["weight"][0], ports["acc_in"][0]
    items = unit_items(proto)
    shift_bits = proto.shift_max.bit_length()
    decode, mults, negs, shifts, terms_in, terms = [], [], [], [], [], []
    for j in range(n):
        x = [_field(a, 16 * j, 16) for a in act]
        ef = [_field(v, FP16_FRAC, FP16_EXP) for v in x]
        normal = [int(e != 0) for e in ef]
        e_a = [max(e, 1) for e in ef]
        man = [_field(v, 0, FP16_FRAC) | (nm << FP16_FRAC) for v, nm in zip(x, normal)]
        e_w = [_field(w, j * W, E) if E else 0 for w in weight]
        i = [_field(w, j * W + E, W - E, True) for w in weight]
        product = [m_ * k for m_, k in zip(man, i)]
        sign = [(v >> 15) & 1 for v in x]
        signed_product = [-p if s else p for p, s in zip(product, sign)]
        shift = [(a - 1 + b) & ((1 << shift_bits) - 1) for a, b in zip(e_a, e_w)]
        decode.append({"sel": ef})
        mults.append({"a": man, "b": _wrap(i, W - E)})
        negs.append({"x": _wrap(product, proto.mult_bits), "s": sign})
        shifts.append({"a": e_a, "b": [(b - 1) & ((1 << shift_bits) - 1) for b in e_w]})
        terms_in.append({"a": signed_product, "sh": shift})
        terms.append([p << s for p, s in zip(signed_product, shift)])
    step = [sum(t) for t in zip(*terms)]
    lines = []
    for prim, widths, count, _ in items:
        if prim == "table":
            lines.append([prim, widths, decode])
        elif prim == "usmult":
            lines.append([prim, widths, mults])
        elif prim == "cneg":
            lines.append([prim, widths, negs])
        elif prim == "add" and widths[0] == shift_bits:
            lines.append([prim, widths, shifts])
        elif prim == "shiftn":
            lines.append([prim, widths, terms_in])
        elif prim == "add" and count == n - 1 and n > 1 and widths[0] < items[-1][1][0]:
            lines.append([prim, widths, [{"a": terms[0], "b": terms[1]}]])
        elif prim == "add":
            lines.append([prim, widths, [{"a": step, "b": list(acc_in)}]])
        elif prim == "reg_en":
            d = _wrap([s + _field(c, 0, widths[0], True) for s, c in zip(step, acc_in)], widths[0])
            lines.append([prim, widths, [{"d": d, "en": list(ports["valid"][0])}]])
    return lines


def independent_bits(column, rng):
    """A 0/1 sequence as long as ``column`` whose value flips with the probabilities that give
    ``column``'s toggles per cycle and duty (a stationary two-state chain), independent of every
    other bit."""
    column = np.asarray(column)
    duty, toggles = column.mean(), np.mean(column[1:] != column[:-1])
    up = toggles / (2 * (1 - duty)) if duty < 1 else 0.0
    down = toggles / (2 * duty) if duty > 0 else 0.0
    out, state = [], rng.random() < duty
    for r in rng.random(len(column)):
        out.append(int(state))
        state = (r >= down) if state else (r < up)
    return out


def primitive_on_stream(family, widths, inputs, independent=None):
    """45 nm pJ per cycle of one primitive's mapped netlist on ``inputs`` ({port: values});
    ``independent`` (a numpy Generator): each input bit replaced by :func:`independent_bits`."""
    netlist = characterise_sim.mapped(family, tuple(widths))
    if netlist is None:
        return 0.0
    n = len(next(iter(inputs.values())))
    stream = {}
    for b in gate_toggles.compile_netlist(netlist).bits:
        port, _, index = b.partition("[")
        i = int(index[:-1]) if index else 0
        stream[b] = [(int(v) >> i) & 1 for v in inputs[port]] if port in inputs else [0] * n
        if independent is not None:
            stream[b] = independent_bits(stream[b], independent)
    return (characterise_sim.energy_pj(netlist, stream, lanes=1, warmup=2)
            * tech_value("scale.energy.180_1v8_to_45_0v9"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", default=["int8", "ant", "ovp"])
    ap.add_argument("--labels", nargs="*", help="only these variants (registry labels)")
    ap.add_argument("--independent", action="store_true",
                    help="also each part on independent bits with its real bits' toggles and duties")
    args = ap.parse_args(argv)
    for name in args.kinds:
        for label, options in PE_KINDS[name].variants:
            if args.labels and label not in args.labels:
                continue
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
                alone = ""
                if args.independent:
                    rng = np.random.default_rng(0)
                    bits = sum(primitive_on_stream(prim, widths, inputs, rng) for inputs in instances) * ii
                    alone = f"  independent bits {bits:7.4f} ({bits / real - 1 if real else 0:+.0%})"
                print(f"  {prim:8s} {str(widths):14s} x{len(instances)}  on its real values {real:7.4f}  "
                      f"model {dynamic + idle:7.4f}  {(dynamic + idle) / real - 1 if real else 0:+6.0%}{alone}")
            print(f"  parts on real values {real_sum:.3f} ({real_sum / whole - 1:+.0%} of the whole PE), "
                  f"model {model_sum:.3f} ({model_sum / real_sum - 1:+.0%} of the parts, "
                  f"{model_sum / whole - 1:+.0%} of the whole PE)", flush=True)
            merged_sum(proto, lines, terms, ii, ports)


def merged_sum(proto, lines, terms, ii, ports):
    """Print, for a PE whose step sum Yosys merges into one ``$macc`` (:mod:`models.merged_sums`),
    that ``csa`` simulated on its real addends (the chain's first adder's two operands, then each
    later adder's second: the terms and ``acc_in``) next to the adders alone on their real values
    and the model's merged adders; for MixPE's gated rows, the gates and the sum as
    :mod:`models.gated_sum_sim` builds them on the real ports (``ports``: :func:`models.activity.pe_ports`')."""
    merged = merged_sums(unit_items(proto))
    chain, alone, model = [], 0.0, 0.0
    for part, (prim, widths, instances), (_, dynamic, idle) in zip(unit_items(proto), lines, terms):
        if member_key(part[0], part[1], part[3], getattr(part, "drivers", ())) in merged:
            chain += instances
            alone += sum(primitive_on_stream(prim, widths, inputs) for inputs in instances) * ii
            model += dynamic + idle
    if not chain:
        return
    (widths, drivers, _), = set(merged.values())
    gated = gated_rows(drivers)
    if gated is not None:
        # MixPE: the gates and the sum are one structure, fed by the ports themselves
        netlist = gated_sum_sim.mapped(widths, *gated)
        values = {p: np.array([[int(v)] for v in ports[p][0]]) for p in ("act", "weight", "acc_in")}
        real = (characterise_sim.energy_pj(netlist, gated_sum_sim.lane_stream(netlist, values), lanes=1)
                * tech_value("scale.energy.180_1v8_to_45_0v9") * ii)
        what = f"gated sum {gated[1]} rows x {gated[0]} bits (models.gated_sum_sim)"
    else:
        addends = [chain[0]["a"]] + [inputs["b"] for inputs in chain]
        real = primitive_on_stream("csa", widths, {f"x{i}": v for i, v in enumerate(addends)}) * ii
        what = f"csa {widths}"
    print(f"  merged step sum: {what} on its real addends {real:.4f} (the parts alone {alone:.4f}), "
          f"model {model:.4f} ({model / real - 1:+.0%})", flush=True)


if __name__ == "__main__":
    main()
