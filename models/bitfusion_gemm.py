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

from .golden import wrap_signed
from .intcodes import dequantize_scaled_output
from .inventory import driven, register_chain, sum_bits
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


def _product_multiplier(pe):
    """The multiplier one fused product costs: ``act_bits`` x ``weight_bits``, signed if either
    operand is (an unsigned operand of a signed product gains its zero sign bit). A signed
    product of more than one brick is the characterised brick multiplier (``bmult``: the bricks'
    sign extensions make it 10-20 % larger than a plain signed multiplier of the same widths);
    unsigned operands (no registered variant) keep the plain multiplier's estimate."""
    if pe.act_signed and pe.weight_signed and not pe.act_slices == pe.weight_slices == 1:
        return "bmult", (pe.act_bits, pe.weight_bits)
    if not (pe.act_signed or pe.weight_signed):
        return "mult", (pe.act_bits, pe.weight_bits)
    return "smult", (pe.act_bits + (not pe.act_signed), pe.weight_bits + (not pe.weight_signed))


def bitfusion_pe_items(pe, acc_in_bits=None):
    """:class:`hw.pe_bitfusion.BitFusionPE`: per fused product the ``act_bits`` x ``weight_bits``
    multiplier it computes (:func:`_product_multiplier`), the step's sum of the f products and
    ``acc_in``, and the enabled ``acc_out`` register, :func:`bitfusion_acc_out_bits` wide
    (``acc_in_bits`` as in :func:`models.inventory.int8_pe_items`: ``acc_in`` drops out of the
    sum when it is 0).

    A product's BitBricks are its partial products in 2-bit digits: their AND terms and the
    carry-save sum of the shifted brick products are a multiplier's partial-product array, which
    synthesis (the flattened bricks through ABC) maps to a little more than a plain multiplier
    (:func:`_product_multiplier`: the ``bmult`` family is characterised on exactly that brick
    structure), not 16 small multipliers plus one add per brick (1.2-1.4x synthesis). With 2-bit
    operands a product is one brick, a ``$mul`` term Yosys's ``alumacc`` folds into the step's
    ``$macc``: f - 1 adds of :attr:`step_bits` and the accumulate add, as a fused MAC counts it.
    Otherwise each product is a truncated signal, so the step's ``$macc`` takes the products and
    ``acc_in`` as plain addends, which ``maccmap`` sign-extends to the sum's width (every column
    above a product's top holds its sign bit): three or more addends are one ``csa`` of
    (addends x width) bits, two are one add. Checked against ``pearray synth`` in
    ``tests/test_pe_bitfusion.py``."""
    f = pe.fused_products
    out = bitfusion_acc_out_bits(pe, acc_in_bits)
    mult, widths = _product_multiplier(pe)
    # what feeds what: the products of act's and weight's slices; their sum (and acc_in)
    products = driven((mult, widths, f, "step"), "act", "weight")
    items = [products]
    accumulate = ("acc_in",) if acc_in_bits != 0 else ()
    addends = f + (acc_in_bits != 0)
    if pe.act_slices == pe.weight_slices == 1:
        if f > 1:
            items.append(driven(("add", (pe.step_bits,), f - 1, "step"), products))
        if acc_in_bits != 0:
            items.append(driven(("add", (out,), 1, "step"), items[-1], "acc_in"))
    elif addends >= 3:
        items.append(driven(("csa", (addends * out, out), 1, "step"), products, *accumulate))
    elif addends == 2:
        items.append(driven(("add", (out,), 1, "step"), products, *accumulate))
    return items + [("reg_en", (out,), 1, "step")]


def bitfusion_acc_out_bits(pe, acc_in_bits=None):
    """Significant bits of ``acc_out``: ``acc_in`` + the step's sum (:attr:`step_bits`)."""
    return sum_bits(pe.acc_width, min(pe.acc_width, pe.step_bits), acc_in_bits)


register_chain(bitfusion_pe_items, bitfusion_acc_out_bits)
