"""Model energy per PE step against OpenSTA's power on real activity (issue 14's energy target).

For each registered variant's PE: the cost model's energy per step
(:func:`models.energy_vs_sta.pe_step_energy_pj`: its inventory's OpenSTA-characterised primitives at
the toggle rate measured on its data ports, 45 nm) next to OpenSTA's total power at 100 MHz with the input toggle
rates of the MiniLM L0 FFN1 run (``models.synth.unit_power``), per step (II cycles), scaled from
180 nm / 1.8 V to 45 nm / 0.9 V with the same Stillmaker factor the model uses. OpenSTA propagates
activity through the netlist by probability (see docs/cost-model.md), so its figure is an estimate too.
Prints one line per PE and the largest |error|; needs yosys, the osu018 liberty and sta.

    python bench/bench_energy_vs_sta.py [--kinds int8 lut ...] [--propagation ports|gains]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import energy_vs_sta, part_activity, synth  # noqa: E402
from models.registry import PE_KINDS  # noqa: E402

CLOCK_MHZ = 100.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", help="PE kinds (default: all registered)")
    ap.add_argument("--propagation", choices=("ports", "gains"), default=part_activity.PROPAGATION,
                    help="how a driving part's output toggles follow its inputs "
                         f"(models.part_activity.PROPAGATION; default {part_activity.PROPAGATION!r})")
    args = ap.parse_args(argv)
    part_activity.PROPAGATION = args.propagation
    errors = []
    for name in args.kinds or list(PE_KINDS):
        for label, options in PE_KINDS[name].variants:
            model, act = energy_vs_sta.pe_step_energy_pj(name, options, source="minilm")
            power = synth.unit_power(name, pe_options=options, unit="pe", source="minilm",
                                     clock_mhz=CLOCK_MHZ)
            sta = energy_vs_sta.sta_step_energy_pj(name, options, power)
            errors.append((model / sta - 1, label))
            print(f"{label:32s} activity {act:5.3f}  model {model:8.3f} pJ/step   OpenSTA {sta:8.3f} pJ/step   "
                  f"{model / sta - 1:+6.0%}", flush=True)
    worst = max(errors, key=lambda e: abs(e[0]))
    print(f"largest |error| {abs(worst[0]):.0%} ({worst[1]}); "
          f"{sum(abs(e) <= 0.15 for e, _ in errors)}/{len(errors)} within +-15 % (target: all)")


if __name__ == "__main__":
    main()
