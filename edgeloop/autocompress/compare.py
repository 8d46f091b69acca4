"""What the search is compared with, measured on the same device in the same run.

- Hand recipes (``compare:``): each run on the search's starting model and data, with its
  ``train`` steps dropped (the model is trained already) and its ``benchmark`` steps
  dropped (the search's meter times the converted file, like every trial's).
- NetAdapt (``netadapt: true``): ``edgeloop search`` from the same starting model, aiming at
  the latency budget (half the starting latency when there is none); every model it
  evaluated is a point.

Each finished comparison is kept in ``autocompress.json``: a resumed search does not
run it again.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgeloop.errors import EdgeloopError


def hand_recipe(spec: str, base: dict) -> dict:
    """The recipe ``spec`` (a file or ``edgeloop:<preset>``) on the search's model and data."""
    import yaml

    if spec.startswith("edgeloop:"):
        from edgeloop.presets import preset

        raw = preset(spec[len("edgeloop:"):])
    else:
        path = Path(spec)
        if not path.is_file():
            raise EdgeloopError(f"compare: no recipe file {spec}")
        raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
        raise EdgeloopError(f"compare: {spec} is not a recipe (a mapping with steps)")
    steps = [s for s in raw["steps"] if next(iter(s)) not in ("train", "benchmark")]
    name = Path(spec).stem if not spec.startswith("edgeloop:") else spec.split(":", 1)[1]
    return {**{k: v for k, v in raw.items() if k not in ("model", "data", "preprocess", "seed", "val_fraction")},
            **base, "name": f"compare-{name}", "measure_steps": False, "steps": steps}


def run_all(done: list[dict], folder: Path, base: dict, options, meter, goal, ui) -> list[dict]:
    """Every comparison asked for, those ``done`` kept; each measured on ``meter``'s device."""
    from edgeloop.autocompress.trial import TrialJob, run_trial

    out = list(done)
    have = {c["name"] for c in out}
    for spec in options.compare:
        name = f"hand: {Path(spec).stem if not spec.startswith('edgeloop:') else spec}"
        if name in have:
            continue
        ui.info(f"[bold]compare[/bold] {name}")
        outcome = run_trial(TrialJob(-1, {}, hand_recipe(spec, base), str(folder / "compare")))
        if not outcome.ok:
            out.append({"name": name, "kind": "hand", "error": outcome.error, "points": []})
            continue
        out.append({"name": name, "kind": "hand", "points": [_point(outcome, meter, name)]})
        _save(folder, out)
    if options.netadapt and "NetAdapt" not in have:
        ui.info("[bold]compare[/bold] NetAdapt")
        out.append(_netadapt(folder, base, options, meter, goal))
        _save(folder, out)
    return out


def _point(outcome, meter, label: str) -> dict:
    return {"label": label, "int8_accuracy": outcome.int8_accuracy, "float_accuracy": outcome.float_accuracy,
            "latency_ms": meter.median_ms(outcome.tflite), "size_kb": outcome.gzip_bytes / 1024,
            "raw_kb": outcome.size_bytes / 1024, "run_dir": outcome.run_dir}


def _save(folder: Path, compare: list[dict]) -> None:
    from edgeloop import _io

    path = folder / "autocompress.json"
    state = json.loads(path.read_text())
    state["compare"] = compare
    _io.write_json(path, state)


def _netadapt(folder: Path, base: dict, options, meter, goal) -> dict:
    """NetAdapt from the starting model, on the same device and latency store."""
    import gzip

    from edgeloop.pipeline.options import parse_options
    from edgeloop.search import SearchOptions, search

    budget = f"{goal.latency_ms:.6f}ms" if goal.latency_ms else "0.5x"
    # The trials' fine-tune epochs, and larger NetAdapt steps than the command's defaults (a
    # quarter of the original latency per iteration), so the comparison costs about a search's share.
    search_options = parse_options(SearchOptions, {
        "budget": budget, "short_epochs": max(1, options.epochs), "long_epochs": max(1, options.final_epochs),
        "seed": options.seed, "runs": options.runs, "initial_reduction": 0.25, "decay": 1.0, "baseline_widths": [],
        "calibration_samples": options.calibration_samples, "accuracy_drop": options.max_drop}, "netadapt")
    session = search(base["model"], base["data"], search_options, device=meter.spec, out=folder / "netadapt",
                     store=options.store, token_file=options.token_file, preprocess=base.get("preprocess"), force=True)
    state = session.state
    points = [{"label": "original", "int8_accuracy": state["original"]["int8_accuracy"],
               "latency_ms": state["original"]["latency_ms"]}]
    for it in state["iterations"]:
        p = next(p for p in it["proposals"] if p["group"] == it["chosen"])
        points.append({"label": f"iteration {it['iteration']}", "int8_accuracy": p["int8_accuracy"],
                       "latency_ms": p["measured_ms"]})
    final = state.get("final")
    if final:
        blob = (session.folder / final["tflite"]).read_bytes()
        points.append({"label": "NetAdapt final", "int8_accuracy": final["int8_accuracy"], "latency_ms": final["latency_ms"],
                       "size_kb": len(gzip.compress(blob, compresslevel=9)) / 1024, "raw_kb": len(blob) / 1024})
    return {"name": "NetAdapt", "kind": "netadapt", "folder": str(session.folder), "status": state["status"],
            "points": points}
