"""The grouped MixPE shift-add fast path (issue 17, speed): one float32 GEMM per group and the
compiled post-array pass (:func:`models.fast_shiftadd.grouped_total`, behind
:func:`models.fast_golden.shiftadd_fast`) equal the golden (:func:`models.shiftadd_gemm.group_dequant_int`)
bit for bit: random codes over K with a partial last group, several group sizes and weight
widths, signed and unsigned weights, with requantisation, the largest codes, negative terms whose
arithmetic shift rounds toward minus infinity, parameters past the bounds (the numpy steps run),
and real MiniLM operands through the kind's quantisers, with the fused path the one taken."""

import numpy as np
import pytest

from models import fast_golden as fg, fast_shiftadd
from models.realdata import real_gemm
from models.registry import PE_KINDS, GemmOperands
from models.shiftadd_gemm import default_params

KIND = PE_KINDS["shiftadd"]


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the compiled pass's calls."""
    calls = []
    real = fast_shiftadd.grouped_total
    monkeypatch.setattr(fast_shiftadd, "grouped_total", lambda *a: calls.append(1) or real(*a))
    return calls


def _same(acts, weights, pe, params):
    ops = GemmOperands(np.asarray(acts, np.int64), np.asarray(weights, np.int64), params, None, None)
    got, want = fg.fast_golden(KIND, ops, pe), KIND.golden(ops, pe)
    assert got.dtype == np.int64 and np.array_equal(got, want)


@pytest.mark.parametrize("options", [{"weight_bits": 4, "group_size": 128}, {"weight_bits": 2, "group_size": 64},
                                     {"weight_bits": 3, "group_size": 32},
                                     {"weight_bits": 4, "group_size": 32, "weight_signed": True}])
def test_random_codes(options, fused_calls):
    pe = KIND.prototype(**options)
    rng = np.random.default_rng(len(str(options)))
    for m, k, n in ((1, 1, 1), (3, 7, 5), (5, 300, 6), (9, 2 * pe.group_size + 1, 17)):
        acts, weights = KIND.random_operands(rng, m, k, n, pe)
        for requant in (False, True):
            _same(acts, weights, pe, default_params(k, n, pe, requant=requant))
    assert fused_calls


def test_largest_codes_and_negative_terms(fused_calls):
    """Activations -128 and 127 with the largest weights (the bound's edge), and zero points above
    the weights (every term negative: ``>>`` rounds toward minus infinity in both)."""
    pe = KIND.prototype(weight_bits=4, group_size=128)
    k, n = 300, 7
    top = (1 << pe.weight_bits) - 1
    params = default_params(k, n, pe)
    for a in (-128, 127):
        _same(np.full((4, k), a), np.full((k, n), top), pe, params)
    params = params.__class__(params.group_size, np.full_like(params.zero_point, top), params.mult,
                              params.shift, params.out_mult, params.out_shift)
    _same(np.random.default_rng(1).integers(0, 128, (5, k)), np.zeros((k, n), np.int64), pe, params)
    assert len(fused_calls) == 3


def test_past_the_bounds_the_numpy_steps_run(fused_calls):
    """Multipliers so large that a term bound fails: the int64 steps run, with the same result."""
    pe = KIND.prototype(weight_bits=4, group_size=32)
    k, n = 70, 5
    acts, weights = KIND.random_operands(np.random.default_rng(2), 3, k, n, pe)
    p = default_params(k, n, pe)
    params = p.__class__(p.group_size, p.zero_point, np.full_like(p.mult, (1 << 31) - 1),
                         np.ones_like(p.shift), p.out_mult, p.out_shift)
    _same(acts, weights, pe, params)
    assert not fused_calls


@pytest.mark.parametrize("spec", ["minilm:L0.ffn2", "minilm:L3.q"])
def test_real_minilm(spec, fused_calls):
    pe = KIND.prototype()
    ops = KIND.operands(*real_gemm(spec, m=16, n=48), pe)
    assert np.array_equal(fg.fast_golden(KIND, ops, pe), KIND.golden(ops, pe))
    want = KIND.dequantize_output(KIND.golden(ops, pe), ops.acts, ops.acts_meta, ops.weights_meta, pe)
    assert np.array_equal(np.asarray(fg.fast_output(KIND, ops, pe)), np.asarray(want))
    assert len(fused_calls) == 2
