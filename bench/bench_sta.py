"""Timing and power of every registered PE variant: OpenSTA Fmax and activity-based power.

Run: ``python bench/bench_sta.py [--clock-mhz 100] [--units pe,act_border,weight_border]
[--kinds int8,lut,...] [--csv out.csv]``.

For each kind's registered variants (``PEKind.variants``), each unit present: the osu018 area,
OpenSTA's critical path and Fmax, and ``report_power`` with the input port activities measured on
MiniLM L0 FFN1 and on uniform random codes (:mod:`models.activity`), both at the unit's own Fmax
and at one common clock (``--clock-mhz``), plus energy per MAC (power / clock / MACs per cycle) for
a PE. The first run synthesises every unit (about 10 s each); later runs read the caches
(``~/.cache/pearray/synth``). Needs yosys, the osu018 liberty and sta (``make synth-tools``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from models.registry import PE_KINDS  # noqa: E402
from models.synth import UNITS, timing_power_table  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clock-mhz", type=float, default=100.0, help="the common clock (default 100)")
    ap.add_argument("--units", default="pe", help=f"comma list of {', '.join(UNITS)} (default pe)")
    ap.add_argument("--kinds", default=",".join(PE_KINDS))
    ap.add_argument("--csv", help="also write the table to this CSV file")
    args = ap.parse_args(argv)
    units = tuple(u for u in args.units.split(",") if u)
    kinds = [k for k in args.kinds.split(",") if k]
    print(f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    settings = {k: [opts for _, opts in PE_KINDS[k].variants] or [()] for k in kinds}
    t0 = time.perf_counter()
    own = timing_power_table(kinds, units=units, settings=settings)
    common = timing_power_table(kinds, units=units, settings=settings, clock_mhz=args.clock_mhz)
    keys = ["pe", "options", "unit", "source"]
    table = own.merge(common[keys + ["power_mw", "pj_per_cycle"]], on=keys,
                      suffixes=("_fmax", "_common"))
    macs = {(k, o): PE_KINDS[k].prototype(**dict(s)).macs_per_cycle
            for k in kinds for o, s in [(" ".join(f"{a}={b}" for a, b in sorted(dict(v).items())), v)
                                        for v in settings[k]]}
    table["pj_per_mac"] = [row.pj_per_cycle_common / macs[(row.pe, row.options)]
                           if row.unit == "pe" else float("nan") for row in table.itertuples()]
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.max_colwidth", 40)
    cols = ["pe", "options", "unit", "area_um2", "delay_ns", "fmax_mhz", "start", "end", "source",
            "toggle_rate", "power_mw_fmax", "power_mw_common", "pj_per_mac"]
    print(f"power_mw_fmax at each unit's own Fmax; power_mw_common and pj_per_mac at "
          f"{args.clock_mhz:g} MHz")
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"{len(table)} rows in {time.perf_counter() - t0:.1f} s")
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
