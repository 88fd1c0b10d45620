"""How much of the sim-basis model's under-count the loads between a PE's parts can explain
(issue 14's energy target, docs/cost-model.md "Where the sim basis stands").

Hypothesis under test: every primitive of the sim-basis table (:mod:`models.characterise_sim`)
is characterised with its output ports unloaded, while inside a PE each part's outputs drive the
next part's input pins (0.5 C V^2 per toggle, and the driving cells' internal energy, which the
Liberty tables index by output load). The mapped PE netlist keeps no part names, so the energy
those loads cost in the reference is bracketed, on the netlist's own simulated toggles
(:func:`models.netlist_power.simulated_toggles`, MiniLM stream) at OpenSTA 2.0.17's pricing, by
pricing it again with a set of nets unloaded (``netlist_power(..., unloaded=...)``):

* ``regs``: the flops' D and Q nets. Every register is an inventory part of its own, so these
  are between-part nets: a lower bound of the between-part load energy;
* ``all``: every net. Nets inside a primitive are loaded in its characterisation too, so this is
  an upper bound.

Against the model's shortfall (simulated toggles at OpenSTA 2.0.17's pricing minus the sim-basis
model, 45 nm pJ/step at 100 MHz). If even ``all`` is below the shortfall of an under-counted PE,
the loads cannot explain it there. Needs yosys and the osu018 liberty (no sta).

    python bench/bench_energy_loads.py [--kinds int8 fp16 ...]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import energy_vs_sta, gate_toggles, netlist_power, part_activity, part_loads, primitive_pincaps, synth  # noqa: E402
from models.registry import PE_KINDS, get_kind  # noqa: E402

CLOCK_MHZ = 100.0


def register_nets(netlist):
    """The D and Q nets of the flops of ``netlist`` (aliases resolved, as the pricing sees them)."""
    alias = gate_toggles.aliases(netlist)
    nets = set()
    for typ, conns in gate_toggles.instances(netlist):
        if typ == gate_toggles.FLOP:
            nets |= {alias.get(conns["D"], conns["D"]), alias.get(conns["Q"], conns["Q"])}
    return frozenset(nets)


def step_pj(name, key, priced):
    """45 nm pJ per step of a :class:`models.netlist_power.NetlistPower` at OpenSTA 2.0.17's pricing."""
    return energy_vs_sta.sta_step_energy_pj(name, key, priced) * priced.as_opensta_2019.total / priced.power.total


def load_energies(name, key):
    """(reference pJ/step, load energy of the register nets, load energy of every net, pF x
    toggles per step over every net): the reference at OpenSTA 2.0.17's pricing and what it
    loses with those nets unloaded."""
    netlist = synth.synthesize(name, unit="pe", pe_options=key).netlist()
    toggles = netlist_power.simulated_toggles(netlist, gate_toggles.pe_stream(name, key))
    every = frozenset(toggles) | frozenset(t for _, c in gate_toggles.instances(netlist) for t in c.values())
    full = step_pj(name, key, netlist_power.netlist_power(netlist, toggles, CLOCK_MHZ))
    ii = get_kind(name).prototype(**dict(key)).initiation_interval
    charge = ii * sum(toggles.get(net, 0.0) * c for net, c in primitive_pincaps.net_pin_capacitance(netlist).items())
    return (full,
            full - step_pj(name, key, netlist_power.netlist_power(netlist, toggles, CLOCK_MHZ,
                                                                  unloaded=register_nets(netlist))),
            full - step_pj(name, key, netlist_power.netlist_power(netlist, toggles, CLOCK_MHZ, unloaded=every)),
            charge)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", help="PE kinds (default: all registered)")
    args = ap.parse_args(argv)
    print(f"{'PE':34s} {'sim@STA':>8s} {'model':>8s} {'short':>8s} {'regs':>7s} {'all':>7s} {'parts':>7s}  "
          f"{'regs/short':>10s} {'all/short':>9s} {'parts/short':>11s}   (45 nm pJ/step; model = sim basis without the pin-load rule)")
    explained, rows = [], []
    for name in args.kinds or list(PE_KINDS):
        for label, options in PE_KINDS[name].variants:
            key = tuple(sorted(dict(options).items()))
            model, _ = energy_vs_sta.pe_step_energy_pj(name, key, source="minilm", basis="sim", pin_loads=False)
            ruled, _ = energy_vs_sta.pe_step_energy_pj(name, key, source="minilm", basis="sim")
            ref, regs, every, charge = load_energies(name, key)
            # the model's between-part pin charge at this netlist's own load energy per pF-toggle
            between = part_loads.between_part_load(get_kind(name).prototype(**dict(key)),
                                                   part_activity.part_activity(name, key, "minilm"))
            parts = every * between / charge if charge else 0.0
            short = ref - model
            under = short > 0
            print(f"{label:34s} {ref:8.3f} {model:8.3f} {short:+8.3f} {regs:7.3f} {every:7.3f} {parts:7.3f}  "
                  + (f"{regs / short:10.2f} {every / short:9.2f} {parts / short:11.2f}" if under
                     else f"{'(over)':>10s}"),
                  flush=True)
            rows.append((label, ref, model, parts, ruled))
            if under:
                explained.append((label, regs / short, every / short, parts / short))
    if explained:
        print(f"under-counted PEs: {len(explained)}; the register nets' load energy covers the "
              f"shortfall in {sum(r >= 1 for _, r, _, _ in explained)}, every net's in "
              f"{sum(a >= 1 for _, _, a, _ in explained)}; median share of the shortfall "
              f"{sorted(r for _, r, _, _ in explained)[len(explained) // 2]:.2f} (regs) .. "
              f"{sorted(a for _, _, a, _ in explained)[len(explained) // 2]:.2f} (all), "
              f"{sorted(p for *_, p in explained)[len(explained) // 2]:.2f} (the model's between-part nets)")
    for what, pick in (("sim-basis model without the pin-load rule", lambda m, p, r: m),
                       ("with the between-part nets at this netlist's load energy per pF-toggle",
                        lambda m, p, r: m + p),
                       ("with the pin-load rule (switching only: the sim basis's default)", lambda m, p, r: r)):
        errors = [pick(model, parts, ruled) / ref - 1 for _, ref, model, parts, ruled in rows]
        print(f"{what} vs sim@STA: {sum(abs(e) <= 0.15 for e in errors)}/{len(errors)} within +-15 %, "
              f"{min(errors):+.0%} .. {max(errors):+.0%}, {sum(e < 0 for e in errors)} under, "
              f"median |error| {sorted(abs(e) for e in errors)[len(errors) // 2]:.0%}")


if __name__ == "__main__":
    main()
