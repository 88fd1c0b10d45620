"""OpenSTA's propagated activity inside each PE against the mapped netlist's own toggles on the
same MiniLM stream (issue 14's energy target: is the reference right?).

For each registered variant's PE (or ``--kinds``): the mean toggles per cycle over every net a
cell drives, (1) as OpenSTA propagates the measured port activities (read through BUFX2 probes,
:func:`models.primitive_outputs.net_density`) and (2) counted by a zero-delay gate-level
simulation of the same mapped netlist on the same port stream (:mod:`models.gate_toggles`; no
glitches, so a lower bound of the real switching); and the same two over the register outputs.
The gate-level registers reproduce the RTL simulation's ``acc_out`` exactly
(``tests/test_gate_toggles.py``).

    python bench/bench_gate_toggles.py [--kinds mx fp16 ...]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from models import gate_toggles, primitive_outputs, synth  # noqa: E402
from models.activity import unit_activity  # noqa: E402
from models.registry import PE_KINDS  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", help="PE kinds (default: all registered)")
    args = ap.parse_args(argv)
    print(f"{'PE':36s} {'cell nets':>9s} {'OpenSTA':>8s} {'gate sim':>8s} {'ratio':>6s}   "
          f"{'flops':>5s} {'OpenSTA':>8s} {'gate sim':>8s}   (toggles/cycle)")
    for name in args.kinds or list(PE_KINDS):
        for label, options in PE_KINDS[name].variants:
            key = tuple(sorted(dict(options).items()))
            r = synth.synthesize(name, unit="pe", pe_options=key)
            netlist = r.netlist()
            toggles = gate_toggles.simulate(netlist, gate_toggles.pe_stream(name, key))
            act = unit_activity(name, "pe", key, "minilm").as_sta()
            flops = [q for typ, conns in gate_toggles.instances(netlist) if typ == gate_toggles.FLOP
                     for q in [conns["Q"]]]
            sta_all = primitive_outputs.net_density(netlist, r.top, sorted(toggles), act)
            sta_flops = primitive_outputs.net_density(netlist, r.top, flops, act) if flops else 0.0
            sim_all = float(np.mean(list(toggles.values())))
            sim_flops = float(np.mean([toggles[q] for q in flops])) if flops else 0.0
            print(f"{label:36s} {len(toggles):9d} {sta_all:8.3f} {sim_all:8.3f} {sta_all / sim_all:6.2f}   "
                  f"{len(flops):5d} {sta_flops:8.3f} {sim_flops:8.3f}", flush=True)


if __name__ == "__main__":
    main()
