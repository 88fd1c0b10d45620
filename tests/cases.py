"""The table of GEMM cases every backend runs: the golden model, Amaranth's simulator (small
arrays) and Verilator (all). Designs are shared between cases of one (PE, options, shape,
dataflow), with buffers sized for the largest of them, so a test session builds each design once
(:func:`shared_design`, also used by the other kinds' tables, ``tests/cases_*.py``)."""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hw.layout import GemmLayout
from models.cycles import gemm_cycles
from models.design import DesignConfig, _pow2_at_least
from models.ovp_gemm import outlier_operands
from models.realdata import real_gemm
from models.registry import get_kind

# Cases small enough for Amaranth's simulator (~7k cycles/s on a 4x4 array).
# operand sources of real tensors: MiniLM-L6 layer 0 FFN1, and FFN2 (the heavy-outlier weights,
# max/std 175, with their forward-pass inputs)
REAL_TENSORS = {"minilm": "minilm:L0.ffn1", "minilm-ffn2": "minilm:L0.ffn2"}
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
    operands: str = "random"    # random | extremes | minilm | minilm-ffn2 | ovp-outliers
    seed: int = 0
    pe: str = "int8"
    pe_options: tuple = ()      # (name, value) pairs, e.g. (("weight_bits", 2),)
    sweep_only: bool = False    # Verilator runs it only in the full sweep (Amaranth always runs it)
    tile: tuple = (1, 1)        # the array's broadcast tiles (tile_rows, tile_cols)

    @property
    def id(self):
        opts = "".join(f"-{k}{v}" for k, v in self.pe_options)
        tile = "" if self.tile == (1, 1) else f"-t{self.tile[0]}x{self.tile[1]}"
        return (f"{self.pe}{opts}-{self.dataflow}-{self.rows}x{self.cols}{tile}-"
                f"{self.m}x{self.k}x{self.n}-{self.name}")

    def design(self, cases=None):
        return shared_design(self, cases or CASES)

    def make_operands(self):
        kind = get_kind(self.pe)
        pe = self.design().facts.pe
        rng = np.random.default_rng(self.seed)
        if self.operands == "random":
            return kind.random_operands(rng, self.m, self.k, self.n, pe)
        if self.operands == "extremes":
            # mostly each operand's most negative code (-128 x -128 for INT8), a few other corners
            def corners(bits, signed):
                lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
                return np.array([lo, lo, lo, hi, hi, 0, 1 if hi >= 1 else 0] + ([-1] if signed else []))
            return (rng.choice(corners(pe.act_element_bits, pe.act_signed), size=(self.m, self.k)),
                    rng.choice(corners(pe.weight_element_bits, pe.weight_signed), size=(self.k, self.n)))
        if self.operands in REAL_TENSORS:
            acts, weights = real_gemm(REAL_TENSORS[self.operands], self.m, self.k, self.n, np.float32)
            return kind.quantize_acts(acts, pe)[0], kind.quantize_weights(weights, pe)[0]
        if self.operands == "ovp-outliers":
            return outlier_operands(rng, self.m, self.k, self.n, self.rows * pe.k_per_step, pe.mode)
        raise ValueError(f"unknown operand source {self.operands!r}")

    def make_job_operands(self):
        """(acts codes, weights codes, extra operand or None): what a run loads."""
        return (*self.make_operands(), None)

    @property
    def amaranth_sized(self):
        return self.rows * self.cols <= AMARANTH_MAX_PES and _model_cycles(self) <= AMARANTH_MAX_CYCLES


def _model_cycles(case):
    return gemm_cycles(case.design().timing(), case.m, case.k, case.n).cycles


def shared_design(case, cases):
    """The design ``case`` runs on: the one of its (PE, options, shape, dataflow, tile) among
    ``cases``, its buffers deep enough for the largest of them."""
    return _shared_design(case.pe, case.pe_options, case.rows, case.cols, case.dataflow, case.tile,
                          tuple(cases))


@lru_cache(maxsize=None)
def _shared_design(pe, pe_options, rows, cols, dataflow, tile, cases):
    # the layout's K mapping is the kind's fact (k_per_step of the PE with these options)
    k_per_step = get_kind(pe).prototype(**dict(pe_options)).k_per_step
    key = (pe, pe_options, rows, cols, dataflow, tile)
    layouts = [GemmLayout(rows, cols, dataflow, k_per_step, c.m, c.k, c.n) for c in cases
               if (c.pe, c.pe_options, c.rows, c.cols, c.dataflow, c.tile) == key]
    depth = {b: _pow2_at_least(max(getattr(l, f"{b}_depth") for l in layouts))
             for b in ("act", "weight", "out")}
    return DesignConfig(pe, rows, cols, dataflow, depth["act"], depth["weight"], depth["out"],
                        pe_options, tile)


