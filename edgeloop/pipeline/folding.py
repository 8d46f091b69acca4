"""Conversion inputs that follow the data: folded preprocessing, raw-pixel checks, metadata.

Shared by the ``convert`` step and the ``edgeloop convert`` command: with folding, the
model is converted behind its preprocessing layer (:mod:`edgeloop.models.fold`, given to
the converter as a prefix so the model's layers keep their names in the file) and
calibrated on raw pixels; the result is checked to take raw 0–255 pixels as they are and
to give the unfolded model's outputs; the file's metadata records what it expects.
"""

from __future__ import annotations

import numpy as np

from edgeloop.errors import EdgeloopError

# Validation samples the folded and unfolded Keras models are compared on.
FOLD_SAMPLES = 200
# Folding is arithmetic only: an SNR under this is a bug, not float rounding.
FOLD_MIN_SNR_DB = 60.0


def prepare(model, data, samples: int, fold: bool):
    """``(calibration samples, prefix)``: training samples and no prefix, or with ``fold``
    the same samples as raw pixels and the preprocessing layer to convert in front of the
    model (:func:`edgeloop.converters.convert`'s ``prefix``).

    Raises:
        EdgeloopError: folding asked for a model with several inputs, or for data whose
            preprocessing is unknown.
    """
    representative = data.representative(samples)
    if not fold:
        return representative, None
    from edgeloop.models.fold import folding_layer

    if data.preprocess is None:
        raise EdgeloopError(f"fold_preprocessing needs preprocess: data {data.source} is used as stored, so what "
                            "turns raw pixels into the model's input is unknown")
    if len(model.inputs) != 1:
        raise EdgeloopError(f"fold_preprocessing needs a single-input model; this one has {len(model.inputs)}")
    return data.raw(representative), folding_layer(data.preprocess, int(model.inputs[0].shape[-1]))


def check_fold(model, prefix, info, data) -> tuple[list, dict]:
    """The folded file takes raw pixels (input scale 1), and the folded Keras model gives the
    unfolded one's outputs on the same whole-number pixels.

    Returns:
        ``(checks, fidelity of folded vs unfolded)``.
    """
    from edgeloop.converters import Check
    from edgeloop.fidelity import compare, describe
    from edgeloop.preprocess import convert_color

    tensor = info.tensors[info.inputs[0]]
    if tensor.dtype in ("int8", "uint8"):
        want = -128 if tensor.dtype == "int8" else 0
        scale, zero = tensor.scales[0], tensor.zero_points[0]
        ok = abs(scale - 1.0) < 1e-6 and zero == want
        raw = Check("raw_pixel_input", ok, f"{tensor.dtype} input, scale {scale:g}, zero point {zero}"
                    + (": raw 0–255 pixels go in as they are" if ok else f"; raw pixels need scale 1, zero point {want}"))
    else:
        raw = Check("raw_pixel_input", True, f"{tensor.dtype} input: raw 0–255 pixel values")
    pixels = np.round(data.raw(data.x_val[:FOLD_SAMPLES]))  # what a camera gives: whole numbers
    spec = data.preprocess
    unfolded = model.predict(spec.normalize(convert_color(pixels, spec.color)), verbose=0)
    folded = model.predict(prefix(pixels).numpy(), verbose=0)
    metrics = compare(unfolded, folded, "folded vs unfolded (Keras)")
    same = Check("fold_equivalent", metrics["snr_db"] >= FOLD_MIN_SNR_DB,
                 f"folded model on raw pixels vs unfolded model on preprocessed pixels, {metrics['n']} samples: "
                 f"{describe(metrics)}, max |Δ| {metrics['max_abs_diff']:.2g}")
    return [raw, same], metrics


def input_payload(data, folded: bool) -> dict:
    """The metadata entry for a file converted with ``data``."""
    from edgeloop.converters.metadata import input_payload as payload

    return payload(data.preprocess.to_dict() if data.preprocess else None, folded,
                   list(data.class_names) if data.class_names else None)


def input_expectation(blob: bytes) -> str:
    """What a user feeds the converted model, in words (from its input tensor and metadata)."""
    from edgeloop.converters import read_model
    from edgeloop.converters.metadata import expects, read_metadata

    info = read_model(blob)
    t = info.tensors[info.inputs[0]]
    return expects(read_metadata(blob), t.dtype, t.scales[0] if t.scales else None,
                   t.zero_points[0] if t.zero_points else None)
