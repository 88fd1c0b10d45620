"""The report's whole-model quality section: rows for every registry design, the cache-only quick
mode computes nothing, skipped and missing designs say why, the Pareto marks and the plots."""

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from models import fast_golden
from sim import accuracy, report, report_acceptance, report_accuracy, report_html

#: the design made unsupported here (every registry kind has a fast path today), so that a skipped
#: design's row is still tested
SKIPPED = "BitMoD mixed4 W4A16 (FP16 act)"


def _without_fast_path(monkeypatch):
    """``bitserial_fp16`` without its fast path, with a stated reason, for this test."""
    monkeypatch.delitem(fast_golden.FAST_PATHS, "bitserial_fp16")
    monkeypatch.setitem(fast_golden.NO_FAST_PATH, "bitserial_fp16", "taken away by the test")


def _costs():
    rows = []
    for i, d in enumerate(accuracy.registry_designs()):
        for budget in ("equal PE count", "equal area"):
            rows.append({"design": d.label, "workload": report_html.PRIMARY_WORKLOAD, "budget": budget,
                         "tops_per_w": 1.0 + i, "tops_per_mm2_bounded": 10.0 - 0.3 * i})
    return pd.DataFrame(rows)


@pytest.fixture
def fake_runs(monkeypatch):
    """Cached results made up per design (no model runs): ppl 10 + i, Spearman 0.9 - i/100;
    the cache holds nothing for 'LUT W1A8'; :data:`SKIPPED` has no fast path."""
    _without_fast_path(monkeypatch)
    labels = [d.label for d in accuracy.registry_designs()]
    calls = []

    def cached_score(model, design, data, ref):
        calls.append((model, design.label))
        if design.label == "LUT W1A8":
            return None
        i = labels.index(design.label)
        row = {"design": design.label, "act_format": "int8", "act_granularity": "tensor",
               "weight_format": "int4", "weight_granularity": "channel"}
        if model == "smollm2":
            return {**row, "ppl": 10.0 + i, "ppl_fp32": 10.0, "delta_ppl": float(i)}
        return {**row, "spearman_human": 0.5, "spearman_fp32": 0.9 - i / 100}

    def reference(model, data, use_cache=True, compute_missing=True):
        assert not compute_missing                      # quick-cached never computes
        return {"ppl": 10.0} if model == "smollm2" else {"similarities": list(np.linspace(0, 1, len(data.human)))}

    monkeypatch.setattr(accuracy, "cached_score", cached_score)
    monkeypatch.setattr(accuracy, "reference", reference)
    monkeypatch.setattr(accuracy, "run", lambda *a, **k: pytest.fail("quick-cached ran a model"))
    monkeypatch.setattr(accuracy, "score", lambda *a, **k: pytest.fail("quick-cached scored a design"))
    return calls


def test_every_registry_design_has_a_row(fake_runs):
    frame, note = report_accuracy.model_quality("quick-cached", _costs())
    designs = accuracy.registry_designs()
    assert list(frame.design) == [d.label for d in designs]
    row = frame.set_index("design")
    # a skipped kind says why; a design missing from the cache names the command that computes it
    assert row.loc[SKIPPED, "status"].startswith("skipped: ")
    assert "pearray accuracy --all --quick --model smollm2" in row.loc["LUT W1A8", "status"]
    assert np.isnan(row.loc["LUT W1A8", "ppl"])
    assert row.loc["INT8", "status"] == "ok" and row.loc["INT8", "ppl"] == 10.0
    i = [d.label for d in designs].index("OVP W4A4")
    assert row.loc["OVP W4A4", "delta_ppl_pct"] == pytest.approx(10.0 * i)
    assert row.loc["OVP W4A4", "tops_per_w"] == 1.0 + i
    assert row.loc["INT8", "activations"] == "int8 per tensor"
    assert "1 x 512-token window" in note and "cache only" in note
    # the skipped kind is never looked up
    assert not [c for c in fake_runs if c[1] == SKIPPED]


LENIENT = report_acceptance.Acceptance(max_delta_ppl_pct=1e6)


def test_pareto_marks_the_undominated(fake_runs):
    frame, _ = report_accuracy.model_quality("quick-cached", _costs(), acceptance=LENIENT)
    known = frame.dropna(subset=["ppl"])
    # ppl rises and TOPS/mm^2 falls with the row index while TOPS/W rises: nothing dominates
    assert known.pareto.all() and known.acceptable.all()
    assert not frame[frame.ppl.isna()].pareto.any()
    costs = _costs()
    costs.loc[costs.design == "LUT W4A8", ["tops_per_w", "tops_per_mm2_bounded"]] = 0.0   # dominated by INT8
    frame, _ = report_accuracy.model_quality("quick-cached", costs, acceptance=LENIENT)
    assert not frame.set_index("design").loc["LUT W4A8", "pareto"]


def test_pareto_only_among_acceptable_designs(fake_runs):
    """A design over the perplexity threshold is never starred, however efficient; the front is
    recomputed among the rest (the threshold moves it)."""
    strict = report_accuracy.model_quality("quick-cached", _costs(),
                                           acceptance=report_acceptance.Acceptance(max_delta_ppl_pct=15.0))[0]
    known = strict.dropna(subset=["ppl"])
    over = known[known.delta_ppl_pct > 15.0]
    assert len(over) and not over.pareto.any() and not over.acceptable.any()
    assert known[known.delta_ppl_pct <= 15.0].pareto.all()


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs.get("alt"))


