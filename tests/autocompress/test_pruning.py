"""Optuna's median pruner between a trial's techniques, on a real study in a SQLite file: the
accuracy each step reached is read from the trial's own run folder, as the runner writes it."""

from __future__ import annotations

import json

import optuna
import pytest

from edgeloop.autocompress.pruning import PruningUi, make_pruner


def _study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize", pruner=make_pruner())
    for accuracy in (0.90, 0.80):  # two finished trials: their step-1 accuracies set the median
        trial = study.ask()
        trial.report(accuracy, 1)
        study.tell(trial, accuracy)
    return storage, study


def _after_step_one(tmp_path, number: int, accuracy: float):
    """The trial's run folder after its first step, as the runner writes it."""
    run = tmp_path / f"trial-{number:03d}-20261130-000000"
    run.mkdir()
    (run / "state.json").write_text(json.dumps({"finished": [{"step": "prune", "result": {"val_accuracy": accuracy}}]}))


@pytest.mark.parametrize("accuracy, pruned", [(0.70, True), (0.95, False)])
def test_a_trial_below_the_median_stops_before_its_next_technique(tmp_path, accuracy, pruned):
    storage, study = _study(tmp_path)
    trial = study.ask()
    _after_step_one(tmp_path, trial.number, accuracy)
    listener = PruningUi(storage, "s", trial.number, str(tmp_path))
    listener.info("step 1/3 prune")  # the first step starting: nothing to judge yet
    if pruned:
        with pytest.raises(optuna.TrialPruned, match=r"pruned after step 1 \(prune\): validation accuracy 70.00%"):
            listener.info("step 2/3 qat")
    else:
        listener.info("step 2/3 qat")
    # The report reached the study's file, where every worker sees it.
    reloaded = optuna.load_study(study_name="s", storage=storage)
    assert reloaded.trials[trial.number].intermediate_values == {1: accuracy}


def test_the_first_two_trials_are_never_pruned(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize", pruner=make_pruner())
    first = study.ask()
    study.tell(first, 0.9)
    second = study.ask()
    _after_step_one(tmp_path, second.number, 0.01)
    PruningUi(storage, "s", second.number, str(tmp_path)).info("step 2/2 convert")  # does not raise
