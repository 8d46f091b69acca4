"""NetAdapt's choice of how many filters to remove from one prunable group.

The groups (:class:`Group`, :func:`prunable_groups`) are :mod:`edgeloop.models.prunable`'s,
the ones ``filter_prune`` narrows too.

For one group, the proposal keeps the most filters (removes the fewest) such that the
model's latency meets the iteration's target; widths are tried on a grid (multiples of
``step``) by bisection, which assumes latency does not grow when filters are removed.
"""

from __future__ import annotations

import bisect
from typing import Callable

from edgeloop.models.prunable import Group, prunable_groups

__all__ = ["Group", "fewest_removed", "narrowed", "prunable_groups", "width_grid"]


def width_grid(width: int, step: int, min_channels: int) -> list[int]:
    """Widths below ``width`` a proposal may take, widest first: multiples of ``step``.

    When ``width`` is not a multiple of ``step`` the first choice rounds it down to one.
    """
    top = (width - 1) // step * step
    return [w for w in range(top, 0, -step) if w >= min_channels]


def fewest_removed(
    width: int, step: int, min_channels: int, latency_at: Callable[[int], float], target_ms: float
) -> tuple[int, float] | None:
    """The widest grid width whose latency meets ``target_ms``, with that latency.

    Bisection over :func:`width_grid`: latency is taken not to grow as width falls, so each
    probe halves the range. ``None`` when even the narrowest width misses the target.
    """
    grid = width_grid(width, step, min_channels)
    if not grid:
        return None
    seen: dict[int, float] = {}

    def meets(i: int) -> bool:
        if grid[i] not in seen:
            seen[grid[i]] = latency_at(grid[i])
        return seen[grid[i]] <= target_ms

    if not meets(len(grid) - 1):
        return None
    # The first index that meets it: bisection over 0 .. len - 2 (the last is known to meet it).
    first = bisect.bisect_left(range(len(grid) - 1), True, key=meets)
    return grid[first], seen[grid[first]]


def narrowed(model, fractions: float | list[float]):
    """``model`` with every prunable group cut to a fraction of its width (filters by L1 norm).

    ``fractions`` is one fraction for all groups or one per group (in
    :func:`prunable_groups` order); a group keeps at least one filter.
    """
    from edgeloop.models import shrink

    groups = prunable_groups(model)
    if isinstance(fractions, (int, float)):
        fractions = [float(fractions)] * len(groups)
    channels = {g.name: max(1, int(round(g.width * f))) for g, f in zip(groups, fractions)}
    return shrink(model, {g.name: channels[g.name] for g in groups if channels[g.name] < g.width})
