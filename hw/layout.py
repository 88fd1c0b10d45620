"""The accelerator's memory map: how a GEMM's tensors are laid out in its buffers.

One place defines which buffer word holds which elements, the runtime configuration the sequencer
needs, and the buffer depths a GEMM requires; the CLI, the testbenches and the cycle model all read it.
The GEMM is ``Out[M, N] = A[M, K] @ W[K, N]``. Ragged edges are zero-padded in the buffers, so the
padded lanes contribute nothing and the padded output lanes are simply not read back.

Weight-stationary (ws), a fold = (n tile, k tile), folds ordered n tile outer, k tile inner:

* act word ``kt*M + m``: lane r = ``A[m, kt*R*g + r*g : +g]`` (g = ``k_per_step``)
* weight word ``(nt*k_tiles + kt)*R + r``: lane c = ``W[kt*R*g + r*g : +g, nt*C + c]``
* out word ``nt*M + m``: lane c = ``Out[m, nt*C + c]`` (accumulated over the k tiles in place)

Output-stationary (os), a fold = (m tile, n tile), folds ordered m tile outer, n tile inner:

* act word ``mt*S + s`` (S = K steps = ceil(K/g)): lane r = ``A[mt*R + r, s*g : +g]``
* weight word ``nt*S + s``: lane c = ``W[s*g : +g, nt*C + c]``
* out word ``(mt*n_tiles + nt)*R + row``: lane c = ``Out[mt*R + row, nt*C + c]``

The layout places element codes; the PE class turns a step's g codes into lane bits
(``act_lanes``/``weight_lanes``, by default element j at bits ``[j*e, (j+1)*e)``).

Grouped designs (ws with a post-array group dequantisation unit, :mod:`hw.group_dequant`, group
of G K elements, G a multiple of ``R*g`` so that a group is ``G/(R*g)`` whole k folds; the groups
start at k = 0 and the last one is zero-padded when G does not divide K; ``groups = ceil(K/G)``).
The parameter buffer holds ``n_tiles * (groups + 1)`` words, per n tile the groups' words and then
one requantisation word:

* param word ``nt*(groups+1) + gi``: lane c = ``(b, c, z)`` of group gi, column ``nt*C + c``
* param word ``nt*(groups+1) + groups``: lane c = ``(b_out, c_out, 0)`` of column ``nt*C + c``
  (all zero = no requantisation)
* out word ``nt*M + m`` as above, holding the dequantised total (or its INT8 requantisation),
  written once, after the n tile's last group. Padded columns get all-zero lanes.
"""

from dataclasses import dataclass
from math import ceil

import numpy as np

from .array import DATAFLOWS


def lane_words(lanes, lane_width):
    """(words, lanes) unsigned lane values (ints, any size) -> list of Python ints, lane i at bits
    [i*w, (i+1)*w)."""
    words = []
    for row in np.asarray(lanes, dtype=object).reshape(len(lanes), -1):
        word = 0
        for i, value in enumerate(row):
            word |= int(value) << (i * lane_width)
        words.append(word)
    return words


def unpack_words(words, lane_width, lanes, signed=True):
    """Inverse of :func:`lane_words`: list of ints -> (words, lanes) array of lane values (signed
    by default): int64, or Python ints (an object array) for lanes wider than 62 bits, e.g. an
    exact fixed-point accumulator."""
    if lane_width > 62:
        mask, half = (1 << lane_width) - 1, 1 << (lane_width - 1)
        values = np.array([[(int(w) >> (j * lane_width)) & mask for j in range(lanes)] for w in words],
                          dtype=object).reshape(len(words), lanes)
        return np.where(values >= half, values - (mask + 1), values) if signed else values
    nbytes = (lanes * lane_width + 7) // 8
    raw = np.frombuffer(b"".join(int(w).to_bytes(nbytes, "little") for w in words), dtype=np.uint8)
    bits = np.unpackbits(raw.reshape(len(words), nbytes), axis=1, bitorder="little")
    bits = bits[:, :lanes * lane_width].reshape(len(words), lanes, lane_width).astype(np.int64)
    values = (bits << np.arange(lane_width, dtype=np.int64)).sum(axis=2)
    if signed:
        values = np.where(values >= 1 << (lane_width - 1), values - (1 << lane_width), values)
    return values


