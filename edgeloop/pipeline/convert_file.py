"""``edgeloop convert``'s work: a model file to a verified ``.tflite``, checked on its data.

With data, the float model is checked for sanity first (no better than chance stops the
conversion with the likely cause), the conversion is calibrated on it (raw pixels when the
preprocessing is folded in), and the converted model is scored against the float model on
the held-out samples: top-1 agreement, output SNR and cosine, accuracy with labels. The
file's metadata records what it expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeloop.errors import EdgeloopError

# Held-out samples the converted model is compared on.
FIDELITY_SAMPLES = 1000


@dataclass
class Converted:
    """A converted file and what was learned about it.

    Attributes:
        blob: the ``.tflite`` bytes (metadata included).
        checks: verification results.
        input: what to feed the input, in words.
        fidelity: the converted model against the float model (``None`` without data).
        accuracy: float and converted accuracy (with labels).
        warnings: what the user should read (a forced sanity failure …).
    """

    blob: bytes
    checks: list
    input: str
    fidelity: dict | None = None
    accuracy: dict | None = None
    warnings: list[str] = field(default_factory=list)


def convert_file(model, mode: str, io_type: str, per_channel: bool, dataset=None, samples: int = 200,
                 fold: bool = False, force: bool = False, rejected_to=None, hard_swish: str = "auto") -> Converted:
    """Convert ``model`` (a loaded Keras model or signature model) with ``dataset`` for
    calibration and checks.

    ``hard_swish``: ``auto`` / ``rewrite`` writes hard-swish as ops XNNPACK runs in int8,
    ``int8`` keeps the converter's ``HARD_SWISH`` (:mod:`edgeloop.converters.hard_swish`).
    ``rejected_to``: where a full-integer file that failed goes (an op left in float, one
    TFLite lacks), to inspect; an existing file there is replaced only with ``force``.

    Raises:
        EdgeloopError: data that does not fit the model, a float model no better than
            chance (unless ``force``), a failed verification.
    """
    from edgeloop.converters import enforce, read_model, verify
    from edgeloop.converters.metadata import add_metadata, input_payload
    from edgeloop.converters.modes import FULL_INTEGER
    from edgeloop.converters.rejected import ConversionError, check_or_reject, keep, refused
    from edgeloop.converters.tflite import convert
    from edgeloop.data import n_samples
    from edgeloop.pipeline.folding import check_fold, input_expectation, prepare
    from edgeloop.pipeline.folding import input_payload as data_payload

    warnings: list[str] = []
    representative = prefix = None
    if dataset is not None:
        from edgeloop.pipeline.runner import check_data

        check_data(dataset, model)
        warnings += _sanity(model, dataset, force)
        representative, prefix = prepare(model, dataset, min(samples, n_samples(dataset.x_train)), fold)
    elif fold:
        raise EdgeloopError("--fold-preprocessing needs --data: the preprocessing folded in is the data's")
    try:
        blob = convert(model, mode=mode, representative=representative if mode in FULL_INTEGER else None,
                       io_type=io_type, per_channel=per_channel, prefix=prefix,
                       hard_swish="int8" if hard_swish == "int8" else "rewrite")
    except ConversionError as exc:
        kept = keep(exc.rejected, rejected_to, force) if exc.rejected and rejected_to else None
        raise refused(exc, mode, kept) from None
    info = read_model(blob)
    checks = verify(info, mode=mode, io_type=io_type)
    if mode in FULL_INTEGER and rejected_to is not None:
        check_or_reject(blob, info, checks, mode, rejected_to, force)
    if prefix is not None:
        checks += check_fold(model, prefix, info, dataset)[0]
    enforce(checks)
    blob = add_metadata(blob, data_payload(dataset, prefix is not None) if dataset is not None
                        else input_payload(None, False, None))
    result = Converted(blob, checks, input_expectation(blob), warnings=warnings)
    if dataset is not None:
        _score(result, model, dataset, prefix is not None)
    return result


def _single_io(model) -> bool:
    """One input and one output (what the sanity check scores)."""
    return isinstance(model.input_shape, tuple) and isinstance(model.output_shape, tuple)


def _sanity(model, dataset, force: bool) -> list[str]:
    from edgeloop.fidelity import is_class_scores
    from edgeloop.pipeline.sanity import SanityError, check_baseline

    if not dataset.labeled or not _single_io(model) or not is_class_scores(np.zeros((1, *model.output_shape[1:]))):
        return []
    result = check_baseline(model, dataset)
    if result["verdict"] == "ok":
        return []
    if not force:
        raise SanityError(result["message"])
    return [f"{result['message']} (--force: going on)"]


def _score(result: Converted, model, dataset, folded: bool) -> None:
    from edgeloop.data import take
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.fidelity import compare
    from edgeloop.models.io import pick_output

    x = take(dataset.x_val, slice(0, FIDELITY_SAMPLES))
    reference = pick_output(model.predict(x, batch_size=256, verbose=0), 0)  # several outputs: the first
    converted = TFLiteModel(result.blob).predict(dataset.raw(x) if folded else x)
    result.fidelity = compare(reference, converted, "converted vs float")
    if dataset.labeled and reference.ndim == 2:
        y = dataset.y_val[:FIDELITY_SAMPLES]
        result.accuracy = {"float": float(np.mean(reference.argmax(-1) == y)),
                           "converted": float(np.mean(converted.argmax(-1) == y)), "n": int(len(y))}


def convert_fastest(model, dataset, max_drop: float, samples: int = 200, device: str = "local",
                    edgetpu: bool = False):
    """``edgeloop convert --fastest``: every candidate built, scored on ``dataset``'s held-out
    samples and timed on ``device``; the fastest within ``max_drop`` points kept.

    Returns:
        ``(Converted, record)``: the kept file (metadata added, checks passed) and the
        candidates side by side (:mod:`edgeloop.pipeline.fastest`).

    Raises:
        EdgeloopError: no data, a float model no better than chance, no candidate within
            the budget, a failed check.
    """
    import contextlib
    from types import SimpleNamespace

    from edgeloop.converters import enforce
    from edgeloop.converters.metadata import add_metadata
    from edgeloop.pipeline.fastest import check_chosen, fastest
    from edgeloop.pipeline.folding import input_expectation
    from edgeloop.pipeline.folding import input_payload as data_payload
    from edgeloop.pipeline.runner import check_data
    from edgeloop.search.latency import Meter

    check_data(dataset, model)
    warnings = _sanity(model, dataset, False)

    @contextlib.contextmanager
    def progress(description, total):
        yield lambda n=1: None

    ctx = SimpleNamespace(data=dataset, progress=progress, target=SimpleNamespace(device=device, edgetpu=edgetpu))
    meter = Meter(device=device, threads=1, warmup=5, runs=50).median_ms
    chosen, candidates = fastest(model, ctx, max_drop, edgetpu, samples, meter=meter)
    checks = check_chosen(chosen)
    enforce(checks)
    blob = add_metadata(chosen.blob, data_payload(dataset, False))
    record = {"chosen": chosen.name, "max_drop": max_drop, "full_int8_only": edgetpu, "device": device,
              "candidates": [c.row() for c in candidates], "mode": chosen.mode, "io_type": chosen.io_type}
    result = Converted(blob, checks, input_expectation(blob), warnings=warnings)
    _score(result, model, dataset, False)
    return result, record
