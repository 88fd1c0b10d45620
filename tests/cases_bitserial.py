"""GEMM cases of the BitMoD bit-serial design, run on the golden model, Amaranth's simulator (small
arrays) and Verilator (a few designs by default, the rest in the sweep).

Each case names its weight format (every format: int8 / int6 Booth, fp4 / fp3, mixed4 / mixed3
with all four special values) and its operands:

* ``random``: uniform codes over the whole code range -- for the mixed formats every element
  carries its own selector, so all four special values (and the plain ``-0`` code of fp4/fp3) occur;
* ``extremes``: mostly the corner codes (INT8 -128 x -128 and friends);
* ``minilm`` / ``minilm-ffn2``: real MiniLM layer-0 tensors through the BitMoD quantiser (groups
  and special values chosen by the golden model's format), scale codes from its metadata.

Grouped cases (``group_size`` set) run weight-stationary with per-group scale codes (random ones
for synthetic operands, always including the extremes 1 and 255); ``group_size`` None is the raw
integer GEMM, both dataflows.
"""

from dataclasses import dataclass

import numpy as np

from models.bitserial_gemm import bitserial_extra_operand
from models.realdata import real_gemm
from models.registry import get_kind
from tests.cases import REAL_TENSORS, GemmCase, shared_design

# grouped designs run the kind's preferred dataflow (weight-stationary); raw ones every dataflow
DATAFLOWS = get_kind("bitserial").dataflows
# the FP16-activation mode: the kind's only dataflow (output-stationary)
FP16_DATAFLOWS = get_kind("bitserial_fp16").dataflows


@dataclass(frozen=True)
class BitSerialCase(GemmCase):
    pe: str = "bitserial"

    def design(self, cases=None):
        return shared_design(self, cases or BITSERIAL_CASES)

    def make_job_operands(self):
        """(acts codes, weights codes, extra operand or None) of the case."""
        kind = get_kind(self.pe)
        pe = self.design().facts.pe
        if self.operands in REAL_TENSORS:
            acts_f, weights_f = real_gemm(REAL_TENSORS[self.operands], self.m, self.k, self.n, np.float32)
            acts, a_meta = kind.quantize_acts(acts_f, pe)
            weights, w_meta = kind.quantize_weights(weights_f, pe)
            return acts, weights, bitserial_extra_operand(acts, weights, pe, a_meta, w_meta)
        acts, weights = self.make_operands()
        return acts, weights, bitserial_extra_operand(acts, weights, pe)


def _case(name, r, c, m, k, n, fmt, group, ops="random", dataflow=DATAFLOWS[0], sweep_only=True, seed=0):
    return BitSerialCase(name, r, c, dataflow, m, k, n, ops, seed,
                         pe_options=(("group_size", group), ("weight_format", fmt)),
                         sweep_only=sweep_only)


FORMAT_NAMES = ("int8", "int6", "fp4", "fp3", "mixed4", "mixed3")

BITSERIAL_CASES = tuple(
    # every format, grouped (groups of 2 folds, the last one partial) and raw in both dataflows,
    # small enough for Amaranth's simulator; Verilator runs one of each term count by default
    [_case("ragged-groups", 2, 3, 5, 11, 4, fmt, 4, sweep_only=fmt not in ("int8", "fp3", "mixed4"))
     for fmt in FORMAT_NAMES]
    + [_case("raw", 3, 2, 5, 9, 3, fmt, None, dataflow=df,
             sweep_only=(fmt, df) not in (("int6", "os"), ("mixed3", "ws")))
       for fmt in FORMAT_NAMES for df in DATAFLOWS]
    + [_case("extremes", 2, 2, 6, 12, 3, fmt, 2, ops="extremes") for fmt in ("int8", "int6", "mixed4")]
    + [_case("g=fold", 1, 1, 3, 5, 2, "mixed4", 1),                      # every K element a group
       _case("m1-back-to-back", 2, 2, 1, 9, 3, "fp3", 2)]                # II 1: a word every 2 cycles
    # few tokens per fold on 4 rows of int8 (L = II = 4): the fold interval must cover the rows'
    # skew before fold f + 2 rewrites fold f's weight bank (hw.array min_fold_interval)
    + [_case("few-tokens", 4, 2, m, 13, 2, "int8", None, dataflow="ws", sweep_only=False)
       for m in (1, 2)]
    # real MiniLM tensors through the BitMoD quantiser (the golden model's group and SV choice),
    # with the paper's group of 128: 16 k folds per group on 8x8, groups straddling n tiles
    + [_case("minilm", 8, 8, 20, 384, 24, "mixed4", 128, ops="minilm", sweep_only=False),
       _case("minilm-ffn2", 8, 8, 20, 300, 24, "mixed4", 128, ops="minilm-ffn2", sweep_only=False),
       _case("ragged", 8, 8, 37, 300, 29, "mixed4", 128, sweep_only=False),
       _case("minilm-ffn2", 8, 8, 20, 300, 24, "mixed3", 128, ops="minilm-ffn2"),
       _case("minilm", 8, 8, 20, 256, 24, "int8", 128, ops="minilm"),
       _case("minilm", 4, 4, 6, 64, 8, "fp4", 16, ops="minilm"),
       _case("minilm-raw", 4, 4, 6, 40, 8, "int6", None, ops="minilm", dataflow="os")]
)


# ---------------------------------------------------------------------------------------------
# the FP16-activation mode (output-stationary only): random FP16 activations over every finite
# exponent (subnormals, zeros), K not a multiple of the 4-way step, real MiniLM tensors


@dataclass(frozen=True)
class BitSerialFp16Case(GemmCase):
    pe: str = "bitserial_fp16"

    def design(self, cases=None):
        return shared_design(self, cases or BITSERIAL_FP16_CASES)


def _fp16_case(name, r, c, m, k, n, fmt, ops="random", sweep_only=True, seed=0):
    return BitSerialFp16Case(name, r, c, FP16_DATAFLOWS[0], m, k, n, ops, seed,
                             pe_options=(("weight_format", fmt),), sweep_only=sweep_only)


BITSERIAL_FP16_CASES = tuple(
    [_fp16_case("ragged", 2, 3, 5, 23, 4, fmt, sweep_only=fmt not in ("mixed4", "int8"), seed=i)
     for i, fmt in enumerate(FORMAT_NAMES)]
    + [_fp16_case("m1", 3, 2, 1, 40, 5, "fp3", seed=7),
       _fp16_case("minilm", 4, 4, 12, 384, 8, "mixed4", ops="minilm", sweep_only=False),
       _fp16_case("minilm-ffn2", 4, 4, 8, 300, 8, "mixed3", ops="minilm-ffn2")]
)
