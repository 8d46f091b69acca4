"""How an iteration picks among its proposals: the rule's score, the Edge TPU verdict, the choice.

Pure functions over proposal records (plain dicts), so every rule is checked by hand.
"""

from __future__ import annotations

from edgeloop.search.objective import RULES, mnas_reward


def score(select: str, accuracy: float, latency_ms: float, budget_ms: float) -> float:
    """``accuracy`` (NetAdapt's rule) or MnasNet's reward ``ACC × (LAT/T)^w`` with T the budget."""
    if select == "accuracy":
        return accuracy
    return mnas_reward(accuracy, latency_ms, budget_ms, RULES[select.removeprefix("mnas_")])


def edgetpu_verdict(blob: bytes) -> dict:
    """The Edge TPU analyzer's verdict on a converted model: fully mapped or not, and why."""
    from edgeloop.converters import read_model
    from edgeloop.converters.edgetpu.analyzer import analyze

    analysis = analyze(read_model(blob))
    first = analysis.first_unmapped
    if analysis.fully_mapped:
        detail = "every op maps"
    elif first is not None:
        detail = f"op {first.index} {first.op} (Keras layer {first.layer}) falls back to the CPU: {first.reason}"
    else:
        detail = "; ".join(analysis.problems)
    return {"fully_mapped": analysis.fully_mapped, "mapped_fraction": analysis.mapped_fraction, "detail": detail}


def apply_edgetpu(record: dict, verdict: dict, mode: str, penalty: float) -> None:
    """``reject`` a proposal that falls off the Edge TPU, or ``penalize`` its score by ``penalty``."""
    record["edgetpu"] = verdict
    if verdict["fully_mapped"]:
        return
    if mode == "reject":
        record["rejected"] = f"Edge TPU: {verdict['detail']}"
    elif mode == "penalize":
        record["score"] *= penalty


def select(records: list[dict]) -> dict | None:
    """The best record by score among those not rejected; ties go to the faster, then the earlier."""
    eligible = [r for r in records if r.get("rejected") is None]
    if not eligible:
        return None
    return max(eligible, key=lambda r: (round(r["score"], 12), -r["measured_ms"]))
