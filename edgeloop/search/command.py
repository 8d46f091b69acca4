"""``edgeloop search``: the hardware-aware search from the command line (thin: parses, calls
:mod:`edgeloop.search`, prints). Imports nothing heavy until it runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgeloop.errors import EdgeloopError


@click.command()
@click.option("--model", help="Model to start from: .keras, .h5, SavedModel folder or zoo:<name>?width=…")
@click.option("--data", default="digits", show_default=True, help="digits, a .npz with x and y, or an image folder.")
@click.option("--preprocess", help="How 0-255 pixels become the model's input: a convention (mobilenet_v2, resnet50, "
              "torch, …), a mapping such as '{range: [-1, 1]}', or a .yaml file (default: [0, 1] for images).")
@click.option("--device", default="local", show_default=True,
              help="Where latency is measured: local, http://HOST:PORT (an agent) or adb:SERIAL.")
@click.option("--token-file", type=click.Path(dir_okay=False), help="The agent's token.")
@click.option("--store", type=click.Path(dir_okay=False), help="Latency store file (default: the user's cache folder).")
@click.option("--fresh", is_flag=True, help="Measure again what the latency store already holds.")
@click.option("--latency-budget", "budget",
              help="Latency to reach: a fraction of the original's measured int8 latency (0.5x, the default) or "
                   "milliseconds (2.5ms).")
@click.option("--accuracy-drop", type=float, help="Most converted-accuracy points the result may lose (default 1.0).")
@click.option("--latency", "latency_source", type=click.Choice(["measure", "lut", "predictor"]),
              help="Latency that steers the search: measured (default), per-layer look-up table, or predictor.")
@click.option("--select", type=click.Choice(["accuracy", "mnas-soft", "mnas-hard"]),
              help="Pick each iteration's most accurate proposal (NetAdapt, the default) or the best MnasNet reward.")
@click.option("--executor", default="sequential", show_default=True, help="sequential, ray (local) or ray://HOST:PORT.")
@click.option("--iterations", type=int, help="Most NetAdapt iterations (default 15).")
@click.option("--train-epochs", type=int, help="Train the starting model first (default: 30 for zoo models, 0 for files).")
@click.option("--short-epochs", type=int, help="Fine-tune epochs of every proposal (default 2).")
@click.option("--long-epochs", type=int, help="Fine-tune epochs of the chosen model (default 10).")
@click.option("--step", type=int, help="Filters removed at a time (default: 1/16 of each layer's width).")
@click.option("--baseline-widths", help="Width multipliers of the comparison baseline, e.g. 1,0.75,0.5,0.35 ('' for none).")
@click.option("--edgetpu", type=click.Choice(["auto", "off", "reject", "penalize"]),
              help="Proposals that would fall off the Edge TPU are rejected or penalized (auto: rejected on an Edge TPU device).")
@click.option("--runs", type=int, help="Timed runs per measurement (default 100).")
@click.option("--threads", type=int, help="Interpreter threads on the device (default 1).")
@click.option("--seed", type=int, help="Seeds training, fine-tunes and the data split (default 0).")
@click.option("--force", is_flag=True, help="Go on when the model file fails the sanity check on the data.")
@click.option("--options", "options_file", type=click.Path(dir_okay=False),
              help="A YAML mapping of any search option (see edgeloop.search.SearchOptions); flags override it.")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False), help="Where search folders go.")
@click.option("--resume", "resume_dir", type=click.Path(), help="Continue the search in RESUME_DIR.")
@click.option("--json", "as_json", is_flag=True, help="Print the report's summary as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or chatter.")
def search(model, data, preprocess, device, token_file, store, fresh, budget, accuracy_drop, latency_source, select, executor, iterations, train_epochs,
           short_epochs, long_epochs, step, baseline_widths, edgetpu, runs, threads, seed, force, options_file, out, resume_dir,
           as_json, quiet) -> None:
    """Find the most accurate narrowed model that meets a latency budget measured on the device.

    NetAdapt: each iteration removes the fewest filters from each layer that meet a
    tightening latency target, fine-tunes and scores every proposal converted to int8, and
    keeps the best. Exit status 1 when the result misses the budget or the accuracy limit.
    """
    from edgeloop.pipeline.options import parse_options
    from edgeloop.search import SearchOptions
    from edgeloop.search import resume as resume_search
    from edgeloop.search import search as run_search
    from edgeloop.search.report import summary
    from edgeloop.ui import Ui, emit_json

    ui = Ui(quiet=quiet or as_json)
    if resume_dir:
        if model or preprocess:
            raise EdgeloopError("--resume continues a search with its own settings: give no --model or --preprocess")
        session = resume_search(resume_dir, ui=ui)
    else:
        if not model:
            raise EdgeloopError("no model: give --model (a model file or zoo:<name>) or --resume a search folder")
        given = {"budget": budget, "accuracy_drop": accuracy_drop, "latency": latency_source, "select": select.replace("-", "_") if select else None,
                 "max_iterations": iterations, "train_epochs": train_epochs, "short_epochs": short_epochs,
                 "long_epochs": long_epochs, "step": step, "edgetpu": edgetpu, "runs": runs, "threads": threads, "seed": seed}
        if baseline_widths is not None:
            given["baseline_widths"] = [_float(w, "--baseline-widths") for w in baseline_widths.split(",") if w.strip()]
        base = _yaml_mapping(options_file) if options_file else {}
        options = parse_options(SearchOptions, {**base, **{k: v for k, v in given.items() if v is not None}},
                                options_file or "search")
        session = run_search(model, data, options, device=device, out=out, executor=executor, ui=ui,
                             token_file=token_file, store=store, fresh=fresh, preprocess=preprocess, force=force)
    head = summary(session.state)
    gate = [c for c in head["checks"] if c["name"] in ("budget_met", "accuracy_drop")]
    if as_json:
        emit_json({"folder": str(session.folder), **head})
    else:
        click.echo(f"search folder: {session.folder}")
        o, f = head["original"], head.get("final")
        if f:
            click.echo(f"original: {o['int8_accuracy']:.2%} int8, {o['latency_ms']:.4f} ms; result: {f['int8_accuracy']:.2%} int8, "
                       f"{f['latency_ms']:.4f} ms measured ({f['latency_ratio']:.2f}x), estimate {f['estimated_ms']:.4f} ms "
                       f"({f['estimate_error']:+.1%})")
        for c in head["checks"]:
            click.echo(f"  {'pass' if c['passed'] else 'FAIL'}  {c['name']}: {c['detail']}")
    if not all(c["passed"] for c in gate):
        sys.exit(1)


def _yaml_mapping(path: str) -> dict:
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgeloopError(f"options file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EdgeloopError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise EdgeloopError(f"{path}: expected a mapping of search options")
    return raw


def _float(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise EdgeloopError(f"{option}: {text!r} is not a number") from None
