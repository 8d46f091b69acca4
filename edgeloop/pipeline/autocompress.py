"""``autocompress``: search the compression policy against the target, continue with the winner.

The step runs the search of :mod:`edgeloop.autocompress` in ``autocompress/`` of the run
folder, writes the winning policy there as a plain recipe (``autocompress/winner.yaml``),
and hands the next steps the winner's compressed Keras model (its ``convert`` precisions,
if any, are in that recipe). No trial meeting the target is a failed gate: the run goes
on and ends with exit status 1.
"""

from __future__ import annotations

from edgeloop.autocompress.options import AutocompressOptions
from edgeloop.pipeline.base import Context, Step, register_step

FOLDER = "autocompress"


@register_step("autocompress", AutocompressOptions, changes_model=True, compresses=True)
class Autocompress(Step):
    """Search pruning, clustering, widths, precision, distillation and factorization policies."""

    def apply(self, model, ctx: Context):
        import importlib
        from pathlib import Path

        from edgeloop.models import load_model

        # The search runs every trial as a recipe through the runner, and the runner's registry
        # holds this step: the search is loaded by name when the step runs, so that the
        # registry does not import the runner through it (no import cycle between the two).
        search = importlib.import_module("edgeloop.autocompress.run")
        Aim, autocompress = search.Aim, search.autocompress
        from edgeloop.ui import Ui

        data = ctx.data
        base = {"data": data.source, "seed": data.seed, "val_fraction": data.val_fraction}
        if data.preprocess is not None:
            base["preprocess"] = data.preprocess.to_dict()
        aim = Aim.of(getattr(ctx, "target", None), self.options)
        ui = Ui(quiet=False)
        ui.warn = ctx.warn
        state = autocompress(ctx.path(FOLDER), model, data, base, self.options, aim, ui)
        winner = state.get("winner")
        passed = state["status"] == "finished"
        detail = state["chosen"]["why"] if state.get("chosen") else state.get("why", "")
        if winner and winner.get("misses"):
            detail += f" The winner's recipe, fine-tuned longer, misses: {'; '.join(winner['misses'])}."
        ctx.record(status=state["status"], trials=len(state["trials"]), chosen=state.get("chosen"), winner=winner,
                   recipe=f"{FOLDER}/winner.yaml" if winner else None, report=f"{FOLDER}/report.md",
                   checks=[{"name": "autocompress_target", "passed": passed, "gate": True, "detail": detail}])
        if not winner:
            return model
        run_dir = ctx.path(FOLDER) / winner["run_dir"]
        import json

        finished = json.loads((Path(run_dir) / "state.json").read_text())["finished"]
        last = [e["model_file"] for e in finished if e.get("model_file")]
        return load_model(Path(run_dir) / last[-1]) if last else model
