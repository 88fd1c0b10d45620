"""Model energy of a small array against its mapped netlist simulated gate by gate (issue 14 item
4: "a small array").

For each registered variant (or ``--kinds``) a ``--sides`` x ``--sides`` array in the kind's
first dataflow at 100 MHz on the MiniLM L0 FFN1 array stream (:func:`models.activity.array_run`,
what ``array_activity`` measures), the first fold a warm-up: the cost model's energy per cycle
of the array's groups (PEs, slot / edge registers, border units, their idle energy; no SRAM,
DRAM or post-array unit) on the sim basis and the sta basis, against the netlist's zero-delay
simulated toggles priced as OpenSTA 2.0.17 prices them (sim@STA, the PE reference of
``bench_energy_vs_sim_power.py --sim-basis``), 45 nm 0.9 V pJ per cycle
(:func:`models.array_energy.array_energy`; an output-stationary array's netlist, mapped with one
shared PE module, flattened after mapping). ``out ok`` is the simulated netlist's output words
against the golden GEMM of the array's plain sums (words compared / lanes wrong; "-" when no word
left within the stream). ``dyn err``: the model's energy beyond its idle (clock, leakage) against
the netlist's beyond its clock pins and leakage. Prints the count within +-15 % and the model's
parts for the five worst. ``--per-pe``: per PE of each array, the model of the whole PE at the
activity it sees on the array stream against the standalone PE netlist simulated on its port
stream (:func:`models.array_energy.pe_stream_energies`, pJ per step; sim@STA), against the
array's own mapped PE module on the same stream (an os array mapped with one shared PE module), and against its
own cells' share of the array netlist's energy (:mod:`models.cell_owners`: by the flattened
copy's instance name, or in an array synthesised flat by its registers' names and their input
cones; ``shared``: logic feeding a PE and another owner); then the top's cells' energy beyond
their clock pins and leakage against the model's non-PE groups, and its largest registers.
Needs yosys (or the synthesis cache) and the osu018 liberty.

    python bench/bench_array_energy.py [--kinds int8 ant ...] [--sides 2] [--m 32] [--folds 8] [--variants NVFP4 ...]
        [--per-pe]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.array_energy import PARTS, array_energy, pe_stream_energies, sim_sta_pj  # noqa: E402
from models.cell_owners import is_top  # noqa: E402
from models.registry import PE_KINDS, get_kind  # noqa: E402


def sim_sta_split(power):
    """(clock pins, other internal, switching, leakage) of ``power``'s
    (:class:`models.netlist_power.NetlistPower`) sim@STA, 45 nm pJ per cycle (OpenSTA 2.0.17
    charges both clock-pin tables per edge: twice the Liberty's clock energy)."""
    p = power.as_opensta_2019
    scale = sim_sta_pj(power) / p.total if p.total else 0.0
    clock = 2 * power.clock_pin_mw * scale
    return clock, p.internal * scale - clock, p.switching * scale, p.leakage * scale


def dynamic_error(r):
    """Model (sim basis) / sim@STA - 1 of the energy beyond idle: the model's dynamic parts against
    the netlist's energy but for its clock pins and leakage (which the model's idle stands for)."""
    clock, _, _, leakage = sim_sta_split(r.power)
    model = r.model_pj("sim") - r.model["sim"]["idle"]
    return model / (r.sim_sta_pj - clock - leakage) - 1


def in_array_pe_energies(r):
    """Per PE of ``r``'s array (row by row), the sim@STA pJ per step of its own cells in the array
    netlist (:attr:`models.array_energy.ArrayEnergy.owners`, per cycle x II, as the standalone
    figure is taken)."""
    ii = get_kind(r.pe).prototype(**dict(r.pe_options)).initiation_interval
    return tuple(ii * r.owner_pj(f"pe_{row}_{col}") if f"pe_{row}_{col}" in r.owners else 0.0
                 for row in range(r.rows) for col in range(r.cols))


def top_dynamic(r):
    """{owner: sim@STA pJ per cycle beyond the clock pins and leakage} of the top's owners (its
    registers with the logic in front of them, :mod:`models.cell_owners`) and of ``"shared"``
    logic, largest first; and the model's non-PE groups' dynamic pJ per cycle."""
    found = {}
    for owner, power in r.owners.items():
        if is_top(owner) or owner == "shared":
            _, internal, switching, _ = sim_sta_split(power)
            found[owner] = internal + switching
    model = sum(v for g, v in r.model["sim"].items() if g not in ("pes", "idle"))
    return dict(sorted(found.items(), key=lambda kv: -kv[1])), model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", help="PE kinds (default: all registered)")
    ap.add_argument("--sides", type=int, default=2, help="array rows = cols (default 2)")
    ap.add_argument("--m", type=int, default=32, help="tokens per fold (default 32)")
    ap.add_argument("--folds", type=int, default=8, help="folds, the first a warm-up (default 8)")
    ap.add_argument("--variants", nargs="*",
                    help="only the variants whose label contains one of these (default: all)")
    ap.add_argument("--per-pe", action="store_true",
                    help="per PE: the whole-PE model on its array stream vs the standalone PE netlist")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.kinds or ()) - set(PE_KINDS))
    if unknown:
        ap.error(f"unknown PE kind(s): {', '.join(unknown)}")
    if args.sides < 1 or args.m < 1 or args.folds < 2:
        ap.error("--sides and --m must be >= 1 and --folds >= 2")
    labels = [label for name in args.kinds or list(PE_KINDS) for label, _ in PE_KINDS[name].variants]
    if args.variants and not any(v in label for v in args.variants for label in labels):
        ap.error(f"no variant of the kinds matches --variants {' '.join(args.variants)}")
    print(f"{'array':40s} {'cycles':>6s} {'model sim':>9s} {'model sta':>9s} {'sim@STA':>8s} {'sim':>7s}  "
          f"{'sim err':>7s} {'sta err':>7s} {'dyn err':>7s}  {'out ok':>9s} {'s':>4s}   (45 nm pJ/cycle)")
    results = []
    for name in args.kinds or list(PE_KINDS):
        for label, options in PE_KINDS[name].variants:
            if args.variants and not any(v in label for v in args.variants):
                continue
            start = time.perf_counter()
            try:
                r = array_energy(name, options, args.sides, args.sides, m=args.m, folds=args.folds)
            except ValueError as e:
                print(f"{label + f' {args.sides}x{args.sides}':40s} skipped: {e}", flush=True)
                continue
            sim_err = r.model_pj("sim") / r.sim_sta_pj - 1
            sta_err = r.model_pj("sta") / r.sim_sta_pj - 1
            check = f"{r.checked}/{r.mismatches}" if r.checked else "-"
            dyn_err = dynamic_error(r)
            print(f"{label + f' {args.sides}x{args.sides}':40s} {r.cycles:6d} {r.model_pj('sim'):9.3f} "
                  f"{r.model_pj('sta'):9.3f} {r.sim_sta_pj:8.3f} {r.sim_pj:7.3f}  {sim_err:+7.0%} "
                  f"{sta_err:+7.0%} {dyn_err:+7.0%}  {check:>9s} {time.perf_counter() - start:4.0f}", flush=True)
            results.append((label, r, sim_err, sta_err))
            if args.per_pe:
                pes = pe_stream_energies(name, options, args.sides, args.sides, m=args.m, folds=args.folds,
                                         array_module=True)
                print("    per PE model / standalone netlist sim@STA pJ/step: " + " ".join(
                    f"{model:.3f}/{sim:.3f} ({model / sim - 1:+.0%})" for model, sim, _ in pes), flush=True)
                if pes[0][2] is not None:
                    print("    per PE model / the array's PE module alone on the same stream: " + " ".join(
                        f"{model:.3f}/{sim:.3f} ({model / sim - 1:+.0%})" for model, _, sim in pes), flush=True)
                in_array = in_array_pe_energies(r)
                top, top_model = top_dynamic(r)
                shared = top.pop("shared", 0.0)
                print("    per PE model / its cells in the array netlist sim@STA pJ/step: " + " ".join(
                    f"{model:.3f}/{share:.3f} ({model / share - 1:+.0%})"
                    for (model, *_), share in zip(pes, in_array)) +
                    f"; shared {shared:.3f} pJ/cycle", flush=True)
                print(f"    the top's cells' dynamic {sum(top.values()):.3f} pJ/cycle vs the model's non-PE groups' "
                      f"{top_model:.3f}; largest: " + ", ".join(f"{o[4:]} {v:.3f}" for o, v in list(top.items())[:4]),
                      flush=True)
    for basis, i in (("sim", 2), ("sta", 3)):
        errors = [row[i] for row in results]
        print(f"model ({basis} basis) vs sim@STA: {sum(abs(e) <= 0.15 for e in errors)}/{len(errors)} "
              f"within +-15 %, error {min(errors):+.0%} .. {max(errors):+.0%}")
    print("worst (sim basis), model parts pJ/cycle; sim@STA split: clock pins / other internal / "
          "switching / leakage:")
    for label, r, err, _ in sorted(results, key=lambda row: -abs(row[2]))[:5]:
        parts = r.model["sim"]
        clock, internal, switching, leakage = sim_sta_split(r.power)
        print(f"  {label:36s} {err:+5.0%}  model " + " ".join(
            f"{g}={parts[g]:.3f}" for g in (*PARTS, "idle") if parts[g]) +
            f" | sim@STA clock={clock:.3f} internal={internal:.3f} switching={switching:.3f} "
            f"leakage={leakage:.4f}")


if __name__ == "__main__":
    main()
