"""Golden twin of the ANT PE array: the exact integer output from the codes, the quantisers
(float tensor -> codes of one ANT type, ANT's per-tensor type selection by MSE), the
dequantisation and the cost inventories of :class:`hw.pe_ant.AntPE` and :class:`hw.ant_decoder.AntDecoder`.

Codes (host side): an M x K activation matrix and a K x N weight matrix hold one unsigned element
code per element (a nibble, or a byte for int8 / uint8) of the PE's ``act_type`` /
``weight_type`` (:mod:`models.quant.ant_format`). Integer result (:func:`ant_gemm_int`): the codes'
values (the types' code -> value tables, not the decoders' exponent-integer split) multiplied and
summed exactly, wrapped to the accumulator width. Nothing here reads the RTL (the inventories read
its widths, as :mod:`models.inventory` does).

Quantisers: weights per output channel (column n of K x N), activations per tensor, each with the
min-MSE clip of ANT's search (:func:`models.quant.ant_format.search_alpha`) for the PE's type.
ANT picks the type per tensor (:func:`select_ant_types`); here the type configures the border
decoders at build time, so the flow is: select the types, build the design with them, quantise.
Dequantisation: ``Out_float[m, n] = raw[m, n] * s_a * s_w[n]``.
"""

import numpy as np

from hw.ant_decoder import DECODE, ELEMENT_WIDTH, FUSED, INT_WIDTH, LANES, WIRED
from hw.pe_ant import SHIFT_WIDTH, TERM_WIDTH
from .golden import wrap_signed
from .intcodes import dequantize_scaled_output
from .quant import ant_format


def ant_values(codes, ant_type):
    """Element codes -> int64 values in LSB units."""
    return ant_format.get_type(ant_type).decode(codes)


def ant_gemm_exact(acts, weights, *, act_type="int4", weight_type="int4"):
    """acts M x K codes, weights K x N codes -> exact M x N integers (int64, no wrap)."""
    acts, weights = np.asarray(acts), np.asarray(weights)
    if acts.ndim != 2 or weights.ndim != 2 or acts.shape[1] != weights.shape[0]:
        raise ValueError(f"shapes do not chain: acts {acts.shape} @ weights {weights.shape}")
    # int64 matmul is exact: |product| <= 2**28 (upot4 x upot4), so K < 2**34 cannot overflow
    return ant_values(acts, act_type) @ ant_values(weights, weight_type)


def ant_gemm_int(acts, weights, *, act_type="int4", weight_type="int4", acc_width=32):
    """The integers the ANT array produces: :func:`ant_gemm_exact` wrapped to ``acc_width``."""
    return wrap_signed(ant_gemm_exact(acts, weights, act_type=act_type, weight_type=weight_type),
                       acc_width)


# Float output from the raw integers: raw[m, n] * s_a * s_w[n] (scales in LSB units).
ant_dequantise = dequantize_scaled_output


def quantize_ant(x, ant_type, *, per_row):
    """(rows, K) floats -> (codes (rows, K), scale (rows, 1) or (1, 1) float32, alpha)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"ANT operand must be 2-D, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("tensor holds NaN or inf values")
    t = ant_format.get_type(ant_type)
    alpha, _ = ant_format.search_alpha(x, t, per_row=per_row)
    values, scale = ant_format.quantize(x, alpha, t)
    return t.encode(values), scale, alpha


def _meta(ant_type, scale, alpha, granularity):
    t = ant_format.get_type(ant_type)
    return {"format": f"ant-{ant_type}", "granularity": granularity,
            "scale": np.ravel(scale).tolist(), "alpha": np.ravel(alpha).tolist(),
            "codes": f"unsigned {t.bits}-bit {ant_type} element codes (models.quant.ant_format)",
            "dequantise": "value = table[code] * scale; GEMM: raw * s_a * s_w[n]"}


def quantize_ant_acts(x, *, ant_type="int4"):
    """M x K floats -> codes of ``ant_type`` (M x K), one min-MSE clip per tensor, and the meta."""
    codes, scale, alpha = quantize_ant(x, ant_type, per_row=False)
    return codes, _meta(ant_type, scale, alpha, "tensor")


def quantize_ant_weights(w, *, ant_type="int4"):
    """K x N floats -> codes of ``ant_type`` (K x N), one min-MSE clip per output channel."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    codes, scale, alpha = quantize_ant(w.T, ant_type, per_row=True)
    return codes.T, _meta(ant_type, scale, alpha, "output channel (column of K x N)")


def select_ant_types(acts, weights, *, bits=4):
    """ANT's per-tensor type selection for a GEMM (acts M x K, weights K x N floats): the
    min-MSE candidate of each tensor, as the PE options ``{"act_type", "weight_type"}``."""
    act_type, _ = ant_format.select_type(np.asarray(acts), weights=False, bits=bits)
    weight_type, _ = ant_format.select_type(np.asarray(weights).T, weights=True, bits=bits)
    return {"act_type": act_type, "weight_type": weight_type}


# --------------------------------------------------------------------------------------------
# Cost inventories (models.inventory's format; widths from hw.pe_ant / hw.ant_decoder)


def ant_pe_items(pe):
    """:class:`hw.pe_ant.AntPE`: per multiplier pair a signed INT_WIDTH x INT_WIDTH multiply, the
    exponent add (SHIFT_WIDTH) and the product's left shift (TERM_WIDTH, SHIFT_WIDTH amount bits);
    the adder tree of the four terms (two TERM_WIDTH + 1, one TERM_WIDTH + 2), the accumulate add
    and the enabled acc_out register."""
    A, n = pe.acc_width, len(pe.pairs())
    return [("smult", (INT_WIDTH, INT_WIDTH), n, "step"), ("add", (SHIFT_WIDTH,), n, "step"),
            ("shift", (TERM_WIDTH, SHIFT_WIDTH), n, "step"), ("add", (TERM_WIDTH + 1,), 2, "step"),
            ("add", (TERM_WIDTH + 2,), 1, "step"), ("add", (A,), 1, "step"), ("reg_en", (A,), 1, "step")]


def ant_decoder_items(decoder):
    """:class:`hw.ant_decoder.AntDecoder`: int4 / uint4 and the 8-bit types are wiring (no
    primitive); flint4, uflint4, pot4, upot4 a 16-entry table of (e, i) (a ROM of ELEMENT_WIDTH
    bits) per element."""
    if decoder.ant_type in WIRED or decoder.ant_type in FUSED:
        return []
    return [("rom", (len(DECODE[decoder.ant_type]), ELEMENT_WIDTH), LANES, "eval")]
