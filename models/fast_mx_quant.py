"""Compiled MX quantiser straight to the PE's lane codes: ``models.mx_gemm``'s quantiser for the
E8M0-scaled element formats (MXFP8, MXFP6, MXFP4, MXINT8) in one pass (:func:`mx_lane_codes`).

Why compiled: the numpy definition (``models.mx_gemm._quantise_numpy``) pads the tensor, takes
each block's largest magnitude, scales, rounds (:func:`models.quant.mx.round_to_elem`: frexp,
ldexp, rint, clip), encodes (:func:`models.fast_fp8.float_codes`), widens to int64 and interleaves
the scale codes into lanes (:func:`models.mx_gemm.interleave`), about ten float64 / int64 passes
over every activation tensor and weight matrix: a third of an MX design's SmolLM2 ``--quick`` run.
Here it is one read of the input and one write of the lane codes, the arithmetic in vector
loops (a 576 x 1536 float32 weight matrix to MXFP8-E4M3 codes 5.5 -> 1.2 ms once the loops'
row indices were unsigned, loaded machine; :data:`PANEL_ROWS`).

Why it gives the definition's codes, bit for bit (``tests/test_fast_mx_quant.py`` pins it on
random, extreme and real tensors): it does the same IEEE float64 operations per element, in the
same order (numba without ``fastmath``):

* a block's largest magnitude (``max`` is exact; an element past K is the pad's ``+0.0``), its
  exponent by ``frexp`` (``floor(log2(amax))`` exactly, ``-126`` for an all-zero block), the
  shared exponent ``fl - emax`` clamped below at ``-127``; above ``127`` the kernel stops and the
  caller runs the definition, which raises its error (so does a non-finite input);
* the element ``ldexp(x, -shared_exp)`` as ``x * 2**-shared_exp`` (the power of two is a
  float64 for ``|shared_exp| <= 127``, and both are the correctly rounded value of the same
  exact number, also when it is subnormal; so is ``x / 2**shared_exp``, which the kernel
  computed before session 39: a multiplication vectorises at a fraction of a division's cost),
  clipped to ``+-max_norm`` and rounded to the element grid half to even as
  :func:`models.fast_fp8.float_codes` rounds and encodes (the subnormal step's multiple below
  ``2**emin``, else the float64 pattern rounded to M mantissa bits less the bias offset, the
  sign bit above them). The definition rounds first (:func:`~models.quant.mx.round_to_elem`,
  ``rint(v / step) * step``) and clips after, then encodes; the same grid value, because
  ``max_norm`` is on the grid and rounding to it is monotone (a value past ``max_norm``
  rounds to at least it, and the clip brings both to it), and ``-0.0`` keeps its sign both ways;
* MXINT8 (:func:`models.quant.mx.round_to_elem`'s integer grid, step ``2**-6``): ``rint(v / step)``
  as ``rint(v * 2**6)`` (the same exact value: a power-of-two move of a float64 that stays
  normal or exactly representable), then the clip to ``+-max_norm = 127 * step`` as a clip of
  the integer to ``+-127`` (the same grid values: ``k * step`` is monotone in ``k``), and the
  code ``k``'s low byte (two's complement), as ``rint(vq * 64)`` then ``& 0xFF`` gives;
* the lanes as :func:`~models.mx_gemm.interleave` lays them out: ``sub_block`` element codes,
  then the 8-bit slot code over ``scale_slots`` positions (low bits first), the block's scale
  code ``shared_exp + 127`` in its last lane and :data:`hw.pe_mx.CONTINUE_CODE` in the others.

NVFP4 (:func:`models.quant.mx.quantize_nvfp4`, E4M3 block scales under a per-tensor scale ``g``
the caller computes as the definition does) differs only in the block scale: ``amax / 6 / g``
(two float64 divisions, in that order) clipped to ``[0, 448]`` and cast to E4M3 half to even
(:func:`models.fast_fp8.fp8_codes`' rounding and encoding, for a non-negative value), its code
the slot code; the element is ``x / (s * g)`` with ``s`` that code's value (1 for 0), the same
division as the definition's.

Single-threaded on purpose, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np

from hw.pe_mx import CONTINUE_CODE, E4M3_SCALE_L, E4M3_SCALE_MAN_BITS, E8M0_BIAS

from .fast_fp8 import code_terms, float_code, jitable

#: ``floor(log2(.))`` of an all-zero block (:data:`models.quant.mx.FP32_MIN_NORMAL_EXP`)
ZERO_BLOCK_EXP = -126
#: the E8M0 shared exponent's range (:data:`models.quant.mx.SCALE_EMAX`)
SCALE_EMAX = 127
#: NVFP4's E4M3 block scales: the largest, and the format's mantissa bits and bias
E4M3_MAX = 448.0
E4M3_BIAS = 7

#: rows quantised together, block by block: the arithmetic runs across a panel's rows innermost
#: on L1 buffers (64 rows x one block), read from ``x`` and written to the lane codes along their
#: memory (a weight matrix's transposed view column by column, activations row by row; SmolLM2
#: window's MXFP4 quantiser 0.82 -> 0.56 CPU s when activations no longer went column-wise)
PANEL_ROWS = 64
#: a float64's exponent field: all ones for an infinity or a NaN
EXP_FIELD = 0x7FF << 52
#: :func:`models.numba_bits.as_int64`, bound by :func:`_compiled` (numba is imported only there)
as_int64 = None


def _lanes(x, emax, ebits, mbits, max_norm, sub_block, steps_per_block, scale_slots, tensor_scale, out,
           row_major):
    """``out[r]`` = the lane codes of row ``r`` of ``x`` (module docstring); returns 0, or 1 at
    the first block holding a non-finite element, 2 at the first shared exponent above 127
    (``out`` incomplete). ``tensor_scale`` 0: E8M0 block scales; else NVFP4's E4M3 block scales
    under that per-tensor scale ``g``. The loops over a panel's rows hold no branch, no early
    exit and no memory round trip (the IEEE patterns by :func:`models.numba_bits.as_int64`), so
    that they vectorise; they run on L1 buffers (the panel's block of ``x``, its lane codes),
    which the panel's rows are read into and written out of along memory: each row in turn when
    ``row_major`` (``x`` and ``out`` C-ordered: activations), else each column (weights). Compiled
    by :func:`_compiled`."""
    rows, k = x.shape
    block = sub_block * steps_per_block
    per = sub_block + scale_slots
    integer = ebits == 0                        # MXINT8: two's complement bytes k of k / 2**mbits
    nvfp4 = tensor_scale != 0.0
    bits = 8 if integer else 1 + ebits + mbits
    slot_mask = (1 << bits) - 1
    blocks = out.shape[1] // (per * steps_per_block)
    terms = code_terms(mbits, (1 << (ebits - 1)) - 1 if ebits > 0 else 0)
    int_scale = 2.0 ** mbits                    # 1 / the integer grid's step
    int_max = max_norm * int_scale              # 127: the largest k
    scale_terms = code_terms(E4M3_SCALE_MAN_BITS, E4M3_BIAS)
    sign_bit = ebits + mbits
    amax = np.empty(PANEL_ROWS, dtype=np.float64)
    secs = np.empty(PANEL_ROWS, dtype=np.int64)
    # per row: E8M0, 2**-shared_exp (a multiplication by it is the division by 2**shared_exp:
    # module docstring); NVFP4, the divisor s * g itself
    factors = np.empty(PANEL_ROWS, dtype=np.float64)
    # the panel's block as float64, read once (in L1 for the code pass, which then needs no
    # conditional load for the pad: a masked gather)
    panel = np.empty((block, PANEL_ROWS), dtype=np.float64)
    span = per * steps_per_block                # a block's lane positions
    lanes = np.empty((span, PANEL_ROWS), dtype=np.int64)
    for r0 in range(0, rows, PANEL_ROWS):
        r1 = min(rows, r0 + PANEL_ROWS)
        # the row loops' indices unsigned: numba then adds no negative-index wraparound, whose
        # select keeps LLVM from seeing consecutive addresses (it gathers and scatters instead)
        u0, width = np.uint64(r0), np.uint64(r1 - r0)
        for b in range(blocks):
            k0 = b * block
            amax[:] = 0.0
            special = False
            inside = np.uint64(min(block, k - k0))
            uk0 = np.uint64(k0)
            if row_major:
                for i in range(width):
                    for j in range(inside):
                        panel[j, i] = x[u0 + i, uk0 + j]
            else:
                for j in range(inside):
                    for i in range(width):
                        panel[j, i] = x[u0 + i, uk0 + j]
            panel[inside:] = 0.0                    # the pad's +0.0 past K
            for j in range(inside):
                col = panel[j]
                for i in range(width):
                    v = col[i]
                    special |= (as_int64(v) & EXP_FIELD) == EXP_FIELD      # inf or NaN
                    a = abs(v)
                    amax[i] = a if a > amax[i] else amax[i]
            if special:
                return 1
            for i in range(r1 - r0):
                if not nvfp4:
                    fl = ZERO_BLOCK_EXP if amax[i] == 0.0 else math.frexp(amax[i])[1] - 1
                    sec = fl - emax
                    if sec > SCALE_EMAX:
                        return 2
                    if sec < -SCALE_EMAX:
                        sec = -SCALE_EMAX
                    secs[i] = sec + E8M0_BIAS
                    factors[i] = math.ldexp(1.0, -sec)
                else:
                    scale = min(max(amax[i] / max_norm / tensor_scale, 0.0), E4M3_MAX)
                    code = float_code(scale, as_int64(scale), scale_terms, 7)
                    secs[i] = code
                    ef = code >> E4M3_SCALE_MAN_BITS
                    hidden = 1 << E4M3_SCALE_MAN_BITS if ef != 0 else 0
                    value = math.ldexp(float((code & ((1 << E4M3_SCALE_MAN_BITS) - 1)) | hidden),
                                       max(ef, 1) - E4M3_SCALE_L - 1)
                    factors[i] = (1.0 if value == 0.0 else value) * tensor_scale
            for j in range(block):
                code = lanes[(j // sub_block) * per + j % sub_block]
                col = panel[j]
                if integer:
                    for i in range(width):
                        # rint(v / step) (v * 2**mbits: the same exact power-of-two move), then
                        # the clip to +-max_norm as a clip of k (max_norm is k = 127 on the grid)
                        q = min(max(np.rint(col[i] * factors[i] * int_scale), -int_max), int_max)
                        code[i] = np.int64(q) & slot_mask
                elif nvfp4:
                    for i in range(width):
                        v = min(max(col[i] / factors[i], -max_norm), max_norm)
                        code[i] = float_code(v, as_int64(v), terms, sign_bit)
                else:
                    for i in range(width):
                        v = min(max(col[i] * factors[i], -max_norm), max_norm)
                        code[i] = float_code(v, as_int64(v), terms, sign_bit)
            for t in range(steps_per_block):
                for i in range(scale_slots):
                    code = lanes[t * per + sub_block + i]
                    for q in range(width):
                        slot = secs[q] if t == steps_per_block - 1 else CONTINUE_CODE
                        code[q] = (slot >> (i * bits)) & slot_mask
            first = np.uint64(b * span)
            if row_major:
                for i in range(width):
                    for p in range(np.uint64(span)):
                        out[u0 + i, first + p] = lanes[p, i]
            else:
                for p in range(np.uint64(span)):
                    for i in range(width):
                        out[u0 + i, first + p] = lanes[p, i]
    return 0


def mx_lane_codes(x, fmt, elem, pe, out, tensor_scale=0.0):
    """Write the lane codes of ``x`` ((R, K) floats, blocks along K; float32 or float64, any
    strides) into ``out`` ((R, K') int64, any strides) for the float element format ``fmt`` (a
    :class:`hw.pe_mx.MxFormat`) with ``elem`` its :class:`models.quant.mx.ElemFormat` and
    ``pe``'s lanes: E8M0 block scales, or for NVFP4 (``tensor_scale`` its per-tensor scale
    ``g``, not 0) E4M3 block scales. True when done; False where the definition must run
    instead (a non-finite element, or a shared exponent beyond E8M0: the definition raises its
    error)."""
    # rows along memory (activations, C-ordered) or columns (the weights' transposed view): the
    # order of the copies in and out of the kernel's buffers only, the same codes either way
    row_major = x.strides[0] >= x.strides[1] and out.strides[0] >= out.strides[1]
    status = _compiled().lanes(x, elem.emax, elem.ebits, elem.mbits, float(elem.max_norm), pe.sub_block,
                               pe.steps_per_block, fmt.scale_slots, float(tensor_scale), out, row_major)
    return status == 0


@functools.cache
def _compiled():
    """The kernel compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache
    (``cache=True``). Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to
    import and only a call needs it."""
    import numba
    global as_int64                 # the name _lanes calls, bound here with numba's import
    from .numba_bits import as_int64
    jitable()
    return SimpleNamespace(lanes=numba.njit(cache=True, nogil=True, error_model="numpy")(_lanes))
