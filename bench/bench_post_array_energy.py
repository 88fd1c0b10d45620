"""Post-array unit: model energy per dequantised word against the gate-level simulated power and OpenSTA's.

For each registered variant with a post-array unit (the grouped designs): the unit
(:data:`models.synth.POST_ARRAY_COLS` columns) fed the words the accelerator's group writer
delivers on MiniLM L0 FFN1 through the design's quantisers (and on random codes, ``--sources``),
taken from the golden model and checked through the unit's RTL
(:func:`models.post_array_activity.post_array_run`). Per source: the unit's measured toggles per
array word and per dequantised word; the cost model's energy per dequantised word at them
(:func:`models.energy_vs_sta.post_array_word_energy_pj`) on the gate-simulated primitive table
(``basis="sim"``) against the zero-delay gate-level simulation of the mapped unit on the same
stream (:func:`models.netlist_power.simulated_power`, priced as OpenSTA 2.0.17 prices a
transition, ``as_opensta_2019``, as the sim basis's primitives are: the PEs' basis,
``bench_energy_vs_sim_power.py --sim-basis``); and beside it the model on OpenSTA's primitive table
against OpenSTA's power (total power at the unit's Fmax with the measured input port activities x
the run's cycles per dequantised word, :func:`models.energy_vs_sta.sta_word_energy_pj`), all at
45 nm. The gate-level simulation takes about 100 s per BitMoD unit, 10 min for MixPE's
(``--no-gate-sim`` skips it). ``--per-owner``: where the two differ, per register the cells feed
(:mod:`models.cell_owners`), flops and combinational cells apart: OpenSTA's ``report_power
-instances`` (:func:`models.instance_power.instance_power`) against the simulation's. Needs yosys, the
osu018 liberty and sta.

    python bench/bench_post_array_energy.py [--kinds shiftadd ...] [--sources minilm random] [--no-gate-sim] [--per-owner]
"""

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import cell_owners, energy_vs_sta, gate_toggles, instance_power, netlist_power, synth  # noqa: E402
from models.tech import value as tech_value  # noqa: E402
from models.post_array_activity import post_array_run  # noqa: E402
from models.post_array_rates import grouped_variants  # noqa: E402
from models.registry import PE_KINDS  # noqa: E402


def gate_sim_owner_energies(name, options, source, clock_mhz):
    """{(owner, "flop" / "comb"): :class:`models.netlist_power.NetlistPower`} of the unit's
    gate-level simulation on its :func:`post_array_run` stream at ``clock_mhz`` (owner: the
    register a cell feeds, :func:`models.cell_owners.cell_owners`, column suffix dropped), and the
    45 nm pJ per dequantised word per mW of power at that clock."""
    run = post_array_run(name, options, source)
    r = synth.synthesize(name, unit=synth.POST_ARRAY, pe_options=options)
    netlist = r.netlist()
    toggles = netlist_power.simulated_toggles(netlist, gate_toggles.port_stream(run.ports))
    group = owner_group(netlist)
    # 1 mW at f MHz is 1000 / f pJ a cycle at 180 nm 1.8 V; the model's Stillmaker factor to 45 nm
    per_mw = run.cycles_per_word * 1e3 / clock_mhz * tech_value("scale.energy.180_1v8_to_45_0v9")
    return netlist_power.grouped_power(netlist, toggles, clock_mhz, group), per_mw


def owner_group(netlist):
    """Cell instance -> (owner with the column index dropped, "flop" / "comb")."""
    owners = cell_owners.cell_owners(netlist)
    flops = {n for t, n, _ in gate_toggles.named_instances(netlist) if t.startswith(cell_owners.FLOP_PREFIX)}
    return lambda cell: (re.sub(r"_\d+$", "", owners.get(cell, "?").removeprefix("top/")),
                         "flop" if cell in flops else "comb")


def print_per_owner(name, options, source, power, sim):
    """OpenSTA's ``report_power -instances`` and the simulation's power per owner and cell kind,
    internal and switching, pJ per dequantised word (the simulation at OpenSTA 2.0.17's pricing)."""
    grouped, per_mw = sim
    r = synth.synthesize(name, unit=synth.POST_ARRAY, pe_options=options)
    netlist = r.netlist()
    group = owner_group(netlist)
    activity = synth.unit_port_activity(name, synth.POST_ARRAY, options, source).as_sta()
    opensta = {}
    _, _, per_instance = instance_power.instance_power(netlist, r.top, synth.liberty_path(),
                                                       clock_mhz=power.clock_mhz, activity=activity)
    for cell, p in per_instance.items():
        i, s = opensta.get(group(cell), (0.0, 0.0))
        opensta[group(cell)] = (i + p.internal, s + p.switching)
    print(f"    {'owner':14s} kind  OpenSTA internal switching | gate sim internal switching  (pJ/word)")
    for key in sorted(grouped, key=lambda k: -sum(opensta.get(k, (0, 0))) - grouped[k].as_opensta_2019.total):
        i, s = opensta.get(key, (0.0, 0.0))
        q = grouped[key].as_opensta_2019
        print(f"    {key[0]:14s} {key[1]:4s}  {i * per_mw:16.2f} {s * per_mw:9.2f} | "
              f"{q.internal * per_mw:17.2f} {q.switching * per_mw:9.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", choices=sorted(PE_KINDS), help="PE kinds (default: all registered)")
    ap.add_argument("--sources", nargs="*", default=["minilm"], choices=["minilm", "random"])
    ap.add_argument("--no-gate-sim", action="store_true", help="skip the (slow) gate-level simulation")
    ap.add_argument("--per-owner", action="store_true",
                    help="also OpenSTA's and the simulation's power per owner register (cells it feeds)")
    args = ap.parse_args(argv)
    errors = {"gate sim": [], "OpenSTA": []}
    for name, label, options in grouped_variants(args.kinds):
        for source in args.sources:
            model_sim, rates = energy_vs_sta.post_array_word_energy_pj(name, options, source, basis="sim")
            model_sta, _ = energy_vs_sta.post_array_word_energy_pj(name, options, source, basis="sta")
            power = synth.unit_power(name, synth.POST_ARRAY, options, source=source)
            sta = energy_vs_sta.sta_word_energy_pj(name, options, power)
            errors["OpenSTA"].append((model_sta / sta - 1, f"{label} {source}"))
            line = (f"{label:28s} {source:6s} toggles/word {rates.word:5.3f} /group {rates.group:5.3f}  "
                    f"model(sim) {model_sim:6.1f}")
            if not args.no_gate_sim:
                sim = gate_sim_owner_energies(name, options, source, power.clock_mhz)
                gate = sum(p.as_opensta_2019.total for p in sim[0].values()) * sim[1]
                errors["gate sim"].append((model_sim / gate - 1, f"{label} {source}"))
                line += f"  gate sim {gate:6.1f} ({model_sim / gate - 1:+4.0%})"
            line += f"   model(sta) {model_sta:6.1f}  OpenSTA {sta:6.1f} ({model_sta / sta - 1:+4.0%}) pJ/word"
            print(line, flush=True)
            if args.per_owner and not args.no_gate_sim:
                print_per_owner(name, options, source, power, sim)
    for what, errs in errors.items():
        if errs:
            worst = max(errs, key=lambda e: abs(e[0]))
            print(f"vs {what}: largest |model / {what} - 1| {abs(worst[0]):.0%} ({worst[1]}); "
                  f"{sum(abs(e) <= 0.15 for e, _ in errs)}/{len(errs)} within +-15 %")


if __name__ == "__main__":
    main()
