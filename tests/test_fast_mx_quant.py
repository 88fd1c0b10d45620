"""The compiled MX quantiser (:mod:`models.fast_mx_quant`, behind ``models.mx_gemm._quantise``)
against the numpy definition ``models.mx_gemm._quantise_numpy``: the same lane codes (int64,
every position) and metadata, for activations and (transposed) weights, on random tensors over
wide exponent ranges, grid ties and midpoints, values past ``max_norm``, zero and tiny blocks
(the shared exponent clamped at -127, subnormal elements), signed zeros, float32 and float64
inputs, K not a multiple of the block, and real MiniLM / SmolLM2 tensors; refusals raise the
definition's errors; a deliberately perturbed kernel is caught."""

import numpy as np
import pytest

from models import fast_mx_quant, mx_gemm
from models.quant.mx import ELEM_FORMATS
from models.realdata import real_gemm
from models.registry import PE_KINDS
from tests.smollm2_linears import smollm2_linear

#: the formats the kernel serves (float elements and MXINT8's integers: E8M0 scales, and NVFP4's
#: E4M3 block scales)
FAST_FORMATS = ("mxfp8-e4m3", "mxfp8-e5m2", "mxfp6-e2m3", "mxfp6-e3m2", "mxfp4", "mxint8", "nvfp4")


def _pe(fmt, sub_block=None):
    options = {"format": fmt} if sub_block is None else {"format": fmt, "sub_block": sub_block}
    return PE_KINDS["mx"].prototype(**options)


def _elem(fmt):
    return ELEM_FORMATS["fp4_e2m1" if fmt == "nvfp4" else mx_gemm.QUANT_ELEMENT[fmt]]


def _same(x, pe):
    """Both paths on acts (R, K) and on weights (the transposed layout): codes equal as int64
    (dtype and shape included), metadata equal, the weights' codes C-ordered owning arrays."""
    got, meta = mx_gemm._quantise(x, pe, "activations")
    want, want_meta = mx_gemm._quantise_numpy(x, pe, "activations")
    assert got.dtype == want.dtype == np.int64 and got.shape == want.shape
    assert np.array_equal(got, want) and meta == want_meta
    got_w, meta_w = mx_gemm.quantize_mx_weights(np.asarray(x).T, pe)
    assert got_w.flags.c_contiguous and got_w.base is None
    assert np.array_equal(got_w, want.T) and meta_w == want_meta


def _grid_values(elem, rng, size):
    """Element-grid values, midpoints between neighbours (ties) and values just off them, both
    signs, scaled by random powers of two."""
    if elem.ml_dtype is None:                       # MXINT8: k / 64, k in -127 .. 127
        values = np.arange(-127, 128) * 2.0 ** -elem.mbits
    else:
        codes = np.arange(1 << (1 + elem.ebits + elem.mbits), dtype=np.uint8)
        values = codes.view(elem.ml_dtype).astype(np.float64)
    grid = np.unique(np.abs(values[np.isfinite(values)]))
    mids = (grid[1:] + grid[:-1]) / 2
    pool = np.concatenate([grid, mids, np.nextafter(mids, 0), np.nextafter(mids, np.inf),
                           [elem.max_norm * 1.01, elem.max_norm * 1.5, elem.max_norm * 4]])
    vals = rng.choice(pool, size=size) * np.where(rng.random(size) < 0.5, -1.0, 1.0)
    return vals * np.ldexp(1.0, rng.integers(-3, 4, size=(size[0], 1)))


@pytest.mark.parametrize("fmt", FAST_FORMATS)
def test_random_wide_ranges(fmt):
    rng = np.random.default_rng(11)
    pe = _pe(fmt)
    for shape, spread in (((9, 96), 5), ((6, 100), 40), ((5, 7), 3), ((4, 1), 1), ((13, 257), 80)):
        x = rng.standard_normal(shape) * np.exp(rng.uniform(-spread, spread, size=shape))
        x[0] = 0.0                                     # all-zero blocks
        x[1, ::3] = -0.0
        _same(x, pe)
        _same(x.astype(np.float32), pe)


@pytest.mark.parametrize("fmt", FAST_FORMATS)
def test_grid_ties_and_saturation(fmt):
    """Ties round half to even, values past max_norm saturate; one block per row holds its
    largest power of two so the grid is the element grid itself."""
    rng = np.random.default_rng(12)
    pe = _pe(fmt)
    elem = _elem(fmt)
    x = _grid_values(elem, rng, (24, 64))
    _same(x, pe)
    _same(x * 2.0 ** 100, pe)
    _same(x * 2.0 ** -100, pe)


