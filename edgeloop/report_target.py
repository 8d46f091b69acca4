"""The report's ``Target`` section: each part of the recipe's target, met or missed by how much."""

from __future__ import annotations


def render_target(target: dict) -> list[str]:
    """Markdown lines for ``report["target"]`` (see :func:`edgeloop.pipeline.target.check_target`)."""
    asked = ", ".join(f"{k}: {v}" for k, v in target["target"].items()) or "nothing"
    out = ["## Target", "", f"Asked: {asked}. **{'Met' if target['met'] else 'Missed'}.**", "",
           "| check | result | detail |", "|---|---|---|"]
    out += [f"| {c['name']} | {'pass' if c['passed'] else '**MISSED**'} | {c['detail']} |" for c in target["checks"]]
    return out + [""]
