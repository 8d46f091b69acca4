"""``width_baseline``: the comparison the field makes for a search, as a step after ``netadapt``.

The same model at uniform width multipliers (a zoo model rebuilt and trained from scratch
for as many epochs as the searched one saw; a model file narrowed uniformly and fine-tuned),
each converted, scored and measured on the search's device (see
:mod:`edgeloop.search.baseline`). The entries join the search's ``search.json``, its
report's Pareto table and ``pareto.png``; the check ``beats_width_baseline`` says whether
the searched model is at least as accurate as the multipliers at its latency.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.base import Context, Step, register_step
from edgeloop.search.options import check_widths


@dataclass
class WidthBaselineOptions:
    """Options of ``width_baseline``.

    Attributes:
        widths: the uniform width multipliers, each in (0, 1].
    """

    widths: list[float] = field(default_factory=lambda: [1.0, 0.75, 0.5, 0.35])

    def __post_init__(self) -> None:
        if not self.widths:
            raise ValueError("widths must name at least one width multiplier")
        check_widths(self.widths, "widths")


@register_step("width_baseline", WidthBaselineOptions)
class WidthBaseline(Step):
    """Train, score and measure the model at uniform width multipliers, next to a NetAdapt search."""

    def apply(self, model, ctx: Context):
        from edgeloop.search.baseline import run_baseline
        from edgeloop.search.report import running
        from edgeloop.search.session import load_session

        search = ctx.state.netadapt
        if not search:
            raise EdgeloopError("width_baseline compares with a search: put a netadapt step before it")
        s = load_session(ctx.path(search["folder"]), ctx.data, ctx.ui)
        s.options = dataclasses.replace(s.options, baseline_widths=list(self.options.widths))
        s.state["options"]["baseline_widths"] = list(self.options.widths)
        with running(s):
            run_baseline(s)
        check = next(c for c in s.state["checks"] if c["name"] == "beats_width_baseline")
        ctx.record(baseline=s.state["baseline"], checks=[check])
        return model
