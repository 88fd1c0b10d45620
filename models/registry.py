"""The PE registry: one entry per PE kind ties its hardware class to its golden model and formats.

Adding a kind is a local change: write ``hw/pe_<kind>.py`` (a :class:`hw.pe.ProcessingElement`),
its golden twin and quantisers in ``models/``, and one :class:`PEKind` entry here. Every function
of an entry takes the PE instance (a prototype built with the design's options, e.g. its
``weight_bits``), so options live in one place: the hardware class.
"""

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from hw.ant_decoder import AntDecoder
from hw.bitserial_terms import TermEncoder
from hw.group_dequant import GroupDequant
from hw.lut_precompute import LutTablePrecompute
from hw.ovp_decoder import OvpPairDecoder
from hw.pe import facts_only
from hw.pe_ant import AntPE
from hw.pe_bitfusion import BitFusionPE
from hw.pe_bitserial import BitSerialPE
from hw.pe_bitserial_fp16 import BitSerialFp16PE
from hw.pe_fp16 import Fp16PE
from hw.pe_fp8 import Fp8PE
from hw.gobo_outlier import GoboOutlierUnit
from hw.pe_gobo import GoboPE
from hw.pe_int8 import Int8PE
from hw.pe_lmul import LmulPE
from hw.pe_lut import LutPE
from hw.pe_mx import DEFAULT_SUB_BLOCK as MX_SUB_BLOCK, FORMATS as MX_FORMATS, MxPE
from hw.pe_ovp import OvpPE
from hw.pe_shiftadd import ShiftAddPE
from hw.pe_wfp16 import Wfp16PE
from hw.scale_dequant import BitSerialScaleDequant
from . import inventory
from .ant_gemm import (ant_decoder_items, ant_dequantise, ant_gemm_int, ant_pe_items, quantize_ant_acts,
                       quantize_ant_weights)
from .bitfusion_gemm import (bitfusion_dequantise, bitfusion_golden, bitfusion_pe_items,
                             quantize_bitfusion_acts, quantize_bitfusion_weights)
from .bitserial_fp16 import fp16_dequantise, fp16_golden, quantize_fp16_acts, random_fp16_operands
from .bitserial_gemm import (bitserial_dequantise, bitserial_extra_operand, bitserial_golden,
                             quantize_bitserial_acts, quantize_bitserial_weights)
from . import fp16_gemm, mx_gemm
from .fp8_gemm import (fp8_check_operands, fp8_dequantise, fp8_golden, fp8_pe_items, quantize_fp8_acts,
                       quantize_fp8_weights, random_fp8_operands)
from .gobo_outlier import gobo_outlier_items
from .gobo_gemm import (gobo_dequantise, gobo_extra_operand, gobo_golden, gobo_pe_items, quantize_gobo_acts,
                        quantize_gobo_weights, random_gobo_operands)
from .golden import check_codes, gemm_int
from .intcodes import dequantize_affine_output, quantize_acts, quantize_weights
from .lmul_gemm import lmul_golden, lmul_pe_items
from .lut_gemm import lut_dequantise, lut_gemm_int, quantize_lut_weights
from .ovp_gemm import ovp_dequantise, ovp_gemm_int, quantize_ovp_acts, quantize_ovp_weights
from .shiftadd_gemm import (quantize_shiftadd_acts, quantize_shiftadd_weights, shiftadd_dequantise,
                            shiftadd_extra_operand, shiftadd_golden)
from . import wfp16_gemm


@dataclass(frozen=True)
class GemmOperands:
    """Everything a GEMM run needs besides the design, from :meth:`PEKind.operands`.

    ``acts`` (M x K) and ``weights`` (K x N) are checked int64 element codes of the PE's formats;
    ``extra`` is the kind's extra operand (a grouped design's per-group parameters) or None;
    ``acts_meta`` / ``weights_meta`` are the quantisers' metadata (scales, formats) for an operand
    given as floats, None for one given as codes.
    """
    acts: np.ndarray
    weights: np.ndarray
    extra: object = None
    acts_meta: dict = None
    weights_meta: dict = None

    @property
    def shape(self):
        """(M, K, N)."""
        return self.acts.shape[0], self.acts.shape[1], self.weights.shape[1]


