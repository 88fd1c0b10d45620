"""Whole-model accuracy: the fp32 forward passes, the tokenizer, the metrics, and the design path
really going through the design's golden GEMM. Short windows only; the full table is in
bench/bench_accuracy.py and the slow test at the end."""

import dataclasses
import json

import numpy as np
import pytest

from models import accuracy as acc
from models import fast_golden as fg, realdata, smollm2
from models.intcodes import quantize_acts, quantize_weights
from models.registry import PE_KINDS
from sim import accuracy as run_acc
from sim.cli import main


@pytest.fixture(scope="module")
def corpus_ids():
    return smollm2.encode(acc.lee_background_text())


def test_greedy_decoding_continues_the_prompt():
    assert smollm2.greedy_continuation("The capital of France is", 2).startswith(" Paris")


def test_tokenizer_round_trip(corpus_ids):
    text = acc.lee_background_text()[:5000] + " 2024-11-30: x² = 3.14 ñ 東京 <|im_start|>"
    assert smollm2.decode(smollm2.encode(text)) == text
    # digits are split one by one, control tokens are single tokens
    assert len(smollm2.encode("12345")) == 5
    assert len(smollm2.encode("<|im_start|>")) == 1
    assert 70_000 < len(corpus_ids) < 80_000          # "about 76k SmolLM tokens"


def test_plain_reader_reads_what_gguf_reads():
    """The faster GGUF reader (ndarray views of the memmap) gives the stock reader's fields and
    tensors: every field's parts and types, every tensor's name, type, shape and bytes."""
    gguf, fast = smollm2._reader()
    stock = gguf.GGUFReader(str(smollm2.gguf_path()))
    assert type(fast) is not gguf.GGUFReader and list(fast.fields) == list(stock.fields)
    for name, field in stock.fields.items():
        other = fast.fields[name]
        assert (other.offset, other.types, other.data, len(other.parts)) == \
            (field.offset, field.types, field.data, len(field.parts)), name
        for a, b in zip(field.parts, other.parts):
            assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert len(fast.tensors) == len(stock.tensors)
    for a, b in zip(stock.tensors, fast.tensors):
        assert (a.name, a.tensor_type, a.shape.tolist(), a.data_offset) == \
            (b.name, b.tensor_type, b.shape.tolist(), b.data_offset)
        assert a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data), a.name


def test_minilm_embeddings_equal_the_direct_forward():
    docs = acc.lee_documents()[:4]
    batched = realdata.minilm_forward(docs).embeddings()
    one_by_one = realdata.embeddings_with(docs, lambda x, w, name: x @ w)
    np.testing.assert_allclose(one_by_one, batched, atol=2e-6)
    # and the untouched default path still equals the hand-written reference in test_realdata


def test_rank_and_spearman():
    np.testing.assert_array_equal(acc.rank([10, 20, 20, 30, 5]), [2, 3.5, 3.5, 5, 1])
    x = np.array([1.0, 2, 3, 4, 5])
    assert acc.spearman(x, x ** 3) == pytest.approx(1.0)
    assert acc.spearman(x, -x) == pytest.approx(-1.0)
    # d^2 formula (no ties): 1 - 6 sum d^2 / (n (n^2 - 1))
    y = np.array([2.0, 1, 4, 3, 5])
    assert acc.spearman(x, y) == pytest.approx(1 - 6 * 4 / (5 * 24))


def test_human_scores_and_documents():
    assert len(acc.lee_documents()) == 50
    human = acc.lee_human_scores()
    assert human.shape == (1225,) and 0 <= human.min() and human.max() <= 1


def test_windows_and_nll(corpus_ids):
    w = acc.windows(corpus_ids, 3, length=100)
    assert [len(x) for x in w] == [100] * 3 and np.array_equal(np.concatenate(w), corpus_ids[:300])
    with pytest.raises(ValueError, match="windows"):
        acc.windows(corpus_ids[:1000], 2)
    logits = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    ids = np.array([0, 3, 1, 6, 2])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(acc.window_nll(logits, ids), -np.log(p[np.arange(4), ids[1:]]), rtol=1e-6)


