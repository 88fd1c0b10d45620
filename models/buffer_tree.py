"""A broadcast wire's buffer tree: how many buffers, what they cost and what delay they add, from
the osu018 figures :mod:`models.tech` records (``osu018.BUFX4.*``; :mod:`models.fanout` re-derives
them from the liberty and checks them against OpenSTA). It imports no synthesis module, so
:mod:`models.inventory` and :mod:`models.cost_primitives` can use it without the tools.

The tree's source flop drives at most :data:`STAGE_FANOUT` pins itself; a fan-out ``f`` needs
``ceil(log_k f) - 1`` levels of buffers (k = ``STAGE_FANOUT``): the level next to the sinks
``ceil(f / k)`` buffers, the next ``ceil(that / k)``, ... Why k = 4: the fan-out-of-4 stage
(logical effort's optimum stage effort is about 4: Sutherland, Sproull & Harris, *Logical
Effort*, 1999, ch. 3); the liberty has no opinion on it.
"""

import math

from .tech import value as tv

#: the buffer cell the trees are built of (osu018's strongest buffer)
BUFFER_CELL = "BUFX4"

#: pins one buffer (or the tree's source flop) drives: fan-out of 4 (see the module docstring)
STAGE_FANOUT = 4


def level_sizes(fanout, k=STAGE_FANOUT):
    """Buffers per level of a ``fanout``-way broadcast's tree, from the level next to the sinks:
    ``ceil(f / k)``, ``ceil(that / k)``, ... while the previous level has more than ``k`` pins
    to drive (empty when the source flop drives them all itself, fanout <= k)."""
    if fanout < 1 or k < 2:
        raise ValueError(f"fanout must be >= 1 and k >= 2, not {fanout}, {k}")
    sizes, n = [], fanout
    while n > k:
        n = math.ceil(n / k)
        sizes.append(n)
    return sizes


def tree_levels(fanout, k=STAGE_FANOUT):
    """Buffer levels between a broadcast wire's source flop and its ``fanout`` sinks:
    ``ceil(log_k fanout) - 1`` (0 when the flop drives them all itself, fanout <= k)."""
    return len(level_sizes(fanout, k))


def tree_buffers(fanout, k=STAGE_FANOUT):
    """Buffers of one bit's tree to ``fanout`` sinks: ``ceil(f/k) + ceil(f/k^2) + ...`` over
    :func:`tree_levels` levels (0 for fanout <= k)."""
    return sum(level_sizes(fanout, k))


def tree_delay_ns(fanout, k=STAGE_FANOUT):
    """Delay the tree of a ``fanout``-way broadcast adds to a path from its source flop, at
    osu018: :func:`tree_levels` x one level's delay (``osu018.BUFX4.fo4_delay``, recorded for
    k = 4)."""
    if k != STAGE_FANOUT:
        raise ValueError(f"the recorded level delay is for fan-out {STAGE_FANOUT} stages, not {k}")
    return tree_levels(fanout, k) * tv(f"osu018.{BUFFER_CELL}.fo4_delay")


def tiled_fmax_mhz(fmax_mhz, fanout):
    """An osu018 unit Fmax lowered by a ``fanout``-way broadcast tree in front of it (the unit's
    critical path taken to start at the broadcast operand: an upper bound on the loss)."""
    return 1000.0 / (1000.0 / fmax_mhz + tree_delay_ns(fanout))
