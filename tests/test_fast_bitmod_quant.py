"""The compiled INT8-scale BitMoD quantiser (:mod:`models.fast_bitmod_quant`) equals the numpy one
(:func:`models.quant.bitmod._bitmod_rows`, row chunks as before) bit for bit: levels, values,
group scales, second-level scales, type selectors and group errors, on random weights over many
magnitudes, tie-heavy ones (small dyadic integers: elements on the lattice's midpoints, types of
equal error), zero groups and zero rows, every group size up to the pairwise block and real
MiniLM and SmolLM2 weights; groups past numpy's pairwise block (its recursive halves: whole-K
groups, as the FP16-activation design's) up to :data:`MAX_GROUP`; a group past that is refused
(the caller keeps numpy)."""

import numpy as np
import pytest

from models.fast_bitmod_quant import MAX_GROUP, quantise_rows
from models.quant import bitmod
from models.realdata import get_tensor

TYPES = ["mixed4", "mixed3", "int8", "int6", "fp4"]


def _reference(w, dtype, g):
    """The numpy path in its row chunks, as _bitmod_core ran it before the kernel."""
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float32))
    r, k = w.shape
    wg = w.reshape(r, k // g, g)
    step = max(1, bitmod._CHUNK_ELEMS // k)
    parts = [bitmod._bitmod_rows(wg[a:a + step], bitmod.MIXED.get(dtype, (dtype,)), "int8")
             for a in range(0, r, step)]
    return [np.concatenate(p) for p in zip(*parts)]


def _assert_same(w, dtype, g):
    wq, q, s, sel, err, s2 = _reference(w, dtype, g)
    got_wq, got_q, got_s, g2, meta = bitmod._bitmod_core(w, dtype, g, "int8")
    assert g2 == g
    bits = lambda x: np.asarray(x, dtype=np.float64).view(np.int64)    # noqa: E731 (-0.0 is not +0.0)
    assert np.array_equal(bits(got_wq), bits(wq.reshape(got_wq.shape)))
    assert np.array_equal(got_q, q.reshape(got_q.shape)) and got_q.dtype == np.int16
    assert np.array_equal(bits(got_s), bits(s[..., 0] if s.ndim == 3 else s))
    assert np.array_equal(meta["selector"], sel) and meta["selector"].dtype == np.int8
    assert np.array_equal(bits(meta["second_level_scale"]), bits(s2))
    if dtype in bitmod.MIXED:
        assert np.array_equal(bits(meta["group_mse"]), bits(err))
    return meta


@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize("g", [1, 3, 7, 8, 9, 32, 100, 128])
def test_random_weights_every_group_size(dtype, g):
    rng = np.random.default_rng(g)
    w = rng.standard_normal((9, 4 * g)) * 10.0 ** rng.integers(-6, 4, (9, 4 * g))
    w[0] = 0                                                        # a zero row: s2 = 1
    w[1, :g] = 0                                                    # a zero group
    w[2, g:2 * g] = -0.0
    _assert_same(w, dtype, g)


@pytest.mark.parametrize("dtype", TYPES)
def test_tie_heavy_weights(dtype):
    """Small dyadic integers: many elements exactly on a lattice midpoint (ties go to the lower
    level) and many groups where the four types' errors are equal (the first type is kept)."""
    rng = np.random.default_rng(7)
    w = rng.integers(-16, 17, (64, 512)) / 4.0
    w[::3] = rng.integers(-2, 3, (22, 512))
    meta = _assert_same(w, dtype, 128)
    if dtype in bitmod.MIXED:
        sel = meta["selector"]
        assert (sel == 0).any() and (sel > 0).any()


@pytest.mark.parametrize("spec", ["minilm:L0.ffn2", "minilm:L3.q", "minilm:L5.ffn1"])
@pytest.mark.parametrize("dtype", ["mixed4", "mixed3", "int8"])
def test_real_minilm_weights(spec, dtype):
    _assert_same(np.asarray(get_tensor(spec), dtype=np.float64), dtype, 128)


@pytest.mark.slow          # loads and dequantises the whole GGUF (~10 s CPU)
def test_real_smollm2_weights():
    smollm2 = pytest.importorskip("models.smollm2")
    try:
        linears = smollm2.load_smollm2().linears
    except smollm2.MissingModelError as e:
        pytest.skip(str(e))
    for name in ("blk.0.attn_q", "blk.3.ffn_down", "blk.29.ffn_gate"):
        w = np.asarray(linears[name], dtype=np.float64).T           # (out, in): groups along K
        for dtype in ("mixed4", "mixed3", "int8"):
            _assert_same(w[:, :w.shape[1] // 128 * 128], dtype, 128)
            _assert_same(w, dtype, w.shape[1])      # one group spans K: the FP16-activation design


@pytest.mark.parametrize("g", [129, 136, 255, 256, 257, 576, 1000, 1536])
@pytest.mark.parametrize("dtype", ["mixed4", "int8"])
def test_groups_past_the_block(dtype, g):
    """Groups past numpy's pairwise block (its recursive halves; 576 and 1536: a whole K of
    SmolLM2 and MiniLM, the FP16-activation design's one group per column)."""
    rng = np.random.default_rng(g)
    w = rng.standard_normal((5, 2 * g)) * 10.0 ** rng.integers(-6, 4, (5, 2 * g))
    w[0] = 0
    w[1, :g] = 0
    _assert_same(w, dtype, g)
    t = rng.integers(-16, 17, (6, g)) / 4.0                         # ties, equal type errors
    _assert_same(t, dtype, g)


def test_the_largest_group_and_past_it():
    w = np.random.default_rng(1).standard_normal((2, MAX_GROUP))
    _assert_same(w, "mixed3", MAX_GROUP)                            # through the kernel
    w = np.random.default_rng(1).standard_normal((2, 2 * (MAX_GROUP + 8)))
    with pytest.raises(ValueError, match="at most"):
        quantise_rows(w, MAX_GROUP + 8, [], [])
    _assert_same(w, "mixed4", MAX_GROUP + 8)                        # through the numpy path
