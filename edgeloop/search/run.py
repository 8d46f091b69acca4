"""Start or resume a search: a run of the recipe ``train → netadapt → width_baseline``.

``edgeloop search`` is a recipe run by the one pipeline runner (:mod:`edgeloop.pipeline.runner`):
the same run folder, ``state.json``, ``--resume`` and report as any recipe. The search's own
files (``search.json``, its report with the Pareto table, ``pareto.png``, the models it kept)
are in the run folder's ``netadapt/``. The phases of NetAdapt itself, each recorded in
``search.json`` when finished: the original model (scored and measured converted),
NetAdapt's iterations, the long-term fine-tune of the chosen model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeloop.errors import EdgeloopError
from edgeloop.search import netadapt
from edgeloop.search.options import SearchOptions
from edgeloop.search.session import STATE_FILE, Session
from edgeloop.ui import Ui

FOLDER = "netadapt"


@dataclass
class SearchRun:
    """A finished (or stopped) search: where it is and what ``search.json`` holds.

    Attributes:
        folder: the search's folder (``<run folder>/netadapt``).
        state: ``search.json``'s content.
        run: the pipeline run (:class:`edgeloop.pipeline.runner.RunResult`).
    """

    folder: Path
    state: dict
    run: object = None

    def path(self, name: str) -> Path:
        """A path in the search folder."""
        return self.folder / name


def search_recipe(model: str, data: str, options: SearchOptions, device: str = "local", executor: str = "sequential",
                  token_file: str | None = None, store: str | None = None, fresh: bool = False,
                  preprocess: str | dict | None = None) -> dict:
    """The recipe ``edgeloop search`` runs, as plain data: train (a zoo model: 30 epochs unless
    ``train_epochs`` says otherwise), ``netadapt``, ``width_baseline``."""
    from edgeloop.models.loading import parse_zoo_spec
    from edgeloop.preprocess import Preprocess

    zoo = model.startswith("zoo:")
    epochs = options.train_epochs if options.train_epochs is not None else (30 if zoo else 0)
    steps: list[dict] = []
    if epochs:
        steps.append({"train": {"epochs": epochs, "batch_size": options.batch_size, "learning_rate": 1e-3}})
    steps.append({"netadapt": {**options.netadapt(), "device": device, "executor": executor, "fresh": fresh,
                               "token_file": str(Path(token_file).resolve()) if token_file else None,
                               "store": str(Path(store).resolve()) if store else None}})
    if options.baseline_widths:
        steps.append({"width_baseline": {"widths": list(options.baseline_widths)}})
    return {
        "name": f"search-{parse_zoo_spec(model)[0] if zoo else Path(model).stem}",
        "model": model,
        "data": str(data),
        "seed": options.seed,
        "preprocess": Preprocess.parse(preprocess, "--preprocess").to_dict() if preprocess else None,
        "measure_steps": False,  # the search measures every model it keeps itself
        "steps": steps,
    }


def search(model: str, data: str, options: SearchOptions, device: str = "local", out: str | Path = "runs",
           executor: str = "sequential", ui: Ui | None = None, token_file: str | None = None,
           store: str | None = None, fresh: bool = False, preprocess: str | dict | None = None,
           force: bool = False) -> SearchRun:
    """Search for the most accurate narrowing of ``model`` that meets the latency budget.

    Args:
        model: a model file, SavedModel folder or ``zoo:<name>?width=…``.
        data: ``digits``, a ``.npz`` or an image folder.
        options: the search's options.
        device: where latency is measured (``local``).
        out: the folder new run folders go into.
        executor: ``sequential``, ``ray`` or ``ray://HOST:PORT``.
        ui: progress and messages.
        token_file: the agent's token (``http://`` devices); its path is kept, never the token.
        store: the latency store's file (default: the user's cache folder).
        fresh: measure again what the store already holds.
        preprocess: how raw pixels become the model's input (see :mod:`edgeloop.preprocess`).
        force: go on when a model file fails the sanity check on the data (a zoo model
            is trained first, then checked).

    Returns:
        The search (``state`` is what ``netadapt/search.json`` holds).
    """
    from edgeloop.pipeline.runner import run
    from edgeloop.recipe import from_dict

    recipe = from_dict(search_recipe(model, data, options, device, executor, token_file, store, fresh, preprocess),
                       source="search")
    result = run(recipe, out=out, ui=ui, force=force)
    return _finished(result.run_dir, result)


def resume(folder: str | Path, ui: Ui | None = None) -> SearchRun:
    """Continue a search (its run folder, or the run's ``netadapt/``) after its last finished
    step or iteration, with its own settings."""
    from edgeloop.pipeline.run_folder import STATE_FILE as RUN_STATE
    from edgeloop.pipeline.runner import resume as resume_run

    folder = Path(folder)
    run_dir = folder.parent if folder.name == FOLDER and not (folder / RUN_STATE).is_file() else folder
    if not (run_dir / RUN_STATE).is_file() or not (run_dir / FOLDER).is_dir():
        raise EdgeloopError(f"not a search folder (no {RUN_STATE} and {FOLDER}/{STATE_FILE}): {folder}")
    return _finished(run_dir, resume_run(run_dir, ui=ui))


def _finished(run_dir: Path, result) -> SearchRun:
    from edgeloop.pipeline.run_folder import read_json

    path = run_dir / FOLDER / STATE_FILE
    return SearchRun(path.parent, read_json(path, "search folder"), result)


def run_phases(s: Session, model, trained_epochs: int = 0) -> None:
    """NetAdapt's phases from the last one finished: original, iterations, long fine-tune.

    ``search.json`` and the search's report are written whatever happens.
    """
    from edgeloop.models import load_model
    from edgeloop.search.report import running

    with running(s):
        netadapt.original_phase(s, model, trained_epochs)
        s.source.prepare(load_model(s.path(s.state["original"]["model_file"])))
        s.state["latency_source"] = s.source.describe()
        netadapt.run_iterations(s)
        netadapt.finish(s)
