"""How many buffers a broadcast wire's tree needs: pure arithmetic, no liberty (its cell figures
are :mod:`models.fanout`'s; this module stays import-free so :mod:`models.inventory` can count
trees without the synthesis modules).

The tree's source flop drives at most :data:`STAGE_FANOUT` pins itself; a fan-out ``f`` needs
``ceil(log_k f) - 1`` levels of buffers (k = ``STAGE_FANOUT``): the level next to the sinks
``ceil(f / k)`` buffers, the next ``ceil(that / k)``, ... Why k = 4: the fan-out-of-4 stage
(logical effort's optimum stage effort is about 4: Sutherland, Sproull & Harris, *Logical
Effort*, 1999, ch. 3); the liberty has no opinion on it.
"""

import math

#: pins one buffer (or the tree's source flop) drives: fan-out of 4 (see the module docstring)
STAGE_FANOUT = 4


def tree_levels(fanout, k=STAGE_FANOUT):
    """Buffer levels between a broadcast wire's source flop and its ``fanout`` sinks:
    ``ceil(log_k fanout) - 1`` (0 when the flop drives them all itself, fanout <= k)."""
    if fanout < 1 or k < 2:
        raise ValueError(f"fanout must be >= 1 and k >= 2, not {fanout}, {k}")
    levels, n = 0, fanout
    while n > k:
        n = math.ceil(n / k)
        levels += 1
    return levels


def tree_buffers(fanout, k=STAGE_FANOUT):
    """Buffers of one bit's tree to ``fanout`` sinks: ``ceil(f/k) + ceil(f/k^2) + ...`` over
    :func:`tree_levels` levels (0 for fanout <= k)."""
    total, n = 0, fanout
    for _ in range(tree_levels(fanout, k)):
        n = math.ceil(n / k)
        total += n
    return total