def test_design_linear_is_the_quantised_gemm():
    """INT8: the golden integers dequantised equal the float product of the dequantised codes."""
    kind = PE_KINDS["int8"]
    lin = acc.design_linear(kind, kind.prototype())
    x = np.random.default_rng(0).standard_normal((16, 576)).astype(np.float32)
    w = smollm2.load_smollm2().linears["blk.0.attn_q"]
    a, am = quantize_acts(x)
    q, wm = quantize_weights(w)
    fake = (a * am["scale"][0]) @ (q * np.asarray(wm["scale"])[None, :])
    np.testing.assert_allclose(lin(x, w, "q"), fake, rtol=1e-5, atol=1e-5 * np.abs(fake).max())


def test_design_operands_equal_the_registry_path():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((8, 256)), rng.standard_normal((256, 16))
    for name, kind in PE_KINDS.items():
        pe = kind.prototype()
        codes, meta = kind.quantize_weights(w, pe)
        mine, theirs = acc.design_operands(kind, pe, x, codes, meta), kind.operands(x, w, pe)
        np.testing.assert_array_equal(mine.acts, theirs.acts)
        np.testing.assert_array_equal(mine.weights, theirs.weights)
        assert repr(mine.extra) == repr(theirs.extra), name


def test_int8_perplexity_tracks_fp32_without_outlier_layers(corpus_ids):
    """INT8 with every linear but the FFN down projections (whose inputs carry the massive
    activation outliers LLM.int8 describes) stays near fp32 on two short windows; quantising
    them too costs far more. The numbers are measured, the bounds are the claim."""
    windows = acc.windows(corpus_ids, 2, length=64)
    kind = PE_KINDS["int8"]
    lin = acc.design_linear(kind, kind.prototype())
    fp32 = acc.perplexity(windows)
    no_down = acc.perplexity(windows, lambda x, w, n: x @ w if n.endswith("ffn_down") else lin(x, w, n))
    full = acc.perplexity(windows, lin)
    assert 20 < fp32 < 80
    assert abs(no_down / fp32 - 1) < 0.25
    assert full > no_down * 1.2


