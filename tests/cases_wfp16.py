"""GEMM cases of the weight-only FP16-activation design (every weight format, both dataflows), run
on the golden model, Amaranth's simulator (small arrays) and Verilator.

Operands: ``random`` (FP16 codes over every finite exponent with the special codes: zeros of both
signs, subnormals, max normal; weight codes over the whole range with the format's extremes, OVP
victims and largest outliers), ``extremes`` (+-max normal FP16 x the most negative / largest
weight codes: the largest products), and real MiniLM layer-0 tensors quantised by the kind's
quantisers (``minilm``: FFN1; ``minilm-ffn2``: the heavy-outlier FFN2 weights). Verilator builds three
designs by default (ovp4 ws, int4 os, int4 g8 ws); the others run in the sweep (``slow``)."""

from dataclasses import dataclass

import numpy as np

from models.wfp16_gemm import special_weight_codes
from models.realdata import real_gemm
from tests.cases import REAL_TENSORS, GemmCase, shared_design

MAX_NORMAL = 0x7BFF


@dataclass(frozen=True)
class Wfp16Case(GemmCase):
    pe: str = "wfp16"

    def design(self, cases=None):
        return shared_design(self, cases or WFP16_CASES)

    def make_job_operands(self):
        """(acts, weights, None): codes, or the real tensors as floats, quantised when the run's
        operands are built (so a grouped design takes the quantiser's scale codes)."""
        if self.operands in REAL_TENSORS:
            return (*real_gemm(REAL_TENSORS[self.operands], self.m, self.k, self.n), None)
        return (*self.make_operands(), None)

    def make_operands(self):
        """Element codes (real tensors through the kind's quantisers)."""
        if self.operands in REAL_TENSORS:
            acts, weights, _ = self.make_job_operands()
            ops = self.design().kind.operands(acts, weights, self.design().facts.pe)
            return ops.acts, ops.weights
        if self.operands == "extremes":
            rng = np.random.default_rng(self.seed)
            acts = np.array([MAX_NORMAL, MAX_NORMAL | 0x8000, 0x0001, 0x8000])
            weights = special_weight_codes(self.design().facts.pe)[:2]
            return rng.choice(acts, size=(self.m, self.k)), rng.choice(weights, size=(self.k, self.n))
        return super().make_operands()


def _case(name, r, c, df, m, k, n, fmt, ops="random", default=False, seed=0, group=None):
    options = (("weight_format", fmt),) + ((("group_size", group),) if group else ())
    return Wfp16Case(name, r, c, df, m, k, n, ops, seed, pe_options=options, sweep_only=not default)


WFP16_CASES = (
    # ovp4 ws on 4x4 (k_per_step 2, odd K): the default Verilator design, random and real FFN2
    _case("ragged", 4, 4, "ws", 9, 13, 7, "ovp4", default=True),
    _case("minilm-ffn2", 4, 4, "ws", 8, 64, 8, "ovp4", ops="minilm-ffn2", default=True),
    # int4 os on 3x2: the second default design, random, extremes and real FFN1
    _case("ragged", 3, 2, "os", 7, 13, 5, "int4", default=True, seed=1),
    _case("extremes", 3, 2, "os", 5, 9, 3, "int4", ops="extremes", default=True, seed=2),
    _case("minilm", 3, 2, "os", 6, 40, 5, "int4", ops="minilm", default=True),
    # per-group INT8 scale codes after the array (ws): int4 g8 on 4x4, a partial last group;
    # default scale codes for random codes, the quantiser's for real FFN1 tensors (g16)
    _case("ragged", 4, 4, "ws", 6, 29, 5, "int4", default=True, seed=9, group=8),
    _case("minilm", 4, 4, "ws", 6, 64, 5, "int4", ops="minilm", default=True, group=8),
    _case("minilm", 4, 4, "ws", 6, 100, 6, "int8", ops="minilm", group=16),
    # the rest: every format in both dataflows, in the sweep
    _case("ragged", 2, 3, "ws", 5, 9, 4, "int4", seed=3),
    _case("ragged", 2, 3, "ws", 5, 9, 4, "int8", seed=4),
    _case("extremes", 2, 3, "ws", 6, 12, 3, "int8", ops="extremes", seed=5),
    _case("ragged", 3, 2, "os", 7, 11, 5, "int8", seed=6),
    _case("ragged", 3, 2, "os", 7, 11, 5, "ovp4", seed=7),
    _case("extremes", 3, 2, "os", 5, 10, 3, "ovp4", ops="extremes", seed=8),
    _case("minilm", 8, 8, "ws", 20, 100, 24, "int8", ops="minilm"),
    _case("minilm-ffn2", 8, 8, "os", 12, 300, 16, "ovp4", ops="minilm-ffn2"),
)
