"""GEMM cases of the FP16 x FP16 -> FP32 design (output-stationary only), run on the golden model,
Amaranth's simulator (small arrays) and Verilator: random FP16 codes over every finite exponent
with a quarter special codes (zeros of both signs, subnormals, max normal), K not a multiple of
the array's rows, GEMV, and real MiniLM layer-0 tensors (FP16, no scale)."""

from dataclasses import dataclass

from models.realdata import real_gemm
from models.registry import get_kind
from tests.cases import GemmCase, shared_design

DATAFLOWS = get_kind("fp16").dataflows


@dataclass(frozen=True)
class Fp16Case(GemmCase):
    pe: str = "fp16"

    def design(self, cases=None):
        return shared_design(self, cases or FP16_CASES)

    def make_operands(self):
        if self.operands.startswith("minilm"):
            linear = "ffn2" if self.operands == "minilm-ffn2" else "ffn1"
            acts, weights = real_gemm(f"minilm:L0.{linear}", self.m, self.k, self.n)
            ops = get_kind(self.pe).operands(acts, weights, self.design().facts.pe)
            return ops.acts, ops.weights
        return super().make_operands()


def _case(name, r, c, m, k, n, ops="random", sweep_only=False, seed=0):
    return Fp16Case(name, r, c, DATAFLOWS[0], m, k, n, ops, seed, sweep_only=sweep_only)


FP16_CASES = (
    _case("tiny", 1, 1, 2, 5, 2),
    _case("ragged", 3, 2, 7, 13, 5, seed=1),
    _case("gemv", 2, 3, 1, 9, 4, seed=2),
    _case("ragged", 4, 4, 9, 40, 11, seed=3, sweep_only=True),
    _case("minilm", 4, 4, 12, 384, 8, ops="minilm"),
    _case("minilm-ffn2", 4, 4, 8, 300, 8, ops="minilm-ffn2", sweep_only=True),
)
