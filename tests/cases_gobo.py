"""GEMM cases of the GOBO design (output-stationary only), run on the golden model, Amaranth's
simulator (small arrays) and Verilator: random FP16 activations (every finite exponent, a
quarter special codes) with random 4-bit weight codes (a quarter outlier-flagged) and a random
FP16 dictionary per case (so the table register is loaded with different values each run), K
not a multiple of the array's rows, GEMV, and real MiniLM layer-0 tensors (whole-tensor GOBO
quantisation of the sliced weights, FP16 activations, the quantiser's dictionary and outlier
list, through the accelerator's outlier pass).

Outlier cases (``outliers...``: an outlier list loaded into the outlier buffer, every listed
weight outlier-flagged, FP16 values drawn from the extremes: largest normals, smallest and
largest subnormals, signed zeros, 1.0, and random patterns): ``outliers`` every flagged weight of
random codes listed; ``outliers-none`` no flagged weight and an empty list (every n tile a
pass-through entry); ``outliers-col`` exactly one outlier per output column; ``outliers-row``
a whole weight row (one k, every n) plus a whole column (every k of one n); ``outliers-dense``
three quarters of the weights flagged on a short K, so the pass is slower than the array."""

from dataclasses import dataclass, replace

import numpy as np

from hw.pe_gobo import OUTLIER_FLAG_BIT
from models.fp16_gemm import random_fp16_operands
from models.gobo_format import GoboDictionary
from models.gobo_gemm import random_dictionary
from models.realdata import real_gemm
from models.registry import get_kind
from tests.cases import GemmCase, shared_design

DATAFLOWS = get_kind("gobo").dataflows


@dataclass(frozen=True)
class GoboCase(GemmCase):
    pe: str = "gobo"

    def design(self, cases=None):
        # an outlier buffer as deep as the weight buffer: the outlier cases list up to a quarter
        # of the weights, beyond the default's one entry per 64 weights
        design = shared_design(self, cases or GOBO_CASES)
        return replace(design, outlier_depth=design.weight_depth)

    def _real(self):
        linear = "ffn2" if self.operands == "minilm-ffn2" else "ffn1"
        acts, weights = real_gemm(f"minilm:L0.{linear}", self.m, self.k, self.n)
        return get_kind(self.pe).operands(acts, weights, self.design().facts.pe)

    def _with_outliers(self):
        """(acts, weights, dictionary with its outlier list) of an ``outliers...`` case."""
        rng = np.random.default_rng(self.seed)
        acts, _ = random_fp16_operands(rng, self.m, self.k, 1, None)
        weights = rng.integers(0, 1 << OUTLIER_FLAG_BIT, size=(self.k, self.n))
        flags = np.zeros((self.k, self.n), dtype=bool)
        if self.operands == "outliers":
            flags = rng.random((self.k, self.n)) < 0.25
        elif self.operands == "outliers-dense":
            flags = rng.random((self.k, self.n)) < 0.75
        elif self.operands == "outliers-col":
            flags[rng.integers(0, self.k, size=self.n), np.arange(self.n)] = True
        elif self.operands == "outliers-row":
            flags[self.k // 2, :] = flags[:, self.n // 2] = True
        weights = np.where(flags, 1 << OUTLIER_FLAG_BIT, weights)
        extremes = np.array([0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0000, 0x8000, 0x3C00])
        ks, ns = np.nonzero(flags)
        values = np.where(rng.random(len(ks)) < 0.5, rng.choice(extremes, size=len(ks)),
                          random_fp16_operands(rng, 1, max(1, len(ks)), 1, None)[0][0, :len(ks)])
        table = random_dictionary(rng)
        return acts, weights, GoboDictionary(table.centroids, tuple(zip(ks, ns, values)))

    def make_operands(self):
        if self.operands.startswith("minilm"):
            ops = self._real()
            return ops.acts, ops.weights
        if self.operands.startswith("outliers"):
            return self._with_outliers()[:2]
        return super().make_operands()

    def make_job_operands(self):
        if self.operands.startswith("minilm"):
            ops = self._real()
            return ops.acts, ops.weights, ops.extra
        if self.operands.startswith("outliers"):
            return self._with_outliers()
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
    # the outlier pass, on the ragged 3x2 design's build (n tiles of 2 and 1 columns, m tiles
    # with padding rows)
    _case("outliers", 3, 2, 7, 13, 5, ops="outliers", seed=4),
    _case("outliers-none", 3, 2, 4, 9, 3, ops="outliers-none", seed=5),
    _case("outliers-col", 3, 2, 5, 11, 5, ops="outliers-col", seed=6),
    _case("outliers-row", 3, 2, 7, 12, 4, ops="outliers-row", seed=7),
    # the pass as the bottleneck: each fold's ~9 entries + 6 cycles outlast its 6-step fold, so
    # folds wait in the output buffer for the pass
    _case("outliers-dense", 3, 2, 7, 6, 4, ops="outliers-dense", seed=8),
)
