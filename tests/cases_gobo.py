"""GEMM cases of the GOBO design (output-stationary only), run on the golden model, Amaranth's
simulator (small arrays) and Verilator: random FP16 activations (every finite exponent, a
quarter special codes) with random 4-bit weight codes (a quarter outlier-flagged) and a random
FP16 dictionary per case (so the table register is loaded with different values each run), K
not a multiple of the array's rows, GEMV, and real MiniLM layer-0 tensors (whole-tensor GOBO
quantisation of the sliced weights, FP16 activations, the quantiser's dictionary)."""

from dataclasses import dataclass

import numpy as np

from models.gobo_gemm import random_dictionary
from models.realdata import real_gemm
from models.registry import get_kind
from tests.cases import GemmCase, shared_design

DATAFLOWS = get_kind("gobo").dataflows


@dataclass(frozen=True)
class GoboCase(GemmCase):
    pe: str = "gobo"

    def design(self, cases=None):
        return shared_design(self, cases or GOBO_CASES)

    def _real(self):
        linear = "ffn2" if self.operands == "minilm-ffn2" else "ffn1"
        acts, weights = real_gemm(f"minilm:L0.{linear}", self.m, self.k, self.n)
        return get_kind(self.pe).operands(acts, weights, self.design().facts.pe)

    def make_operands(self):
        if self.operands.startswith("minilm"):
            ops = self._real()
            return ops.acts, ops.weights
        return super().make_operands()

    def make_job_operands(self):
        if self.operands.startswith("minilm"):
            ops = self._real()
            return ops.acts, ops.weights, ops.extra
        # the dictionary from a stream of its own, so the operands match make_operands()
        return (*self.make_operands(), random_dictionary(np.random.default_rng((self.seed, 1))))


def _case(name, r, c, m, k, n, ops="random", sweep_only=False, seed=0):
    return GoboCase(name, r, c, DATAFLOWS[0], m, k, n, ops, seed, sweep_only=sweep_only)


# Verilator builds two designs by default (ragged 3x2, MiniLM 4x4); tiny and GEMV run in
# Amaranth's simulator by default and in Verilator in the sweep (CI time)
GOBO_CASES = (
    _case("tiny", 1, 1, 2, 5, 2, sweep_only=True),
    _case("ragged", 3, 2, 7, 13, 5, seed=1),
    _case("gemv", 2, 3, 1, 9, 4, seed=2, sweep_only=True),
    _case("ragged", 4, 4, 9, 40, 11, seed=3, sweep_only=True),
    _case("minilm", 4, 4, 12, 384, 8, ops="minilm"),
    _case("minilm-ffn2", 4, 4, 8, 300, 8, ops="minilm-ffn2", sweep_only=True),
)
