"""The cost model against Yosys synthesis: model areas of exactly what :mod:`models.synth` builds.

:func:`unit_area_um2` is the model's area of one PE, one border unit, one post-array unit or a
bare array; :func:`synthesis_comparison` tabulates it next to the synthesised (osu018) area of
every registered variant's units and arrays. Both sides are in one technology (the model's
primitives are osu018 cells measured by ``pearray characterise``) and both are brought to the
node with the same cited factors, so ``error`` = model / synthesis - 1 needs no calibration.
"""

import pandas as pd

from . import synth, tech
from .cost import ARRAY_GROUPS, CostConfig, area_um2
from .cost_primitives import primitive
from .inventory import design_items, outlier_items, unit_items
from .registry import PE_KINDS, get_kind
from .tech import UnknownComponentError
from .top_inventory import top_items

UNITS = synth.ALL_UNITS
#: columns of the post-array unit synthesised alone (its inventory is per column and shared parts)
POST_ARRAY_COLS = synth.POST_ARRAY_COLS
ARRAY_SIDES = (2, 4, 8)
#: :func:`synthesis_comparison`'s columns before the error
COLUMNS = ("pe", "variant", "options", "unit", "model_um2", "synth_um2", "synth_osu018_um2", "mul", "flop_bits",
           "note")


def _unit(proto, unit):
    """The PE prototype's ``unit`` instance (never elaborated) or None if the kind has none."""
    if unit == "pe":
        return proto
    if unit == synth.POST_ARRAY:
        return synth.post_array_unit(proto)
    if unit == synth.OUTLIER_PASS:
        return synth.outlier_pass_unit(proto)
    return synth.border_unit(proto, unit)


def unit_area_um2(pe, unit="pe", pe_options=(), rows=None, cols=None, dataflow="ws", node=45, tile=(1, 1)):
    """Model area of what :func:`models.synth.synthesize` builds: one PE, one border unit, the
    post-array unit (``POST_ARRAY_COLS`` columns), the outlier pass (its tile register, unit and
    stage registers; not its sequencer's counters, which the cost model leaves out), or a ``rows`` x ``cols`` array with broadcast
    tiles ``tile`` (PEs, slot and edge registers, border units; no buffers)."""
    if rows is not None:
        config = CostConfig(pe, rows, cols, dataflow, node=node, pe_options=tuple(pe_options), tile=tile)
        area = area_um2(config)
        return sum(area[g] for g in ARRAY_GROUPS)
    instance = _unit(get_kind(pe).prototype(**dict(pe_options)), unit)
    if instance is None:
        raise ValueError(f"PE kind {pe!r} has no {unit.replace('_', ' ')} unit")
    # the outlier pass is priced as the accelerator's (models.inventory.outlier_items)
    items = ([(i.prim, i.widths, i.count, i.event) for i in outlier_items(instance)]
             if unit == synth.OUTLIER_PASS else unit_items(instance))
    return tech.area_scale(node) * sum(n * primitive(prim, *widths).area_um2 for prim, widths, n, _ in items)


def accelerator_area_um2(pe, rows, cols, dataflow="ws", pe_options=(), node=45, tile=(1, 1)):
    """Model area of the accelerator top :func:`models.synth.accelerator_verilog` builds: the cost
    model's inventory (:func:`models.inventory.design_items`: array, output writer, post-array
    unit) plus its one-word buffers, host port and sequencer (:func:`models.top_inventory.top_items`)."""
    acc = synth.accelerator_facts(pe, rows, cols, dataflow, pe_options, tile)
    parts = [(i.prim, i.widths, i.count) for i in design_items(acc)]
    parts += [(prim, widths, n) for prim, widths, n, _ in top_items(acc)]
    return tech.area_scale(node) * sum(n * primitive(prim, *widths).area_um2 for prim, widths, n in parts)


def synthesize_unit(pe, unit, pe_options=(), tool=None):
    """:func:`models.synth.synthesize` of one unit (pe, border or post-array unit)."""
    return synth.synthesize(pe, unit=unit, pe_options=pe_options, tool=tool)


def variant_settings(kind):
    """The (label, full option setting) of each registered variant of ``kind``."""
    return [(label, tuple(sorted({**dict(kind.options), **dict(opts)}.items())))
            for label, opts in kind.variants]


