"""The ``edgeloop`` command: thin, it parses, calls the library and prints.

Exit status: 0 done; 1 a gate or target missed (the work and the report are kept);
2 bad input, one line on stderr (click's own usage errors already exit with 2); 3 a
missing external tool. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgeloop import __version__
from edgeloop.errors import EdgeloopError
from edgeloop.ui import emit_json as _emit_json


@click.group(epilog="Exit status: 0 done; 1 a gate or target missed (work and report kept); 2 bad input "
             "(one line on stderr); 3 a missing external tool.")
@click.version_option(__version__, prog_name="edgeloop")
def cli() -> None:
    """Keras model -> small, fast, verified int8 TFLite model on an edge target."""


@cli.command()
@click.argument("recipe_file", required=False)
@click.option("--recipe", "recipe_opt", help="Recipe file or preset (edgeloop:<name>).")
@click.option("--model", help="Model: .keras, .h5, SavedModel folder or zoo:<name> (overrides the recipe).")
@click.option("--data", help="Data: digits, a .npz with x and y, or an image folder (overrides the recipe).")
@click.option("--preprocess", help="How 0-255 pixels become the model's input (overrides the recipe): a "
              "convention (mobilenet_v2, resnet50, torch, …), a mapping such as '{range: [-1, 1]}', or a .yaml file.")
@click.option("--max-drop", type=click.FloatRange(0), help="Most accuracy points the converted model may lose, judged "
              "against the drop's 95% interval (sets every evaluate step's max_drop).")
@click.option("--force", is_flag=True, help="Go on when the float model fails the sanity check before compression.")
@click.option("--custom-objects", help="Python file defining the model's custom layers (overrides the recipe).")
@click.option("--output-name", help="The model output the labels are for, when it has several (default: the first).")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False), help="Where run folders go.")
@click.option("--resume", "resume_dir", type=click.Path(), help="Continue RUN_DIR after its last finished step.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or chatter.")
def optimize(recipe_file, recipe_opt, model, data, preprocess, max_drop, force, custom_objects, output_name, out,
             resume_dir, as_json, quiet) -> None:
    """Run a recipe: compress, convert to int8, verify, evaluate and benchmark.

    RECIPE_FILE (or --recipe) is a YAML recipe or a preset such as edgeloop:edgetpu_int8.
    The float model is checked on the data first: no better than chance, or clearly
    better fed another way (range, channel order, label order), the run stops with the
    likely cause (exit status 2; --force goes on). A failed gate (evaluate's max_drop or
    min_snr_db, compile's require_mapped) lets the later steps run and exits with status 1.
    """
    from edgeloop.pipeline.runner import resume, run
    from edgeloop.recipe import load_recipe
    from edgeloop.ui import Ui

    ui = Ui(quiet=quiet or as_json)
    if resume_dir:
        if recipe_file or recipe_opt or model or data or preprocess or max_drop is not None or custom_objects or output_name:
            raise EdgeloopError("--resume continues a run with its own recipe: give no recipe, --model, --data, "
                                "--preprocess, --max-drop, --custom-objects or --output-name")
        result = resume(resume_dir, ui=ui, force=force)
    else:
        if recipe_file and recipe_opt:
            raise EdgeloopError("give the recipe once: as an argument or with --recipe, not both")
        spec = recipe_file or recipe_opt
        if not spec:
            raise EdgeloopError("no recipe: give a recipe file or --recipe edgeloop:<preset> (see `edgeloop recipes`)")
        recipe = load_recipe(spec, model=model, data=data, preprocess=preprocess, max_drop=max_drop,
                             custom_objects=custom_objects, output=output_name)
        result = run(recipe, out=out, ui=ui, force=force)
    if as_json:
        _emit_json(result.report)
    else:
        _print_summary(result.report, ui)
    if result.report.get("failed_gates") or result.report.get("status") == "target_missed":
        sys.exit(1)


def _print_summary(report: dict, ui) -> None:
    s = report["summary"]
    lines = [f"run folder: {report['run_dir']}"]
    if "accuracy" in s:
        lines.append("accuracy: " + ", ".join(f"{k} {v:.2%}" for k, v in s["accuracy"].items()))
    if "fidelity" in s:
        from edgeloop.fidelity import describe

        lines.append(f"against the float model: {describe(s['fidelity'])}")
    if "sizes" in s:
        m = s["sizes"]["model"]
        lines.append(f"model.tflite: {m['bytes']} bytes, {m['gzip_bytes']} gzipped")
    if "size_ratio_vs_baseline" in s:
        r = s["size_ratio_vs_baseline"]
        lines.append(f"float32 baseline / model: {r['raw']:.2f}x raw, {r['gzip']:.2f}x gzipped")
    if s.get("converted_sparsity_min"):  # only worth a line when something was pruned
        lines.append(f"sparsity in the converted file: >= {s['converted_sparsity_min']:.1%} in every pruned layer")
    if "latency_median_ms" in s:
        lines.append("median latency: " + ", ".join(f"{k} {v:.3f} ms" for k, v in s["latency_median_ms"].items()))
    lines.append(f"checks: {s['checks']['passed']} passed, {len(s['checks']['failed'])} failed")
    lines += [f"gate failed (step {g['step']}, {g['gate']}): {g['detail']}" for g in report.get("failed_gates") or []]
    lines += [f"target {'met' if c['passed'] else 'MISSED'}: {c['detail']}" for c in (report.get("target") or {}).get("checks", [])]
    for line in lines:
        click.echo(line)


@cli.command()
@click.argument("model_path")
@click.option("--int8", "mode", flag_value="int8", default=True, help="Full integer (default).")
@click.option("--int16x8", "mode", flag_value="int16x8", help="int16 activations, int8 weights (calibrated).")
@click.option("--dynamic", "mode", flag_value="dynamic", help="Dynamic range: int8 weights, float activations.")
@click.option("--float16", "mode", flag_value="float16", help="float16 weights.")
@click.option("--float32", "mode", flag_value="float32", help="Plain float32.")
@click.option("--fastest", "mode", flag_value="fastest", help="Build every candidate (int8, int8 with the fixes, "
              "dynamic, float16, float32, mixed), score each on --data and time it on --device; keep the fastest "
              "within --max-drop.")
@click.option("--max-drop", default=0.5, show_default=True, type=click.FloatRange(0),
              help="With --fastest: accuracy points the kept file may lose against the float model.")
@click.option("--device", default="local", show_default=True, help="With --fastest: where candidates are timed "
              "(local, http://HOST:PORT, adb:SERIAL).")
@click.option("--edgetpu", is_flag=True, help="With --fastest: an Edge TPU target, full-int8 candidates only.")
@click.option("--io-type", type=click.Choice(["int8", "uint8", "int16", "float32"]),
              help="Input/output type (default: int8 for --int8, int16 for --int16x8, else float32).")
@click.option("--data", help="Calibration data for --int8: digits, a .npz or an image folder; its held-out part "
              "also scores the converted model against the float one.")
@click.option("--preprocess", help="How 0-255 pixels become the model's input: a convention (mobilenet_v2, resnet50, "
              "torch, …), a mapping such as '{range: [-1, 1]}', or a .yaml file (default: [0, 1] for images).")
@click.option("--fold-preprocessing", is_flag=True, help="Put the preprocessing inside the model: the file takes raw "
              "0-255 pixels (uint8 with --io-type uint8).")
@click.option("--samples", default=200, show_default=True, help="Calibration samples.")
@click.option("--per-tensor", is_flag=True, help="One weight scale per tensor instead of per channel.")
@click.option("--hard-swish", type=click.Choice(["auto", "rewrite", "int8"]), default="auto", show_default=True,
              help="auto / rewrite: hard-swish as int8 ops XNNPACK runs (DW1x1 + ReLU6 + MUL); int8: the converter's "
              "HARD_SWISH op (slow in int8 on CPUs).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .tflite to write.")
@click.option("--custom-objects", help="Python file defining the model's custom layers (Keras layer classes, or a "
              "custom_objects dict).")
@click.option("--force", is_flag=True, help="Replace OUTPUT (and OUTPUT's .rejected.tflite) if it exists, and go on "
              "when the float model fails the sanity check on --data.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def convert(model_path, mode, max_drop, device, edgetpu, io_type, data, preprocess, fold_preprocessing, samples,
            per_tensor, hard_swish, output, custom_objects, force, as_json) -> None:
    """Convert MODEL_PATH to TFLite and verify the result.

    MODEL_PATH: a tf_keras .keras / .h5 / SavedModel, a subclassed model's SavedModel, any
    SavedModel with a serving signature, or a Keras 3 .keras / .h5 / export() folder. When
    an op cannot be integer, the file is kept as OUTPUT's <stem>.rejected.tflite to inspect.

    With --data the float model is checked first (no better than chance stops with the
    likely cause: exit status 2) and the converted model is compared with it on the
    data's held-out samples. The output says what to feed the input (scale, zero point).
    """
    out = Path(output)
    if out.exists() and not force:
        raise EdgeloopError(f"{out} exists; use --force to replace it")
    from edgeloop.converters.modes import FULL_INTEGER, io_types_for

    if mode == "fastest":
        _convert_fastest(model_path, out, data, preprocess, samples, max_drop, device, edgetpu, custom_objects, as_json)
        return
    if mode in FULL_INTEGER and not data:
        raise EdgeloopError(f"--{mode} needs calibration data: give --data (digits, a .npz or an image folder)")
    from edgeloop import _io
    from edgeloop.converters import checks_to_dict
    from edgeloop.converters.rejected import rejected_path
    from edgeloop.data import load_data
    from edgeloop.fidelity import describe
    from edgeloop.models.loading import load_any_model
    from edgeloop.pipeline.convert import file_sizes
    from edgeloop.pipeline.convert_file import convert_file

    model = load_any_model(model_path, custom_objects=custom_objects)
    dataset = None
    if data:
        shape = model.input_shape
        size = tuple(shape[1:3]) if isinstance(shape, tuple) and len(shape) == 4 and None not in shape[1:3] else None
        dataset = load_data(data, preprocess=preprocess, model_size=size)
    elif preprocess:
        raise EdgeloopError("--preprocess applies to --data: give the data too")
    io_type = io_type or io_types_for(mode)[0]
    done = convert_file(model, mode, io_type, not per_tensor, dataset, samples, fold_preprocessing, force,
                        rejected_to=rejected_path(out), hard_swish=hard_swish)
    for warning in done.warnings:
        click.echo(f"edgeloop: warning: {warning}", err=True)
    _io.write_bytes(out, done.blob)
    result = {"output": str(out), "mode": mode, "io_type": io_type, "sizes": file_sizes(done.blob),
              "checks": checks_to_dict(done.checks), "input": done.input, "fidelity": done.fidelity,
              "accuracy": done.accuracy}
    if as_json:
        _emit_json(result)
    else:
        click.echo(f"wrote {out} ({mode}, {io_type} I/O): {result['sizes']['bytes']} bytes, {result['sizes']['gzip_bytes']} gzipped")
        click.echo(f"input: {done.input}")
        if done.fidelity:
            click.echo(f"against the float model on {done.fidelity['n']} held-out samples: {describe(done.fidelity)}")
        if done.accuracy:
            click.echo(f"accuracy: float {done.accuracy['float']:.2%}, converted {done.accuracy['converted']:.2%}")
        for c in done.checks:
            click.echo(f"  {'pass' if c.passed else 'FAIL'}  {c.name}: {c.detail}")


def _convert_fastest(model_path, out, data, preprocess, samples, max_drop, device, edgetpu, custom_objects,
                     as_json) -> None:
    """``convert --fastest``: the candidates side by side, the fastest within the budget written."""
    from edgeloop import _io
    from edgeloop.data import load_data
    from edgeloop.models.loading import load_any_model
    from edgeloop.pipeline.convert import file_sizes
    from edgeloop.pipeline.convert_file import convert_fastest

    if not data:
        raise EdgeloopError("--fastest scores every candidate: give --data (digits, a .npz or an image folder)")
    model = load_any_model(model_path, custom_objects=custom_objects)
    shape = model.input_shape
    size = tuple(shape[1:3]) if isinstance(shape, tuple) and len(shape) == 4 and None not in shape[1:3] else None
    dataset = load_data(data, preprocess=preprocess, model_size=size)
    done, record = convert_fastest(model, dataset, max_drop, samples, device, edgetpu)
    _io.write_bytes(out, done.blob)
    if as_json:
        _emit_json({"output": str(out), "sizes": file_sizes(done.blob), "fastest": record, "accuracy": done.accuracy})
        return
    for c in record["candidates"]:
        mark = "*" if c["name"] == record["chosen"] else " "
        acc = "-" if c["accuracy"] is None else f"{c['accuracy']:.2%}"
        drop = "-" if c["drop_points"] is None else f"{c['drop_points']:+.2f}"
        ms = "-" if c["median_ms"] is None else f"{c['median_ms']:.4f} ms"
        click.echo(f"{mark} {c['name']:<26} {c['mode']:<8} accuracy {acc:>7} drop {drop:>6} points  {ms:>12}"
                   + (f"  ({c['error']})" if c["error"] else ""))
    click.echo(f"wrote {out} ({record['chosen']}: {record['mode']}, {record['io_type']} I/O), the fastest within "
               f"{max_drop} points on {device}")


@cli.command()
@click.argument("tflite_path")
@click.option("--tensors", is_flag=True, help="Also list every tensor (type, shape, quantization, constant bytes).")
@click.option("--json", "as_json", is_flag=True, help="Everything as JSON: every subgraph, op and tensor.")
@click.option("--expect", type=click.Choice(["int8", "int16x8"]),
              help="The file must be full integer: failed checks say FAIL and the exit status is 1.")
def inspect(tflite_path, tensors, as_json, expect) -> None:
    """Show a .tflite file: its kind, I/O, ops (version, Keras layer, MACs), sizes, sparsity, int8 checks."""
    from edgeloop.converters import checks_to_dict, op_counts, read_model, verify, weight_sparsity
    from edgeloop.converters.describe import describe, op_lines, tensor_lines
    from edgeloop.converters.io_order import signature_io

    info = read_model(Path(tflite_path))
    names = [{i: n for n, i in m.items()} for m in signature_io(Path(tflite_path).read_bytes())]
    io = {
        "inputs": [_tensor_summary(info.tensors[i], names[0].get(i)) for i in info.inputs],
        "outputs": [_tensor_summary(info.tensors[i], names[1].get(i)) for i in info.outputs],
    }
    io_type = info.tensors[info.inputs[0]].dtype if info.inputs else "float32"
    io_type = io_type if io_type in ("int8", "uint8", "int16") else "float32"
    checks = verify(info, mode=expect or ("int16x8" if io_type == "int16" else "int8"), io_type=io_type)
    from edgeloop.quant.kind import file_kind, sparse_weights

    file_type, sparse = file_kind(info), sparse_weights(Path(tflite_path))
    result = {
        "file": tflite_path,
        "bytes": info.size_bytes,
        **io,
        "expects": _expects(tflite_path, info),
        "ops": op_counts(info),
        "tensors": len(info.tensors),
        "weight_sparsity": weight_sparsity(info),
        "full_integer_checks": checks_to_dict(checks),
        "kind": file_type,
        "sparse_weights": sparse,
        **describe(info),
    }
    failed = bool(expect) and not all(c.passed for c in checks)
    if as_json:
        _emit_json(result)
        sys.exit(1 if failed else 0)
    click.echo(f"{tflite_path}: {info.size_bytes} bytes, {len(info.tensors)} tensors, {len(info.ops)} ops, "
               f"{len(info.subgraphs)} subgraph(s), {info.macs:,} MACs, {info.constant_bytes:,} bytes of constants")
    for kind in ("inputs", "outputs"):
        for t in result[kind]:
            name = t["name"] if t["signature_name"] in (None, t["name"]) else f"{t['signature_name']} ({t['name']})"
            click.echo(f"  {kind[:-1]:<6} {name}  {t['dtype']}  {t['shape_signature']}  scale={t['scale']} zero_point={t['zero_point']}")
    if result["expects"]:
        click.echo(f"  expects: {result['expects']}")
    click.echo("  ops:")
    for line in op_lines(info) + (["  tensors:", *tensor_lines(info)] if tensors else []):
        click.echo(line)
    for name, s in result["weight_sparsity"].items():
        click.echo(f"  sparsity {s:6.1%}  {name}")
    for name, s in sparse.items():
        click.echo(f"  sparse-stored {s['sparsity']:6.1%} zeros  {name} {s['shape']}")
    click.echo(f"  kind: {file_type['kind']} ({file_type['detail']})"
               + ("; off int8: " + ", ".join(f"{o['op']} {o['layer']} {o['dtype']}" for o in file_type["off_int8"][:8])
                  if file_type["kind"] == "mixed" else ""))
    click.echo("  full-integer checks" + ("" if expect else " (described; --expect int8 makes them a gate)") + ":")
    for c in checks:
        mark = ("pass" if c.passed else "FAIL") if expect else ("yes " if c.passed else "no  ")
        click.echo(f"    {mark}  {c.name}: {c.detail}")
    if failed:
        sys.exit(1)


_TARGET = click.option("--target", type=click.Choice(["edgetpu"]), default="edgetpu", show_default=True,
                       help="The accelerator.")
_RUNTIME = click.option("-m", "--min-runtime-version", "runtime", type=click.IntRange(10, None),
                        help="Edge TPU runtime of the device (default: the newest, 14).")
_MULTI = click.option("-a", "--multiple-subgraphs", is_flag=True,
                      help="Also map supported ops after an unsupported one (edgetpu_compiler -a).")


@cli.command()
@click.argument("tflite_path")
@_TARGET
@_RUNTIME
@_MULTI
@click.option("--json", "as_json", is_flag=True)
def check(tflite_path, target, runtime, multiple_subgraphs, as_json) -> None:
    """Predict what of TFLITE_PATH runs on the Edge TPU, op by op, without the compiler.

    Exit status 0 when every op maps, 1 when anything would fall back to the CPU, 2 on bad input.
    """
    from edgeloop.converters.edgetpu.run import check_file
    from edgeloop.converters.edgetpu.text import analysis_lines

    # a file the interpreter refuses is no model to predict for
    analysis = check_file(tflite_path, runtime=runtime, multiple_subgraphs=multiple_subgraphs)
    if as_json:
        _emit_json({"file": tflite_path, "target": target, **analysis.to_dict()})
    else:
        for line in analysis_lines(analysis, tflite_path):
            click.echo(line)
    sys.exit(0 if analysis.fully_mapped else 1)


@cli.command(name="compile")
@click.argument("tflite_path")
@_TARGET
@_RUNTIME
@_MULTI
@click.option("-o", "--out-dir", type=click.Path(file_okay=False), help="Where <name>_edgetpu.tflite goes (default: next to the model).")
@click.option("-n", "--num-segments", type=click.IntRange(1, None), help="Split for a pipeline of N Edge TPUs.")
@click.option("-i", "--intermediate-tensors", help="Comma-separated tensors to end the Edge TPU part at.")
@click.option("--also", "co_compile", multiple=True, help="Another .tflite to co-compile (shares the parameter cache); repeatable.")
@click.option("--no-show-operations", is_flag=True, help="Do not ask the compiler for its per-op table (-s).")
@click.option("--timeout", "timeout_s", default=300.0, show_default=True, help="Stop the compiler after this many seconds.")
@click.option("--fix", is_flag=True, help="Set a dynamic batch to 1 first (writes <name>_fixed.tflite).")
@click.option("--compiler", help="The edgetpu_compiler executable (default: the one on PATH).")
@click.option("--json", "as_json", is_flag=True)
def compile_(tflite_path, target, runtime, multiple_subgraphs, out_dir, num_segments, intermediate_tensors, co_compile,
             no_show_operations, timeout_s, fix, compiler, as_json) -> None:
    """Compile TFLITE_PATH with edgetpu_compiler and explain the result next to the prediction.

    Exit status 0 when every op maps, 1 when some run on the CPU, 2 on bad input or a
    compiler error, 3 when edgetpu_compiler is not installed (the prediction is shown).
    """
    from edgeloop.converters.edgetpu.run import compile_file

    code, result, lines, warning = compile_file(
        Path(tflite_path), out_dir=out_dir, runtime=runtime, multiple_subgraphs=multiple_subgraphs,
        num_segments=num_segments, intermediate_tensors=intermediate_tensors, co_compile=list(co_compile),
        show_operations=not no_show_operations, timeout_s=timeout_s, fix=fix, compiler=compiler)
    if warning:
        click.echo(f"edgeloop: {warning}", err=True)
    if as_json:
        _emit_json({"file": tflite_path, "target": target, **result})
    else:
        for line in lines:
            click.echo(line)
    sys.exit(code)


def _expects(tflite_path: str, info) -> str | None:
    """What the first input wants, in words (from the file's edgeloop metadata when it has some)."""
    from edgeloop.converters.metadata import expects, read_metadata

    if not info.inputs:
        return None
    t = info.tensors[info.inputs[0]]
    return expects(read_metadata(Path(tflite_path).read_bytes()), t.dtype, t.scales[0] if t.scales else None,
                   t.zero_points[0] if t.zero_points else None)


def _tensor_summary(t, signature_name: str | None = None) -> dict:
    return {
        "name": t.name,
        "signature_name": signature_name,  # the model's own name for it (image, cls …), in the file's signature
        "dtype": t.dtype,
        "shape_signature": list(t.shape_signature),
        "scale": t.scales[0] if t.scales else None,
        "zero_point": t.zero_points[0] if t.zero_points else None,
    }


@cli.command()
@click.argument("tflite_path", required=False)
@click.option("-d", "--device", "devices", multiple=True, default=("local",), show_default=True,
              help="local, http://HOST:PORT (an edgeloop agent) or adb:SERIAL; repeat to compare devices.")
@click.option("--threads", default=1, show_default=True)
@click.option("--delegate", help="xnnpack, none (plain CPU kernels), edgetpu, gpu, nnapi or hexagon "
              "(default: the runtime's, XNNPACK on CPU).")
@click.option("--warmup", default=10, show_default=True, help="Untimed runs after the first inference.")
@click.option("--runs", default=100, show_default=True, help="Timed runs at least.")
@click.option("--max-runs", type=int, help="Timed runs at most (default: 1000 or --runs); past --runs, runs go on "
              "until the median's 95% interval is within --ci.")
@click.option("--ci", "ci_target", default=0.01, show_default=True, help="Target half-width of the median's 95% interval, "
              "as a fraction of the median.")
@click.option("--time-limit", default=60.0, show_default=True, help="Seconds the whole benchmark may take.")
@click.option("--op-profiling", is_flag=True, help="Also measure each op's latency.")
@click.option("--compare", "float_path", type=click.Path(dir_okay=False), help="A float32 .tflite of the same model: "
              "measure it too, with op profiling, and say op by op why TFLITE_PATH (int8) is slower or not.")
@click.option("--token-file", type=click.Path(dir_okay=False), help="The agent's token (http:// devices).")
@click.option("--benchmark-model", type=click.Path(dir_okay=False), help="benchmark_model binary for the phone (adb: devices).")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), help="Latency store (default: ~/.cache/edgeloop/latency.sqlite).")
@click.option("--fresh", is_flag=True, help="Measure even when the store has this model, device and options.")
@click.option("--history", "show_history", is_flag=True, help="List stored measurements (of TFLITE_PATH if given).")
@click.option("--against", "old_path", type=click.Path(dir_okay=False), help="Regression gate: the old model; exit 1 unless "
              "TFLITE_PATH is faster beyond the noise (or, with --margin, not slower by more than the margin).")
