"""A model trained on [-1, 1] inputs, fed from an image folder: caught, matched, folded.

The digits CNN is trained (the recipe ``train`` step) on the digits as 0–255 pixels scaled
to [-1, 1], stored as a ``.npz`` — the way a third-party MobileNet is trained. The same
pixels are written as PNGs in class folders. Then, each through ``edgeloop``'s runner
(convert to int8, evaluate, benchmark):

- the folder without ``preprocess``: the sanity check stops the run before conversion;
- the folder with ``preprocess: {range: [-1, 1]}``, against the ``.npz`` path;
- the folder with ``fold_preprocessing: true`` and uint8 I/O: the file's input scale and
  zero point, and its accuracy with the PNGs' uint8 pixels set on the interpreter as they
  are (no quantization step of edgeloop's in between).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks._common import Progress, table

TRAIN_EPOCHS = 30


def _write_data(root: Path) -> tuple[Path, Path]:
    from sklearn.datasets import load_digits

    from edgeloop._tf import tf

    bunch = load_digits()
    pixels = np.round(bunch.images * (255 / 16)).astype(np.uint8)[..., None]
    order = np.lexsort((np.arange(len(pixels)), bunch.target))  # the folder's order: class by class
    for i in order:
        folder = root / "images" / str(bunch.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:04d}.png").write_bytes(tf.io.encode_png(pixels[i]).numpy())
    np.savez(root / "digits_pm1.npz", x=pixels[order] / 127.5 - 1, y=bunch.target[order])
    return root / "images", root / "digits_pm1.npz"


def _steps(io_type: str = "int8") -> list[dict]:
    return [{"convert": {"io_type": io_type, "baseline": False}}, {"evaluate": {"max_drop": 1.0}},
            {"benchmark": {"runs": 50, "baseline": False}}]


def _direct_uint8_accuracy(model_file: Path, folder: Path, data) -> float:
    """Accuracy with the raw uint8 pixels set on the interpreter as they are."""
    from edgeloop.device.interpreter import load_interpreter

    interpreter = load_interpreter(model_file)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    pixels = np.round(data.raw(data.x_val)).astype(np.uint8)
    right = 0
    for image, label in zip(pixels, data.y_val):
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        right += int(interpreter.get_tensor(out["index"])[0].argmax() == label)
    return right / len(pixels)


def run(quick: bool, progress: Progress) -> dict:
    """Train on [-1, 1], then the four runs; the figures for the report."""
    from edgeloop.data import load_data
    from edgeloop.errors import EdgeloopError
    from edgeloop.pipeline.runner import run as run_recipe
    from edgeloop.recipe import from_dict

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="edgeloop-bench-") as tmp:
        root = Path(tmp)
        folder, npz = _write_data(root)
        progress("preprocessing: training the digits CNN on [-1, 1] pixels")
        base = {"model": "zoo:digits_cnn", "measure_steps": False}
        trained = run_recipe(from_dict({**base, "name": "train_pm1", "data": str(npz),
                                        "steps": [{"train": {"epochs": 3 if quick else TRAIN_EPOCHS}}]}), out=root)
        model = str(trained.run_dir / trained.report["steps"][-1]["model_file"])
        out["train_val_accuracy"] = trained.report["steps"][-1]["result"]["val_accuracy"]
        recipe = {"model": model, "measure_steps": False, "data": str(folder)}

        progress("preprocessing: the folder without preprocess")
        try:
            run_recipe(from_dict({**recipe, "name": "no_preprocess", "steps": _steps()}), out=root)
            out["without"] = {"stopped": False}
        except EdgeloopError as exc:
            (run_dir,) = [p for p in root.iterdir() if p.name.startswith("no_preprocess")]
            out["without"] = {"stopped": True, "message": str(exc),
                              "model_tflite_written": (run_dir / "model.tflite").exists()}

        results = {}
        for name, extra, io_type in [("folder", {"preprocess": {"range": [-1, 1]}}, "int8"),
                                     ("npz", {"data": str(npz)}, "int8"),
                                     ("folded", {"preprocess": {"range": [-1, 1]}, "fold_preprocessing": True}, "uint8")]:
            progress(f"preprocessing: {name}")
            report = run_recipe(from_dict({**recipe, **extra, "name": name, "steps": _steps(io_type)}), out=root).report
            steps = {e["step"]: e["result"] for e in report["steps"]}
            results[name] = {"float": steps["evaluate"]["accuracy"]["baseline_float"],
                             "converted": steps["evaluate"]["accuracy"]["tflite_int8"],
                             "n": steps["evaluate"]["n_val"], "input": steps["convert"]["input"],
                             "gate": steps["evaluate"]["checks"][0]["detail"], "status": report["status"],
                             "latency_ms": steps["benchmark"]["model"]["stats"]["median_ms"]}
            if name == "folded":
                from edgeloop.device.interpreter import TFLiteModel

                run_dir = Path(report["run_dir"])
                detail = TFLiteModel(run_dir / "model.tflite").input_details[0]
                data = load_data(folder, preprocess={"range": [-1, 1]})
                results[name].update(input_dtype=str(np.dtype(detail["dtype"])), input_quantization=list(detail["quantization"]),
                                     direct_uint8_accuracy=_direct_uint8_accuracy(run_dir / "model.tflite", folder, data),
                                     fold_check=next(c["detail"] for c in steps["convert"]["checks"]
                                                     if c["name"] == "fold_equivalent"))
        out["runs"] = results
        out["folder_minus_npz_points"] = (results["folder"]["converted"] - results["npz"]["converted"]) * 100
        out["folded_minus_folder_points"] = (results["folded"]["direct_uint8_accuracy"] - results["folder"]["converted"]) * 100
    return out


def render(f: dict) -> str:
    """The Done-when figures of preprocessing as data."""
    w = f["without"]
    r = f["runs"]
    lines = [f"The digits CNN trained on [-1, 1] pixels (validation accuracy in training {f['train_val_accuracy']:.2%}), "
             "fed from a folder of PNGs written from the same digits.", ""]
    if w["stopped"]:
        lines += [f"Without `preprocess`: **stopped before conversion** (model.tflite written: {w['model_tflite_written']}):",
                  "", f"> {w['message']}", ""]
    else:
        lines += ["Without `preprocess`: **not stopped** (the sanity check missed it).", ""]
    rows = [[name, f"{v['float']:.2%}", f"{v['converted']:.2%}", v["n"], v["input"], f"{v['latency_ms']:.4f}"]
            for name, v in r.items()]
    lines += [table(["data path", "float", "int8 (LiteRT)", "samples", "the file takes", "median ms"], rows), "",
              f"Folder with `preprocess: {{range: [-1, 1]}}` against the `.npz`: "
              f"**{f['folder_minus_npz_points']:+.2f} points**.", "",
              f"Folded (`fold_preprocessing: true`, uint8 I/O): input {r['folded']['input_dtype']}, "
              f"(scale, zero point) = {tuple(r['folded']['input_quantization'])}; with the PNGs' uint8 pixels set as they "
              f"are: **{r['folded']['direct_uint8_accuracy']:.2%}** "
              f"({f['folded_minus_folder_points']:+.2f} points against the unfolded int8 file). {r['folded']['fold_check']}."]
    return "\n".join(lines)
