"""Model energy per PE step against two activity-based references (issue 14's energy target):
OpenSTA's power on the measured port activities, and the simulated-toggle power of the same
mapped netlist.

For each registered variant's PE (or ``--kinds``): the cost model's energy per step
(:func:`models.energy_vs_sta.pe_step_energy_pj`), OpenSTA's (``models.synth.unit_power`` on the
MiniLM L0 FFN1 port activities, probabilistic propagation inside the netlist) and the
Liberty-priced power of every net's toggles in a zero-delay gate-level simulation of the netlist
on the same port stream (:func:`models.netlist_power.simulated_power` on
:func:`models.gate_toggles.pe_stream`; no glitches, so a lower bound of the switching), all at
100 MHz, per step (II cycles), brought from 180 nm / 1.8 V to 45 nm 0.9 V with the same Stillmaker
factor (``scale.energy.180_1v8_to_45_0v9``). Also the simulated toggles priced as OpenSTA 2.0.17
prices a transition (rise + fall tables: :attr:`models.netlist_power.NetlistPower.as_opensta_2019`),
which separates OpenSTA's propagation error from its pricing (the model's primitive energies are
OpenSTA 2.0.17's, so they carry that pricing too). Prints one line per PE and the count within
+-15 % against each reference; needs yosys, the osu018 liberty and sta.

``--sim-basis`` adds the model on the simulated-toggle primitive table (``basis="sim"``:
:mod:`models.characterise_sim`, every primitive's own simulated toggles at OpenSTA 2.0.17's
pricing) against the simulated toggles at the same pricing, so each reference is met by the model
characterised the same way: model (OpenSTA basis) vs OpenSTA, model (sim basis) vs sim@STA. Its
summary prints both counts and the largest errors of each.

    python bench/bench_energy_vs_sim_power.py [--kinds int8 lut ...] [--sim-basis]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import energy_vs_sta, gate_toggles, netlist_power, synth  # noqa: E402
from models.registry import PE_KINDS  # noqa: E402

CLOCK_MHZ = 100.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", help="PE kinds (default: all registered)")
    ap.add_argument("--sim-basis", action="store_true",
                    help="also the model on the simulated-toggle primitive table vs the simulated toggles")
    args = ap.parse_args(argv)
    print(f"{'PE':34s} {'model':>8s} {'OpenSTA':>8s} {'sim':>8s} {'sim@STA':>8s}  "
          f"{'vs STA':>7s} {'vs sim':>7s} {'STA/sim@STA':>11s}"
          + (f" {'model(sim)':>10s} {'vs sim@STA':>10s}" if args.sim_basis else "") + "   (45 nm pJ/step)")
    rows, labels = [], []
    for name in args.kinds or list(PE_KINDS):
        for label, options in PE_KINDS[name].variants:
            key = tuple(sorted(dict(options).items()))
            model, _ = energy_vs_sta.pe_step_energy_pj(name, key, source="minilm")
            power = synth.unit_power(name, pe_options=key, unit="pe", source="minilm", clock_mhz=CLOCK_MHZ)
            sta = energy_vs_sta.sta_step_energy_pj(name, key, power)
            netlist = synth.synthesize(name, unit="pe", pe_options=key).netlist()
            simulated = netlist_power.simulated_power(netlist, gate_toggles.pe_stream(name, key), CLOCK_MHZ)
            sim = energy_vs_sta.sta_step_energy_pj(name, key, simulated)
            sim_sta = sim * simulated.as_opensta_2019.total / simulated.power.total
            row = [model / sta - 1, model / sim - 1, model / sim_sta - 1]
            line = (f"{label:34s} {model:8.3f} {sta:8.3f} {sim:8.3f} {sim_sta:8.3f}  "
                    f"{model / sta - 1:+7.0%} {model / sim - 1:+7.0%} {sta / sim_sta:11.2f}")
            if args.sim_basis:
                model_sim, _ = energy_vs_sta.pe_step_energy_pj(name, key, source="minilm", basis="sim")
                row += [model_sim / sim_sta - 1, model_sim / sim - 1]
                line += f" {model_sim:10.3f} {model_sim / sim_sta - 1:+10.0%}"
            rows.append(row)
            labels.append(label)
            print(line, flush=True)
    # the model's primitives are OpenSTA 2.0.17's energies, so they carry its pricing too: the last
    # line compares the model's activities with the simulated ones at the same pricing
    refs = ["model (OpenSTA basis) vs OpenSTA", "model (OpenSTA basis) vs simulated-toggle power",
            "model (OpenSTA basis) vs simulated toggles priced as OpenSTA 2.0.17"]
    if args.sim_basis:
        refs += ["model (sim basis) vs simulated toggles priced as OpenSTA 2.0.17",
                 "model (sim basis) vs simulated-toggle power"]
    for i, ref in enumerate(refs):
        errors = [r[i] for r in rows]
        worst = sorted(zip(errors, labels), key=lambda e: -abs(e[0]))[:5]
        print(f"{ref}: {sum(abs(e) <= 0.15 for e in errors)}/{len(errors)} within +-15 %, "
              f"error {min(errors):+.0%} .. {max(errors):+.0%}; largest "
              + ", ".join(f"{label} {e:+.0%}" for e, label in worst))


if __name__ == "__main__":
    main()
