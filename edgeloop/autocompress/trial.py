"""One trial: a policy's recipe run by the pipeline runner, its converted model scored.

A trial is a plain recipe (the starting model file, the data, the policy's steps,
``convert`` and ``evaluate``) run in its own run folder, so what a trial measured is what
the same recipe gives when a user runs it. It travels as plain data and runs in any
process (Ray workers included); the latency is measured afterwards, one at a time, by the
process that owns the device.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrialJob:
    """A policy to evaluate.

    Attributes:
        number: the Optuna trial's number.
        params: the policy (Optuna parameters).
        recipe: the recipe to run (plain data, as :func:`edgeloop.recipe.from_dict` takes it).
        out: the folder its run folder goes into.
        pruning: ``{"storage": url, "study": name}`` to let Optuna's pruner stop the trial
            between techniques (:mod:`edgeloop.autocompress.pruning`); ``None``: run it whole.
    """

    number: int
    params: dict
    recipe: dict
    out: str
    pruning: dict | None = None


@dataclass
class TrialOutcome:
    """What a :class:`TrialJob` gave back.

    Attributes:
        number: the trial's number.
        ok: the recipe ran to its end.
        pruned: the pruner stopped it between techniques.
        error: the one-line reason it did not.
        run_dir: its run folder.
        int8_accuracy: the converted model's accuracy on the held-out split.
        float_accuracy: the starting (float) model's accuracy there.
        size_bytes: the ``.tflite`` file's size.
        gzip_bytes: its size gzipped (what sparsity and clustering save).
        tflite: the converted file.
        steps: each step's name and seconds.
        seconds: the trial's wall time.
    """

    number: int
    ok: bool
    error: str | None = None
    pruned: bool = False
    run_dir: str | None = None
    int8_accuracy: float | None = None
    float_accuracy: float | None = None
    size_bytes: int | None = None
    gzip_bytes: int | None = None
    tflite: bytes = b""
    steps: list = field(default_factory=list)
    seconds: float = 0.0


def trial_recipe(base: dict, name: str, steps: list[dict], precisions: dict[str, str], calibration: int,
                 max_drop: float, benchmark: dict | None = None) -> dict:
    """A recipe applying ``steps`` to ``base``'s model, converted to int8 and scored.

    ``base`` gives ``model``, ``data`` and the split (``seed``, ``val_fraction``,
    ``preprocess``…); ``benchmark`` adds a last ``benchmark`` step (the written winner).
    """
    convert = {"mode": "int8", "calibration_samples": calibration, "baseline": False}
    if precisions:
        convert["precisions"] = dict(precisions)
    out = {**base, "name": name, "measure_steps": False,
           "steps": [*steps, {"convert": convert}, {"evaluate": {"max_drop": max_drop, "enforce": False}}]}
    if benchmark is not None:
        out["steps"].append({"benchmark": benchmark})
    return out


def run_trial(job: TrialJob) -> TrialOutcome:
    """Run the trial's recipe; a recipe that fails is a failed trial, never a crash of the search."""
    from edgeloop.errors import EdgeloopError
    from edgeloop.pipeline import runner
    from edgeloop.recipe import from_dict

    started = time.perf_counter()
    Path(job.out).mkdir(parents=True, exist_ok=True)
    ui = None
    if job.pruning:
        from edgeloop.autocompress.pruning import PruningUi

        ui = PruningUi(job.pruning["storage"], job.pruning["study"], job.number, job.out)
    try:
        result = runner.run(from_dict(job.recipe, source=f"trial {job.number}"), out=job.out, ui=ui)
    except Exception as exc:  # noqa: BLE001 - a pruned trial, or a policy the model cannot take
        if type(exc).__name__ == "TrialPruned":
            return TrialOutcome(job.number, False, error=str(exc), pruned=True, seconds=time.perf_counter() - started)
        # A policy tfmot or TensorFlow refuses (more clusters than a kernel has values …) is a
        # failed trial the report names, not the end of the search.
        line = (str(exc).strip().splitlines() or [""])[0][:300]
        line = line if isinstance(exc, EdgeloopError) else f"{type(exc).__name__}: {line}"
        return TrialOutcome(job.number, False, error=line, seconds=time.perf_counter() - started)
    return read_outcome(job.number, result.run_dir, time.perf_counter() - started)


def read_outcome(number: int, run_dir: Path, seconds: float = 0.0) -> TrialOutcome:
    """A finished trial's figures, read back from its run folder."""
    import gzip

    state = json.loads((Path(run_dir) / "state.json").read_text())
    evaluate = next(e for e in state["finished"] if e["step"] == "evaluate")["result"]
    accuracy = evaluate.get("accuracy") or {}
    tflite_file = state["state"]["tflite"]["file"]
    blob = (Path(run_dir) / tflite_file).read_bytes()
    converted = next((v for k, v in accuracy.items() if k.startswith("tflite_") and "baseline" not in k), None)
    return TrialOutcome(
        number, True, run_dir=str(run_dir), int8_accuracy=converted, float_accuracy=accuracy.get("baseline_float"),
        size_bytes=len(blob), gzip_bytes=len(gzip.compress(blob, compresslevel=9)), tflite=blob,
        steps=[{"step": e["step"], "seconds": e["seconds"]} for e in state["finished"]], seconds=seconds)


class TrialExecutor:
    """Runs trials one after another here, or as Ray tasks (local, or ``ray://HOST:PORT``).

    The Ray side is the search's own :class:`edgeloop.search.executors.RayExecutor`,
    given :func:`run_trial` to run instead of a NetAdapt proposal.
    """

    def __init__(self, spec: str) -> None:
        from edgeloop.search.executors import RayExecutor, make_executor

        self.spec = spec
        self._ray = make_executor(spec) if spec != "sequential" else None
        if isinstance(self._ray, RayExecutor):
            self._ray._remote = self._ray._ray.remote(num_cpus=1)(run_trial)

    def map(self, jobs: list[TrialJob], done=lambda o: None) -> list[TrialOutcome]:
        """Outcomes of ``jobs`` in the jobs' order; ``done`` is called as each finishes."""
        if self._ray is not None:
            return self._ray.map(jobs, done)
        outcomes = []
        for job in jobs:
            outcomes.append(run_trial(job))
            done(outcomes[-1])
        return outcomes

    def close(self) -> None:
        """Shut down a Ray this executor started."""
        if self._ray is not None:
            self._ray.close()
