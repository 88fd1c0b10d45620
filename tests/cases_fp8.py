"""GEMM cases of the FP8 PE (both formats, both dataflows), run on the golden model, Amaranth's
simulator (small arrays) and Verilator.

Operands:

* ``random``: uniform draws over the format's valid codes with every special value placed in
  each operand (+-0, smallest / largest subnormal, smallest normal, +-max normal);
* ``extremes``: mostly +-max normal (the largest products, both signs) with zeros and the
  smallest subnormal (the smallest product, one accumulator unit) mixed in;
* ``minilm`` / ``minilm-ffn2``: real MiniLM layer-0 tensors as floats (``real_gemm``), quantised by
  the kind's quantisers when the run's operands are built.
"""

from dataclasses import dataclass

import numpy as np

from models.fp8_gemm import get_format
from models.realdata import real_gemm
from tests.cases import GemmCase, shared_design


@dataclass(frozen=True)
class Fp8Case(GemmCase):
    pe: str = "fp8"

    def design(self, cases=None):
        # the generic helper: buffers sized for the largest case of one design, k_per_step
        # read from the kind
        return shared_design(self, cases or FP8_CASES)

    @property
    def format(self):
        return dict(self.pe_options)["format"]

    def make_job_operands(self):
        """(acts, weights, None): codes, or the real tensors as floats (quantised by the run)."""
        if self.operands.startswith("minilm"):
            layer = "ffn2" if self.operands == "minilm-ffn2" else "ffn1"
            return (*real_gemm(f"minilm:L0.{layer}", self.m, self.k, self.n), None)
        return (*self.make_operands(), None)

    def make_operands(self):
        """Element codes (real tensors through the kind's quantisers)."""
        if self.operands.startswith("minilm"):
            acts, weights, _ = self.make_job_operands()
            pe = self.design().facts.pe
            ops = self.design().kind.operands(acts, weights, pe)
            return ops.acts, ops.weights
        if self.operands == "extremes":
            rng = np.random.default_rng(self.seed)
            mx = get_format(self.format).max_normal_code
            corners = np.array([mx, mx, mx, 0x80 | mx, 0x80 | mx, 0, 0x80, 1, 0x81])
            return (rng.choice(corners, size=(self.m, self.k)),
                    rng.choice(corners, size=(self.k, self.n)))
        return super().make_operands()


def _case(name, r, c, df, m, k, n, fmt, ops="random", sweep_only=False, seed=0):
    return Fp8Case(name, r, c, df, m, k, n, ops, seed, pe_options=(("format", fmt),),
                   sweep_only=sweep_only)


FP8_CASES = tuple(
    # both formats x both dataflows, ragged shapes, small enough for Amaranth's simulator;
    # Verilator builds three of them by default (each is its own design), the rest in the sweep
    [_case("ragged", 2, 3, df, 5, 9, 4, fmt, seed=i,
           sweep_only=(fmt, df) not in (("e4m3", "ws"), ("e4m3", "os"), ("e5m2", "os")))
     for i, (fmt, df) in enumerate((f, d) for f in ("e4m3", "e5m2") for d in ("ws", "os"))]
    + [_case("extremes", 2, 2, df, 6, 12, 3, fmt, ops="extremes",
             sweep_only=(fmt, df) != ("e4m3", "ws"))
       for fmt in ("e4m3", "e5m2") for df in ("ws", "os")]
    + [_case("m1", 3, 2, "os", 1, 7, 5, "e4m3", seed=5, sweep_only=True)]
    # real MiniLM layer-0 tensors on 8x8 (ragged k tiles), both formats and dataflows
    + [_case("minilm", 8, 8, df, 20, 100, 24, fmt, ops="minilm", sweep_only=(fmt, df) != ("e4m3", "ws"))
       for fmt in ("e4m3", "e5m2") for df in ("ws", "os")]
    + [_case("minilm-ffn2", 8, 8, "os", 20, 300, 24, "e4m3", ops="minilm-ffn2")]
)