def synthesis_comparison(kinds=None, sides=ARRAY_SIDES, node=45, tool=None, progress=None, arrays=None,
                         accelerators=(), on_error=None, variants=None):
    """pandas DataFrame: model area vs Yosys/osu018 area for every registered variant of
    ``kinds``: each unit it has (PE, border units, post-array unit, outlier pass) and its ``sides`` x ``sides``
    arrays in the kind's preferred dataflow. Synthesis is brought to ``node`` with the cited
    factors (Stillmaker 180 -> 45 nm, then 45 -> node): ``synth_um2``; ``error`` = model /
    synth - 1. ``df.attrs["max_abs_error"]`` is the largest |error|. A kind without a cost
    inventory gets its synthesis numbers, a NaN model area and the error message in ``note``.
    ``arrays``: (rows, cols, dataflow) triples instead of ``sides`` (a dataflow the kind lacks
    becomes its preferred one). ``accelerators``: sides of the whole accelerator tops to add
    (:func:`accelerator_area_um2`, one-word buffers; unit ``"accelerator RxC flow"``).
    ``variants``: None (every registered variant of ``kinds``) or the labels to keep.
    ``on_error``: None (a :class:`~models.synth.SynthesisError` propagates) or a callable
    ``on_error(variant, unit, error)``: the unit is left out of the table and the others go on
    (a long benchmark is not lost to one unit's timeout; the caller reports what is missing).

    There is no calibration factor any more. For readers of the old table (``sim/report.py``
    until it moves to ``error``): ``synth_scaled_um2`` = ``synth_um2``, ``raw_error`` = ``error``,
    ``calibrated_um2`` = ``synth_um2`` and ``attrs["calibration_factor"]`` = 1."""
    to_node = tech.value("scale.area.180_to_45") * tech.area_scale(node)
    rows = []

    def add(pe, label, setting, unit, synthesise, model):
        try:
            result = synthesise()
        except synth.SynthesisError as e:
            if on_error is None:
                raise
            on_error(label, unit, e)
            return
        try:
            model_um2, note = model(), ""
        except UnknownComponentError as e:      # a kind without an inventory: synthesis only
            model_um2, note = float("nan"), str(e)
        rows.append({"pe": pe, "variant": label,
                     "options": ",".join(f"{k}={v}" for k, v in setting) or "-", "unit": unit,
                     "model_um2": model_um2, "synth_um2": result.area_um2 * to_node,
                     "synth_osu018_um2": result.area_um2, "mul": result.multipliers,
                     "flop_bits": result.flop_bits, "note": note})
        if progress:
            progress(rows[-1])

    for name in (kinds or list(PE_KINDS)):
        kind = get_kind(name)
        dataflow = kind.dataflows[0]
        for label, setting in variant_settings(kind):
            if variants is not None and label not in variants:
                continue
            proto = kind.prototype(**dict(setting))
            for unit in (*UNITS, synth.OUTLIER_PASS):
                if _unit(proto, unit) is None:
                    continue
                add(name, label, setting, unit, lambda: synthesize_unit(name, unit, setting, tool=tool),
                    lambda: unit_area_um2(name, unit, setting, node=node))
            shapes = arrays if arrays is not None else [(n, n, dataflow) for n in sides]
            for R, C, flow in shapes:
                flow = flow if flow in kind.dataflows else dataflow
                add(name, label, setting, f"array {R}x{C} {flow}",
                    lambda: synth.synthesize(name, rows=R, cols=C, dataflow=flow, pe_options=setting, tool=tool),
                    lambda: unit_area_um2(name, pe_options=setting, rows=R, cols=C, dataflow=flow,
                                          node=node))
            for n in accelerators:
                add(name, label, setting, f"accelerator {n}x{n} {dataflow}",
                    lambda: synth.synthesize(name, rows=n, cols=n, dataflow=dataflow, pe_options=setting,
                                             tool=tool, accelerator=True),
                    lambda: accelerator_area_um2(name, n, n, dataflow, setting, node=node))
    df = pd.DataFrame(rows, columns=COLUMNS)     # the columns even when every unit failed
    df["error"] = df.model_um2 / df.synth_um2 - 1
    df["synth_scaled_um2"], df["raw_error"], df["calibrated_um2"] = df.synth_um2, df.error, df.synth_um2
    df.attrs["calibration_factor"] = 1.0
    df.attrs["max_abs_error"] = float(df.error.abs().max())
    df.attrs["node"] = node
    return df
