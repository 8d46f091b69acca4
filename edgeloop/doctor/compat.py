"""Compatibility of whole architectures, like timm's model tests: every
``tf_keras.applications`` constructor and every zoo model, through edgeloop.

:func:`check_architecture` takes one architecture (random weights: nothing downloads) at
the smallest input it builds at, and records:

- ``ptq_int8``: converted to full int8 (calibrated on random samples) and verified;
- ``edgetpu``: the analyzer's verdict on that file: maps whole, or where the graph is cut;
- ``prune`` / ``qat`` / ``cluster`` / ``filter_prune``: the pre-flight of each step with
  its default options (tfmot's wrappers tried on the layers, the QAT model built);
- with ``pipeline=True``: prune -> QAT -> int8 actually run (a few optimizer steps on
  random data) and the sparsity measured in the converted file.

Every failure is a reason in words, never an exception: an architecture that does not
build here is recorded as such. :func:`check_in_child` runs one in a child process, so a
converter crash or the memory of a large model cannot take the caller down.

    >>> row = check_architecture("keras:MobileNetV2")   # doctest: +SKIP
    >>> row["ptq_int8"]["ok"], row["edgetpu"]["maps_whole"]   # doctest: +SKIP
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

KERAS_PREFIX = "keras:"
ZOO_PREFIX = "zoo:"
CLASSES = 10
# Input sides tried in turn: the first an architecture builds at is used.
SIDES = (32, 75, 96, 128, 224)
# Random weights: the conversion and the analyzer look at graphs, not values.
CALIBRATION_SAMPLES = 4


def architectures(zoo: bool = True) -> list[str]:
    """``keras:<Constructor>`` for every ``tf_keras.applications`` model, then ``zoo:<name>``."""
    from edgeloop._tf import keras

    names = [f"{KERAS_PREFIX}{n}" for n in dir(keras.applications) if n[:1].isupper()]
    if zoo:
        from edgeloop.models import list_models

        names += [f"{ZOO_PREFIX}{n}" for n in list_models()]
    return names


def build(name: str, side: int | None = None, classes: int = CLASSES, **options):
    """The architecture with random weights at the smallest square RGB input it accepts.

    ``options`` go to the constructor (``alpha=0.35``, ``width=0.5``).

    Returns:
        ``(model, side)``.

    Raises:
        ValueError: it builds at none of :data:`SIDES` (the last reason).
    """
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    if name.startswith(ZOO_PREFIX):
        from edgeloop.models import create

        side = side or SIDES[0]
        return create(name[len(ZOO_PREFIX):], input_shape=(side, side, 3), classes=classes, **options), side
    constructor = getattr(keras.applications, name.removeprefix(KERAS_PREFIX), None)
    if constructor is None:
        raise ValueError(f"no tf_keras.applications.{name.removeprefix(KERAS_PREFIX)}")
    last: Exception | None = None
    for s in (side,) if side else SIDES:
        try:
            return constructor(weights=None, input_shape=(s, s, 3), classes=classes, **options), s
        except ValueError as exc:  # "Input size must be at least 75x75" and the like
            last = exc
    raise ValueError(str(last).splitlines()[0] if last else "does not build")


def _steps():
    from edgeloop.pipeline import build_step

    return [build_step(name, options, "compat") for name, options in
            (("prune", {}), ("cluster", {}), ("qat", {}), ("filter_prune", {"epochs": 0}))]


def check_architecture(name: str, pipeline: bool = False, max_params: int | None = None,
                       options: dict | None = None) -> dict:
    """One architecture through conversion, the Edge TPU analyzer and the pre-flight.

    Args:
        name: ``keras:<Constructor>`` or ``zoo:<name>``.
        pipeline: also run prune -> QAT -> int8 for real (a few optimizer steps).
        max_params: record larger models as built but not converted here (memory).
        options: given to the constructor (``{"alpha": 0.35}``).

    Returns:
        A row: ``builds``, ``side``, ``params``, ``layers``, and for each of ``ptq_int8``,
        ``prune``, ``qat``, ``cluster``, ``filter_prune`` ``{"ok", "why"}``; ``edgetpu``
        ``{"maps_whole", "cut", "why"}``; ``pipeline`` when run; ``seconds``.
    """
    from edgeloop.converters.edgetpu.analyzer import analyze
    from edgeloop.converters.trial import trial_convert
    from edgeloop.doctor.preflight import check_steps

    started = time.perf_counter()
    row: dict = {"name": name, "builds": False}
    try:
        model, side = build(name, **(options or {}))
    except Exception as exc:  # noqa: BLE001  (any reason it does not build is the finding)
        row["why"] = f"does not build here: {str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}"
        return row
    row.update(builds=True, side=side, params=int(model.count_params()), layers=len(model.layers))
    if max_params is not None and row["params"] > max_params:
        row["why"] = f"not converted here: {row['params'] / 1e6:.0f} M parameters, over the {max_params / 1e6:.0f} M " \
                     "this run allows on a shared machine"
        row["seconds"] = time.perf_counter() - started
        return row
    samples = np.random.default_rng(0).random((CALIBRATION_SAMPLES, side, side, 3), dtype=np.float32)
    trial = trial_convert(model, "int8", samples, "int8")
    row["ptq_int8"] = {"ok": not trial.problem, "why": trial.problem, "bytes": len(trial.blob) if trial.blob else None}
    if trial.info is not None:
        a = analyze(trial.info)
        cut = a.first_unmapped
        row["edgetpu"] = {"maps_whole": a.fully_mapped, "ops_on_edgetpu": a.ops_on_edgetpu, "ops_on_cpu": a.ops_on_cpu,
                          "cut": None if cut is None else f"{cut.op} (layer {cut.layer})" if cut.layer else cut.op,
                          "why": "" if cut is None else cut.reason or cut.status}
    else:
        row["edgetpu"] = {"maps_whole": False, "cut": None, "why": "not converted"}
    for check in check_steps(_steps(), model, None, state={}):
        row[check.step] = {"ok": check.can_run, "why": check.problems[0].message if check.problems else ""}
    if pipeline:
        row["pipeline"] = run_pipeline(model, samples)
    row["seconds"] = time.perf_counter() - started
    return row


def run_pipeline(model, samples: np.ndarray, steps_per_stage: int = 4) -> dict:
    """prune (50 %) -> QAT -> int8 for real on random data: did each stage run, and the
    sparsity in the converted file."""
    import contextlib
    import tempfile
    from pathlib import Path

    from edgeloop.data import Dataset
    from edgeloop.errors import EdgeloopError
    from edgeloop.pipeline import Context, build_step

    rng = np.random.default_rng(0)
    n = 32 * steps_per_stage
    classes = int(model.output_shape[-1])
    x = rng.random((n, *samples.shape[1:]), dtype=np.float32)
    y = rng.integers(0, classes, n)
    data = Dataset(x, y, x[:8], y[:8], classes, "random", 0, 0.2)

    @contextlib.contextmanager
    def progress(description, total):
        yield lambda k=1: None

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(data=data, run_dir=Path(tmp), progress=progress, warn=lambda m: None)
        try:
            for name, options in (("prune", {"target_sparsity": 0.5, "epochs": 1, "schedule": "one_shot"}),
                                  ("qat", {"epochs": 1}), ("convert", {"calibration_samples": 4, "baseline": False})):
                ctx.result = {}
                model = build_step(name, options, "compat").apply(model, ctx)
                out[name] = True
            sparsity = ctx.result["weight_sparsity"]
            out["min_sparsity_in_file"] = min(
                (sparsity[n] for n in ctx.state["pruned"]["layers"] if n in sparsity), default=None)
        except EdgeloopError as exc:
            out["why"] = str(exc)[:300]
    return out


def check_in_child(name: str, timeout_s: float = 1800, **options) -> dict:
    """:func:`check_architecture` in a child process: a crash or a timeout is a row too."""
    args = [sys.executable, "-m", "edgeloop.doctor.compat", name, json.dumps(options)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"name": name, "builds": None, "why": f"did not finish in {timeout_s:.0f} s here"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        return json.loads(lines[-1])
    how = "segmentation fault" if proc.returncode in (-11, 139) else \
        "out of memory (killed)" if proc.returncode in (-9, 137) else f"exit status {proc.returncode}"
    tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
    return {"name": name, "builds": None, "why": f"the check crashed: {how} {tail}".strip(),
            "seconds": time.perf_counter() - started}


if __name__ == "__main__":  # the child of check_in_child
    print(json.dumps(check_architecture(sys.argv[1], **(json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}))))