@click.option("--margin", type=float, help="With --against: fail only when slower by more than this fraction, beyond the noise.")
@click.option("--json", "as_json", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
def bench(tflite_path, devices, threads, delegate, warmup, runs, max_runs, ci_target, time_limit, op_profiling, float_path,
          token_file, benchmark_model, store_path, fresh, show_history, old_path, margin, as_json, quiet) -> None:
    """Time TFLITE_PATH on one or more devices; keep every measurement in the latency store."""
    from edgeloop.host import latency, render
    from edgeloop.device.agent import read_token
    from edgeloop.host.devices import open_device
    from edgeloop.device.options import BenchmarkOptions
    from edgeloop.host.store import LatencyStore
    from edgeloop.ui import Ui

    store = LatencyStore(store_path)
    if show_history:
        rows = latency.history(store, tflite_path)
        if as_json:
            _emit_json(rows)
        else:
            render.history(rows)
        return
    if not tflite_path:
        raise EdgeloopError("give the .tflite to benchmark (or --history)")
    options = BenchmarkOptions(threads=threads, delegate=delegate, warmup=warmup, runs=runs,
                               max_runs=max(runs, 1000) if max_runs is None else max_runs, ci_target=ci_target,
                               time_limit_s=time_limit, op_profiling=op_profiling)
    token = read_token(token_file) if token_file else None
    targets = [open_device(spec, token=token, benchmark_model=benchmark_model) for spec in devices]
    if old_path:
        if len(targets) != 1 or margin is not None and margin < 0:
            raise EdgeloopError("--against compares on one --device, with a --margin of 0 or more")
        verdict, measured = latency.regression_gate(old_path, tflite_path, targets[0], options, margin)
        if as_json:
            _emit_json({"device": targets[0].name, "old": old_path, "new": tflite_path, **verdict.to_dict(),
                        "old_stats": measured["old"].get("stats"), "new_stats": measured["new"].get("stats")})
        else:
            render.gate(verdict, targets[0].name)
        if not verdict.passed:
            sys.exit(1)
        return
    ui = Ui(quiet=quiet or as_json)
    if float_path:
        from edgeloop.host.op_compare import compare_files

        compared = compare_files(tflite_path, float_path, targets, options, store, fresh)
        if as_json:
            _emit_json(compared)
        else:
            for device, c in compared.items():
                click.echo(f"{device}: {tflite_path} against {float_path}")
                for line in c["lines"]:
                    click.echo(f"  {line}")
        return
    with ui.progress("benchmark", warmup + options.runs) as advance:
        results = latency.measure(tflite_path, targets, options, store, fresh=fresh, progress=lambda d, t: advance(1))
    if as_json:
        _emit_json(results[0].to_dict() if len(results) == 1 else [m.to_dict() for m in results])
    else:
        render.measurements(results)


@cli.group()
def agent() -> None:
    """The device agent: run it on the device, then bench with --device http://HOST:PORT."""


@agent.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8470, show_default=True, help="TCP port (0 picks a free one).")
@click.option("--token-file", type=click.Path(dir_okay=False), help="File holding the token clients must send.")
@click.option("--no-auth", is_flag=True, help="No token (only when listening on loopback).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Where uploaded models are kept "
              "(default: ~/.cache/edgeloop/agent-models).")
