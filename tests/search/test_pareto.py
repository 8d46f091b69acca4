"""The Pareto front and the baseline's accuracy at a given latency."""

from __future__ import annotations

import pytest

from edgeloop.search.pareto import accuracy_at, pareto_front


def p(ms, acc, label=""):
    return {"latency_ms": ms, "int8_accuracy": acc, "label": label}


def test_front_keeps_only_points_nothing_beats_on_both_counts():
    points = [p(1.0, 0.90, "a"), p(2.0, 0.95, "b"), p(2.5, 0.93, "c"), p(3.0, 0.97, "d"), p(1.5, 0.89, "e"), p(2.0, 0.94, "f")]
    assert [x["label"] for x in pareto_front(points)] == ["a", "b", "d"]


def test_equal_accuracy_keeps_the_faster():
    assert [x["label"] for x in pareto_front([p(2.0, 0.9, "slow"), p(1.0, 0.9, "fast")])] == ["fast"]


def test_accuracy_at_interpolates_between_neighbours():
    curve = [p(1.0, 0.90), p(3.0, 0.96), p(2.0, 0.92)]
    assert accuracy_at(curve, 2.5) == pytest.approx(0.94)
    assert accuracy_at(curve, 1.0) == pytest.approx(0.90)
    assert accuracy_at(curve, 0.5) is None and accuracy_at(curve, 3.5) is None


def test_accuracy_at_credits_a_slower_point_with_a_faster_better_one():
    # The 2 ms point is worse than the 1 ms one: a user would take the 1 ms model instead.
    curve = [p(1.0, 0.95), p(2.0, 0.90), p(3.0, 0.97)]
    assert accuracy_at(curve, 2.0) == pytest.approx(0.95)
