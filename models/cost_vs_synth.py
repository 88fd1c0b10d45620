"""The cost model against Yosys synthesis: model areas of exactly what :mod:`models.synth` builds.

:func:`unit_area_um2` is the model's area of one PE, one border unit or a bare array;
:func:`synthesis_comparison` tabulates it next to the synthesised (osu018) area of every
registered kind, option setting and unit, with one calibration factor fitted on the INT8 PE.
"""

import pandas as pd

from . import synth, tech
from .cost import ARRAY_GROUPS, CostConfig, area_um2
from .cost_primitives import primitive
from .inventory import unit_items
from .registry import PE_KINDS, get_kind
from .tech import UnknownComponentError


def unit_area_um2(pe, unit="pe", pe_options=(), rows=None, cols=None, dataflow="ws", node=45):
    """Model area of what :func:`models.synth.synthesize` builds: one PE, one border unit, or a
    ``rows`` x ``cols`` array (PEs, slot and edge registers, border units; no buffers)."""
    scale = tech.area_scale(node)
    proto = get_kind(pe).prototype(**dict(pe_options))
    if rows is not None:
        config = CostConfig(pe, rows, cols, dataflow, node=node, pe_options=tuple(pe_options))
        area = area_um2(config)
        return sum(area[g] for g in ARRAY_GROUPS)
    if unit == "pe":
        listed = unit_items(proto)
    else:
        border = synth.border_unit(proto, unit) if unit in ("act_border", "weight_border") else None
        if border is None:
            raise ValueError(f"PE kind {pe!r} has no {unit.replace('_', ' ')} unit")
        listed = unit_items(border)
    return scale * sum(n * primitive(prim, *widths).area_um2 for prim, widths, n, _ in listed)


def synthesis_comparison(kinds=None, arrays=((2, 2, "ws"),), node=45, tool=None):
    """pandas DataFrame: model area vs Yosys/osu018 area for every registered kind and option
    setting (each unit it has) and the ``arrays`` (rows, cols, dataflow) at the default options.

    The synthesised area is brought to ``node`` with the cited factors (Stillmaker 180 -> 45 nm,
    then 45 -> node): ``synth_scaled_um2``; ``raw_error`` = model / scaled - 1. One calibration
    factor for the osu018 technology, fitted on the INT8 baseline PE (``int8``, unit ``pe``), maps
    scaled synthesis to the model's scale (``calibrated_um2``); ``error`` = model / calibrated - 1
    is then 0 for the INT8 PE by construction and as it comes out for everything else. The
    factor is in ``df.attrs["calibration_factor"]``. A kind without a cost inventory gets its
    synthesis numbers, a NaN model area and the error message in ``note``."""
    kinds = list(kinds or PE_KINDS)
    to_node = tech.value("scale.area.180_to_45") * tech.area_scale(node)
    rows = []

    def add(pe, setting, unit, result, model):
        try:
            model_um2, note = model(), ""
        except UnknownComponentError as e:      # a kind without an inventory: synthesis only
            model_um2, note = float("nan"), str(e)
        rows.append({"pe": pe, "options": ",".join(f"{k}={v}" for k, v in setting) or "-",
                     "unit": unit, "model_um2": model_um2, "synth_osu018_um2": result.area_um2,
                     "synth_scaled_um2": result.area_um2 * to_node, "mul": result.multipliers,
                     "flop_bits": result.flop_bits, "note": note})

    for name in kinds:
        kind = get_kind(name)
        for setting in synth.option_settings(kind):
            proto = kind.prototype(**dict(setting))
            for unit in synth.UNITS:
                if unit != "pe" and synth.border_unit(proto, unit) is None:
                    continue
                r = synth.synthesize(name, unit=unit, pe_options=setting, tool=tool)
                add(name, setting, unit, r,
                    lambda: unit_area_um2(name, unit, setting, node=node))
        for R, C, dataflow in arrays:
            if dataflow not in kind.dataflows:
                dataflow = kind.dataflows[0]
            r = synth.synthesize(name, rows=R, cols=C, dataflow=dataflow, tool=tool)
            add(name, (), f"array {R}x{C} {dataflow}", r,
                lambda: unit_area_um2(name, rows=R, cols=C, dataflow=dataflow, node=node))
    df = pd.DataFrame(rows)
    base = df[(df.pe == "int8") & (df.unit == "pe")]
    if base.empty:
        raise ValueError("the calibration needs the int8 PE in kinds")
    factor = float(base.model_um2.iloc[0] / base.synth_scaled_um2.iloc[0])
    df["raw_error"] = df.model_um2 / df.synth_scaled_um2 - 1
    df["calibrated_um2"] = df.synth_scaled_um2 * factor
    df["error"] = df.model_um2 / df.calibrated_um2 - 1
    df.attrs["calibration_factor"] = factor
    df.attrs["node"] = node
    return df
