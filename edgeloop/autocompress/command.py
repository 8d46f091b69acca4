"""``edgeloop autocompress``: the automatic compression search from the command line.

Thin: it writes the recipe ``[train (zoo models),] autocompress`` from the flags and runs it
with the pipeline's runner, so the search is the same step a recipe runs, resumable the
same way. Imports nothing heavy until it runs.
"""

from __future__ import annotations

import sys

import click

from edgeloop.errors import EdgeloopError


@click.command()
@click.option("--model", help="Model to start from: .keras, .h5, SavedModel folder or zoo:<name>.")
@click.option("--data", default="digits", show_default=True, help="digits, a .npz with x and y, or an image folder.")
@click.option("--preprocess", help="How 0-255 pixels become the model's input (a convention or a mapping).")
@click.option("--device", help="Where latency is measured: local (default), http://HOST:PORT or adb:SERIAL.")
@click.option("--token-file", type=click.Path(dir_okay=False), help="The agent's token.")
@click.option("--latency", help="Latency budget: 2.5ms, or a share of the float baseline's latency on the device (0.5x).")
@click.option("--size-kb", type=float, help="Size budget: KiB of the .tflite file.")
@click.option("--max-drop", type=float, help="Most converted-accuracy points lost against float (default 1.0).")
@click.option("--trials", type=int, help="Policies evaluated (default 30).")
@click.option("--time-limit", help="Stop starting trials after this long: 600, 15m, 2h.")
@click.option("--epochs", type=int, help="Fine-tune epochs per technique in a trial (default 2).")
@click.option("--final-epochs", type=int, help="Fine-tune epochs per technique for the winner (default 6).")
@click.option("--refine-front", type=int, help="Also rerun up to N other front trials with the winner's fine-tune (default 0).")
@click.option("--train-epochs", type=int, help="Train the starting model first (default: 30 for zoo models, 0 for files).")
@click.option("--dimensions", help="Searched parts, comma-separated: width,sparsity,m_by_n,clusters,precision,distill,factorize.")
@click.option("--sampler", type=click.Choice(["nsga2", "tpe"]), help="Optuna sampler (default nsga2).")
@click.option("--objective", type=click.Choice(["pareto", "mnas"]), help="Three objectives, or MnasNet's reward.")
@click.option("--executor", help="sequential (default), ray (local) or ray://HOST:PORT.")
@click.option("--parallel", type=int, help="Trials evaluated at once (default 1).")
@click.option("--compare", multiple=True, help="A hand recipe measured on the same device (repeatable).")
@click.option("--netadapt", is_flag=True, default=None, help="Also run the NetAdapt search on the same device.")
@click.option("--store", type=click.Path(dir_okay=False), help="Latency store file (default: the user's cache folder).")
@click.option("--seed", type=int, help="Seeds the sampler, the fine-tunes and the data split (default 0).")
@click.option("--options", "options_file", type=click.Path(dir_okay=False),
              help="A YAML mapping of any autocompress option; flags override it.")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False), help="Where run folders go.")
@click.option("--resume", "resume_dir", type=click.Path(), help="Continue the run in RESUME_DIR.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or chatter.")
def autocompress(model, data, preprocess, device, token_file, latency, size_kb, max_drop, trials, time_limit, epochs,
                 final_epochs, refine_front, train_epochs, dimensions, sampler, objective, executor, parallel, compare, netadapt, store,
                 seed, options_file, out, resume_dir, as_json, quiet) -> None:
    """Search which compression to apply, where and how much, against latency measured on the device.

    An Optuna study (NSGA-II or TPE, stored in the run folder) over filter widths, per-layer
    sparsity, cluster counts, per-layer precision, distillation and factorization; every
    trial converted to int8, scored and timed on the device. The winner is written as a
    recipe (autocompress/winner.yaml) that reproduces it. Exit status 1 when no trial meets
    the target.
    """
    from edgeloop.pipeline import runner
    from edgeloop.recipe import from_dict
    from edgeloop.search.command import _yaml_mapping
    from edgeloop.ui import Ui, emit_json

    ui = Ui(quiet=quiet or as_json)
    if resume_dir:
        if model:
            raise EdgeloopError("--resume continues a run with its own settings: give no --model")
        result = runner.resume(resume_dir, ui=ui)
    else:
        if not model:
            raise EdgeloopError("no model: give --model (a model file or zoo:<name>) or --resume a run folder")
        given = {"device": device, "token_file": token_file, "latency": latency, "size_kb": size_kb,
                 "max_drop": max_drop, "trials": trials, "time_limit": time_limit, "epochs": epochs,
                 "final_epochs": final_epochs, "refine_front": refine_front, "sampler": sampler, "objective": objective, "executor": executor,
                 "parallel": parallel, "compare": list(compare) or None, "netadapt": netadapt, "store": store,
                 "seed": seed, "dimensions": [d.strip() for d in dimensions.split(",") if d.strip()] if dimensions else None}
        options = {**(_yaml_mapping(options_file) if options_file else {}),
                   **{k: v for k, v in given.items() if v is not None}}
        zoo = model.startswith("zoo:")
        train = 30 if train_epochs is None and zoo else (train_epochs or 0)
        name = "autocompress-" + (model[4:].split("?")[0] if zoo else model.rstrip("/").rsplit("/", 1)[-1].split(".")[0])
        raw = {"name": name, "model": model, "data": data, "seed": options.get("seed", 0),
               "steps": ([{"train": {"epochs": train}}] if train else []) + [{"autocompress": options}]}
        if preprocess:
            from edgeloop.preprocess import Preprocess

            raw["preprocess"] = Preprocess.parse(preprocess, "--preprocess").to_dict()
        result = runner.run(from_dict(raw, source="edgeloop autocompress"), out=out, ui=ui)
    entry = next((e for e in result.report.get("steps", []) if e.get("step") == "autocompress"), None)
    found = (entry or {}).get("result", {})
    if as_json:
        emit_json({"run_dir": str(result.run_dir), "status": found.get("status"), "chosen": found.get("chosen"),
                   "winner": found.get("winner"), "recipe": found.get("recipe")})
    else:
        click.echo(f"run folder: {result.run_dir}")
        for c in found.get("checks", []):
            click.echo(f"  {'pass' if c['passed'] else 'FAIL'}  {c['name']}: {c['detail']}")
        if found.get("recipe"):
            click.echo(f"winner's recipe: {result.run_dir / found['recipe']}")
    if found.get("status") != "finished":
        sys.exit(1)
