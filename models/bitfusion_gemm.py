"""Golden twin of the BitFusion Fusion Unit (``hw/pe_bitfusion.py``): the integer GEMM of the
codes, the INT quantisers of its precisions, the dequantisation and the PE's cost inventory.

Integer result (:func:`bitfusion_gemm_int`): the element codes are the integers themselves
(two's complement for a signed operand, plain binary for an unsigned one), so the output is one
int64 matrix product, wrapped once to the ``acc_width``-bit two's complement accumulator
(wrapping addition is associative, so the order of the hardware's adds does not matter). Nothing
here follows the BitBrick decomposition: the RTL's bricks must reproduce the plain product.
Exact in int64 while ``K * 2**16 < 2**63``.

Quantisers (:mod:`models.quant.intq`): a signed operand is symmetric INT-p (the restricted range
``[-(2**(p-1) - 1), 2**(p-1) - 1]``), weights per output channel (column of K x N), activations
per tensor. An unsigned operand (BitFusion's unsigned mode, e.g. post-ReLU activations) is
INT-p with zero point 0: ``scale = max / (2**p - 1)``, codes ``0 .. 2**p - 1``; the tensor must be
non-negative (ValueError otherwise: a zero point the PE cannot subtract). Dequantisation:
``out[m, n] = raw[m, n] * s_a * s_w[n]``.
"""

import numpy as np

from hw.pe_bitfusion import BRICK_BITS, BRICK_OPERAND_BITS
from .golden import wrap_signed
from .intcodes import dequantize_scaled_output
from .inventory import register_chain, sum_bits
from .quant.intq import quantize_int


def bitfusion_gemm_int(acts, weights, *, acc_width=32):
    """acts M x K codes, weights K x N codes (the integers) -> M x N, wrapped to ``acc_width``."""
    acts, weights = np.asarray(acts, dtype=np.int64), np.asarray(weights, dtype=np.int64)
    if acts.ndim != 2 or weights.ndim != 2 or acts.shape[1] != weights.shape[0]:
        raise ValueError(f"shapes do not chain: acts {acts.shape} @ weights {weights.shape}")
    return wrap_signed(acts @ weights, acc_width)


def bitfusion_golden(acts, weights, pe):
    """The registry's golden GEMM: :func:`bitfusion_gemm_int` at the PE's accumulator width."""
    return bitfusion_gemm_int(acts, weights, acc_width=pe.acc_width)


def _quantize(x, bits, signed, granularity, name):
    """(rows, K) floats -> (codes int64, scale (rows,) list, metadata)."""
    qt = quantize_int(x, bits, symmetric=signed, granularity=granularity)
    if not signed and np.any(qt.zero_point):
        raise ValueError(f"unsigned {bits}-bit {name} need a non-negative tensor (min "
                         f"{float(np.min(x)):.4g}); build the design with {name[:-1]}_signed=True")
    per = "tensor" if granularity == "tensor" else "output channel (column of K x N)"
    meta = {"format": f"{'int' if signed else 'uint'}{bits}", "granularity": per,
            "scale": np.ravel(qt.scale).tolist(), "dequantise": f"value = code * scale, per {per}"}
    return qt.codes.astype(np.int64), meta


def quantize_bitfusion_acts(x, pe):
    """M x K floats -> the PE's ``act_bits`` codes, one scale per tensor."""
    return _quantize(np.asarray(x), pe.act_bits, pe.act_signed, "tensor", "activations")


