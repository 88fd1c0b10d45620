"""The W*A16 (FP16 activation) designs' accuracy-run paths equal the golden bit for bit:
:func:`models.fast_golden.wfp16_fast`'s one-GEMM path (exact sums below ``2**62``) and, for the
65-bit ovp4 accumulator, :func:`models.fast_golden.wfp16_float` (the int64 sums rounded to float64,
no Python ints) through :func:`models.fast_golden.fast_output`, against the golden's raw output
dequantised as the kind does: random codes over the whole ranges, sums past ``2**53`` (rounded)
and past ``2**62`` (the split path and the raw output), real MiniLM linears."""

import numpy as np
import pytest

from models import fast_golden as fg
from models.realdata import real_gemm
from models.registry import PE_KINDS, GemmOperands
from models.wfp16_gemm import activation_operand, wfp16_extra_operand

KIND = PE_KINDS["wfp16"]
VARIANTS = [dict(options) for _, options in KIND.variants]
IDS = ["-".join(f"{k}={v}" for k, v in o.items()) for o in VARIANTS]


def _metas(pe, m, k, n, rng):
    ops = KIND.operands(rng.standard_normal((m, k)), rng.standard_normal((k, n)) * 0.1, pe)
    return ops.acts_meta, ops.weights_meta, ops.extra


def _same_output(pe, acts, weights, metas):
    a_meta, w_meta, extra = metas
    ops = GemmOperands(np.asarray(acts, np.int64), np.asarray(weights, np.int64), extra, a_meta, w_meta)
    want = KIND.dequantize_output(KIND.golden(ops, pe), ops.acts, a_meta, w_meta, pe)
    got = fg.fast_output(KIND, ops, pe)
    assert got.dtype == np.float64 and np.array_equal(got.view(np.int64), np.asarray(want).view(np.int64))
    assert np.array_equal(fg.fast_golden(KIND, ops, pe), KIND.golden(ops, pe))


@pytest.mark.parametrize("options", VARIANTS, ids=IDS)
def test_random_and_largest_codes(options):
    """Random codes (FP16 activations over every exponent), then activations +-65504 (row 1:
    all +65504, the sums climb) against random weights, K up to where the bound passes 2**62:
    sums past 2**53 (ovp4's float path rounds them) and past 2**62 (the split halves; ovp4 the
    raw Python ints)."""
    pe = KIND.prototype(**options)
    rng = np.random.default_rng(len(str(options)))
    for m, k, n in [(1, 1, 1), (3, 7, 5), (5, 300, 6)]:
        acts, weights = KIND.random_operands(rng, m, k, n, pe)
        _same_output(pe, acts, weights, _metas(pe, m, k, n, rng))
    paths = set()
    for k in (256, 4096, 1 << 20):
        if k == 1 << 20 and True in paths:
            break                                              # the split path already met
        acts = np.where(rng.random((2, k)) < 0.5, 0x7BFF, 0xFBFF)
        acts[1] = 0x7BFF
        weights = KIND.random_operands(rng, 1, k, 3, pe)[1]
        # per-channel scales do not depend on K: quantised at a small K (the OVP search is slow)
        metas = _metas(pe, 2, k if pe.group_size else 8, 3, rng)
        bound = fg._wfp16_operands(acts, fg.wfp16_weight_values(weights, pe), pe, metas[2])[2]
        paths.add(bound >= 1 << 62)
        _same_output(pe, acts, weights, metas)
    assert paths == {False, True}


@pytest.mark.parametrize("options", VARIANTS, ids=IDS)
def test_real_minilm(options):
    pe = KIND.prototype(**options)
    for spec in ("minilm:L0.ffn2", "minilm:L3.q"):
        ops = KIND.operands(*real_gemm(spec, m=16, n=48), pe)
        want = KIND.dequantize_output(KIND.golden(ops, pe), ops.acts, ops.acts_meta, ops.weights_meta, pe)
        assert np.array_equal(fg.fast_output(KIND, ops, pe).view(np.int64), np.asarray(want).view(np.int64))


def test_activation_table_is_the_golden_operand():
    """Every finite FP16 code, in a 2-D block as the fast path gets them: the looked-up operand is
    the golden's :func:`models.wfp16_gemm.activation_operand`, value for value."""
    codes = np.arange(1 << 16, dtype=np.int64)
    finite = codes[(codes & 0x7C00) != 0x7C00].reshape(-1, 64)
    got = fg.wfp16_activations(finite)
    assert got.dtype == np.int64 and np.array_equal(got, activation_operand(finite))
    assert np.array_equal(fg.wfp16_activations(finite.astype(np.uint16)), activation_operand(finite))


@pytest.mark.parametrize("bad", [0x7C00, 0xFC00, 0x7E00, 0xFFFF, 0x10000, -1])
def test_activation_table_refuses_what_the_golden_refuses(bad):
    """Infinity / NaN codes and non-16-bit values: the golden's own ValueError, also from the
    extra operand's check (which no longer decodes)."""
    acts = np.array([[0x3C00, bad], [0, 1]], dtype=np.int64)
    with pytest.raises(ValueError) as want:
        activation_operand(acts)
    with pytest.raises(ValueError) as got:
        fg.wfp16_activations(acts)
    assert str(got.value) == str(want.value)
    with pytest.raises(ValueError) as checked:
        wfp16_extra_operand(acts, np.zeros((2, 2), np.int64), KIND.prototype(**VARIANTS[0]))
    assert str(checked.value) == str(want.value)


@pytest.mark.parametrize("options", [o for o in VARIANTS if KIND.prototype(**o).acc_width <= 64],
                         ids=[i for o, i in zip(VARIANTS, IDS) if KIND.prototype(**o).acc_width <= 64])
def test_float_path_up_to_64_bits(options):
    """Up to 64-bit accumulators :func:`~models.fast_golden.wfp16_float` gives the golden's
    integers as float64 (real MiniLM operands: exact, no wrap), and None where the sums may pass
    ``2**53`` (FP16's largest activations over K = 4096): the int64 path then runs."""
    pe = KIND.prototype(**options)
    for spec in ("minilm:L0.ffn2", "minilm:L3.q"):
        ops = KIND.operands(*real_gemm(spec, m=16, n=48), pe)
        got = fg.wfp16_float(ops.acts, fg.prepare_weights(KIND, ops.weights, pe), pe, ops.extra)
        assert got is not None and got.dtype == np.float64
        want = KIND.golden(ops, pe)
        assert np.array_equal(got, want.astype(np.float64)) and np.array_equal(got.astype(np.int64), want)
    rng = np.random.default_rng(3)
    k = 4096
    acts = np.full((2, k), 0x7BFF)
    weights = KIND.random_operands(rng, 1, k, 3, pe)[1]
    extra = _metas(pe, 2, k if pe.group_size else 8, 3, rng)[2]
    assert fg.wfp16_float(acts, fg.wfp16_weight_values(weights, pe), pe, extra) is None
