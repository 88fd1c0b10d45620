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
(``--no-gate-sim`` skips it). Needs yosys, the osu018 liberty and sta.

    python bench/bench_post_array_energy.py [--kinds shiftadd ...] [--sources minilm random] [--no-gate-sim]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import energy_vs_sta, gate_toggles, netlist_power, synth  # noqa: E402
from models.post_array_activity import post_array_run  # noqa: E402
from models.registry import PE_KINDS  # noqa: E402


def gate_sim_word_energy_pj(name, options, source, clock_mhz):
    """The gate-level simulated energy per dequantised word (45 nm, OpenSTA 2.0.17's pricing) of
    the unit on its :func:`post_array_run` stream at ``clock_mhz``."""
    run = post_array_run(name, options, source)
    r = synth.synthesize(name, unit=synth.POST_ARRAY, pe_options=options)
    sim = netlist_power.simulated_power(r.netlist(), gate_toggles.port_stream(run.ports), clock_mhz)
    return run.cycles_per_word * energy_vs_sta.cycle_energy_pj(sim) * sim.as_opensta_2019.total / sim.power.total


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
    ap.add_argument("--sources", nargs="*", default=["minilm"], choices=["minilm", "random"])
    ap.add_argument("--no-gate-sim", action="store_true", help="skip the (slow) gate-level simulation")
    args = ap.parse_args(argv)
    errors = {"gate sim": [], "OpenSTA": []}
    for name, label, options in grouped_variants(args.kinds):
        for source in args.sources:
            model_sim, rates = energy_vs_sta.post_array_word_energy_pj(name, options, source, basis="sim")
            model_sta, _ = energy_vs_sta.post_array_word_energy_pj(name, options, source, basis="sta")
            power = synth.unit_power(name, synth.POST_ARRAY, options, source=source)
            sta = energy_vs_sta.sta_word_energy_pj(name, options, power)
            errors["OpenSTA"].append((model_sta / sta - 1, f"{label} {source}"))
            line = (f"{label:28s} {source:6s} toggles/word {rates['word']:5.3f} /group {rates['group']:5.3f}  "
                    f"model(sim) {model_sim:6.1f}")
            if not args.no_gate_sim:
                gate = gate_sim_word_energy_pj(name, options, source, power.clock_mhz)
                errors["gate sim"].append((model_sim / gate - 1, f"{label} {source}"))
                line += f"  gate sim {gate:6.1f} ({model_sim / gate - 1:+4.0%})"
            line += f"   model(sta) {model_sta:6.1f}  OpenSTA {sta:6.1f} ({model_sta / sta - 1:+4.0%}) pJ/word"
            print(line, flush=True)
    for what, errs in errors.items():
        if errs:
            worst = max(errs, key=lambda e: abs(e[0]))
            print(f"vs {what}: largest |model / {what} - 1| {abs(worst[0]):.0%} ({worst[1]}); "
                  f"{sum(abs(e) <= 0.15 for e, _ in errs)}/{len(errs)} within +-15 %")


if __name__ == "__main__":
    main()
