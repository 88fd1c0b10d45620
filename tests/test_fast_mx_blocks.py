"""The compiled MX block accumulation (:mod:`models.fast_mx_blocks`, behind
``models.fast_golden.mx_fast`` on MXFP8's exact float64 block sums) against the loop it replaces
(one float64 GEMM per block, the clip, the float32 cast and addition, blocks in order), bit for
bit: random integer operands times powers of two (exact block sums) of every shape the kernel
tiles differently (M not a multiple of its four rows, N past and below a tile, blocks of 32 and
of lengths not a multiple of four), extremes (sums past float32's range, clipped or reaching
inf, subnormal float32 results, signed zeros); the whole MXFP8 fast path on random and real
SmolLM2 operands equals the golden; a kernel that adds the blocks out of order, or skips the
float32 cast, is caught."""

import numpy as np
import pytest

from models import fast_golden as fg, fast_mx_blocks
from models.mx_gemm import FP32_MAX
from models.registry import PE_KINDS
from tests.smollm2_linears import smollm2_linear

KIND = PE_KINDS["mx"]


def _loop(a_op, w_op, clip):
    """The BLAS loop :func:`models.fast_golden.mx_fast` runs otherwise: per block in order, the
    float64 GEMM, clipped, cast to float32 and added."""
    acc = np.zeros((a_op.shape[1], w_op.shape[2]), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for b in range(a_op.shape[0]):
            value = np.matmul(a_op[b], w_op[b])
            if clip:
                np.clip(value, -FP32_MAX, FP32_MAX, out=value)
            np.add(acc, value, out=acc, dtype=np.float32, casting="unsafe")
    return acc


def _same(a_op, w_op, clip=False):
    want = _loop(a_op, w_op, clip)
    acc = np.zeros_like(want)
    got = fast_mx_blocks.accumulate_blocks(a_op, w_op, acc, clip, FP32_MAX)
    assert got is acc and np.array_equal(got.view(np.int32), want.view(np.int32))


def _operands(rng, blocks, m, n, block, bits, exps):
    """Integers below ``2**bits`` in magnitude times ``2**e`` per block row / column, ``e`` drawn
    from ``exps`` (exact float64 sums: integer parts below 2**(2 bits + 5) < 2**53)."""
    a = rng.integers(-(1 << bits) + 1, 1 << bits, (blocks, m, block)).astype(np.float64)
    w = rng.integers(-(1 << bits) + 1, 1 << bits, (blocks, block, n)).astype(np.float64)
    a *= np.exp2(rng.choice(exps, (blocks, m, 1)))
    w *= np.exp2(rng.choice(exps, (blocks, 1, n)))
    return a, w


@pytest.mark.parametrize("shape", [(1, 1, 1, 32), (3, 5, 7, 32), (18, 9, 576, 32), (4, 130, 300, 30),
                                   (2, 4, 257, 3), (48, 67, 192, 32), (5, 8, 1536, 32),
                                   (2, 5, 2 * fast_mx_blocks.TILE_N_F32 + 1, 32)])
def test_random(shape):
    rng = np.random.default_rng(sum(shape))
    blocks, m, n, block = shape
    for bits, exps in ((8, [0]), (17, [-20, -3, 0, 7]), (20, [-140, -100, 90])):
        a, w = _operands(rng, blocks, m, n, block, bits, exps)
        a[rng.random(a.shape) < 0.3] = 0.0
        w[rng.random(w.shape) < 0.3] = -0.0
        _same(a, w)
    # float32 operands whose sums float32 holds (the MXFP6 / MXFP4 / MXINT8 / NVFP4 path)
    for exps in ([0], [-60, -3, 5, 40]):
        a, w = _operands(rng, blocks, m, n, block, 9, exps)
        _same(a.astype(np.float32), w.astype(np.float32))


def test_extremes():
    """Block sums past float32's largest value (clipped, or cast to inf and summed to inf or NaN
    as IEEE says), below its smallest subnormal, every product zero of either sign."""
    rng = np.random.default_rng(3)
    a, w = _operands(rng, 6, 13, 40, 32, 17, [60, 70])
    _same(a, w, clip=True)
    _same(a, w, clip=False)
    a, w = _operands(rng, 6, 13, 40, 32, 10, [-100, -90])
    _same(a, w)
    _same(-np.zeros((3, 5, 32)), np.ones((3, 32, 9)))
    a, w = _operands(rng, 4, 9, 20, 32, 8, [0])
    a[1] *= 2.0 ** 110
    a[2] *= -(2.0 ** 110)
    _same(a, w)


def test_refusals():
    a, w = np.zeros((2, 3, 32)), np.zeros((2, 32, 4))
    with pytest.raises(TypeError):
        fast_mx_blocks.accumulate_blocks(a, w, np.zeros((3, 4)), False, FP32_MAX)
    with pytest.raises(ValueError):
        fast_mx_blocks.accumulate_blocks(a, w[:, :31], np.zeros((3, 4), np.float32), False, FP32_MAX)


@pytest.mark.parametrize("fmt", ["mxfp8-e4m3", "mxfp8-e5m2", "mxfp4", "mxint8", "nvfp4"])
@pytest.mark.parametrize("name", ["blk.0.attn_q", "blk.5.ffn_down"])
def test_fast_path_is_the_golden(fmt, name, monkeypatch):
    """The fast path (this kernel on its exact rows: it is called) equals the golden on a real
    SmolLM2 weight (a slice) and activations through the quantisers, and on random codes."""
    calls = []
    monkeypatch.setattr(fg, "accumulate_blocks", lambda *a: calls.append(1) or fast_mx_blocks.accumulate_blocks(*a))
    pe = KIND.prototype(format=fmt)
    rng = np.random.default_rng(5)
    w = smollm2_linear(name)[:256, :70]
    ops = KIND.operands(rng.standard_normal((6, 256)) * np.exp2(rng.integers(-6, 6, 256)), w, pe)
    assert fg.has_fast_path(KIND)
    assert np.array_equal(fg.fast_golden(KIND, ops, pe), KIND.golden(ops, pe))
    assert calls
    ops = KIND.operands(*KIND.random_operands(rng, 5, 96, 11, pe), pe)
    assert np.array_equal(fg.fast_golden(KIND, ops, pe), KIND.golden(ops, pe))
