"""Where the model-vs-OpenSTA energy error of each PE comes from (issue 14's energy target).

For each registered variant's PE, three comparisons of the cost model's energy per step
(:func:`models.energy_vs_sta.pe_step_energy_pj`'s sum, the model's own primitives) with OpenSTA
on the PE's netlist at 100 MHz:

* ``uniform``: every data port bit (act, weight, acc_in) toggling 0.5 per step with duty 0.5
  (``valid`` as measured) in OpenSTA, and the model's parts at the same port figures (the
  result register at 0.5 too, duties 0.5 but ``valid``'s): what is left is composition, how
  OpenSTA propagates activity through the whole PE against the sum of primitives characterised
  alone; no activity assignment can remove it;
* ``port-mean``: each port's bits at the port's measured mean toggle rate and mean duty in
  OpenSTA; the model on the measured activity (its inputs are exactly these port means,
  :mod:`models.duty` carrying the duties);
* ``measured``: OpenSTA on the measured per-bit toggle rates and duties (the energy bench's
  figure); the step from port-mean to measured is what per-bit statistics (which bits are
  constant, which toggle) change, which the model's per-port means cannot see.

    python bench/bench_energy_decompose.py [--kinds int8 lut ...]
"""

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import energy_vs_sta, part_activity, synth  # noqa: E402
from models.activity import unit_activity  # noqa: E402
from models.registry import PE_KINDS, get_kind  # noqa: E402

CLOCK_MHZ = 100.0
DATA = ("act", "weight", "acc_in")


def model_pj(name, options, parts):
    """The model's 45 nm pJ per step of the PE on ``parts`` (a PartActivity)."""
    return energy_vs_sta.step_energy_pj(get_kind(name).prototype(**dict(options)), parts)


def sta_pj(name, options, act):
    power = synth.unit_power(name, "pe", options, clock_mhz=CLOCK_MHZ, activity=act)
    return energy_vs_sta.sta_step_energy_pj(name, options, power)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", help="PE kinds (default: all registered)")
    args = ap.parse_args(argv)
    print(f"{'PE':32s} {'uniform 0.5':>12s} {'port-mean':>10s} {'measured':>9s}   (model / OpenSTA - 1)")
    for name in args.kinds or list(PE_KINDS):
        for label, options in PE_KINDS[name].variants:
            key = tuple(sorted(dict(options).items()))
            act = unit_activity(name, "pe", key, "minilm")
            parts = part_activity.part_activity(name, key, "minilm")
            ii = parts.ii
            port = lambda b: b.split("[")[0]   # noqa: E731
            half = dataclasses.replace(act, bits=tuple(
                (b, 0.5 / ii, 0.5) if port(b) in DATA else (b, r, d) for b, r, d in act.bits))
            half_parts = dataclasses.replace(parts, ports=tuple(
                (p, 0.5 / ii if p in DATA + ("acc_out",) else r, n) for p, r, n in parts.ports),
                duties=tuple((p, 0.5 if p in DATA + ("acc_out",) else d) for p, d in parts.duties))
            means = act.port_means()
            mean = dataclasses.replace(act, bits=tuple(
                (b, *means[port(b)]) if port(b) in DATA else (b, r, d) for b, r, d in act.bits))
            model_real = model_pj(name, options, parts)
            errors = [model_pj(name, options, half_parts) / sta_pj(name, options, half) - 1,
                      model_real / sta_pj(name, options, mean) - 1,
                      model_real / sta_pj(name, options, act) - 1]
            print(f"{label:32s} {errors[0]:+12.0%} {errors[1]:+10.0%} {errors[2]:+9.0%}", flush=True)


if __name__ == "__main__":
    main()
