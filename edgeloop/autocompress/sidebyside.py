"""The last phase: every point of the report timed again, side by side, in interleaved passes.

A search measures each trial when it finishes, and the comparisons (hand recipes, NetAdapt)
minutes later: on a shared machine or a phone that heats up, two files a few microseconds
apart are not told apart by measurements taken at different times (the same architecture,
timed as a trial and again as its refined rerun, read 0.0056 and 0.0077 ms in one run of the
benchmark). So at the end every file is timed once per pass, all in turn, ``passes`` times,
and each point's latency is the median of its passes: the front and the dominance checks are
drawn on these, the search-time figure stays beside it (``latency_ms_search``).

NetAdapt keeps its iterations as Keras models, not files: each is converted to int8 again
for timing (calibrated on random inputs; an int8 file's speed does not depend on its scales).
"""

from __future__ import annotations

from pathlib import Path

from edgeloop.autocompress.labels import key, refined_label, trial_label, winner_label
from edgeloop.errors import EdgeloopError


def files(folder: Path, state: dict) -> dict[str, Path | bytes]:
    """Each point's ``.tflite`` (a path, or bytes converted again), keyed as :func:`key` names it."""
    out: dict[str, Path | bytes] = {}
    for t in state.get("trials") or []:
        if t.get("figures"):
            out[trial_label(t["number"])] = folder / t["figures"]["run_dir"] / "model.tflite"
    winner = state.get("winner")
    if winner and winner.get("run_dir"):
        out[winner_label(winner["trial"])] = folder / winner["run_dir"] / "model.tflite"
    for r in state.get("refined") or []:
        if r.get("run_dir"):
            out[refined_label(r["trial"])] = folder / r["run_dir"] / "model.tflite"
    for c in state.get("compare") or []:
        if c.get("kind") == "hand":
            for p in c.get("points", []):
                out[key(c["name"], p["label"])] = Path(p["run_dir"]) / "model.tflite"
        elif c.get("kind") == "netadapt":
            out.update(_netadapt_files(c))
    return out


def _netadapt_files(c: dict) -> dict[str, Path | bytes]:
    import json

    session = Path(c["folder"])
    state = json.loads((session / "search.json").read_text())
    out: dict[str, Path | bytes] = {key(c["name"], "original"): session / state["original"]["tflite"]}
    for it in state.get("iterations", []):
        out[key(c["name"], f"iteration {it['iteration']}")] = _convert_again(session / it["model_file"])
    if state.get("final"):
        out[key(c["name"], "NetAdapt final")] = session / state["final"]["tflite"]
    return out


def _convert_again(path: Path) -> bytes:
    import numpy as np

    from edgeloop.converters.tflite import convert
    from edgeloop.models import load_model

    model = load_model(path)
    samples = np.random.default_rng(0).random((8, *model.input_shape[1:]), dtype=np.float32)
    return convert(model, "int8", samples)


def measure(points: dict[str, Path | bytes], meter, passes: int, ui=None) -> dict[str, dict]:
    """``passes`` rounds, every file once per round in the same order; per point the median of
    its rounds and the rounds themselves (ms)."""
    import numpy as np

    from edgeloop.host.latency import measure as time_on

    blobs = {}
    for name, source in points.items():
        if isinstance(source, Path) and not source.is_file():
            raise EdgeloopError(f"side by side: {name}'s file {source} is gone")
        blobs[name] = source.read_bytes() if isinstance(source, Path) else source
    rounds: dict[str, list[float]] = {name: [] for name in blobs}
    for i in range(passes):
        if ui is not None:
            ui.info(f"[bold]side by side[/bold]: pass {i + 1} of {passes}, {len(blobs)} files")
        for name, blob in blobs.items():
            # Not through the latency store: it answers the search's lookups, and these passes
            # are this comparison's alone.
            result = time_on(blob, [meter.device], meter.options, None)[0].result
            rounds[name].append(float(result.stats.median_ms))
    return {name: {"latency_ms": float(np.median(r)), "passes_ms": r} for name, r in rounds.items()}
