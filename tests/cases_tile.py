"""GEMM cases of broadcast-tiled arrays (``SystolicArray(tile=...)``): the same golden models and
runners as the untiled tables, on arrays whose operands are broadcast inside a tile.

Verilator runs by default: INT8 ws tile (1, 4) (activations broadcast across a row of 4), LUT ws
tile (1, 4) (the precomputed table broadcast across the tile's columns, LUT Tensor Core's
arrangement) and bit-serial os tile (2, 2) (BitMoD: weights broadcast down a column tile,
activations along a row tile). The sweep adds other tile shapes, output-stationary cases with fewer
K steps per fold than the drain needs (the fold interval is the array's ``min_fold_interval``,
derived from the tile counts), whole-array tiles, and grouped weight-stationary designs (the
row-sum lane's deskew counts column tiles).
"""

from dataclasses import dataclass

from tests.cases import GemmCase, shared_design
from tests.cases_bitserial import BitSerialCase
from tests.cases_shiftadd import ShiftAddCase, _opts


class _TileTable:
    def design(self, cases=None):
        return shared_design(self, cases or TILE_CASES)


@dataclass(frozen=True)
class TileCase(_TileTable, GemmCase):
    pass


@dataclass(frozen=True)
class TileBitSerialCase(_TileTable, BitSerialCase):
    pass


@dataclass(frozen=True)
class TileShiftAddCase(_TileTable, ShiftAddCase):
    pass


_LUT2 = (("weight_bits", 2),)


def _bitserial(name, r, c, df, m, k, n, tile, fmt="int6", group=None, sweep_only=True):
    return TileBitSerialCase(name, r, c, df, m, k, n, pe_options=(("group_size", group), ("weight_format", fmt)),
                             sweep_only=sweep_only, tile=tile)


TILE_CASES = (
    TileCase("ragged", 4, 4, "ws", 9, 10, 11, tile=(1, 4)),
    TileCase("ragged", 4, 4, "ws", 9, 10, 11, "extremes", seed=1, tile=(1, 2), sweep_only=True),
    TileCase("m1", 2, 4, "ws", 1, 7, 6, tile=(1, 2), sweep_only=True),
    TileCase("ragged", 4, 4, "ws", 9, 18, 10, pe="lut", pe_options=_LUT2, tile=(1, 4)),
    TileCase("ragged", 2, 4, "os", 5, 9, 7, pe="lut", pe_options=_LUT2, tile=(2, 2), sweep_only=True),
    _bitserial("ragged", 4, 4, "os", 9, 20, 7, (2, 2), sweep_only=False),
    _bitserial("ragged", 4, 4, "os", 9, 20, 7, (4, 4)),
    _bitserial("ragged", 4, 4, "os", 6, 13, 9, (4, 2), fmt="mixed4"),
    _bitserial("ragged-groups", 2, 4, "ws", 5, 11, 6, (1, 2), fmt="mixed4", group=4),
    # os with fewer K steps per fold than the fold interval: the drain of one fold against the
    # next fold's captures (R + row_tiles - 1 cycles with tall tiles, 2R - 2 untiled)
    TileCase("few-steps", 4, 4, "os", 9, 4, 6, tile=(2, 2), sweep_only=True),
    TileCase("few-steps", 4, 1, "os", 8, 3, 1, tile=(4, 1), sweep_only=True),
    TileCase("few-steps", 4, 2, "os", 9, 2, 3, tile=(2, 1), sweep_only=True),
    TileCase("few-steps", 4, 4, "os", 9, 3, 8, tile=(1, 4), sweep_only=True),
    TileShiftAddCase("ragged-groups", 2, 4, "ws", 5, 13, 6, tile=(1, 2), sweep_only=True,
                     pe_options=_opts(4)),
)
