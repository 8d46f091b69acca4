"""Prunable groups and NetAdapt's "fewest filters removed that meet the target"."""

from __future__ import annotations

import pytest

from edgeloop.search.proposals import fewest_removed, prunable_groups, width_grid


def test_width_grid_is_multiples_of_the_step_below_the_width():
    assert width_grid(64, 8, 1) == [56, 48, 40, 32, 24, 16, 8]
    assert width_grid(30, 8, 1) == [24, 16, 8]
    assert width_grid(30, 8, 12) == [24, 16]
    assert width_grid(8, 8, 1) == []


def test_fewest_removed_finds_the_widest_width_meeting_the_target_by_bisection():
    probes = []

    def latency(width):  # linear in width: 0.1 ms per filter
        probes.append(width)
        return 0.1 * width

    assert fewest_removed(64, 8, 1, latency, 3.3) == (32, pytest.approx(3.2))
    assert len(probes) <= 4  # narrowest first, then bisection over 7 widths
    assert fewest_removed(64, 8, 1, latency, 0.5) is None  # even 8 filters cost 0.8 ms
    assert fewest_removed(64, 8, 1, latency, 100.0) == (56, pytest.approx(5.6))  # one step is enough


def test_groups_follow_residual_ties_and_leave_the_output_alone():
    from models.test_shrink import residual_net

    groups = {g.name: g for g in prunable_groups(residual_net())}
    assert set(groups) == {"stem", "side", "c2", "fc"}
    assert groups["stem"].layers == ("stem", "pw") and groups["stem"].width == 8
    assert groups["fc"].width == 16
