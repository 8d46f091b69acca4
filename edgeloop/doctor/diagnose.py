"""``diagnose``: the whole pre-flight of one model, layer by layer and step by step."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from edgeloop.doctor.layers import LayerFacts, layer_facts
from edgeloop.doctor.preflight import StepCheck, check_steps, trial_samples
from edgeloop.errors import EdgeloopError


@dataclass
class Diagnosis:
    """What the doctor found.

    Attributes:
        model: what was examined (its path or name).
        layers: each layer's verdicts, in graph order.
        steps: each recipe step's pre-flight (empty without a recipe).
        flattened: the nested models flattened first (:func:`~edgeloop.models.flatten.flatten_nested`).
        qat: ``{"can_run": bool, "problem": str}`` for QAT of the whole model (default scheme).
        conversion: the quick int8 conversion: ``{"ok", "problem", "edgetpu"}``.
        notes: what could not be examined, in plain words.
        seconds: wall time of the diagnosis.
    """

    model: str
    layers: list[LayerFacts] = field(default_factory=list)
    steps: list[StepCheck] = field(default_factory=list)
    flattened: list[str] = field(default_factory=list)
    qat: dict = field(default_factory=dict)
    conversion: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps_ok(self) -> bool:
        """Every recipe step can run."""
        return all(s.can_run for s in self.steps)

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        return {"model": self.model, "seconds": round(self.seconds, 3), "flattened": self.flattened,
                "qat": self.qat, "conversion": self.conversion, "notes": self.notes,
                "steps_ok": self.steps_ok, "steps": [s.to_dict() for s in self.steps],
                "layers": [f.to_dict() for f in self.layers]}


def diagnose(model, steps=(), data=None, name: str = "") -> Diagnosis:
    """Examine ``model`` (and a recipe's ``steps``) without training anything.

    Args:
        model: a tf_keras model (nested models are flattened first).
        steps: recipe steps to pre-flight, in order.
        data: a data set for calibration samples; random samples otherwise.
        name: how to call the model in the result.
    """
    from edgeloop._tf import keras
    from edgeloop.models.flatten import flatten_nested

    started = time.perf_counter()
    out = Diagnosis(name or getattr(model, "name", type(model).__name__))
    if not isinstance(model, keras.Model):
        out.notes.append(f"{type(model).__name__} is not a tf_keras model: no layer to examine; pruning, clustering "
                         "and QAT need one")
        out.steps = check_steps(steps, model, data)
        out.seconds = time.perf_counter() - started
        return out
    cache: dict = {}
    if not (isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)):
        out.notes.append(f"{type(model).__name__} is a subclassed model: it has no layer graph, so pruning, "
                         "clustering, QAT and filter_prune (which clone it layer by layer) cannot run on it; rebuild "
                         "it with the functional API to use them")
        _conversion_trial(model, data, out, cache)
        out.steps = check_steps(steps, model, data, cache=cache)
        out.seconds = time.perf_counter() - started
        return out
    model, flat = flatten_nested(model)
    out.flattened = flat["flattened"]
    decisions, failure = _qat_trial(model, cache, out)
    analysis, info = _conversion_trial(model, data, out, cache)
    out.layers = layer_facts(model, decisions, failure, analysis, info)
    out.steps = check_steps(steps, model, data, cache=cache)
    out.seconds = time.perf_counter() - started
    return out


def _qat_trial(model, cache: dict, out: Diagnosis):
    from edgeloop.pipeline.base import graph_problems
    from edgeloop.pipeline.qat_plan import layer_named_in, plan, quantize

    problems = graph_problems(model, "qat")
    if problems:
        out.qat = {"can_run": False, "problem": problems[0].message}
        return [], None
    decisions = plan(model)
    try:
        cache[("qat", (), "default", id(model))] = quantize(model)[1]
    except EdgeloopError as exc:
        out.qat = {"can_run": False, "problem": str(exc)}
        return decisions, (layer_named_in(str(exc)), str(exc))
    out.qat = {"can_run": True, "problem": ""}
    return decisions, None


def _conversion_trial(model, data, out: Diagnosis, cache: dict):
    from edgeloop.converters.edgetpu.analyzer import analyze
    from edgeloop.converters.trial import trial_convert

    samples = trial_samples(model, data)
    if samples is None:
        out.conversion = {"ok": False, "problem": "no samples to calibrate a trial conversion with "
                                                  "(several inputs or an unknown input shape)", "edgetpu": None}
        return None, None
    trial = trial_convert(model, "int8", samples, "int8")
    cache[("convert", "int8", "int8", id(model))] = trial  # the convert step's pre-flight asks the same
    analysis = analyze(trial.info) if trial.info is not None else None
    out.conversion = {"ok": not trial.problem, "problem": trial.problem, "layer": trial.layer,
                      "edgetpu": None if analysis is None else {
                          "fully_mapped": analysis.fully_mapped, "ops_on_edgetpu": analysis.ops_on_edgetpu,
                          "ops_on_cpu": analysis.ops_on_cpu,
                          "first_unmapped": None if analysis.first_unmapped is None else {
                              "op": analysis.first_unmapped.op, "layer": analysis.first_unmapped.layer,
                              "status": analysis.first_unmapped.status, "reason": analysis.first_unmapped.reason}}}
    return analysis, trial.info
