"""models.gguf_dequant against PyPI gguf's own dequantisation, bit for bit: random blocks with
every nibble / byte value and float16 scales of every kind (normal, subnormal, zeros of both
signs, infinities, NaN), and every tensor of the SmolLM2 file."""
from __future__ import annotations

import numpy as np
import pytest

from models import gguf_dequant

gguf = pytest.importorskip("gguf")


def _scales(rng, n):
    """float16 bit patterns: random ones plus the special values, as (n, 2) uint8."""
    special = np.float16([0.0, -0.0, np.inf, -np.inf, np.nan, 6e-8, -6e-8, 6.1e-5, 65504.0, -65504.0, 1.0, -1.0])
    values = rng.integers(0, 1 << 16, n, dtype=np.uint16).view(np.float16)
    k = min(n, special.size)
    values[:k] = special[:k]
    return values.reshape(-1, 1).view(np.uint8)


def _same(a, b):
    return a.dtype == b.dtype == np.float32 and a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _check_rows(data, qtype):
    """Rows of blocks dequantised here and by gguf: the same float32 bits and shape (NaN and inf
    scales included, so numpy's invalid-value warnings are silenced on both sides)."""
    with np.errstate(all="ignore"):
        want = gguf.quants.dequantize(data, qtype)
        got = gguf_dequant.dequantize(gguf, data, qtype)
    assert _same(got, want)


@pytest.mark.parametrize("rows", [2, 3, 40])
def test_q4_1_is_ggufs(rows):
    rng = np.random.default_rng(rows)
    n = rows * 7                                          # 7 blocks per row (224 elements)
    blocks = np.concatenate([_scales(rng, n), _scales(rng, n)[::-1],
                             rng.integers(0, 256, (n, 16), dtype=np.uint8)], axis=1)
    blocks[0, 4:] = np.arange(0, 256, 16, dtype=np.uint8) | np.arange(16, dtype=np.uint8)   # every nibble
    _check_rows(blocks.reshape(rows, -1), gguf.GGMLQuantizationType.Q4_1)


@pytest.mark.parametrize("rows", [1, 5])
def test_q8_0_is_ggufs(rows):
    rng = np.random.default_rng(10 + rows)
    n = rows * 9
    blocks = np.concatenate([_scales(rng, n), rng.integers(0, 256, (n, 32), dtype=np.uint8)], axis=1)
    blocks[0, 2:] = np.arange(-128, 128, 8).astype(np.int8).view(np.uint8)
    blocks[1, 2:] = np.arange(0, 128, 4).astype(np.int8).view(np.uint8)
    _check_rows(blocks.reshape(rows, -1), gguf.GGMLQuantizationType.Q8_0)


def test_other_types_go_to_gguf():
    data = np.float16([[1.5, -2.0, 0.25, 3.0]]).view(np.uint8)
    got = gguf_dequant.dequantize(gguf, data, gguf.GGMLQuantizationType.F16)
    assert np.array_equal(got, gguf.quants.dequantize(data, gguf.GGMLQuantizationType.F16))


def test_a_partial_block_is_refused():
    with pytest.raises(ValueError, match="20-byte blocks"):
        gguf_dequant.dequantize(gguf, np.zeros((2, 30), np.uint8), gguf.GGMLQuantizationType.Q4_1)


def test_every_smollm2_tensor_is_ggufs():
    smollm2 = pytest.importorskip("models.smollm2")
    try:
        _, reader = smollm2._reader()
    except smollm2.MissingModelError as e:
        pytest.skip(str(e))
    kinds = set()
    for t in reader.tensors:
        kinds.add(t.tensor_type.name)
        assert _same(gguf_dequant.dequantize(gguf, t.data, t.tensor_type),
                     gguf.quants.dequantize(t.data, t.tensor_type)), t.name
    assert {"Q4_1", "Q8_0"} <= kinds                      # both fast paths were compared
