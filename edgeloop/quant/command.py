"""``edgeloop quantize`` (a float .tflite in, a verified quantized file out) and ``edgeloop quant-report``.

Both import nothing heavy until they run, so registering them costs ``edgeloop --help`` nothing.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from edgeloop.errors import EdgeloopError
from edgeloop.ui import emit_json

_MODE_FLAGS = {"int8": "int8", "int16x8": "int16x8", "weight_only": "weight_only", "dynamic": "dynamic"}


def _samples_for(model_bytes: bytes, data: str, samples: int):
    from edgeloop.data import load_data
    from edgeloop.quant.litert import signature_input
    from edgeloop.quant.prepare import prepare

    shape = signature_input(prepare(model_bytes).model)[2]
    dataset = load_data(data, image_size=tuple(shape[1:3]) if len(shape) == 4 else None)
    if tuple(dataset.sample_shape) != tuple(shape[1:]):
        raise EdgeloopError(f"data samples have shape {tuple(dataset.sample_shape)}, the model takes {tuple(shape[1:])}")
    return dataset, dataset.representative(min(samples, len(dataset.y_train)))


def fidelity_against(float_model: bytes, quantized: bytes, x) -> list[dict]:
    """Output fidelity of ``quantized`` against ``float_model`` on ``x``, one entry per output."""
    from edgeloop.quant.activations import run_outputs
    from edgeloop.quant.fidelity import output_fidelity

    out = []
    for k, (ref, q) in enumerate(zip(run_outputs(float_model, x), run_outputs(quantized, x))):
        fid = output_fidelity(ref.reshape(len(ref), -1), q.reshape(len(q), -1))
        fid["output"] = k
        # Top-1 agreement means something for class scores (N, classes), not for a detector's boxes.
        fid["classes"] = int(ref.shape[-1]) if ref.ndim == 2 else 0
        out.append(fid)
    return out


@click.command()
@click.argument("model_path")
@click.option("--int8", "mode", flag_value="int8", default=True, help="Full integer, int8 activations (default).")
@click.option("--int16x8", "mode", flag_value="int16x8", help="int16 activations, int8 weights.")
@click.option("--weight-only", "mode", flag_value="weight_only", help="int8 weights, float compute.")
@click.option("--dynamic", "mode", flag_value="dynamic", help="int8 weights, activations quantized on the fly.")
@click.option("--io-type", type=click.Choice(["int8", "uint8", "int16", "float32"]),
              help="Input/output type (default: int8 for --int8, int16 for --int16x8, else float32).")
@click.option("--data", help="Calibration and comparison data: digits, a .npz or an image folder, "
              "already scaled the way the model expects.")
@click.option("--samples", default=200, show_default=True, help="Calibration samples.")
@click.option("--calibration", type=click.Choice(["minmax", "percentile", "mse", "kl", "ema"]), default="minmax",
              show_default=True, help="How activation ranges are chosen (ema: the quantizer's moving average).")
@click.option("--percentile", default=99.99, show_default=True, help="For --calibration percentile.")
@click.option("--weights", type=click.Choice(["minmax", "mse", "gptq"]), default="minmax", show_default=True,
              help="Weight scales (gptq: fully connected ops of --weight-only / --dynamic files).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .tflite to write.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--json", "as_json", is_flag=True)
def quantize(model_path, mode, io_type, data, samples, calibration, percentile, weights, output, force, as_json) -> None:
    """Quantize the float .tflite MODEL_PATH (float16 and sparse weights too), verify, compare with it.

    The quantized file is verified (int8 / int16 compute, I/O type, static shapes) and run
    next to the float file on the data's held-out samples: top-1 agreement, output SNR,
    mean |dp| and cosine per output.
    """
    from edgeloop import _io
    from edgeloop.converters import checks_to_dict, enforce, read_model, verify
    from edgeloop.pipeline.convert import file_sizes
    from edgeloop.quant.litert import CALIBRATED, IO_TYPES, quantize_tflite
    from edgeloop.quant.prepare import prepare

    out = Path(output)
    if out.exists() and not force:
        raise EdgeloopError(f"{out} exists; use --force to replace it")
    source = Path(model_path)
    if source.suffix != ".tflite":
        raise EdgeloopError(f"quantize takes a float .tflite file, not {source.name} (for Keras models: edgeloop convert)")
    read_model(source)  # one clear line for a missing or corrupt file
    blob = source.read_bytes()
    if mode in CALIBRATED and not data:
        raise EdgeloopError(f"--{mode.replace('_', '-')} needs calibration data: give --data")
    io_type = io_type or IO_TYPES[mode][0]
    dataset, calib = _samples_for(blob, data, samples) if data else (None, None)
    q = quantize_tflite(blob, calib, mode, io_type, weights=weights, calibration=calibration, percentile=percentile)
    info = read_model(q.model)
    checks = verify(info, mode=mode if mode in CALIBRATED else "float32", io_type=io_type)
    enforce(checks)
    _io.write_bytes(out, q.model)
    result = {"input": str(source), "output": str(out), "mode": mode, "io_type": io_type, "calibration": calibration,
              "weights": weights, "sizes": {"float": file_sizes(blob), "quantized": file_sizes(q.model)},
              "folded": q.folded, "sparse_weights": q.sparse_weights, "checks": checks_to_dict(checks)}
    if dataset is not None:
        result["fidelity"] = fidelity_against(prepare(blob).model, q.model, dataset.x_val)
    if as_json:
        emit_json(result)
        return
    sizes = result["sizes"]
    click.echo(f"wrote {out} ({mode}, {io_type} I/O): {sizes['quantized']['bytes']:,} bytes "
               f"(float file {sizes['float']['bytes']:,})")
    if q.folded:
        click.echo("  folded into float32 constants first: " + ", ".join(f"{k} x{v}" for k, v in q.folded.items()))
    for c in checks:
        click.echo(f"  {'pass' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
    for f in result.get("fidelity", []):
        agree = f"top-1 agreement {f['top1_agreement']:.2%}, " if f["classes"] > 1 else ""
        click.echo(f"  output {f['output']} vs the float file ({f['samples']} held-out samples): {agree}"
                   f"SNR {f['snr_db']:.1f} dB, cosine {f['cosine']:.4f}")


@click.command(name="quant-report")
@click.argument("model_path")
@click.option("--data", required=True, help="Calibration data: digits, a .npz or an image folder.")
@click.option("--samples", default=200, show_default=True, help="Calibration samples.")
@click.option("--calibration", type=click.Choice(["minmax", "percentile", "mse", "kl"]), default="minmax", show_default=True)
@click.option("--worst", default=3, show_default=True, help="Ops quantized alone for single-layer sensitivity.")
@click.option("--top", default=15, show_default=True, help="Rows of the ranked table shown.")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False), help="Where the report folder goes.")
@click.option("--json", "as_json", is_flag=True)
def quant_report(model_path, data, samples, calibration, worst, top, out, as_json) -> None:
    """Where MODEL_PATH's int8 error comes from: per-op SNR float vs int8, ranked, plotted.

    MODEL_PATH is a Keras model (.keras, .h5, SavedModel, zoo:<name>) or a float .tflite.
    Writes quant_report.png and quant_report.json into a new folder under --out.
    """
    from edgeloop import _io
    from edgeloop.quant.litert import quantize_tflite
    from edgeloop.quant.prepare import prepare
    from edgeloop.quant.report import plot, quant_report as build, report_lines

    if model_path.endswith(".tflite"):
        from edgeloop.converters import read_model

        read_model(model_path)
        blob = Path(model_path).read_bytes()
    else:
        from edgeloop.converters.tflite import convert
        from edgeloop.models import load_model

        blob = convert(load_model(model_path), mode="float32")
    plain = prepare(blob).model
    dataset, calib = _samples_for(plain, data, samples)
    first = quantize_tflite(plain, calib, "int8", "float32", calibration=calibration)
    report = build(plain, first.model, calib[:32], dataset.x_val, worst=worst,
                   quantize=lambda p: quantize_tflite(plain, calib, "int8", "float32", p, qsvs=first.qsvs).model)
    folder = Path(out) / f"quant-report-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    while folder.exists():
        folder = folder.with_name(folder.name + "-1")
    folder.mkdir(parents=True)
    plot(report["ops"], folder / "quant_report.png", f"{Path(model_path).name}: accumulated SNR per op (int8)")
    _io.write_json(folder / "quant_report.json", report)
    if as_json:
        emit_json({"folder": str(folder), **report})
        return
    click.echo(f"report folder: {folder}")
    for line in report_lines(report, top):
        click.echo(line)
    sys.stdout.flush()