def quantize_bitfusion_weights(w, pe):
    """K x N floats -> the PE's ``weight_bits`` codes, one scale per output channel."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    codes, meta = _quantize(w.T, pe.weight_bits, pe.weight_signed, "channel", "weights")
    return codes.T, meta


def bitfusion_dequantise(raw, acts, act_meta, weight_meta, pe):
    """Float output ``raw[m, n] * s_a * s_w[n]``."""
    return dequantize_scaled_output(raw, act_scale=act_meta["scale"], weight_scale=weight_meta["scale"])


# ---------------------------------------------------------------------------------------------
# cost inventory


def _brick_items(pe, ia, iw):
    """One BitBrick as synthesis keeps it, and the bits of its shifted product's add.

    A brick's operand extension bit is constant unless its slice is a signed operand's top slice
    (:meth:`hw.pe_bitfusion.BitFusionPE._slice`), so Yosys narrows the 3b x 3b multiplier
    (``wreduce``: a top slice's extension bit is a copy of its sign and goes; a zero-extended
    slice keeps its constant-0 top bit in a signed multiply): two top slices -- a signed 2b x 2b
    multiply (``smult`` (2, 2)); a top and a low slice -- a signed 2b x 3b one (``smult`` (2, 3),
    the word-level ``$mul_5``); two low slices -- an unsigned 2b x 2b multiply (``mult`` (2, 2)). Its add into the product spans from its shift ``2 * (ia + iw)`` (the bits
    below pass through) to the product's top when signed (the sign extends), else its 4 bits."""
    top_a = pe.act_signed and ia == pe.act_slices - 1
    top_w = pe.weight_signed and iw == pe.weight_slices - 1
    if top_a and top_w:
        mult = ("smult", (BRICK_BITS, BRICK_BITS))
    elif top_a or top_w:
        mult = ("smult", (BRICK_BITS, BRICK_OPERAND_BITS))
    else:
        mult = ("mult", (BRICK_BITS, BRICK_BITS))
    add_bits = pe.product_bits - BRICK_BITS * (ia + iw) if top_a or top_w else 2 * BRICK_BITS
    return mult, add_bits


def bitfusion_pe_items(pe, acc_in_bits=None):
    """:class:`hw.pe_bitfusion.BitFusionPE`: per fused product its BitBricks
    (:func:`_brick_items`: 16 in all) and the shift-add of their products (the shifts are
    wiring; one add per brick after the first, as wide as the brick's span), the f - 1 adds of
    the products (:attr:`step_bits` wide), the accumulate add and the enabled ``acc_out``
    register, :func:`bitfusion_acc_out_bits` wide (``acc_in_bits`` as in
    :func:`models.inventory.int8_pe_items`: the accumulate add folds when ``acc_in`` is 0).

    Yosys's ``alumacc`` turns each product's brick sum into one ``$macc`` (a carry-save tree, not
    a chain of carry-propagate adders); a carry-save row of w bits costs about one w-bit add, so
    the adds stand for its rows. Checked against ``pearray synth`` in ``tests/test_pe_bitfusion.py``."""
    f = pe.fused_products
    counts = {}
    for _ in range(f):
        bricks = [_brick_items(pe, ia, iw) for ia in range(pe.act_slices) for iw in range(pe.weight_slices)]
        for n, (mult, add_bits) in enumerate(bricks):
            counts[mult] = counts.get(mult, 0) + 1
            if n:                           # the first brick's product starts the sum
                counts[("add", (add_bits,))] = counts.get(("add", (add_bits,)), 0) + 1
    items = [(prim, widths, n, "step") for (prim, widths), n in counts.items()]
    if f > 1:
        items.append(("add", (pe.step_bits,), f - 1, "step"))
    out = bitfusion_acc_out_bits(pe, acc_in_bits)
    if acc_in_bits != 0:
        items.append(("add", (out,), 1, "step"))
    return items + [("reg_en", (out,), 1, "step")]


def bitfusion_acc_out_bits(pe, acc_in_bits=None):
    """Significant bits of ``acc_out``: ``acc_in`` + the step's sum (:attr:`step_bits`)."""
    return sum_bits(pe.acc_width, min(pe.acc_width, pe.step_bits), acc_in_bits)


register_chain(bitfusion_pe_items, bitfusion_acc_out_bits)
