"""GEMM cases of the MX / NVFP4 design (output-stationary only), run on the golden model,
Amaranth's simulator (small arrays) and Verilator: every format on random codes (valid element
codes with a quarter special values, E8M0 scales near 2**0 with a fifth at the extremes 0, 1,
253, 254; NVFP4 E4M3 scales over their range), K' not a whole number of blocks, GEMV, and real
MiniLM layer-0 tensors through the MX / NVFP4 quantisers. K here is the lane axis K' (sub-block
lanes of element codes, each followed by its scale-slot code, ``models/mx_gemm.py``).

Verilator builds three designs by default (three formats: MXFP8 E4M3 and NVFP4 on random codes and
MiniLM, MXFP8 E5M2 -- the widest block sums -- on a GEMV); the rest run in the full sweep
(``slow``). Amaranth's simulator runs every format on random codes and three more on MiniLM by
default (:data:`AMARANTH_MINILM`)."""

from dataclasses import dataclass

from hw.pe_mx import FORMATS
from models.realdata import real_gemm
from models.registry import get_kind
from tests.cases import GemmCase, shared_design

DATAFLOWS = get_kind("mx").dataflows


@dataclass(frozen=True)
class MxCase(GemmCase):
    pe: str = "mx"
    float_k: int = 0            # MiniLM cases: K of the float tensors (K' follows from it)

    def design(self, cases=None):
        return shared_design(self, cases or MX_CASES)

    def make_operands(self):
        if self.operands.startswith("minilm"):
            linear = "ffn2" if self.operands == "minilm-ffn2" else "ffn1"
            acts, weights = real_gemm(f"minilm:L0.{linear}", self.m, self.float_k, self.n)
            ops = get_kind(self.pe).operands(acts, weights, self.design().facts.pe)
            return ops.acts, ops.weights
        return super().make_operands()


def _case(name, r, c, m, k, n, fmt, ops="random", sweep_only=True, seed=0, float_k=0):
    return MxCase(name, r, c, DATAFLOWS[0], m, k, n, ops, seed, pe_options=(("format", fmt),),
                  sweep_only=sweep_only, float_k=float_k)


def _lanes(fmt, blocks):
    """K' of ``blocks`` whole blocks of ``fmt`` at the default sub-block."""
    pe = get_kind("mx").prototype(format=fmt)
    return blocks * pe.steps_per_block * pe.k_per_step


VERILATOR_FORMATS = ("mxfp8-e4m3", "nvfp4")
#: MiniLM in Amaranth's simulator by default (about 10 s each): the formats Verilator does not run
#: on MiniLM by default; the rest with ``slow``
AMARANTH_MINILM = ("mxfp4", "mxfp6-e2m3", "mxint8")

MX_CASES = tuple(
    # every format: 3 whole blocks and a partial fourth (its cut lane ends the block with the
    # scale code the padding leaves)
    [_case("ragged", 2, 3, 5, _lanes(fmt, 3) + 7, 4, fmt, seed=i,
           sweep_only=fmt not in VERILATOR_FORMATS)
     for i, fmt in enumerate(FORMATS)]
    + [_case("gemv", 2, 2, 1, _lanes("mxfp8-e5m2", 2), 3, "mxfp8-e5m2", seed=9, sweep_only=False),
       _case("m<rows", 3, 2, 2, _lanes("mxfp6-e3m2", 5), 5, "mxfp6-e3m2", seed=10)]
    # real MiniLM tensors (K 384: 12 MX blocks, 24 NVFP4 blocks)
    + [_case("minilm", 2, 3, 6, _lanes(fmt, 384 // FORMATS[fmt].block), 6, fmt, ops="minilm",
             sweep_only=fmt not in VERILATOR_FORMATS, float_k=384)
       for fmt in FORMATS]
    + [_case("minilm-ffn2", 2, 3, 6, _lanes("mxint8", 10), 6, "mxint8", ops="minilm-ffn2",
             float_k=300)]
)
