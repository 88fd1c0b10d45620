"""The PE registry: one entry per PE kind ties its hardware class to its golden model and formats.

Adding a kind is a local change: write ``hw/pe_<kind>.py`` (a :class:`hw.pe.ProcessingElement`),
its golden twin and quantiser in ``models/``, and one :class:`PEKind` entry here.
"""

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from hw.pe_int8 import Int8PE
from .golden import gemm_int, check_codes
from .intcodes import quantize_symmetric


@dataclass(frozen=True)
class PEKind:
    name: str
    description: str
    pe_class: type
    # (acts codes M x K, weights codes K x N, pe) -> exact integer output the RTL must produce
    golden_gemm: Callable
    # float M x K -> (codes, meta dict); float K x N -> (codes, meta dict)
    quantize_acts: Callable
    quantize_weights: Callable
    # integer codes -> validated int64 codes (ValueError naming the problem otherwise)
    check_acts: Callable
    check_weights: Callable

    def random_operands(self, rng, m, k, n, **options):
        """Uniform random codes over each operand's full range (extremes included)."""
        pe = self.prototype(**options)
        return (_uniform_codes(rng, (m, k), pe.act_width // pe.k_per_step, pe.act_signed),
                _uniform_codes(rng, (k, n), pe.weight_width // pe.k_per_step, pe.weight_signed))

    def prototype(self, **options):
        """An instance to read the contract properties from (never elaborated)."""
        pe = self.pe_class(**options)
        pe._MustUse__silence = True
        return pe

    def pe_factory(self, **options):
        return partial(self.pe_class, **options)


def _uniform_codes(rng, shape, bits, signed):
    lo = -(1 << (bits - 1)) if signed else 0
    return rng.integers(lo, lo + (1 << bits), size=shape)


def _int8_golden(acts, weights, pe):
    return gemm_int(acts, weights, pe.acc_width)


PE_KINDS = {
    "int8": PEKind(
        name="int8",
        description="INT8 x INT8 -> INT32 MAC (TPU-style baseline)",
        pe_class=Int8PE,
        golden_gemm=_int8_golden,
        quantize_acts=partial(quantize_symmetric, bits=8, axis=None),
        quantize_weights=partial(quantize_symmetric, bits=8, axis=0),
        check_acts=partial(check_codes, "activation", bits=8),
        check_weights=partial(check_codes, "weight", bits=8),
    ),
}


def get_kind(name):
    try:
        return PE_KINDS[name]
    except KeyError:
        raise ValueError(f"unknown PE kind {name!r}; known kinds: {', '.join(PE_KINDS)}") from None
