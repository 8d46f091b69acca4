"""``edgeloop doctor MODEL [--recipe R] [--data D] [--json]``: the pre-flight, printed.

Exit status 0 when every step of the recipe can run (or no recipe was given), 1 when a
step cannot, 2 on bad input (a missing model, an unknown recipe key).
"""

from __future__ import annotations

import json
import sys

import click

_HEADERS = {"prune": "prune", "qat": "QAT", "cluster": "cluster", "filter_prune": "filter_prune", "edgetpu": "Edge TPU"}
_CELL = 26


@click.command()
@click.argument("model_spec", metavar="MODEL")
@click.option("--recipe", "recipe_spec", help="Also check every step of this recipe (file or edgeloop:<preset>).")
@click.option("--data", help="Data for calibration samples and zoo models' input shape (digits, .npz, image folder).")
@click.option("--json", "as_json", is_flag=True, help="Everything as JSON.")
def doctor(model_spec, recipe_spec, data, as_json) -> None:
    """Which techniques apply to each layer of MODEL, and whether each recipe step can run.

    Nothing is trained: tfmot's wrappers are tried on each layer, the QAT model is built
    on a clone, and the model is converted once to int8 with a few samples for the Edge
    TPU prediction.
    """
    from edgeloop.doctor.diagnose import diagnose

    dataset, model = _load(model_spec, data)
    steps = []
    if recipe_spec:
        from edgeloop.recipe import load_recipe

        steps = load_recipe(recipe_spec, model=model_spec, data=data).steps
    result = diagnose(model, steps, dataset, name=model_spec)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for line in lines(result):
            click.echo(line)
    sys.exit(0 if result.steps_ok else 1)


def _load(model_spec: str, data: str | None):
    from edgeloop.data import check_compatible, load_data
    from edgeloop.models import load_model

    dataset = load_data(data) if data else None
    if dataset is None:
        return None, load_model(model_spec)
    model = load_model(model_spec, input_shape=dataset.sample_shape, classes=dataset.classes)
    if len(getattr(model, "inputs", None) or []) == 1:
        check_compatible(dataset, tuple(model.inputs[0].shape), None)
    return dataset, model


def _cell(verdict) -> str:
    mark = {True: "✓", False: "✗", None: "-"}[verdict.applies]
    text = f"{mark} {verdict.detail}".rstrip() if verdict.applies is not False else f"{mark} see below"
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def lines(result) -> list[str]:
    """The diagnosis as text: a table of layers, then what cannot run and why."""
    from edgeloop.doctor.layers import TECHNIQUES

    flat = f" (nested {', '.join(result.flattened)} flattened)" if result.flattened else ""
    out = [f"{result.model}: {len(result.layers)} layers{flat}, examined in {result.seconds:.1f} s"]
    out += result.notes
    if result.layers:
        name_w = min(32, max(len(f.layer) for f in result.layers))
        kind_w = min(24, max(len(f.kind) for f in result.layers))
        header = ["layer".ljust(name_w), "type".ljust(kind_w), *(_HEADERS[t].ljust(_CELL) for t in TECHNIQUES)]
        out.append("  ".join(header).rstrip())
        for f in result.layers:
            cells = [f.layer[:name_w].ljust(name_w), f.kind[:kind_w].ljust(kind_w),
                     *(_cell(f.verdicts[t]).ljust(_CELL) for t in TECHNIQUES)]
            out.append("  ".join(cells).rstrip())
        refused = [(f, t) for f in result.layers for t in TECHNIQUES if f.verdicts[t].applies is False]
        if refused:
            out.append("cannot:")
            out += [f"  {f.layer} {_HEADERS[t]}: {f.verdicts[t].detail}" for f, t in refused]
    if result.qat:
        out.append("QAT of the whole model: " + ("builds" if result.qat["can_run"] else result.qat["problem"]))
    if result.conversion:
        c = result.conversion
        line = "int8 conversion: " + ("verified full int8" if c["ok"] else c["problem"])
        tpu = c.get("edgetpu")
        if tpu:
            first = tpu["first_unmapped"]
            line += "; Edge TPU: " + ("maps whole" if tpu["fully_mapped"] and not first else
                                      f"cut at {first['op']} (layer {first['layer']}): {first['status']}" if first else
                                      f"{tpu['ops_on_cpu']} op(s) on the CPU")
        out.append(line)
    if result.steps:
        out.append("recipe steps:")
        for s in result.steps:
            verdict = "can run" if s.can_run else "cannot run: " + s.problems[0].message
            out.append(f"  {s.index:>2} {s.step:<13} {verdict}")
            out += [f"     also: {p.message}" for p in s.problems[1:]]
    return out
