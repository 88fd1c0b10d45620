"""Post-array unit: model energy per dequantised word against OpenSTA's power on its measured stream.

For each registered variant with a post-array unit (the grouped designs): the unit
(:data:`models.synth.POST_ARRAY_COLS` columns) fed the words the accelerator's group writer
delivers on MiniLM L0 FFN1 through the design's quantisers (and on random codes, ``--sources``),
taken from the golden model and checked through the unit's RTL
(:func:`models.post_array_activity.post_array_run`); per source the unit's measured toggles per
array word, the cost model's energy per dequantised word at that activity
(:func:`models.energy_vs_sta.post_array_word_energy_pj`), the same at the PE's data-port activity
(what the report's cost model gives the unit, README "Activity in the cost model") and OpenSTA's (total power at the
unit's Fmax with the measured input port activities x the run's cycles per dequantised word,
:func:`models.energy_vs_sta.sta_word_energy_pj`), both at 45 nm. With ``--netlist-power`` also the
zero-delay gate-level simulation's power on the same stream (:func:`models.netlist_power.simulated_power`,
slow for the large units). Needs yosys, the osu018 liberty and sta.

    python bench/bench_post_array_energy.py [--kinds shiftadd ...] [--sources minilm random] [--netlist-power]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import energy_vs_sta, gate_toggles, netlist_power, part_activity, synth  # noqa: E402
from models.post_array_activity import post_array_run  # noqa: E402
from models.registry import PE_KINDS  # noqa: E402


def grouped_variants(kinds=None):
    """(kind, label, options) of every registered variant with a post-array unit."""
    for name in kinds or list(PE_KINDS):
        kind = PE_KINDS[name]
        for label, options in kind.variants:
            if synth.has_unit(kind.prototype(**dict(options)), synth.POST_ARRAY):
                yield name, label, tuple(sorted(options))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", help="PE kinds (default: all registered)")
    ap.add_argument("--sources", nargs="*", default=["minilm", "random"], choices=["minilm", "random"])
    ap.add_argument("--netlist-power", action="store_true",
                    help="also the gate-level simulated power on the same stream (slow)")
    args = ap.parse_args(argv)
    errors = []
    for name, label, options in grouped_variants(args.kinds):
        for source in args.sources:
            model, act = energy_vs_sta.post_array_word_energy_pj(name, options, source=source)
            power = synth.unit_power(name, synth.POST_ARRAY, options, source=source)
            sta = energy_vs_sta.sta_word_energy_pj(name, options, power)
            # what the report's cost model gives the unit today: the PE's data-port activity
            pe_act = part_activity.part_activity(name, options, source).data_activity
            at_pe, _ = energy_vs_sta.post_array_word_energy_pj(name, options, source=source, activity=pe_act)
            errors.append((model / sta - 1, f"{label} {source}"))
            line = (f"{label:30s} {source:6s} toggles/word {act:5.3f}  model {model:7.1f} pJ/word   "
                    f"OpenSTA {sta:7.1f} pJ/word   {model / sta - 1:+5.0%}   at the PE's activity "
                    f"{pe_act:5.3f}: {at_pe:7.1f} pJ/word ({at_pe / sta - 1:+.0%})")
            if args.netlist_power:
                run = post_array_run(name, options, source)
                r = synth.synthesize(name, unit=synth.POST_ARRAY, pe_options=options)
                sim = netlist_power.simulated_power(r.netlist(), gate_toggles.port_stream(run.ports),
                                                    power.clock_mhz)
                gate = run.cycles_per_word * energy_vs_sta.cycle_energy_pj(sim)
                line += f"   gate-level sim {gate:8.1f} pJ/word ({model / gate - 1:+.0%})"
            print(line, flush=True)
    worst = max(errors, key=lambda e: abs(e[0]))
    print(f"largest |model / OpenSTA - 1| {abs(worst[0]):.0%} ({worst[1]}); "
          f"{sum(abs(e) <= 0.15 for e, _ in errors)}/{len(errors)} within +-15 %")


if __name__ == "__main__":
    main()