def test_section_renders_the_table_and_both_pareto_plots(fake_runs):
    frame, note = report_accuracy.model_quality("quick-cached", _costs())
    data = report.ReportData(None, {"model_quality.csv": frame}, "", "", (1, 1), note)
    page = report_accuracy.section(data)
    parser = _Collect()
    parser.feed(page)
    assert parser.tables == ["model-quality"]
    assert parser.images == ["SmolLM2 quality Pareto fronts", "MiniLM quality Pareto fronts"]
    assert "Q4_1" in page and "skipped: " in page and "★" in page


def test_section_without_cached_results(fake_runs, monkeypatch):
    """An empty cache (a fresh quick report): every row says how to compute it, no plots."""
    monkeypatch.setattr(accuracy, "cached_score", lambda *a: None)
    frame, note = report_accuracy.model_quality("quick-cached", _costs())
    assert frame.ppl.isna().all() and not frame.pareto.any()
    assert (frame.status.str.startswith("not computed: ") | frame.status.str.startswith("skipped: ")).all()
    assert frame.set_index("design").loc["OVP W4A4", "activations"].startswith("ovp")
    parser = _Collect()
    parser.feed(report_accuracy.section(report.ReportData(None, {"model_quality.csv": frame}, "", "", (1, 1), note)))
    assert parser.tables == ["model-quality"] and parser.images == []


def test_full_mode_scores_both_models_in_one_pool(monkeypatch):
    """The full report scores every runnable design of both models with one
    :func:`sim.accuracy.run_many` call (one pool of forked processes, one per CPU), never design
    by design; its rows and the fp32 MiniLM Spearman land in the table."""
    _without_fast_path(monkeypatch)
    runnable = [d for d in accuracy.registry_designs() if accuracy.supported(d) is None]
    calls = []

    def run_many(runs, use_cache=True, progress=None, workers=1):
        calls.append(([(model, [d.label for d in designs]) for model, designs, _ in runs], workers))
        out = []
        for model, designs, _ in runs:
            if model == "smollm2":
                rows = [{"design": d.label, "ppl": 10.0 + i, "ppl_fp32": 10.0, "delta_ppl": float(i)}
                        for i, d in enumerate(designs)]
                out.append(({"ppl": 10.0}, rows))
            else:
                rows = [{"design": d.label, "spearman_human": 0.5, "spearman_fp32": 0.9 - i / 100}
                        for i, d in enumerate(designs)]
                out.append(({"spearman_human": 0.625}, rows))
        return out

    monkeypatch.setattr(accuracy, "run_many", run_many)
    monkeypatch.setattr(report_accuracy.os, "cpu_count", lambda: 2)
    for serial in ("run", "score", "cached_score", "reference"):
        monkeypatch.setattr(accuracy, serial, lambda *a, **k: pytest.fail("a design scored outside the pool"))
    monkeypatch.setattr(report_accuracy, "_int8_note", lambda *a: "")
    frame, _ = report_accuracy.model_quality("full", _costs())
    labels = [d.label for d in runnable]
    assert calls == [([("smollm2", labels), ("minilm", labels)], 2)]
    row = frame.set_index("design")
    i = labels.index("OVP W4A4")
    assert row.loc["OVP W4A4", "ppl"] == 10.0 + i
    assert row.loc["OVP W4A4", "spearman_fp32"] == pytest.approx(0.9 - i / 100)
    assert row.loc["OVP W4A4", "spearman_human_fp32"] == 0.625 and row.loc["OVP W4A4", "status"] == "ok"
    assert row.loc[SKIPPED, "status"].startswith("skipped: ")


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="model_quality must be one of"):
        report_accuracy.model_quality("fast", _costs())


def test_int8_outlier_diagnosis(monkeypatch, tmp_path):
    """The diagnosis the report prints when INT8 costs more than 2 %: INT8 with the FFN down
    projections in fp32 (measured on one 64-token window), and the inputs' channel ratios, where
    ffn_down's outliers stand out."""
    from models import accuracy as acc, smollm2
    monkeypatch.setenv("PEARRAY_ACCURACY_DIR", str(tmp_path))
    ids = smollm2.encode(acc.lee_background_text()[:2000])[:64]
    data = accuracy.SmolLM2Data((ids,), "test")
    assert accuracy.int8_without_outlier_layers(data, compute_missing=False) is None
    got = accuracy.int8_without_outlier_layers(data)
    ratio = got["channel_ratio"]
    assert set(ratio) == {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}
    assert ratio["ffn_down"] > 3 * max(v for k, v in ratio.items() if k != "ffn_down")
    fp32 = acc.perplexity(data.windows)
    frame = pd.DataFrame([{"design": "INT8", "ppl": 2 * fp32, "ppl_fp32": fp32, "delta_ppl": fp32,
                           "delta_ppl_pct": 100.0}])
    note = report_accuracy._int8_note(frame, data, "quick-cached")       # read from the cache now
    assert "+100.00 %" in note and "FFN down projections kept in fp32" in note
    assert f"{100 * (got['ppl'] / fp32 - 1):+.2f} %" in note
    frame.loc[0, "delta_ppl_pct"] = 1.5
    assert "FFN down" not in report_accuracy._int8_note(frame, data, "quick-cached")
