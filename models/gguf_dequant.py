"""GGUF block dequantisation of SmolLM2's tensor types (Q4_1, Q8_0) in whole-tensor numpy passes.

Why: PyPI ``gguf``'s ``quants.dequantize`` splits a tensor into groups of 16 rows and, per group,
hsplits, reshapes and casts its blocks in about ten small numpy calls; over SmolLM2's 210 Q4_1
linears and the Q8_0 embedding that is ~13,000 groups and, with the per-call overhead, a few CPU
seconds of serial work before any accuracy run forks its workers (:func:`models.smollm2.load_smollm2`).
Here each tensor is one pass per step over all its blocks.

Why the values are gguf's, bit for bit: the same IEEE float32 operations on the same operands.

* **Q4_1** (20-byte blocks of 32: float16 ``d``, float16 ``m``, 16 bytes of nibbles, element
  ``i < 16`` the low nibble of byte ``i``, element ``16 + i`` its high nibble): gguf computes
  ``(d * q) + m`` in float32 with ``d``, ``m`` cast from float16 (exact) and ``q`` the nibble as
  float32; here the same two float32 operations, ``d * q`` then ``+ m``, on the same values.
* **Q8_0** (34-byte blocks of 32: float16 ``d``, 32 int8 ``x``): gguf computes ``x * d`` in
  float32 (``x`` cast from int8, exact); here the same product.

Any other type goes to ``gguf.quants.dequantize`` itself. ``tests/test_gguf_dequant.py`` pins both
to gguf on random blocks (every nibble and byte value, float16 subnormal, zero, negative-zero,
infinite and NaN scales) and on every tensor of the SmolLM2 file.
"""

from __future__ import annotations

import numpy as np

Q4_1_BLOCK = 32
Q4_1_BYTES = 20                 # float16 d, float16 m, 16 bytes of two nibbles each
Q8_0_BLOCK = 32
Q8_0_BYTES = 34                 # float16 d, 32 int8


def _f16(columns):
    """A (blocks, 2) uint8 slice -> (blocks, 1) float32 of the little-endian float16 it holds."""
    return np.ascontiguousarray(columns).view("<f2").astype(np.float32)


def dequantize_q4_1(data):
    """Q4_1 blocks (uint8, any shape whose size is a multiple of 20 bytes) -> float32 elements,
    shape ``(blocks * 32,)``; gguf's values bit for bit."""
    blocks = np.asarray(data).view(np.uint8).reshape(-1, Q4_1_BYTES)
    d, m = _f16(blocks[:, 0:2]), _f16(blocks[:, 2:4])
    qs = blocks[:, 4:]
    out = np.empty((len(blocks), Q4_1_BLOCK), dtype=np.float32)
    np.bitwise_and(qs, np.uint8(0x0F), out=out[:, :16], casting="unsafe")   # exact small integers
    np.right_shift(qs, np.uint8(4), out=out[:, 16:], casting="unsafe")
    out *= d                    # gguf's d * q (float32)
    out += m                    # then + m (float32)
    return out.reshape(-1)


def dequantize_q8_0(data):
    """Q8_0 blocks (uint8, size a multiple of 34 bytes) -> float32 elements ``(blocks * 32,)``;
    gguf's values bit for bit."""
    blocks = np.asarray(data).view(np.uint8).reshape(-1, Q8_0_BYTES)
    d = _f16(blocks[:, 0:2])
    out = blocks[:, 2:].view(np.int8).astype(np.float32)
    out *= d                    # gguf's x * d (float32)
    return out.reshape(-1)


def dequantize(gguf, data, tensor_type):
    """``gguf.quants.dequantize(data, tensor_type)`` (``gguf`` the imported package), the same
    float32 values and shape; Q4_1 and Q8_0 in whole-tensor passes."""
    fast = {gguf.GGMLQuantizationType.Q4_1: (dequantize_q4_1, Q4_1_BLOCK, Q4_1_BYTES),
            gguf.GGMLQuantizationType.Q8_0: (dequantize_q8_0, Q8_0_BLOCK, Q8_0_BYTES)}.get(tensor_type)
    if fast is None:
        return gguf.quants.dequantize(data, tensor_type)
    func, block, size = fast
    raw = np.asarray(data).view(np.uint8)
    if raw.shape[-1] % size:
        raise ValueError(f"{tensor_type.name} row of {raw.shape[-1]} bytes is not whole {size}-byte blocks")
    return func(raw).reshape(*raw.shape[:-1], raw.shape[-1] // size * block)
