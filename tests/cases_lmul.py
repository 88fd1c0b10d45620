"""GEMM cases of the L-Mul PE: the FP8 case table's operand sources (random valid codes with every
special value, extremes, real MiniLM tensors) on the L-Mul kind, both formats and dataflows."""

from dataclasses import dataclass

from tests.cases import shared_design
from tests.cases_fp8 import Fp8Case


@dataclass(frozen=True)
class LmulCase(Fp8Case):
    pe: str = "lmul"

    def design(self, cases=None):
        return shared_design(self, cases or LMUL_CASES)


def _case(name, r, c, df, m, k, n, fmt, ops="random", sweep_only=False, seed=0):
    return LmulCase(name, r, c, df, m, k, n, ops, seed, pe_options=(("format", fmt),),
                    sweep_only=sweep_only)


LMUL_CASES = tuple(
    # Verilator builds three designs by default (each case here is its own design), the rest in
    # the sweep; Amaranth's simulator runs every small one
    [_case("ragged", 2, 3, df, 5, 9, 4, fmt, seed=10 + i,
           sweep_only=(fmt, df) not in (("e4m3", "os"), ("e5m2", "ws")))
     for i, (fmt, df) in enumerate((f, d) for f in ("e4m3", "e5m2") for d in ("ws", "os"))]
    + [_case("extremes", 2, 2, df, 6, 12, 3, fmt, ops="extremes", sweep_only=True)
       for fmt in ("e4m3", "e5m2") for df in ("ws", "os")]
    + [_case("minilm", 8, 8, df, 20, 100, 24, fmt, ops="minilm", sweep_only=(fmt, df) != ("e4m3", "ws"))
       for fmt in ("e4m3", "e5m2") for df in ("ws", "os")]
)
