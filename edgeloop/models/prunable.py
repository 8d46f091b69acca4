"""Prunable groups: the sets of layers filter pruning narrows together, as :func:`shrink` sees them.

A *group* is a set of Conv / Dense layers whose output channels are tied (a residual
``Add`` ties them; a plain layer is a group of one). Groups tied to the model's input or
an output are not prunable: their width is the data's or the classes'. ``filter_prune``
(a fraction of every group) and the NetAdapt search (one group at a time) both start here.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    """Layers pruned together.

    Attributes:
        name: the group's first layer (the one named to :func:`shrink`).
        layers: every layer of the group, in layer order.
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


def channels_for_fraction(model, keep: float, patterns: list[str] | None = None) -> dict[str, int]:
    """``{layer: round(width * keep)}`` (at least 1) for each prunable group, named by its first
    layer matching ``patterns`` (names or globs; any layer when empty); a group with no
    matching layer is left as it is."""
    out = {}
    for group in prunable_groups(model):
        chosen = [m for m in group.layers if not patterns or any(fnmatch.fnmatchcase(m, p) for p in patterns)]
        if chosen:
            out[chosen[0]] = max(1, int(round(group.width * keep)))
    return out
