"""The PE registry: one entry per PE kind ties its hardware class to its golden model and formats.

Adding a kind is a local change: write ``hw/pe_<kind>.py`` (a :class:`hw.pe.ProcessingElement`),
its golden twin and quantisers in ``models/``, and one :class:`PEKind` entry here. Every function
of an entry takes the PE instance (a prototype built with the design's options, e.g. its
``weight_bits``), so options live in one place: the hardware class.
"""

from dataclasses import dataclass
from functools import partial
from typing import Callable

from hw.pe_bitserial import BitSerialPE
from hw.pe_bitserial_fp16 import BitSerialFp16PE
from hw.pe_int8 import Int8PE
from hw.pe_lut import LutPE
from hw.pe_ovp import OvpPE
from hw.pe import facts_only
from hw.pe_shiftadd import ShiftAddPE
from .bitserial_fp16 import fp16_dequantise, fp16_golden, quantize_fp16_acts, random_fp16_operands
from .bitserial_gemm import (bitserial_dequantise, bitserial_extra_operand, bitserial_golden,
                             quantize_bitserial_acts, quantize_bitserial_weights)
from .golden import check_codes, gemm_int
from .intcodes import dequantize_affine_output, quantize_acts, quantize_weights
from .lut_gemm import lut_dequantise, lut_gemm_int, quantize_lut_weights
from .ovp_gemm import ovp_dequantise, ovp_gemm_int, quantize_ovp_acts, quantize_ovp_weights
from .shiftadd_gemm import (quantize_shiftadd_acts, quantize_shiftadd_weights, shiftadd_dequantise,
                            shiftadd_extra_operand, shiftadd_golden)


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

    def prototype(self, **options):
        """An instance to read the contract properties from (never elaborated)."""
        return facts_only(self.pe_class(**options))

    def pe_factory(self, **options):
        return partial(self.pe_class, **options)

    def check_acts(self, codes, pe):
        return check_codes("activation", codes, bits=pe.act_element_bits, signed=pe.act_signed)

    def check_weights(self, codes, pe):
        return check_codes("weight", codes, bits=pe.weight_element_bits, signed=pe.weight_signed)

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
        variants=(("LUT W4A8", (("weight_bits", 4),)), ("LUT W2A8", (("weight_bits", 2),)),
                  ("LUT W1A8", (("weight_bits", 1),))),
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
        variants=(("OVP W4A4", ()), ("OVP W4A4 flint4", (("mode", "flint4"),)),
                  ("OVP W8A8", (("mode", "int8"),))),
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
        variants=(("W4A8 g128 (MixPE)", (("weight_bits", 4), ("group_size", 128))),),
        extra_operand=shiftadd_extra_operand,
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
        variants=(("BitMoD mixed4 W4A8 g128", (("weight_format", "mixed4"), ("group_size", 128))),
                  ("BitMoD mixed3 W3A8 g128", (("weight_format", "mixed3"), ("group_size", 128))),
                  ("BitMoD INT8 Booth g128", (("weight_format", "int8"), ("group_size", 128)))),
        extra_operand=bitserial_extra_operand,
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
        variants=(("BitMoD mixed4 W4A16 (FP16 act)", (("weight_format", "mixed4"),)),),
        random_codes=random_fp16_operands,
        dataflows=("os",),
    ),
}


def get_kind(name):
    try:
        return PE_KINDS[name]
    except KeyError:
        raise ValueError(f"unknown PE kind {name!r}; known kinds: {', '.join(PE_KINDS)}") from None
