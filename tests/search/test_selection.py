"""How an iteration chooses: NetAdapt's accuracy rule, MnasNet's rewards, the Edge TPU verdict."""

from __future__ import annotations

import pytest

from edgeloop.search.selection import apply_edgetpu, edgetpu_verdict, score, select


def rec(group, accuracy, ms, rule="accuracy", budget=1.0):
    return {"group": group, "int8_accuracy": accuracy, "measured_ms": ms, "rejected": None,
            "score": score(rule, accuracy, ms, budget)}


def test_netadapt_keeps_the_most_accurate_and_ties_go_to_the_faster():
    records = [rec("a", 0.95, 0.8), rec("b", 0.97, 0.9), rec("c", 0.97, 0.7)]
    assert select(records)["group"] == "c"


def test_hard_mnas_reward_prefers_meeting_the_budget_over_a_little_accuracy():
    # Over the 1 ms budget, 0.97 at 1.2 ms scores 0.97 / 1.2 = 0.808; under it, accuracy alone: 0.95.
    over, under = rec("over", 0.97, 1.2, "mnas_hard"), rec("under", 0.95, 0.9, "mnas_hard")
    assert over["score"] == pytest.approx(0.97 / 1.2)
    assert select([over, under])["group"] == "under"


def test_soft_mnas_reward_trades_both_ways():
    # 0.96 at 0.5 ms: 0.96 x 0.5^-0.07 = 0.96 x 1.04971 = 1.00772 beats 0.99 at 1.0 ms.
    fast, accurate = rec("fast", 0.96, 0.5, "mnas_soft"), rec("accurate", 0.99, 1.0, "mnas_soft")
    assert fast["score"] == pytest.approx(0.96 * 1.04971, rel=1e-5)
    assert select([fast, accurate])["group"] == "fast"


@pytest.fixture(scope="module")
def leaky_blob(digits):
    from edgeloop.converters.tflite import convert
    from edgetpu_models import leaky_cnn

    return convert(leaky_cnn(), "int8", digits.representative(10))


@pytest.fixture(scope="module")
def plain_blob(digits):
    from edgeloop.converters.tflite import convert
    from helpers import tiny_cnn

    return convert(tiny_cnn(), "int8", digits.representative(10))


def test_a_proposal_that_falls_off_the_edge_tpu_is_rejected_or_penalized(leaky_blob, plain_blob):
    verdict = edgetpu_verdict(leaky_blob)
    assert not verdict["fully_mapped"] and "LEAKY_RELU" in verdict["detail"] and "leaky" in verdict["detail"]
    assert edgetpu_verdict(plain_blob) == {"fully_mapped": True, "mapped_fraction": 1.0, "detail": "every op maps"}
    off, on = rec("leaky", 0.99, 0.5), rec("plain", 0.90, 0.6)
    apply_edgetpu(off, verdict, "reject", 0.9)
    apply_edgetpu(on, edgetpu_verdict(plain_blob), "reject", 0.9)
    assert off["rejected"].startswith("Edge TPU: op") and select([off, on])["group"] == "plain"
    penalized = rec("leaky", 0.99, 0.5)
    apply_edgetpu(penalized, verdict, "penalize", 0.9)
    assert penalized["rejected"] is None and penalized["score"] == pytest.approx(0.891)
    assert select([off]) is None  # nothing left: the search stops and says why
