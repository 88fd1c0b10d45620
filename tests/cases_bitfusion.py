"""GEMM cases of the BitFusion design (one Fusion Unit per array slot, ``k_per_step`` = f
products per step), run on the golden model, Amaranth's simulator (small arrays) and Verilator.
Kept apart from :mod:`tests.cases`; designs are shared among these cases the same way.

Every registered precision in both dataflows, K not a multiple of f (the last step's idle
products take zero codes), ``extremes`` (mostly each operand's most negative code) and real MiniLM
tensors through the kind's quantisers. Verilator builds one design by default (the widest lanes,
W2A2 os: 16 products per step; ~40 s on a loaded machine); the rest run in the sweep. Output-stationary cases
keep S = ceil(K / f) >= 2 * rows - 2 (see :mod:`tests.cases_ant`: with several folds and fewer
steps the array returns wrong later-fold outputs, for every kind; not this kind's to fix).
"""

from dataclasses import dataclass

from tests.cases import GemmCase, shared_design


@dataclass(frozen=True)
class BitFusionCase(GemmCase):
    pe: str = "bitfusion"

    def design(self, cases=None):
        return shared_design(self, cases or BITFUSION_CASES)


def _bits(act, weight):
    return (("act_bits", act), ("weight_bits", weight))


BITFUSION_CASES = tuple(
    [BitFusionCase("ragged", 4, 4, "ws", 9, 11, 10, sweep_only=True),              # W8A8, f 1
     BitFusionCase("ragged", 2, 3, "os", 5, 70, 4, pe_options=_bits(2, 2)),         # f 16, S 5
     BitFusionCase("ragged", 4, 4, "os", 9, 23, 10, pe_options=_bits(8, 4), sweep_only=True),
     BitFusionCase("extremes", 3, 2, "ws", 7, 13, 3, "extremes", pe_options=_bits(4, 4),
                   sweep_only=True),
     BitFusionCase("extremes", 4, 4, "os", 8, 24, 8, "extremes", sweep_only=True),
     BitFusionCase("ragged", 3, 2, "ws", 6, 37, 5, pe_options=_bits(2, 2), sweep_only=True),
     BitFusionCase("extremes", 2, 2, "os", 4, 9, 3, "extremes", pe_options=_bits(4, 4), sweep_only=True)]
    # the other fused modes: 2/8 and 8/2 (4 products), 4/8 (2), 2/4 (8)
    + [BitFusionCase("ragged", 3, 2, df, 7, 30, 3, pe_options=_bits(a, w), sweep_only=True)
       for df, a, w in (("ws", 8, 2), ("os", 2, 8), ("ws", 4, 8), ("os", 2, 4))]
    + [BitFusionCase("tiny", 1, 1, df, 3, 5, 2, sweep_only=True) for df in ("ws", "os")]
    + [BitFusionCase("minilm", 8, 8, df, 20, 64, 24, "minilm", pe_options=_bits(8, 4), sweep_only=True)
       for df in ("ws", "os")]
)