@click.option("--cache-mb", default=512, show_default=True, help="Size cap of the model cache.")
@click.option("--max-upload-mb", default=64, show_default=True, help="Largest model accepted.")
@click.option("--queue", default=4, show_default=True, help="Benchmarks that may wait while one runs.")
@click.option("--max-time", default=600.0, show_default=True, help="Longest time limit a benchmark may ask for (s).")
@click.option("--memory-limit-mb", type=int, help="Address-space cap of each benchmark process.")
@click.option("--grace", default=10.0, show_default=True, help="Seconds a benchmark process gets past its time limit.")
@click.option("--max-connections", default=32, show_default=True, help="Connections served at once; more are told 503 busy.")
@click.option("--idle-timeout", default=30.0, show_default=True, help="Seconds a client has to send a request's headers "
              "(and an idle connection stays open).")
def agent_serve(host, port, token_file, no_auth, cache_dir, cache_mb, max_upload_mb, queue, max_time, memory_limit_mb,
                grace, max_connections, idle_timeout) -> None:
    """Serve benchmarks over HTTP (stdlib, numpy and a TFLite interpreter only: no TensorFlow)."""
    from edgeloop.device.agent import AgentConfig, read_token, serve

    if bool(token_file) == no_auth:
        raise EdgeloopError("give --token-file, or --no-auth to serve without a token on loopback")
    config = AgentConfig(host=host, port=port, token=read_token(token_file) if token_file else None,
                         cache_bytes=cache_mb * 2**20, max_upload_bytes=max_upload_mb * 2**20, queue=queue,
                         max_time_s=max_time, memory_limit_mb=memory_limit_mb, grace_s=grace,
                         max_connections=max_connections, idle_timeout_s=idle_timeout,
                         **({"cache_dir": Path(cache_dir)} if cache_dir else {}))
    serve(config)