def test_broken_golden_changes_the_perplexity(corpus_ids):
    windows = acc.windows(corpus_ids, 1, length=8)          # the int64 golden is slow
    kind = PE_KINDS["int8"]
    pe = kind.prototype()
    broken = dataclasses.replace(kind, golden_gemm=lambda a, w, pe: kind.golden_gemm(a, w, pe) // 2)
    calls = []

    def spying(a, w, pe):
        calls.append(a.shape)
        return kind.golden_gemm(a, w, pe)
    honest_slow = dataclasses.replace(kind, golden_gemm=spying)
    good = acc.perplexity(windows, acc.design_linear(kind, pe))
    assert acc.perplexity(windows, acc.design_linear(honest_slow, pe)) == good    # the fast path is exact
    assert len(calls) == 210                                                     # every block linear
    assert acc.perplexity(windows, acc.design_linear(broken, pe)) > 2 * good


def _run(capsys, *argv):
    code = main(["accuracy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv,needle", [
    (["--model", "smollm2"], "exactly one of --pe"),
    (["--model", "smollm2", "--pe", "int8", "--all"], "exactly one of --pe"),
    (["--model", "smollm2", "--pe", "nope"], "unknown PE kind"),
    (["--model", "smollm2", "--pe", "int8", "--weight-bits", "4"], "no --weight-bits option"),
    (["--model", "smollm2", "--pe", "lut", "--weight-bits", "9"], "weight"),
    (["--model", "smollm2", "--all", "--mode", "int8"], "--mode"),
    (["--model", "gpt2", "--pe", "int8"], "invalid choice"),
    (["--model", "smollm2", "--pe", "int8", "--windows", "0"], "positive integer"),
    (["--model", "smollm2", "--pe", "int8", "--workers", "0"], "positive integer"),
    (["--model", "smollm2", "--pe", "int8", "--windows", "1000"], "windows"),
    (["--model", "minilm", "--pe", "int8", "--windows", "2"], "--windows applies"),
    (["--model", "minilm", "--pe", "int8", "--text", "x.txt"], "--text applies"),
    (["--model", "smollm2", "--pe", "int8", "--text", "/nonexistent/x.txt"], "--text"),
])
def test_bad_input_exits_2_before_any_work(capsys, monkeypatch, tmp_path, argv, needle):
    monkeypatch.setenv("PEARRAY_ACCURACY_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(run_acc, "run", lambda *a, **k: pytest.fail("ran a model on bad input"))
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()


def test_kind_without_fast_path_exits_2_with_its_reason(capsys, monkeypatch, tmp_path):
    """A registered kind whose golden has no fast path is refused before any work, naming why
    (every registry kind has one today: one is taken away here)."""
    monkeypatch.setenv("PEARRAY_ACCURACY_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(run_acc, "run", lambda *a, **k: pytest.fail("ran a model on bad input"))
    monkeypatch.delitem(fg.FAST_PATHS, "bitserial_fp16")
    monkeypatch.setitem(fg.NO_FAST_PATH, "bitserial_fp16", "a stated reason")
    code, out, err = _run(capsys, "--model", "smollm2", "--pe", "bitserial_fp16")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "no exact fast path" in err and "a stated reason" in err
    assert not (tmp_path / "cache").exists()


def test_bad_text_files(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(run_acc, "run", lambda *a, **k: pytest.fail("ran a model on bad input"))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 ".encode("latin-1") * 10)
    short = tmp_path / "short.txt"
    short.write_text("only a few tokens")
    for path, needle in ((latin, "not UTF-8"), (short, "windows")):
        code, out, err = _run(capsys, "--model", "smollm2", "--pe", "int8", "--text", str(path))
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_json_output_and_cache(capsys, monkeypatch, tmp_path):
    """--text with one window: one row, the documented fields, then a cached second run. The
    window is cut to 40 tokens here to keep the default suite fast (the real 512-token runs are
    the bench's and the slow test's)."""
    monkeypatch.setenv("PEARRAY_ACCURACY_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(acc, "WINDOW", 40)
    text = tmp_path / "t.txt"
    text.write_text(acc.lee_background_text()[:3000], encoding="utf-8")
    argv = ["--model", "smollm2", "--pe", "int8", "--text", str(text), "--windows", "1", "--json"]
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    doc = json.loads(out)
    (row,) = doc["results"]
    assert row["design"] == "int8" and row["ppl"] > 1 and row["ppl_fp32"] == doc["reference"]["ppl"]
    assert row["delta_ppl"] == pytest.approx(row["ppl"] - row["ppl_fp32"]) and not row["cached"]
    assert doc["reference"]["scored_tokens"] == 39 and row["act_granularity"] == "tensor"
    code, out, _ = _run(capsys, *argv)
    again = json.loads(out)["results"][0]
    assert again["cached"] and again["ppl"] == row["ppl"]


@pytest.mark.slow
def test_minilm_similarity_every_design(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PEARRAY_ACCURACY_DIR", str(tmp_path / "cache"))
    code, out, _ = _run(capsys, "--model", "minilm", "--all", "--json")
    assert code == 0
    doc = json.loads(out)
    assert 0.4 < doc["reference"]["spearman_human"] < 0.6
    assert len(doc["results"]) == len(run_acc.registry_designs()) and not doc["skipped"]
    for r in doc["results"]:
        assert -1 <= r["spearman_human"] <= 1 and r["spearman_fp32"] > 0.5


@pytest.mark.slow
def test_workers_give_the_serial_rows(corpus_ids):
    """Designs scored in forked worker processes (longest first, the fp32 reference among them)
    give exactly the serial rows, in order."""
    data = run_acc.SmolLM2Data((corpus_ids[:16],), "test")
    designs = [d for d in run_acc.registry_designs() if d.label in ("LUT W2A8", "INT8")]
    serial_ref, serial = run_acc.run("smollm2", designs, data, use_cache=False)
    parallel_ref, parallel = run_acc.run("smollm2", designs, data, use_cache=False, workers=2)
    assert [r["design"] for r in parallel] == [d.label for d in designs]
    assert [r["ppl"] for r in parallel] == [r["ppl"] for r in serial]
    assert serial[0]["ppl"] != serial[1]["ppl"]
    # the fp32 reference, computed in a worker next to the designs, and every other column
    timing = ("cpu_s", "wall_s")
    assert [{k: v for k, v in r.items() if k not in timing} for r in parallel] == \
        [{k: v for k, v in r.items() if k not in timing} for r in serial]
    assert {k: v for k, v in parallel_ref.items() if k not in timing} == \
        {k: v for k, v in serial_ref.items() if k not in timing}
