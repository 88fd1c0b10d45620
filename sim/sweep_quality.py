"""Whole-model quality on a sweep's rows, from the accuracy cache, and its fronts against TOPS/W.

Quality depends on a point's PE kind and options only (its quantisers and golden arithmetic), not
on its array shape, buffers, clock or workload, so :func:`attach_quality` reads, per distinct
(PE kind, options) of the results, what ``pearray accuracy`` left in its cache
(:mod:`sim.accuracy`; nothing is computed here: a sweep of thousands of points stays a cost-model
sweep): SmolLM2-135M perplexity (the full data's 8 windows when cached, else the ``--quick``
data's one window) and MiniLM-L6 similarity Spearman against the fp32 model (all 50 ``lee.cor``
documents, else the ``--quick`` 20). Every row of the results then carries :data:`COLUMNS` (NaN
where the cache has nothing), and :func:`fronts` adds a quality vs TOPS/W front for each metric
some row has.
"""

from __future__ import annotations

import functools
import json

import numpy as np

from models import smollm2
from models.registry import PE_KINDS

from . import accuracy

COLUMNS = ("ppl", "ppl_fp32", "delta_ppl_pct", "ppl_data", "spearman_fp32", "spearman_data")
# (x, y) fronts of the quality columns; OBJECTIVES (models.sweep_space) holds their directions
QUALITY_FRONTS = (("tops_per_w", "delta_ppl_pct"), ("tops_per_w", "spearman_fp32"))
COMMAND = "pearray accuracy --all [--quick] --model smollm2|minilm"


@functools.lru_cache(maxsize=None)
def _datasets(model):
    """(label, data) of ``model``, the full data first (tokenising SmolLM2's takes seconds: once
    per process)."""
    if model == "smollm2":
        return [(f"{w} window{'s' if w > 1 else ''}", accuracy.smollm2_data(windows=w))
                for w in (accuracy.DEFAULT_WINDOWS, accuracy.QUICK_WINDOWS)]
    return [(f"{len(d.documents)} documents", d) for d in (accuracy.minilm_data(False), accuracy.minilm_data(True))]


def _design(pe, options_text):
    """The :class:`sim.accuracy.AccuracyDesign` of a result row (JSON lists back to the tuples
    the registry's options hold), or None for a kind not registered."""
    kind = PE_KINDS.get(pe)
    if kind is None:
        return None
    options = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                           for k, v in json.loads(options_text).items()))
    return accuracy.AccuracyDesign(pe, kind, options)


def design_quality(designs):
    """{(pe, options text): {column of :data:`COLUMNS`: value}} for the designs the cache holds
    a result of (``designs``: (pe, options text) pairs); raises smollm2.MissingModelError when
    the accuracy data are not installed."""
    found = {}
    if not any(accuracy.cache_dir().glob("*.json")):
        return found                   # nothing cached: no need to read (tokenise) the data
    for model in ("smollm2", "minilm"):
        for label, data in _datasets(model):
            ref = accuracy.reference(model, data, compute_missing=False)
            if ref is None:
                continue
            for pair in designs:
                design = _design(*pair)
                row = found.setdefault(pair, {})
                if design is None or ("ppl" if model == "smollm2" else "spearman_fp32") in row:
                    continue
                got = accuracy.cached_score(model, design, data, ref)
                if got is None:
                    continue
                if model == "smollm2":
                    row.update(ppl=got["ppl"], ppl_fp32=got["ppl_fp32"],
                               delta_ppl_pct=100 * got["delta_ppl"] / got["ppl_fp32"], ppl_data=label)
                else:
                    row.update(spearman_fp32=got["spearman_fp32"], spearman_data=label)
    return {pair: row for pair, row in found.items() if row}


def attach_quality(results):
    """(``results`` with :data:`COLUMNS` added, a one-line note saying what was found)."""
    results = results.copy()
    pairs = list(dict.fromkeys(zip(results.pe, results.options)))
    try:
        quality = design_quality(pairs)
        missing = None
    except smollm2.MissingModelError as e:
        quality, missing = {}, str(e)
    for column in COLUMNS:
        values = [quality.get(pair, {}).get(column) for pair in zip(results.pe, results.options)]
        if column.endswith("_data"):
            results[column] = values
        else:
            results[column] = np.array([np.nan if v is None else v for v in values], dtype=float)
    if missing:
        return results, f"whole-model quality: none (the accuracy data are not available: {missing})"
    if not quality:
        return results, (f"whole-model quality: none (no design of this sweep has a result in the "
                         f"accuracy cache {accuracy.cache_dir()}; {COMMAND} computes the registry's "
                         f"designs), so no quality vs TOPS/W front")
    with_ppl = sum("ppl" in q for q in quality.values())
    with_rho = sum("spearman_fp32" in q for q in quality.values())
    return results, (f"whole-model quality from the accuracy cache for {len(quality)} of {len(pairs)} "
                     f"PE kind/option settings (SmolLM2 perplexity: {with_ppl}, MiniLM Spearman: "
                     f"{with_rho}); quality vs TOPS/W fronts in fronts/")


def fronts(results):
    """The quality fronts some ok row has a value for."""
    ok = results[results.status == "ok"]
    return tuple(f for f in QUALITY_FRONTS if f[1] in ok and ok[f[1]].notna().any())