@cli.command()
def recipes() -> None:
    """List presets and the steps a recipe can use, with their options."""
    import dataclasses

    from edgeloop.pipeline import step_class, step_names
    from edgeloop.presets import describe_presets

    click.echo("presets (use as --recipe edgeloop:<name>):")
    for name, doc in describe_presets().items():
        click.echo(f"  {name:<16} {doc}")
    click.echo("steps:")
    for name in step_names():
        fields = dataclasses.fields(step_class(name).Options)
        defaults = [(f.name, f.default_factory() if f.default is dataclasses.MISSING else f.default) for f in fields]
        click.echo(f"  {name:<13} " + ", ".join(f"{key}={value!r}" for key, value in defaults))


@cli.group()
def models() -> None:
    """The model zoo: architectures usable as zoo:<name> in a recipe."""


@models.command("list")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON (with each figure's source).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def models_list(names, as_json, quiet) -> None:
    """Count every architecture (or NAMES) at its paper's configuration, next to the paper.

    Parameters are trainable weights; MACs are the multiply-accumulates of convolutions and
    Dense layers for one inference. Each model is built at full size to be counted.
    """
    from edgeloop.models import list_models
    from edgeloop.models.table import format_count, zoo_table
    from edgeloop.ui import Ui

    ui = Ui(quiet=quiet or as_json)
    with ui.progress("counting", len(names) or len(list_models())) as advance:
        rows = zoo_table(list(names), progress=lambda name: advance(1))
    if as_json:
        _emit_json(rows)
        return
    pct = lambda v: "-" if v is None else f"{v:+.1f}%" if abs(v) >= 0.05 else "0.0%"  # noqa: E731
    header = ("model", "reference", "params", "MACs", "paper params", "paper MACs", "params diff", "MACs diff")
    table = [header] + [
        (r["name"], r["reference"] or "-", format_count(r["params"]), format_count(r["macs"]),
         format_count(r["paper_params"]), format_count(r["paper_macs"]), pct(r["params_diff_pct"]), pct(r["macs_diff_pct"]))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    click.echo("params: trainable weights; MACs: multiply-accumulates of convolutions and Dense layers. "
               "Sources: edgeloop models list --json")


def _add_commands() -> None:
    # Larger commands live in their own modules (imported without TensorFlow).
    from edgeloop.autocompress.command import autocompress
    from edgeloop.doctor.command import doctor
    from edgeloop.quant.command import quant_report, quantize
    from edgeloop.search.command import search

    cli.add_command(search)
    cli.add_command(quantize)
    cli.add_command(quant_report)
    cli.add_command(doctor)
    cli.add_command(autocompress)


_add_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning bad input into one line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="edgeloop", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except EdgeloopError as exc:
        click.echo(f"edgeloop: error: {exc}", err=True)
        sys.exit(2)
    sys.exit(0)


if __name__ == "__main__":
    main()