@dataclass(frozen=True)
class GemmLayout:
    """Buffer layout and sequencer configuration of one GEMM on one array."""
    rows: int
    cols: int
    dataflow: str
    k_per_step: int
    m: int
    k: int
    n: int

    def __post_init__(self):
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, not {self.dataflow!r}")
        for name in ("rows", "cols", "k_per_step", "m", "k", "n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")

    k_steps = property(lambda self: ceil(self.k / self.k_per_step))
    k_tiles = property(lambda self: ceil(self.k_steps / self.rows))
    m_tiles = property(lambda self: ceil(self.m / self.rows))
    n_tiles = property(lambda self: ceil(self.n / self.cols))

    @property
    def stream_len(self):
        """Tokens per fold: M rows of A (ws) or K steps (os)."""
        return self.m if self.dataflow == "ws" else self.k_steps

    @property
    def fold_outer(self):
        return self.n_tiles if self.dataflow == "ws" else self.m_tiles

    @property
    def fold_inner(self):
        return self.k_tiles if self.dataflow == "ws" else self.n_tiles

    @property
    def folds(self):
        return self.fold_outer * self.fold_inner

    @property
    def act_depth(self):
        return self.k_tiles * self.m if self.dataflow == "ws" else self.m_tiles * self.k_steps

    @property
    def weight_depth(self):
        return self.folds * self.rows if self.dataflow == "ws" else self.n_tiles * self.k_steps

    @property
    def out_depth(self):
        return self.n_tiles * self.m if self.dataflow == "ws" else self.folds * self.rows

    def _padded(self, x, shape):
        out = np.zeros(shape, dtype=np.int64)
        out[:x.shape[0], :x.shape[1]] = x
        return out

    def act_lanes(self, acts):
        """A (M x K codes) -> (act_depth, rows) lane values, each lane holding g elements."""
        g, R, S = self.k_per_step, self.rows, self.k_steps
        if self.dataflow == "ws":
            a = self._padded(acts, (self.m, self.k_tiles * R * g))
            steps = a.reshape(self.m, self.k_tiles, R, g).transpose(1, 0, 2, 3)  # kt, m, r, g
        else:
            a = self._padded(acts, (self.m_tiles * R, S * g))
            steps = a.reshape(self.m_tiles, R, S, g).transpose(0, 2, 1, 3)  # mt, s, r, g
        return steps.reshape(-1, R, g)

    def weight_lanes(self, weights):
        """W (K x N codes) -> (weight_depth, cols, g) element values."""
        g, R, C, S = self.k_per_step, self.rows, self.cols, self.k_steps
        if self.dataflow == "ws":
            w = self._padded(weights, (self.k_tiles * R * g, self.n_tiles * C))
            steps = w.reshape(self.k_tiles, R, g, self.n_tiles, C).transpose(3, 0, 1, 4, 2)
        else:
            w = self._padded(weights, (S * g, self.n_tiles * C))
            steps = w.reshape(S, g, self.n_tiles, C).transpose(2, 0, 3, 1)  # nt, s, c, g
        return steps.reshape(-1, C, g)

    def group_folds(self, group_size):
        """k folds per group; ValueError unless ``group_size`` is a multiple of the K elements a
        fold maps (``rows * k_per_step``)."""
        per_fold = self.rows * self.k_per_step
        if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or \
                group_size < 1 or group_size % per_fold:
            raise ValueError(f"group size {group_size!r} must be a positive multiple of the K elements "
                             f"one fold maps (rows * k_per_step = {per_fold})")
        return group_size // per_fold

    def groups(self, group_size):
        """Groups along K (the last one zero-padded when ``group_size`` does not divide K)."""
        return ceil(self.k_tiles / self.group_folds(group_size))

    def param_depth(self, group_size):
        if self.dataflow != "ws":
            raise ValueError("group dequantisation is weight-stationary only")
        return self.n_tiles * (self.groups(group_size) + 1)

    def dequant_param_lanes(self, group_size, zero_point, mult, shift, out_mult=None, out_shift=None):
        """Per-(group, column) ``zero_point``/``mult``/``shift`` ((groups, N) integers) and the
        per-column requantisation ``out_mult``/``out_shift`` ((N,) or None) -> (param_depth, cols, 3)
        ``(b, c, z)`` lane values, placed as the module docstring says."""
        ng, C, nt = self.groups(group_size), self.cols, self.n_tiles
        z, b, c = (np.asarray(a, dtype=np.int64) for a in (zero_point, mult, shift))
        if z.shape != (ng, self.n) or b.shape != (ng, self.n) or c.shape != (ng, self.n):
            raise ValueError(f"group parameters must be (groups, N) = ({ng}, {self.n}) arrays, got "
                             f"{z.shape}, {b.shape}, {c.shape}")
        lanes = np.zeros((nt, ng + 1, C, 3), dtype=np.int64)
        groups = np.zeros((ng, nt * C, 3), dtype=np.int64)
        groups[:, :self.n] = np.stack([b, c, z], axis=-1)
        lanes[:, :ng] = groups.reshape(ng, nt, C, 3).transpose(1, 0, 2, 3)
        if out_mult is not None:
            req = np.zeros((nt * C, 3), dtype=np.int64)
            req[:self.n, 0] = np.asarray(out_mult, dtype=np.int64)
            req[:self.n, 1] = np.asarray(out_shift, dtype=np.int64)
            lanes[:, ng] = req.reshape(nt, C, 3)
        return lanes.reshape(nt * (ng + 1), C, 3)

    def out_matrix(self, lanes):
        """(out_depth, cols) output lane values -> Out (M x N)."""
        C = self.cols
        lanes = np.asarray(lanes).reshape(self.out_depth, C)
        if self.dataflow == "ws":
            full = lanes.reshape(self.n_tiles, self.m, C).transpose(1, 0, 2)
            full = full.reshape(self.m, self.n_tiles * C)
        else:
            R = self.rows
            full = lanes.reshape(self.m_tiles, self.n_tiles, R, C).transpose(0, 2, 1, 3)
            full = full.reshape(self.m_tiles * R, self.n_tiles * C)
        return full[:self.m, :self.n]
