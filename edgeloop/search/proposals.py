"""Prunable groups of a model and NetAdapt's choice of how many filters to remove from one.

A *group* is a set of Conv2D / Dense layers whose output channels are tied (a residual
``Add`` ties them; a plain layer is a group of one), as :func:`edgeloop.models.shrink`
sees them. Groups tied to the model's input or output are not prunable: their width is
the data's or the classes'.

For one group, the proposal keeps the most filters (removes the fewest) such that the
model's latency meets the iteration's target; widths are tried on a grid (multiples of
``step``) by bisection, which assumes latency does not grow when filters are removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Group:
    """Layers pruned together.

    Attributes:
        name: the group's first layer (the one named to :func:`shrink`).
        layers: every layer of the group.
        width: its current number of output channels.
    """

    name: str
    layers: tuple[str, ...]
    width: int


def prunable_groups(model) -> list[Group]:
    """The groups of ``model`` that filter pruning may narrow, in layer order."""
    from edgeloop.models.shrink import channel_groups, shrinkable

    order = {layer.name: i for i, layer in enumerate(model.layers)}
    members_of = {m: sorted(members, key=order.__getitem__) for members in channel_groups(model).values() for m in members}
    groups = []
    for name, width in shrinkable(model).items():
        members = members_of.get(name, [name])
        groups.append(Group(members[0], tuple(members), width))
    return sorted(groups, key=lambda g: order[g.name])


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
    lo, hi = 0, len(grid) - 1  # hi meets the target; find the first index that does
    while lo < hi:
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid + 1
    return grid[hi], seen[grid[hi]]


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