@dataclass(frozen=True)
class PEKind:
    name: str
    description: str
    pe_class: type
    # (acts codes M x K, weights codes K x N, pe) -> exact integer output the RTL must produce
    golden_gemm: Callable
    # (float M x K, pe) -> (codes, meta); (float K x N, pe) -> (codes, meta)
    quantize_acts: Callable
    quantize_weights: Callable
    # (raw integer output M x N, acts codes, acts meta, weights meta, pe) -> float output
    dequantize_output: Callable = None
    # PE options the command line may set, with their defaults (names are the class's keywords)
    options: tuple = ()
    # what each option takes, for the command line's help: (name, "values") pairs
    option_values: tuple = ()
    # the kind's natural precisions, compared in reports: (label, options) pairs
    variants: tuple = ()
    # kinds whose designs take an operand besides the codes (a grouped design's per-group
    # dequantisation parameters): (acts codes, weights codes, pe, acts meta or None, weights meta
    # or None) -> that operand, or None. golden_gemm then takes it as a fourth argument.
    extra_operand: Callable = None
    # (rng, m, k, n, pe) -> (acts codes, weights codes) for random tests, when uniform codes over
    # the whole range are not all valid operands (e.g. FP16 infinities); None = uniform
    random_codes: Callable = None
    # the dataflows the kind's designs support, the preferred first (reports use it)
    dataflows: tuple = ("ws", "os")
    # what the kind's hardware is made of, for the cost model: (hw class, inventory function)
    # pairs for its PE class and every border / post-array unit class it uses (see
    # models.inventory: a list of (primitive, widths, count, event) per unit instance)
    inventories: tuple = ()

    def prototype(self, **options):
        """An instance to read the contract properties from (never elaborated)."""
        return facts_only(self.pe_class(**options))

    def pe_factory(self, **options):
        return partial(self.pe_class, **options)

    def check_acts(self, codes, pe, copy=True):
        return check_codes("activation", codes, bits=pe.act_element_bits, signed=pe.act_signed, copy=copy)

    def check_weights(self, codes, pe, copy=True):
        return check_codes("weight", codes, bits=pe.weight_element_bits, signed=pe.weight_signed, copy=copy)

    def operands(self, acts, weights, pe, *, extra=None):
        """The one way from tensors to a run's operands: ``acts`` (M x K) and ``weights`` (K x N)
        given as floats are quantised by the kind's quantisers, given as integers are taken as
        element codes; codes are range-checked for ``pe``'s formats and the kind's extra operand
        is built from the quantisers' metadata (or its defaults for codes), unless ``extra`` is
        given. ValueError naming the operand for bad shapes or codes."""
        acts_meta = weights_meta = None
        if np.issubdtype(np.asarray(acts).dtype, np.floating):
            acts, acts_meta = self.quantize_acts(np.asarray(acts), pe)
        if np.issubdtype(np.asarray(weights).dtype, np.floating):
            weights, weights_meta = self.quantize_weights(np.asarray(weights), pe)
        acts, weights = self.check_acts(acts, pe), self.check_weights(weights, pe)
        if acts.shape[1] != weights.shape[0]:
            raise ValueError(f"shapes do not chain: acts {acts.shape} (M x K) @ weights "
                             f"{weights.shape} (K x N)")
        if extra is None and self.extra_operand is not None:
            extra = self.extra_operand(acts, weights, pe, acts_meta, weights_meta)
        return GemmOperands(acts, weights, extra, acts_meta, weights_meta)

    def golden(self, operands, pe):
        """The exact integer output the RTL must produce for ``operands`` (a :class:`GemmOperands`)."""
        extra = () if operands.extra is None else (operands.extra,)
        return self.golden_gemm(operands.acts, operands.weights, pe, *extra)

    def random_operands(self, rng, m, k, n, pe):
        """Uniform random codes over each operand's full range (extremes included), or the
        kind's own ``random_codes``."""
        if self.random_codes is not None:
            return self.random_codes(rng, m, k, n, pe)
        return (_uniform_codes(rng, (m, k), pe.act_element_bits, pe.act_signed),
                _uniform_codes(rng, (k, n), pe.weight_element_bits, pe.weight_signed))


def _uniform_codes(rng, shape, bits, signed):
    lo = -(1 << (bits - 1)) if signed else 0
    return rng.integers(lo, lo + (1 << bits), size=shape)


