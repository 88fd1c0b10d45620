"""A design point: which PE kind, array shape, dataflow and buffer depths; its Verilog."""

import functools
import hashlib
from dataclasses import dataclass, field, replace

from amaranth.back import verilog

from hw.accelerator import Accelerator
from hw.layout import GemmLayout
from hw.pe import facts_only
from .cycles import ArrayTiming, check_countable
from .registry import get_kind

TOP_NAME = "top"


def _pow2_at_least(n):
    return 1 << max(0, (int(n) - 1).bit_length())


@dataclass(frozen=True)
class DesignConfig:
    """Everything that determines the generated Verilog. ``pe_options`` is a tuple of
    (name, value) pairs passed to the PE class (e.g. ``(("acc_width", 32),)``); ``tile`` the
    array's broadcast tiles ``(tile_rows, tile_cols)`` (:class:`hw.array.SystolicArray`; (1, 1)
    is the plain systolic array and leaves the slug, hence every cached build, unchanged)."""
    pe: str
    rows: int
    cols: int
    dataflow: str = "ws"
    act_depth: int = 64
    weight_depth: int = 64
    out_depth: int = 64
    pe_options: tuple = field(default=())
    tile: tuple = (1, 1)
    outlier_depth: int = None       # GOBO's outlier buffer words (None: the accelerator's default)

    def __post_init__(self):
        # one design, one slug and one build whatever order the options were given in
        object.__setattr__(self, "pe_options", tuple(sorted(tuple(self.pe_options))))
        # a list from JSON or the command line is the same design as the tuple
        if isinstance(self.tile, list):
            object.__setattr__(self, "tile", tuple(self.tile))

    @classmethod
    def sized_for(cls, pe, rows, cols, dataflow, m, k, n, pe_options=(), tile=(1, 1)):
        """Buffers just large enough for one GEMM, each depth rounded up to a power of two so
        nearby GEMM sizes share one cached Verilator build."""
        kind = get_kind(pe)
        layout = GemmLayout(rows, cols, dataflow, kind.prototype(**dict(pe_options)).k_per_step, m, k, n)
        return cls(pe, rows, cols, dataflow, _pow2_at_least(layout.act_depth),
                   _pow2_at_least(layout.weight_depth), _pow2_at_least(layout.out_depth),
                   tuple(pe_options), tuple(tile))

    def fitted_to(self, operands):
        """This design with an outlier buffer deep enough for ``operands``' outlier list (GOBO:
        ``operands.extra``; a power of two, as the other buffers of :meth:`sized_for`); any other
        design unchanged. ValueError when a buffer cannot hold the GEMM."""
        need = self.facts.outlier_words(self.layout(*operands.shape), operands.extra)
        if need > self.facts.outlier_depth:
            return replace(self, outlier_depth=_pow2_at_least(need))
        return self

    @property
    def kind(self):
        return get_kind(self.pe)

    def accelerator(self):
        extra = {} if self.outlier_depth is None else {"outlier_depth": self.outlier_depth}
        return Accelerator(self.kind.pe_factory(**dict(self.pe_options)), rows=self.rows,
                           cols=self.cols, dataflow=self.dataflow, act_depth=self.act_depth,
                           weight_depth=self.weight_depth, out_depth=self.out_depth, tile=self.tile,
                           **extra)

    @functools.cached_property
    def facts(self):
        """An accelerator instance to read timing and width properties from (never elaborated)."""
        acc = facts_only(self.accelerator())
        facts_only(acc.array)
        return acc

    def timing(self):
        return ArrayTiming.of(self.facts)

    def layout(self, m, k, n):
        """The :class:`hw.layout.GemmLayout` of an (M x K) @ (K x N) run on this design;
        ValueError when a buffer cannot hold it or the cycle counter cannot count it."""
        acc = self.facts
        layout = GemmLayout(self.rows, self.cols, self.dataflow, acc.pe.k_per_step, m, k, n)
        for name in ("act", "weight", "out"):
            need, have = getattr(layout, f"{name}_depth"), getattr(acc, f"{name}_depth")
            if need > have:
                raise ValueError(f"GEMM {m}x{k}x{n} needs {need} {name} buffer words, "
                                 f"the design has {have}")
        check_countable(self.timing(), m, k, n)
        return layout

    @property
    def slug(self):
        opts = "".join(f"_{k}{v}" for k, v in self.pe_options)
        tile = "" if tuple(self.tile) == (1, 1) else f"_t{self.tile[0]}x{self.tile[1]}"
        outliers = "" if self.outlier_depth is None else f"_q{self.outlier_depth}"
        return (f"{self.pe}_{self.dataflow}_{self.rows}x{self.cols}{tile}"
                f"_a{self.act_depth}_w{self.weight_depth}_o{self.out_depth}{outliers}{opts}")

    def verilog(self):
        """Verilog text of the accelerator; byte-identical across runs (no source locations).
        Generated once per design per process (a 16x16 array takes 12-23 s)."""
        return _verilog_text(self)


@functools.lru_cache(maxsize=32)
def _verilog_text(design):
    return verilog.convert(design.accelerator(), name=TOP_NAME, emit_src=False)


def verilog_hash(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]