CASES = tuple(
    [GemmCase("tiny", 1, 1, df, 3, 5, 2) for df in ("ws", "os")]
    + [GemmCase("ragged", 2, 3, "ws", 5, 7, 4), GemmCase("unit", 2, 3, "ws", 1, 1, 1),
       GemmCase("ragged", 3, 2, "os", 7, 5, 3), GemmCase("m1", 3, 2, "os", 1, 4, 5)]
    + [GemmCase(name, 4, 4, df, m, k, n, ops)
       for df in ("ws", "os")
       for name, m, k, n, ops in (("ragged", 9, 10, 11, "random"), ("extremes", 8, 12, 8, "extremes"),
                                  ("m<rows", 2, 9, 6, "random"))]
    + [GemmCase("issue", 8, 8, df, 37, 53, 29) for df in ("ws", "os")]
    # GEMV (M = 1, an LLM decode step) and 1x1x1 GEMMs: one-word buffers (hw/buffer.py). Each on
    # an array shape of its own, so its shared design keeps the one-word depths (the depth-1
    # test in tests/test_gemm.py checks they do): ws GEMV K = rows (act 1, out 1 word), os GEMV,
    # 1x1x1 in both dataflows (every buffer one word), and M = 1 on one row (ws fold interval 1:
    # the one output word is read-modified-written every cycle)
    + [GemmCase("gemv", 4, 3, "ws", 1, 4, 3), GemmCase("gemv", 3, 4, "os", 1, 3, 4),
       GemmCase("1x1x1", 1, 2, "ws", 1, 1, 1), GemmCase("1x1x1", 1, 2, "os", 1, 1, 1),
       GemmCase("m1-every-cycle", 1, 3, "ws", 1, 5, 2)]
    # output-stationary with few K steps per fold (S < 2R - 2): the previous fold's drain must
    # end before the next fold's captures (it once moved the new sums: two wrong words in 4x1)
    + [GemmCase("few-steps", 4, 1, "os", 8, 4, 1), GemmCase("few-steps", 5, 2, "os", 11, 3, 3),
       GemmCase("few-steps", 4, 2, "os", 9, 8, 3, pe="lut", pe_options=(("weight_bits", 2),))]
    + [GemmCase("minilm", 8, 8, df, 20, 64, 24, "minilm") for df in ("ws", "os")]
    + [GemmCase("ragged", 16, 16, "ws", 40, 70, 33), GemmCase("m<rows", 16, 16, "ws", 3, 40, 20),
       GemmCase("extremes", 16, 16, "ws", 17, 33, 17, "extremes"),
       GemmCase("ragged", 16, 16, "os", 33, 50, 40)]
    # LUT PE: every weight-bit setting, ragged K (not a multiple of 4), both dataflows; each is a
    # separate design, so Verilator runs two of the eight by default and the rest in the sweep
    + [GemmCase("ragged", 2, 3, df, 5, 7, 4, pe="lut", pe_options=(("weight_bits", b),),
                sweep_only=(df, b) not in (("ws", 1), ("os", 3)))
       for b in (1, 2, 3, 4) for df in ("ws", "os")]
    + [GemmCase("extremes", 4, 4, "ws", 9, 18, 10, "extremes", pe="lut", pe_options=(("weight_bits", 4),)),
       GemmCase("m<rows", 4, 4, "os", 3, 17, 9, pe="lut", pe_options=(("weight_bits", 2),))]
    + [GemmCase("minilm", 8, 8, df, 20, 64, 24, "minilm", pe="lut", pe_options=(("weight_bits", b),))
       for df, b in (("ws", 4), ("os", 2))]
    # LUT GEMV (k_per_step 4): ws, K one fold (one-word act and out buffers); os on one row, K
    # one step (every buffer one word)
    # ws with few tokens per fold (S * II < the fold interval) and a multi-cycle PE (W4: L = II
    # = 4): fold f + 2 rewrites fold f's weight bank while the bottom rows, skewed by r * L, still
    # read it unless the interval covers the skew (two wrong words in two when it was R)
    + [GemmCase("few-tokens", 4, 2, "ws", m, k, n, pe="lut", pe_options=(("weight_bits", 4),))
       for m, k, n in ((1, 40, 3), (2, 33, 2))]
    + [GemmCase("gemv", 2, 2, "ws", 1, 8, 2, pe="lut", pe_options=(("weight_bits", 2),)),
       GemmCase("gemv", 1, 2, "os", 1, 4, 2, pe="lut", pe_options=(("weight_bits", 3),),
                sweep_only=True)]
    # OliVe OVP PE (both operands OVP-coded, pairs along K): random nibbles (every pair byte:
    # normals, outlier + victim, double victim), synthetic outliers next to their victims at
    # k-tile edges with two-outlier pairs, odd K (the layout's zero pad), real MiniLM L0 FFN2
    # (ragged k tiles), both dataflows; int4 (default), flint4 and the 8-bit mode. Verilator builds
    # five designs by default (ovp ws/os 4x4, ovp ws 8x8, flint4 os 3x2, int8 ws 2x3), the rest
    # run in the sweep.
    + [GemmCase("ragged", 4, 4, df, 9, 11, 10, pe="ovp") for df in ("ws", "os")]
    + [GemmCase("outliers", 4, 4, "ws", 7, 33, 9, "ovp-outliers", pe="ovp"),
       GemmCase("outliers", 4, 4, "os", 6, 25, 5, "ovp-outliers", pe="ovp", seed=1),
       GemmCase("m<rows", 4, 4, "os", 2, 16, 7, pe="ovp"),
       GemmCase("gemv", 2, 2, "ws", 1, 4, 2, pe="ovp"),     # M = 1, K one fold: one-word act, out
       GemmCase("minilm-ffn2", 8, 8, "ws", 20, 250, 24, "minilm-ffn2", pe="ovp"),
       GemmCase("minilm-ffn2", 8, 8, "os", 20, 251, 24, "minilm-ffn2", pe="ovp", sweep_only=True)]
    + [GemmCase(name, r, c, df, m, k, n, ops, pe="ovp", pe_options=(("mode", mode),),
                sweep_only=(mode, df) not in (("flint4", "os"), ("int8", "ws")))
       for mode in ("flint4", "int8")
       for name, r, c, df, m, k, n, ops in (("outliers", 2, 3, "ws", 5, 13, 4, "ovp-outliers"),
                                            ("ragged", 3, 2, "os", 7, 9, 3, "random"))]
    + [GemmCase("minilm-ffn2", 8, 8, "ws", 20, 250, 24, "minilm-ffn2", pe="ovp",
                pe_options=(("mode", mode),), sweep_only=True) for mode in ("flint4", "int8")]
)
