"""Run every step's pre-flight over a recipe's steps: what would stop the run, before it starts.

Each step checks itself (:meth:`edgeloop.pipeline.Step.preflight`), so the pre-flight grows
with the step registry. The steps are checked against the model as it is handed in, with
the facts the earlier steps will leave (a ``prune`` before ``qat`` makes QAT's scheme
the sparsity-preserving one) planned rather than done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.base import Preflight, Problem

# What a step leaves in the run's state that later steps read (see the steps' apply).
_LEAVES = {"prune": "pruned", "cluster": "clustered", "sensitivity": "sensitivity"}
TRIAL_SAMPLES = 4


@dataclass
class StepCheck:
    """One step's pre-flight: its position, name, problems and how long the check took."""

    index: int
    step: str
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def can_run(self) -> bool:
        """Nothing found that would stop the step."""
        return not self.problems

    def to_dict(self) -> dict:
        """Plain data for ``--json`` and reports."""
        return {"index": self.index, "step": self.step, "can_run": self.can_run, "seconds": round(self.seconds, 3),
                "problems": [{"message": p.message, "layer": p.layer} for p in self.problems]}


def trial_samples(model, data=None, count: int = TRIAL_SAMPLES) -> np.ndarray | None:
    """A few input samples: the data's first training samples (one array per input for a
    model with several), else uniform [0, 1) of the model's input shape (``None`` for a model
    with several inputs or an unknown shape)."""
    if data is not None:
        from edgeloop.data import n_samples

        return data.representative(min(count, n_samples(data.x_train)))
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1 or any(d is None for d in inputs[0].shape[1:]):
        return None
    return np.random.default_rng(0).random((count, *inputs[0].shape[1:]), dtype=np.float32)


def check_steps(steps, model, data=None, state: dict | None = None, start: int = 1,
                cache: dict | None = None) -> list[StepCheck]:
    """Every step's pre-flight, in order.

    Args:
        steps: the recipe's steps still to run.
        model: the model the first of them gets.
        data: the run's data set (calibration samples for a trial conversion), if any.
        state: what earlier finished steps left (a resumed run).
        start: the first step's number in the recipe.
        cache: results already computed for this model (the doctor's QAT trial).
    """
    planned = dict(state or {})
    samples = trial_samples(model, data)
    cache = {} if cache is None else cache
    out = []
    for offset, step in enumerate(steps):
        plan = Preflight(state=dict(planned), samples=samples, cache=cache,
                         work_before=any(s.changes_model for s in steps[:offset]))
        started = time.perf_counter()
        try:
            problems = step.preflight(model, plan)
        except EdgeloopError as exc:
            problems = [Problem(step.name, str(exc))]
        out.append(StepCheck(start + offset, step.name, problems, time.perf_counter() - started))
        if step.name in _LEAVES:
            planned[_LEAVES[step.name]] = {"planned": True, "layers": {}}
    return out


def preflight(steps, model, data=None, state: dict | None = None, start: int = 1) -> list[StepCheck]:
    """:func:`check_steps`, refusing the run when a step cannot run.

    Raises:
        EdgeloopError: one line: the first step that cannot run, the layer and the way out.
    """
    checks = check_steps(steps, model, data, state, start)
    for check in checks:
        if check.problems:
            first = check.problems[0]
            more = f" (and {len(check.problems) - 1} more problem(s): edgeloop doctor lists them)" if len(check.problems) > 1 else ""
            raise EdgeloopError(f"pre-flight: step {check.index} ({check.step}) cannot run: {first.message}{more}")
    return checks
