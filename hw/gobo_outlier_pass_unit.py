"""GOBO's outlier pass alone, for synthesis: :func:`hw.gobo_outlier_pass.elaborate_outlier_pass`
(its tile register, sequencer and R-lane :class:`hw.gobo_outlier.GoboOutlierUnit`) with the
accelerator's buffer ports it uses brought out as ports, so Yosys sees exactly the logic the
accelerator adds for the pass and no buffer (the cost model prices buffers as SRAM).

Ports (unsigned; the buffers' read data arrives one cycle after ``*_rd_addr`` / ``*_rd_en``, as a
:class:`amaranth.lib.memory.Memory` read port gives it):

* ``starting`` In(1), ``fold_written`` In(1), ``finished`` Out(1): the accelerator's run start,
  the array's last row write of a fold, the pass's last output write
  (:func:`~hw.gobo_outlier_pass.elaborate_outlier_pass`).
* ``cfg_stream_len``, ``cfg_fold_outer``, ``cfg_fold_inner`` In: the accelerator's configuration.
* ``outlier_rd_*``, ``act_rd_*``, ``out_rd_*``: read ports (``addr``, ``en`` out, ``data`` in) of
  the outlier, activation and output buffers; ``out_wr_*``: the output buffer's write port
  (``addr``, ``data``, ``en`` out).
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fp32_add import FP32_WIDTH
from .gobo_outlier import FP16_WIDTH, GoboOutlierUnit
from .gobo_outlier_pass import elaborate_outlier_pass, entry_width


class _Port:
    """A buffer port as the pass sees it (``addr``, ``en``, ``data``): the component's own ports."""

    def __init__(self, addr, en, data):
        self.addr, self.en, self.data = addr, en, data


class _Buffer:
    def __init__(self, read, write=None):
        self._read, self._write = read, write

    def read_port(self):
        return self._read

    def write_port(self):
        return self._write


class GoboOutlierPassUnit(wiring.Component):
    """The outlier pass of a ``rows`` x ``cols`` GOBO design whose activation, output and outlier
    buffers hold ``act_depth``, ``out_depth`` and ``outlier_depth`` words, alone. Keyword-only;
    ``outlier_unit`` is the R-lane unit the accelerator would hold (read by the cost model's
    :func:`models.inventory.outlier_items`, as the accelerator's)."""

    def __init__(self, *, rows, cols, act_depth=16, out_depth=16, outlier_depth=16):
        self.rows, self.cols, self.act_depth = rows, cols, act_depth
        self.outlier_unit = GoboOutlierUnit(lanes=rows)
        count = range(max(act_depth, out_depth, outlier_depth) + 1)
        bits = lambda depth: range(max(depth, 2))
        super().__init__({
            "starting": In(1), "fold_written": In(1), "finished": Out(1),
            "cfg_stream_len": In(count), "cfg_fold_outer": In(count), "cfg_fold_inner": In(count),
            "outlier_rd_addr": Out(bits(outlier_depth)), "outlier_rd_en": Out(1),
            "outlier_rd_data": In(entry_width(act_depth, cols)),
            "act_rd_addr": Out(bits(act_depth)), "act_rd_en": Out(1), "act_rd_data": In(rows * FP16_WIDTH),
            "out_rd_addr": Out(bits(out_depth)), "out_rd_en": Out(1), "out_rd_data": In(cols * FP32_WIDTH),
            "out_wr_addr": Out(bits(out_depth)), "out_wr_en": Out(1), "out_wr_data": Out(cols * FP32_WIDTH),
        })

    def elaborate(self, platform):
        m = Module()
        port = lambda name: _Port(*(getattr(self, f"{name}_{f}") for f in ("addr", "en", "data")))
        mems = {"outlier": _Buffer(port("outlier_rd")), "act": _Buffer(port("act_rd")),
                "out": _Buffer(port("out_rd"), port("out_wr"))}
        finished = elaborate_outlier_pass(m, self, self.outlier_unit, mems, self.starting, self.fold_written)
        m.d.comb += self.finished.eq(finished)
        return m
