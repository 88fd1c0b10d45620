"""The table of GEMM cases every backend runs: the golden model, Amaranth's simulator (small
arrays) and Verilator (all). Designs are shared between cases of one (PE, shape, dataflow), with
buffers sized for the largest of them, so a test session builds each design once."""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hw.layout import GemmLayout
from models.registry import get_kind

from .design import DesignConfig, _pow2_at_least

# Cases small enough for Amaranth's simulator (~7k cycles/s on a 4x4 array).
AMARANTH_MAX_PES = 16
AMARANTH_MAX_CYCLES = 3000


@dataclass(frozen=True)
class GemmCase:
    name: str
    rows: int
    cols: int
    dataflow: str
    m: int
    k: int
    n: int
    operands: str = "random"    # random | extremes | minilm
    seed: int = 0
    pe: str = "int8"

    @property
    def id(self):
        return f"{self.pe}-{self.dataflow}-{self.rows}x{self.cols}-{self.m}x{self.k}x{self.n}-{self.name}"

    def design(self, cases=None):
        return _shared_design(self.pe, self.rows, self.cols, self.dataflow, tuple(cases or CASES))

    def make_operands(self):
        kind = get_kind(self.pe)
        rng = np.random.default_rng(self.seed)
        if self.operands == "random":
            return kind.random_operands(rng, self.m, self.k, self.n)
        if self.operands == "extremes":
            # most-negative products (-128 * -128) everywhere but a sprinkling of other corners
            values = np.array([-128, -128, -128, 127, -1, 0, 1])
            return (rng.choice(values, size=(self.m, self.k)), rng.choice(values, size=(self.k, self.n)))
        if self.operands == "minilm":
            from models.realdata import get_tensor
            acts = get_tensor("minilm:L0.ffn1.act")[:self.m, :self.k]
            weights = get_tensor("minilm:L0.ffn1").T[:self.k, :self.n]
            return kind.quantize_acts(acts)[0], kind.quantize_weights(weights)[0]
        raise ValueError(f"unknown operand source {self.operands!r}")

    @property
    def amaranth_sized(self):
        return self.rows * self.cols <= AMARANTH_MAX_PES and self.design().layout(
            self.m, self.k, self.n) and _model_cycles(self) <= AMARANTH_MAX_CYCLES


def _model_cycles(case):
    from models.cycles import gemm_cycles
    return gemm_cycles(case.design().timing(), case.m, case.k, case.n).cycles


@lru_cache(maxsize=None)
def _shared_design(pe, rows, cols, dataflow, cases):
    k_per_step = get_kind(pe).prototype().k_per_step
    layouts = [GemmLayout(rows, cols, dataflow, k_per_step, c.m, c.k, c.n) for c in cases
               if (c.pe, c.rows, c.cols, c.dataflow) == (pe, rows, cols, dataflow)]
    depth = {b: _pow2_at_least(max(getattr(l, f"{b}_depth") for l in layouts))
             for b in ("act", "weight", "out")}
    return DesignConfig(pe, rows, cols, dataflow, depth["act"], depth["weight"], depth["out"])


CASES = tuple(
    [GemmCase("tiny", 1, 1, df, 3, 5, 2) for df in ("ws", "os")]
    + [GemmCase("ragged", 2, 3, "ws", 5, 7, 4), GemmCase("unit", 2, 3, "ws", 1, 1, 1),
       GemmCase("ragged", 3, 2, "os", 7, 5, 3), GemmCase("m1", 3, 2, "os", 1, 4, 5)]
    + [GemmCase(name, 4, 4, df, m, k, n, ops)
       for df in ("ws", "os")
       for name, m, k, n, ops in (("ragged", 9, 10, 11, "random"), ("extremes", 8, 12, 8, "extremes"),
                                  ("m<rows", 2, 9, 6, "random"))]
    + [GemmCase("issue", 8, 8, df, 37, 53, 29) for df in ("ws", "os")]
    + [GemmCase("minilm", 8, 8, df, 20, 64, 24, "minilm") for df in ("ws", "os")]
    + [GemmCase("ragged", 16, 16, "ws", 40, 70, 33), GemmCase("m<rows", 16, 16, "ws", 3, 40, 20),
       GemmCase("extremes", 16, 16, "ws", 17, 33, 17, "extremes"),
       GemmCase("ragged", 16, 16, "os", 33, 50, 40)]
)
