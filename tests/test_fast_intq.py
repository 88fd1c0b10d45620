"""The compiled INT quantiser (models.fast_intq, behind models.quant.intq.quantize_int) and the
integer kinds' float64 exact sums (models.fast_golden.exact_sums, the FAST_FLOATS entries of
int8, bitfusion, ant and ovp) equal the numpy definitions bit for bit: random, tied, extreme and
real MiniLM inputs; a deliberately perturbed kernel is caught."""

import numpy as np
import pytest

from models import accuracy as acc, fast_golden as fg, fast_intq
from models.quant.intq import quantize_int, quantize_int_reference
from models.realdata import real_gemm
from models.registry import PE_KINDS


def _same(got, want):
    assert got.codes.dtype == want.codes.dtype and np.array_equal(got.codes, want.codes)
    for a, b in ((got.scale, want.scale), (got.zero_point, want.zero_point)):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape
            assert np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))
    assert (got.kind, dict(got.meta), got.group_size) == (want.kind, dict(want.meta), want.group_size)


def _inputs():
    rng = np.random.default_rng(7)
    w, _ = real_gemm("minilm:L0.ffn1", m=40)
    _, weight = real_gemm("minilm:L0.ffn1", n=48)
    halves = np.c_[np.full(9, 127.0), rng.integers(-254, 255, (9, 30)) * 0.5]   # 8 bits: s = 1, .5 ties
    extreme = np.array([[np.finfo(np.float32).max, -np.finfo(np.float32).max, 0.0, -0.0],
                        [np.finfo(np.float32).tiny, 1e-45, -1e-45, 3.0]])
    yield "real acts", w.astype(np.float32)
    yield "real weight (K x N, transposed view)", weight.astype(np.float32).T
    yield "normal f64", rng.standard_normal((17, 33))
    yield "lognormal f32", (rng.lognormal(0, 3, (12, 20)) * rng.choice([-1, 1], (12, 20))).astype(np.float32)
    yield "non-negative", np.abs(rng.standard_normal((6, 10))).astype(np.float32)
    yield "non-positive", -np.abs(rng.standard_normal((6, 10)))
    yield "ties", halves
    yield "ties, columns", np.ascontiguousarray(halves.T).T
    yield "strided", rng.standard_normal((20, 30))[::2, ::3]
    yield "zeros and -0", np.array([[0.0, -0.0], [-0.0, -0.0]], dtype=np.float32)
    yield "extremes f32", extreme.astype(np.float32)
    yield "extremes f64", extreme
    yield "one element", np.array([[-2.5]])


CASES = list(_inputs())


