"""GEMM cases of the MixPE shift-add design (grouped dequantisation), run on the golden model,
Amaranth's simulator (small arrays) and Verilator (one 8x8 design by default, the rest in the
sweep). Kept apart from :mod:`tests.cases`; the cases share designs among themselves the same way.

Each case also names its dequantisation parameters (``params``):

* ``default``: the reproducible pseudo-random parameters (random zero points over the whole code
  range, i.e. asymmetric weights; log-uniform scales, a quarter exact powers of two: rounding ties);
* ``requant``: the same plus a per-column INT8 requantisation;
* ``saturate``: requantisation scales 8x too large for the output, so many outputs clamp;
* ``meta`` / ``meta-requant``: derived from the quantisers' metadata (real tensors only), without /
  with the dynamic INT8 requantisation.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from models.quant.shiftadd import dyadic_params
from models.realdata import real_gemm
from models.registry import get_kind
from models.shiftadd_gemm import default_params, requant_scale_for, shiftadd_extra_operand
from tests.cases import REAL_TENSORS, GemmCase, shared_design

# grouped designs run weight-stationary only: the kind's preferred dataflow
DATAFLOW = get_kind("shiftadd").dataflows[0]

PARAMS = ("default", "requant", "saturate", "meta", "meta-requant")


@dataclass(frozen=True)
class ShiftAddCase(GemmCase):
    pe: str = "shiftadd"
    params: str = "default"

    @property
    def id(self):
        return f"{super().id}-{self.params}"

    def design(self, cases=None):
        return shared_design(self, cases or SHIFTADD_CASES)

    def make_job_operands(self):
        """(acts codes, weights codes, DequantParams) of the case."""
        kind = get_kind(self.pe)
        pe = self.design().facts.pe
        if self.params not in PARAMS:
            raise ValueError(f"unknown params {self.params!r}")
        if self.operands in REAL_TENSORS:
            acts_f, weights_f = real_gemm(REAL_TENSORS[self.operands], self.m, self.k, self.n, np.float32)
            acts, a_meta = kind.quantize_acts(acts_f, pe)
            weights, w_meta = kind.quantize_weights(weights_f, pe)
            if not self.params.startswith("meta"):
                raise ValueError("real-tensor cases use the quantisers' parameters (meta, meta-requant)")
            return acts, weights, shiftadd_extra_operand(acts, weights, pe, a_meta, w_meta,
                                                         requant=self.params == "meta-requant")
        if self.params.startswith("meta"):
            raise ValueError("meta parameters need a real-tensor operand source")
        acts, weights = self.make_operands()
        params = default_params(self.k, self.n, pe, requant=self.params != "default")
        if self.params == "saturate":
            # one per-tensor requantisation scale 8x what the largest output needs
            b, c = dyadic_params(8 * requant_scale_for(acts, weights, params, pe))
            params = dataclasses.replace(params, out_mult=np.full(self.n, b), out_shift=np.full(self.n, c))
        return acts, weights, params


def _opts(group, bits=4, signed=False):
    return (("group_size", group), ("weight_bits", bits)) + ((("weight_signed", True),) if signed else ())


def _case(name, r, c, m, k, n, group, ops="random", params="default", bits=4, signed=False,
          sweep_only=True, seed=0):
    return ShiftAddCase(name, r, c, DATAFLOW, m, k, n, ops, seed, pe_options=_opts(group, bits, signed),
                        sweep_only=sweep_only, params=params)


SHIFTADD_CASES = (
    # small arrays (Amaranth; Verilator only in the sweep)
    _case("group=fold", 2, 3, 5, 7, 4, 2),                        # every k fold a group, ragged
    _case("g=4folds-partial", 2, 3, 5, 17, 4, 8, params="requant"),  # groups of 4 folds, last 1/8
    _case("signed-int4", 2, 3, 5, 12, 4, 4, signed=True),          # two's complement weights, z = 0
    _case("m1-back-to-back", 2, 2, 1, 9, 3, 2, params="requant"),  # fold interval R: same word every 2 cycles
    _case("int3", 3, 2, 7, 30, 5, 6, bits=3, params="requant"),
    _case("int2-m<rows", 4, 4, 3, 24, 6, 4, bits=2),
    _case("g=4folds-saturate", 4, 4, 9, 40, 11, 16, params="saturate"),
    _case("extremes", 4, 4, 8, 32, 8, 8, ops="extremes", params="requant"),
    _case("g=1", 1, 1, 3, 5, 2, 1, params="requant"),              # every K element its own group
    _case("g=3folds", 1, 1, 2, 7, 2, 3),
    # fold interval 1 (1x1, M = 1): the group and total buffers update the same word every cycle
    _case("every-cycle-total", 1, 1, 1, 7, 2, 1, params="requant"),
    _case("every-cycle-gacc", 1, 1, 1, 7, 2, 3, params="requant"),
    # the same on one-word group, total and output buffers (M = 1 sizes them to one word)
    _case("one-word-buffers", 1, 2, 1, 7, 2, 3, params="requant"),
    _case("minilm", 4, 4, 8, 64, 8, 16, ops="minilm", params="meta-requant"),
    # the 8x8 Verilator design: the MixPE default group of 128 (16 k folds per group)
    _case("minilm", 8, 8, 20, 384, 24, 128, ops="minilm", params="meta", sweep_only=False),
    _case("minilm-ffn2-requant", 8, 8, 20, 300, 24, 128, ops="minilm-ffn2", params="meta-requant",
          sweep_only=False),
    _case("ragged", 8, 8, 37, 300, 29, 128, params="requant", sweep_only=False),   # 3 groups, last 44
    _case("saturate", 8, 8, 9, 128, 8, 128, params="saturate", sweep_only=False),
    _case("m<rows", 8, 8, 3, 200, 10, 128, sweep_only=False),
)
