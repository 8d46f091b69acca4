"""Budgets, NetAdapt's schedule and MnasNet's reward against values worked out by hand."""

from __future__ import annotations

import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.search.objective import HARD, SOFT, iteration_target, mnas_reward, parse_budget


@pytest.mark.parametrize(
    "accuracy, latency, target, rule, expected",
    [
        # soft: w = -0.07 on both sides. 1.2^-0.07 = e^(-0.07 ln 1.2) = e^-0.0127625 = 0.987319
        (0.9, 0.6, 0.5, SOFT, 0.9 * 0.987319),
        # 0.8^-0.07 = e^(0.07 * 0.223144) = e^0.0156201 = 1.015743: faster than the target earns a little
        (0.9, 0.4, 0.5, SOFT, 0.9 * 1.015743),
        (0.9, 0.5, 0.5, SOFT, 0.9),
        # hard: alpha = 0 at or under the target (accuracy alone), beta = -1 over it (accuracy x T / LAT)
        (0.9, 0.4, 0.5, HARD, 0.9),
        (0.9, 0.6, 0.5, HARD, 0.75),
        (0.8, 1.0, 0.5, HARD, 0.4),
    ],
)
def test_mnas_reward_matches_hand_computation(accuracy, latency, target, rule, expected):
    assert mnas_reward(accuracy, latency, target, rule) == pytest.approx(expected, rel=1e-6)


def test_soft_reward_trades_accuracy_for_latency_as_the_paper_says():
    # MnasNet: with w = -0.07, halving latency is worth about 5 % relative accuracy (2^0.07 = 1.0497).
    assert mnas_reward(0.95, 1.0, 1.0) == pytest.approx(mnas_reward(0.95 * 1.0497, 2.0, 1.0), rel=1e-3)


def test_reward_refuses_non_positive_latency():
    with pytest.raises(ValueError):
        mnas_reward(0.9, 0.0, 1.0)


def test_schedule_tightens_by_a_decaying_share_of_the_original_and_stops_at_the_budget():
    # delta_i = 0.1 * 0.9^i * 10 ms
    assert iteration_target(0, 10.0, 10.0, 5.0, 0.1, 0.9) == pytest.approx(9.0)
    assert iteration_target(1, 9.0, 10.0, 5.0, 0.1, 0.9) == pytest.approx(8.1)
    assert iteration_target(2, 8.0, 10.0, 5.0, 0.1, 0.9) == pytest.approx(8.0 - 0.81)
    assert iteration_target(3, 5.5, 10.0, 5.0, 0.1, 0.9) == 5.0  # 5.5 - 0.729 < 5: clipped
    # The budget only 0.1 ms away, less than half the step: half the step, past the budget.
    assert iteration_target(3, 5.1, 10.0, 5.0, 0.1, 0.9) == pytest.approx(5.1 - 0.729 / 2)


@pytest.mark.parametrize("text, ms", [("0.5x", 0.5 * 4.0), ("0.25X", 1.0), ("2.5ms", 2.5), (" 3 ms ", 3.0), (".5x", 2.0)])
def test_budgets_relative_and_absolute(text, ms):
    assert parse_budget(text).resolve(4.0) == pytest.approx(ms)


@pytest.mark.parametrize("text", ["fast", "0.5", "1x", "1.5x", "0ms", "-1ms", "2 s"])
def test_bad_budgets_are_refused_with_the_forms_that_work(text):
    with pytest.raises(EdgeloopError, match="budget"):
        parse_budget(text)