@pytest.mark.parametrize("name,x", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_fast_quantiser_is_the_reference(name, x, bits):
    for symmetric in (True, False):
        for granularity in ("tensor", "channel"):
            assert fast_intq.quantize(x, bits, symmetric, granularity) is not None
            _same(quantize_int(x, bits, symmetric, granularity), quantize_int_reference(x, bits, symmetric, granularity))


def test_other_inputs_go_to_the_reference():
    """Group granularity, integer input, non-finite values: the reference's result or error."""
    x = np.arange(12.0).reshape(3, 4)
    assert fast_intq.quantize(x, 4, True, "group") is None
    _same(quantize_int(x, 4, True, "group", 2), quantize_int_reference(x, 4, True, "group", 2))
    assert fast_intq.quantize(np.arange(12).reshape(3, 4), 4, True, "tensor") is None
    for bad in (np.nan, np.inf):
        y = x.copy()
        y[1, 2] = bad
        assert fast_intq.quantize(y, 8, True, "channel") is None
        with pytest.raises(ValueError, match="must be finite"):
            quantize_int(y, 8)


def test_a_perturbed_kernel_is_caught(monkeypatch):
    """The comparison can fail: rounding half away from zero instead of to even changes codes."""
    x = np.array([[7.0, 0.5, 1.5, 2.5, -0.5, -3.5]])          # 4 bits: s = 7 / 7, x / s on ties
    kernels = fast_intq._compiled()

    def half_up(data, layout, s, z, low, high, out):
        kernels.codes(data, layout, s, z, low, high, out)
        q = np.trunc(data / s[0] + np.copysign(0.5, data)) if layout == fast_intq.TENSOR else None
        out[...] = np.clip(q, low, high)

    monkeypatch.setattr(fast_intq, "_compiled", lambda: type(kernels)(extremes=kernels.extremes, codes=half_up))
    got, want = quantize_int(x, 4, True, "tensor"), quantize_int_reference(x, 4, True, "tensor")
    assert not np.array_equal(got.codes, want.codes)


@pytest.mark.parametrize("name,options", [("int8", {}), ("bitfusion", {}), ("bitfusion", {"weight_bits": 4}),
                                          ("bitfusion", {"act_bits": 2, "weight_bits": 2}),
                                          ("ant", {}), ("ant", {"act_type": "flint4", "weight_type": "flint4"}),
                                          ("ant", {"act_type": "uint8", "weight_type": "uint8"}),
                                          ("bitserial", {"group_size": 128, "weight_format": "mixed4"}),
                                          ("bitserial", {"group_size": 32, "weight_format": "fp4"}),
                                          ("bitserial", {"group_size": None, "weight_format": "int6"}),
                                          ("ovp", {}), ("ovp", {"mode": "flint4"}), ("ovp", {"mode": "int8"})])
def test_exact_sums_are_the_golden(name, options):
    """FAST_FLOATS of the integer kinds: the golden's wrapped integers as float64, or None where
    a wrap may change a sum (extreme codes at the smallest accumulator width); real MiniLM
    tensors (K 1536: two float32 blocks) through the kinds' quantisers and random codes."""
    kind = PE_KINDS[name]
    rng = np.random.default_rng(3)
    exact = 0
    for acc_width in (32, {"ant": 24, "ovp": 24}.get(name, 17)):
        pe = kind.prototype(**options, acc_width=acc_width)
        x, w = real_gemm("minilm:L0.ffn2", m=12, n=20)
        a, b = kind.random_operands(rng, 5, 700, 6, pe)
        extreme = kind.operands(np.asarray(a, np.int64), np.asarray(b, np.int64), pe)
        for ops in (kind.operands(x, w, pe), extreme):
            want = kind.golden(ops, pe)
            got = fg.FAST_FLOATS[name](ops.acts, fg.prepare_weights(kind, ops.weights, pe), pe, ops.extra)
            if got is None:                # the sums' bound reaches the sign bit: the golden wraps
                a = {"ant": lambda: fg.ant_values(ops.acts, pe.act_type),
                     "ovp": lambda: fg.ovp_pair_values(ops.acts, pe.mode)}.get(name, lambda: ops.acts)()
                prepared = fg.prepare_weights(kind, ops.weights, pe)
                wmax = (fg._bitserial_weights(prepared, pe, ops.extra) if name == "bitserial"
                        else prepared).absmax     # bitserial: the values times their group's scale code
                bound = np.abs(a).max() * wmax * a.shape[1]
                assert bound >= 1 << (acc_width - 1)
                continue
            exact += 1
            assert got.dtype == np.float64 and np.array_equal(got, want.astype(np.float64))
            out = acc.design_linear(kind, pe)(x, w, "w") if ops is not extreme else None
            if out is not None:
                ref = kind.dequantize_output(want, ops.acts, ops.acts_meta, ops.weights_meta, pe)
                assert np.array_equal(out.view(np.int32), np.asarray(ref, np.float32).view(np.int32))
    assert exact


def test_exact_sums_refuse_a_possible_wrap():
    """Sums that may reach the accumulator's sign bit are left to the wrapping golden."""
    a, w = np.full((2, 5), 127), fg.int_matrix(np.full((5, 3), 127))
    assert fg.exact_sums(a, w, 32) is not None
    assert fg.exact_sums(a, w, 17) is None            # 5 * 127**2 = 80645 >= 2**16: the golden wraps
    assert np.array_equal(fg.exact_sums(a, w, 18), np.full((2, 3), 80645.0))