@pytest.mark.parametrize("fmt", FAST_FORMATS)
def test_exponent_extremes(fmt):
    """Blocks whose shared exponent clamps at -127 (elements subnormal or flushed), the largest
    shared exponent E8M0 holds, float64 subnormal inputs, and a block mixing 2**127 with tiny
    values (elements underflowing to zero of either sign)."""
    pe = _pe(fmt)
    elem = _elem(fmt)
    rng = np.random.default_rng(13)
    tiny = rng.standard_normal((4, 64)) * 2.0 ** -140
    sub = rng.standard_normal((4, 64)) * 5e-324 * 1000
    top = rng.uniform(-1, 1, (4, 64)) * 2.0 ** (127 + elem.emax)
    top[:, 0] = 2.0 ** (127 + elem.emax)
    mixed = rng.standard_normal((4, 64)) * 2.0 ** -60
    mixed[:, 0], mixed[:, 33] = 2.0 ** 120, -(2.0 ** 125)
    for x in (tiny, sub, top, mixed, np.zeros((3, 32)), -np.zeros((3, 32))):
        _same(x, pe)


@pytest.mark.parametrize("fmt", FAST_FORMATS)
@pytest.mark.parametrize("sub_block", [1, 4, 16])
def test_other_lane_layouts(fmt, sub_block):
    x = np.random.default_rng(14).standard_normal((5, 96)) * 3.0
    _same(x, _pe(fmt, sub_block))


@pytest.mark.parametrize("fmt", FAST_FORMATS)
def test_real_minilm(fmt):
    x, w = real_gemm("minilm:L0.ffn2", m=24)
    pe = _pe(fmt)
    _same(x, pe)
    _same(np.ascontiguousarray(w.T), pe)
    _same(w.astype(np.float32).T, pe)                  # a strided float32 view, as a linear's weight


@pytest.mark.slow          # loads and dequantises the whole GGUF (~10 s CPU)
@pytest.mark.parametrize("fmt", ["mxfp8-e4m3", "mxfp4", "mxint8"])
def test_real_smollm2_weights(fmt):
    w = smollm2_linear("blk.3.ffn_down")
    pe = _pe(fmt)
    got, meta = mx_gemm.quantize_mx_weights(w, pe)
    want, want_meta = mx_gemm._quantise_numpy(np.asarray(w).T, pe, "weights")
    assert np.array_equal(got, want.T) and meta == want_meta


@pytest.mark.parametrize("fmt", FAST_FORMATS)
def test_refusals_are_the_definitions(fmt):
    pe = _pe(fmt)
    for bad in (np.inf, -np.inf, np.nan):
        x = np.ones((3, 64))
        x[2, 40] = bad
        with pytest.raises(ValueError, match="NaN or infinity"):
            mx_gemm.quantize_mx_acts(x, pe)
    if fmt != "nvfp4":
        with pytest.raises(ValueError, match="shared exponent overflow"):
            mx_gemm.quantize_mx_acts(np.full((2, 32), 1e300), pe)


def test_a_perturbed_kernel_is_caught():
    """The comparison can fail: the kernel with the element format's emax off by one (every
    shared exponent moved) or the definition's codes with one element changed differ."""
    pe = _pe("mxfp8-e4m3")
    elem = ELEM_FORMATS["fp8_e4m3"]
    x = np.random.default_rng(15).standard_normal((4, 64))
    want, _ = mx_gemm._quantise_numpy(x, pe, "activations")
    out = np.empty_like(want)
    assert fast_mx_quant._compiled().lanes(x, elem.emax + 1, elem.ebits, elem.mbits, elem.max_norm,
                                           pe.sub_block, pe.steps_per_block, pe.mx_format.scale_slots,
                                           0.0, out, True) == 0
    assert not np.array_equal(out, want)
    got, _ = mx_gemm._quantise(x, pe, "activations")
    got[1, 3] ^= 1
    assert not np.array_equal(got, want)
    i8, e8 = _pe("mxint8"), ELEM_FORMATS["int8"]        # MXINT8 on a grid of step 2**-5
    want, _ = mx_gemm._quantise_numpy(x, i8, "activations")
    out = np.empty_like(want)
    assert fast_mx_quant._compiled().lanes(x, e8.emax, e8.ebits, e8.mbits - 1, e8.max_norm, i8.sub_block,
                                           i8.steps_per_block, i8.mx_format.scale_slots, 0.0, out, True) == 0
    assert not np.array_equal(out, want)
    nv = _pe("nvfp4")                       # NVFP4 with the tensor scale 1 % off
    want, meta = mx_gemm._quantise_numpy(x, nv, "activations")
    g = meta["tensor_scale"] * 1.01
    out = np.empty_like(want)
    assert fast_mx_quant.mx_lane_codes(x, nv.mx_format, _elem("nvfp4"), nv, out, g)
    assert not np.array_equal(out, want)
