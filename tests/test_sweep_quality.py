"""Whole-model quality in `pearray sweep`: rows carry what the accuracy cache holds for their PE
kind and options, a quality vs TOPS/W front (CSV + plot) is written when some point has it, and
the summary says none otherwise."""

import json

import numpy as np
import pandas as pd
import pytest

from sim import accuracy, sweep_quality
from sim.cli import main

SPACE = """
kinds = ["int8", "lut"]
rows = [2, 4]
cols = [4]
dataflows = ["ws"]
workloads = ["64x256x48"]

[options.lut]
weight_bits = [2, 4]
"""
# made-up cached results (no model runs): perplexity and Spearman per (kind, options)
PPL = {("int8", ()): 20.5, ("lut", (("weight_bits", 4),)): 21.0}       # lut W2: nothing cached
RHO = {("int8", ()): 0.99, ("lut", (("weight_bits", 4),)): 0.97, ("lut", (("weight_bits", 2),)): 0.80}


@pytest.fixture
def fake_cache(tmp_path, monkeypatch):
    cache = tmp_path / "accuracy"
    cache.mkdir()
    monkeypatch.setenv("PEARRAY_ACCURACY_DIR", str(cache))
    monkeypatch.setattr(sweep_quality, "_datasets", lambda model: [("full", model), ("quick", model)])

    def reference(model, data, use_cache=True, compute_missing=True):
        assert not compute_missing
        return {"ppl": 20.0} if model == "smollm2" else {"similarities": []}

    def cached_score(model, design, data, ref):
        key = (design.kind.name, design.options)
        if data == "quick" or key not in (PPL if model == "smollm2" else RHO):
            return None
        if model == "smollm2":
            return {"ppl": PPL[key], "ppl_fp32": 20.0, "delta_ppl": PPL[key] - 20.0}
        return {"spearman_fp32": RHO[key]}

    monkeypatch.setattr(accuracy, "reference", reference)
    monkeypatch.setattr(accuracy, "cached_score", cached_score)
    return cache


def _sweep(tmp_path, capsys):
    space = tmp_path / "s.toml"
    space.write_text(SPACE)
    out = tmp_path / "out"
    assert main(["sweep", str(space), "--out", str(out), "--workers", "0"]) == 0
    return out, capsys.readouterr().out


def test_rows_carry_cached_quality_and_a_quality_front_is_written(tmp_path, capsys, fake_cache):
    (fake_cache / "something.json").write_text("{}")      # a cache that is not empty
    out, text = _sweep(tmp_path, capsys)
    results = pd.read_parquet(out / "results.parquet")
    for row in results.itertuples():
        key = (row.pe, tuple(sorted(json.loads(row.options).items())))
        if key in PPL:
            assert row.delta_ppl_pct == pytest.approx(100 * (PPL[key] - 20) / 20) and row.ppl_data == "full"
        else:
            assert np.isnan(row.delta_ppl_pct) and pd.isna(row.ppl_data)
        assert row.spearman_fp32 == RHO[key]
    fronts = pd.read_csv(out / "fronts" / "pareto.csv")
    quality = fronts[fronts.front == "delta_ppl_pct vs tops_per_w"]
    assert len(quality) and quality.delta_ppl_pct.notna().all()
    # the front is the Pareto set in (TOPS/W up, delta ppl down) of the points with perplexity
    ok = results[(results.status == "ok") & results.delta_ppl_pct.notna()]
    for row in ok.itertuples():
        dominated = ((ok.tops_per_w >= row.tops_per_w) & (ok.delta_ppl_pct <= row.delta_ppl_pct)
                     & ((ok.tops_per_w > row.tops_per_w) | (ok.delta_ppl_pct < row.delta_ppl_pct))).any()
        assert (row.key in set(quality.key)) == (not dominated)
    assert len(fronts[fronts.front == "spearman_fp32 vs tops_per_w"])
    assert (out / "fronts" / "pareto-64x256x48-delta_ppl_pct-vs-tops_per_w.png").stat().st_size > 0
    assert "whole-model quality from the accuracy cache for 3 of 3" in text


def test_without_cached_quality_the_sweep_says_none(tmp_path, capsys, fake_cache):
    out, text = _sweep(tmp_path, capsys)                   # the cache folder is empty
    results = pd.read_parquet(out / "results.parquet")
    assert results.delta_ppl_pct.isna().all() and results.spearman_fp32.isna().all()
    fronts = pd.read_csv(out / "fronts" / "pareto.csv")
    assert set(fronts.front) == {"tops_per_w vs tops_per_mm2"}
    assert "whole-model quality: none" in text and "no quality vs TOPS/W front" in text