PE_KINDS = {
    "int8": PEKind(
        name="int8",
        description="INT8 x INT8 -> INT32 MAC (TPU-style baseline)",
        pe_class=Int8PE,
        golden_gemm=lambda acts, weights, pe: gemm_int(acts, weights, pe.acc_width),
        quantize_acts=lambda x, pe: quantize_acts(x, bits=8),
        quantize_weights=lambda w, pe: quantize_weights(w, bits=8),
        dequantize_output=lambda raw, acts, a_meta, w_meta, pe: dequantize_affine_output(raw, a_meta, w_meta),
        variants=(("INT8", ()),),
        inventories=((Int8PE, inventory.int8_pe_items),),
    ),
    "lut": PEKind(
        name="lut",
        description="LUT Tensor Core: INT8 activation tables x B-bit weight bit-planes, no multiplier",
        pe_class=LutPE,
        golden_gemm=lambda acts, weights, pe: lut_gemm_int(acts, weights, weight_bits=pe.weight_bits,
                                                           acc_width=pe.acc_width),
        quantize_acts=lambda x, pe: quantize_acts(x, bits=8),
        quantize_weights=lambda w, pe: quantize_lut_weights(w, weight_bits=pe.weight_bits),
        dequantize_output=lambda raw, acts, a_meta, w_meta, pe: lut_dequantise(
            raw, acts, weight_bits=pe.weight_bits, act_scale=a_meta["scale"][0],
            weight_scale=w_meta["scale"], weight_zero_point=w_meta["zero_point"]),
        options=(("weight_bits", 4),),
        option_values=(("weight_bits", "1..4"),),
        variants=(("LUT W4A8", (("weight_bits", 4),)), ("LUT W2A8", (("weight_bits", 2),)),
                  ("LUT W1A8", (("weight_bits", 1),))),
        inventories=((LutPE, inventory.lut_pe_items), (LutTablePrecompute, inventory.lut_table_items)),
    ),
    "ovp": PEKind(
        name="ovp",
        description="OliVe outlier-victim pairs: W4A4 OVP codes, border pair decoders, "
                    "exponent-integer MAC (shift by summed exponents)",
        pe_class=OvpPE,
        golden_gemm=lambda acts, weights, pe: ovp_gemm_int(acts, weights, mode=pe.mode,
                                                           acc_width=pe.acc_width),
        quantize_acts=lambda x, pe: quantize_ovp_acts(x, mode=pe.mode),
        quantize_weights=lambda w, pe: quantize_ovp_weights(w, mode=pe.mode),
        dequantize_output=lambda raw, acts, a_meta, w_meta, pe: ovp_dequantise(
            raw, act_scale=a_meta["scale"], weight_scale=w_meta["scale"]),
        options=(("mode", "int4"),),
        option_values=(("mode", "int4, flint4 or int8"),),
        variants=(("OVP W4A4", ()), ("OVP W4A4 flint4", (("mode", "flint4"),)),
                  ("OVP W8A8", (("mode", "int8"),))),
        inventories=((OvpPE, inventory.ovp_pe_items), (OvpPairDecoder, inventory.ovp_decoder_items)),
    ),
    "shiftadd": PEKind(
        name="shiftadd",
        description="MixPE shift-and-add: INT-B weight x INT8 by shifts and adds (no multiplier), "
                    "per-group zero point and HAWQ-V3 dyadic scale after the array",
        pe_class=ShiftAddPE,
        golden_gemm=shiftadd_golden,
        quantize_acts=quantize_shiftadd_acts,
        quantize_weights=quantize_shiftadd_weights,
        dequantize_output=shiftadd_dequantise,
        options=(("weight_bits", 4), ("group_size", 128)),
        option_values=(("weight_bits", "2..4"),
                       ("group_size", "K elements per dequantisation group, a multiple of --rows, "
                                      "ws only; none = the raw integer GEMM")),
        variants=(("W4A8 g128 (MixPE)", (("weight_bits", 4), ("group_size", 128))),),
        extra_operand=shiftadd_extra_operand,
        inventories=((ShiftAddPE, inventory.shiftadd_pe_items),
                     (GroupDequant, inventory.group_dequant_items)),
    ),
    "bitserial": PEKind(
        name="bitserial",
        description="BitMoD bit-serial: one signed power-of-two weight term per cycle (Booth INT8/INT6, "
                    "FP4/FP3 with per-group special values) x INT8, per-group INT8 scales after the array",
        pe_class=BitSerialPE,
        golden_gemm=bitserial_golden,
        quantize_acts=quantize_bitserial_acts,
        quantize_weights=quantize_bitserial_weights,
        dequantize_output=bitserial_dequantise,
        options=(("weight_format", "mixed4"), ("group_size", 128)),
        option_values=(("weight_format", "int8, int6, fp4, fp3, mixed4 or mixed3"),
                       ("group_size", "K elements per INT8 group scale, a multiple of --rows, "
                                      "ws only; none = the raw integer GEMM")),
        variants=(("BitMoD mixed4 W4A8 g128", (("weight_format", "mixed4"), ("group_size", 128))),
                  ("BitMoD mixed3 W3A8 g128", (("weight_format", "mixed3"), ("group_size", 128))),
                  ("BitMoD INT8 Booth g128", (("weight_format", "int8"), ("group_size", 128)))),
        extra_operand=bitserial_extra_operand,
        inventories=((BitSerialPE, inventory.bitserial_pe_items), (TermEncoder, inventory.term_encoder_items),
                     (BitSerialScaleDequant, inventory.scale_dequant_items)),
    ),
    "bitserial_fp16": PEKind(
        name="bitserial_fp16",
        description="BitMoD bit-serial, FP16-activation mode: 4 FP16 activations x one weight term "
                    "each per cycle, exponent match, 3 guard bits (truncation), float-like "
                    "accumulator; output-stationary only",
        pe_class=BitSerialFp16PE,
        golden_gemm=fp16_golden,
        quantize_acts=quantize_fp16_acts,
        quantize_weights=quantize_bitserial_weights,
        dequantize_output=fp16_dequantise,
        options=(("weight_format", "mixed4"),),
        option_values=(("weight_format", "int8, int6, fp4, fp3, mixed4 or mixed3"),),
        variants=(("BitMoD mixed4 W4A16 (FP16 act)", (("weight_format", "mixed4"),)),),
        random_codes=random_fp16_operands,
        dataflows=("os",),
        inventories=((BitSerialFp16PE, inventory.bitserial_fp16_pe_items),
                     (TermEncoder, inventory.term_encoder_items)),
    ),
    "fp16": PEKind(
        name="fp16",
        description="FP16 x FP16 -> FP32 fused multiply-add (tensor-core-style baseline): exact "
                    "products, one FP32 round-to-nearest-even per step; output-stationary only",
        pe_class=Fp16PE,
        golden_gemm=fp16_gemm.fp16_golden,
        quantize_acts=fp16_gemm.quantize_fp16_acts,
        quantize_weights=fp16_gemm.quantize_fp16_weights,
        dequantize_output=fp16_gemm.fp16_dequantise,
        variants=(("FP16 (FP32 acc)", ()),),
        random_codes=fp16_gemm.random_fp16_operands,
        dataflows=("os",),
        inventories=((Fp16PE, fp16_gemm.fp16_pe_items),),
    ),
    "gobo": PEKind(
        name="gobo",
        description="GOBO weight-only: FP16 activation x FP16 centroid looked up by a 3-bit index "
                    "(per-tensor table of 8, broadcast), FP32 RNE accumulation as the FP16 PE; "
                    "outlier-flagged weights skip, their FP16 products are added after the array; "
                    "output-stationary only",
        pe_class=GoboPE,
        golden_gemm=gobo_golden,
        quantize_acts=quantize_gobo_acts,
        quantize_weights=quantize_gobo_weights,
        dequantize_output=gobo_dequantise,
        variants=(("GOBO W3A16 (FP16 act, FP16 outliers)", ()),),
        extra_operand=gobo_extra_operand,
        random_codes=random_gobo_operands,
        dataflows=("os",),
        inventories=((GoboPE, gobo_pe_items), (GoboOutlierUnit, gobo_outlier_items)),
    ),
    "fp8": PEKind(
        name="fp8",
        description="OCP FP8 x FP8 (e4m3 or e5m2): exact mantissa product, exponent-add shift, "
                    "exact sum in a fixed-point (Kulisch) accumulator; per-tensor act / per-channel "
                    "weight scales",
        pe_class=Fp8PE,
        golden_gemm=fp8_golden,
        quantize_acts=quantize_fp8_acts,
        quantize_weights=quantize_fp8_weights,
        dequantize_output=fp8_dequantise,
        options=(("format", "e4m3"),),
        option_values=(("format", "e4m3 or e5m2"),),
        variants=(("FP8 E4M3", (("format", "e4m3"),)), ("FP8 E5M2", (("format", "e5m2"),))),
        # no extra operand: the hook refuses NaN/infinity codes before any work (returns None)
        extra_operand=fp8_check_operands,
        random_codes=random_fp8_operands,
        inventories=((Fp8PE, fp8_pe_items),),
    ),
    "lmul": PEKind(
        name="lmul",
        description="L-Mul (Addition is All You Need): the FP8 PE with its mantissa multiplier "
                    "replaced by one integer add of the exponent-mantissa fields (+1 ulp offset), "
                    "no multiplier; same operands, scales and exact fixed-point accumulator",
        pe_class=LmulPE,
        golden_gemm=lmul_golden,
        quantize_acts=quantize_fp8_acts,
        quantize_weights=quantize_fp8_weights,
        dequantize_output=fp8_dequantise,
        options=(("format", "e4m3"),),
        option_values=(("format", "e4m3 or e5m2"),),
        variants=(("L-Mul E4M3", (("format", "e4m3"),)), ("L-Mul E5M2", (("format", "e5m2"),))),
        # no extra operand: the hook refuses NaN/infinity codes before any work (returns None)
        extra_operand=fp8_check_operands,
        random_codes=random_fp8_operands,
        inventories=((LmulPE, lmul_pe_items),),
    ),
    "ant": PEKind(
        name="ant",
        description="ANT adaptive types: int / flint / PoT 4-bit codes per tensor, border type decoders, "
                    "exponent-integer MAC (4 products per step; 2 x 2 fused into one 8b x 8b for int8)",
        pe_class=AntPE,
        golden_gemm=lambda acts, weights, pe: ant_gemm_int(acts, weights, act_type=pe.act_type,
                                                           weight_type=pe.weight_type,
                                                           acc_width=pe.acc_width),
        quantize_acts=lambda x, pe: quantize_ant_acts(x, ant_type=pe.act_type),
        quantize_weights=lambda w, pe: quantize_ant_weights(w, ant_type=pe.weight_type),
        dequantize_output=lambda raw, acts, a_meta, w_meta, pe: ant_dequantise(
            raw, act_scale=a_meta["scale"], weight_scale=w_meta["scale"]),
        options=(("act_type", "int4"), ("weight_type", "int4")),
        option_values=(("act_type", "int4, uint4, flint4, uflint4, pot4, upot4, int8 or uint8 "
                                    "(int8/uint8 with an 8-bit weight_type: the fused 8-bit mode)"),
                       ("weight_type", "int4, uint4, flint4, uflint4, pot4, upot4, int8 or uint8")),
        variants=(("ANT W4A4 int", ()), ("ANT W4A4 flint", (("act_type", "flint4"), ("weight_type", "flint4"))),
                  ("ANT W4A4 PoT", (("act_type", "pot4"), ("weight_type", "pot4"))),
                  ("ANT W8A8 fused", (("act_type", "int8"), ("weight_type", "int8")))),
        inventories=((AntPE, ant_pe_items), (AntDecoder, ant_decoder_items)),
    ),
    "wfp16": PEKind(
        name="wfp16",
        description="Weight-only with FP16 activations (BitMoD's ANT / OliVe re-model): FP16 x "
                    "INT4 / INT8 / OliVe OVP4 weights, exact products summed in a fixed-point "
                    "accumulator, per-channel (host) or per-group (INT8 codes, ws) weight scale after the array",
        pe_class=Wfp16PE,
        golden_gemm=wfp16_gemm.wfp16_golden,
        quantize_acts=wfp16_gemm.quantize_wfp16_acts,
        quantize_weights=wfp16_gemm.quantize_wfp16_weights,
        dequantize_output=wfp16_gemm.wfp16_dequantise,
        options=(("weight_format", "int4"), ("group_size", None)),
        option_values=(("weight_format", "int4, int8 or ovp4 (OliVe int4 outlier-victim pairs)"),
                       ("group_size", "K elements per INT8 group scale (int4 / int8), a multiple of "
                                      "--rows, ws only; none = one scale per output channel")),
        variants=(("W4A16 INT4 (FP16 act)", (("weight_format", "int4"),)),
                  ("W4A16 INT4 g128 (FP16 act)", (("weight_format", "int4"), ("group_size", 128))),
                  ("W8A16 INT8 (FP16 act)", (("weight_format", "int8"),)),
                  ("W4A16 OVP4 (FP16 act)", (("weight_format", "ovp4"),))),
        # the grouped design's scale codes; also refuses FP16 infinity / NaN codes before any work
        extra_operand=wfp16_gemm.wfp16_extra_operand,
        random_codes=wfp16_gemm.random_wfp16_operands,
        inventories=((Wfp16PE, wfp16_gemm.wfp16_pe_items),
                     (OvpPairDecoder, inventory.ovp_decoder_items),
                     (BitSerialScaleDequant, inventory.scale_dequant_items)),
    ),
    "mx": PEKind(
        name="mx",
        description=f"OCP MX / NVFP4 block-scaled dot products: a sub-block ({MX_SUB_BLOCK} elements) per step, "
                    "a block's sub-blocks (32 elements, E8M0 scales; NVFP4 16, E4M3 scales) summed "
                    "exactly, scaled once, rounded to FP32 and added to an FP32 accumulator; "
                    "output-stationary only",
        pe_class=MxPE,
        golden_gemm=mx_gemm.mx_golden,
        quantize_acts=mx_gemm.quantize_mx_acts,
        quantize_weights=mx_gemm.quantize_mx_weights,
        dequantize_output=mx_gemm.mx_dequantise,
        options=(("format", "mxfp8-e4m3"), ("sub_block", MX_SUB_BLOCK)),
        option_values=(("format", ", ".join(MX_FORMATS)),
                       ("sub_block", "elements per step, a power of two dividing the block")),
        variants=tuple((name.upper(), (("format", name),)) for name in MX_FORMATS),
        # no extra operand: the hook refuses invalid codes and open blocks before any work
        extra_operand=mx_gemm.mx_check_operands,
        random_codes=mx_gemm.random_mx_operands,
        dataflows=("os",),
        inventories=((MxPE, mx_gemm.mx_pe_items),),
    ),
    "bitfusion": PEKind(
        name="bitfusion",
        description="BitFusion Fusion Unit: 16 signed 3b x 3b BitBricks fused into 2/4/8-bit "
                    "products (f = (8/pa) * (8/pw) per cycle), shift-add, 32-bit accumulation",
        pe_class=BitFusionPE,
        golden_gemm=bitfusion_golden,
        quantize_acts=quantize_bitfusion_acts,
        quantize_weights=quantize_bitfusion_weights,
        dequantize_output=bitfusion_dequantise,
        # signedness (act_signed / weight_signed, default signed) is a keyword of the PE class only,
        # as ShiftAddPE's weight_signed: the command line parses no bool options
        options=(("act_bits", 8), ("weight_bits", 8)),
        option_values=(("act_bits", "2, 4 or 8"), ("weight_bits", "2, 4 or 8")),
        variants=(("BitFusion W8A8", ()), ("BitFusion W4A8", (("weight_bits", 4),)),
                  ("BitFusion W4A4", (("act_bits", 4), ("weight_bits", 4))),
                  ("BitFusion W2A2", (("act_bits", 2), ("weight_bits", 2)))),
        inventories=((BitFusionPE, bitfusion_pe_items),),
    ),
}


for _kind in PE_KINDS.values():
    for _hw_class, _items in _kind.inventories:
        inventory.register(_hw_class, _items)


def get_kind(name):
    try:
        return PE_KINDS[name]
    except KeyError:
        raise ValueError(f"unknown PE kind {name!r}; known kinds: {', '.join(PE_KINDS)}") from None


def full_options(pe, pe_options):
    """``pe_options`` with the kind's defaults filled in, sorted: one tuple per hardware and data
    setting (``lut`` and ``lut weight_bits=4`` are one PE), the form the measured tables key on."""
    return tuple(sorted({**dict(get_kind(pe).options), **dict(pe_options)}.items()))
