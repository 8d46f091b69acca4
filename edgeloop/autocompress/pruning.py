"""Early stopping of bad trials: Optuna's median pruner between a trial's techniques.

A trial's recipe fine-tunes after every technique and records the Keras validation
accuracy it reached. Before the next technique starts, that accuracy is reported to the
study (through its SQLite file, which every worker on the machine shares) and the pruner
decides whether the trial goes on: a trial below the median of earlier trials at the
same technique stops there. Optuna prunes single-objective studies only, so this is the
``objective: mnas`` search's; a Ray worker on another machine cannot reach the file and
runs its trials whole.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from edgeloop.ui import Ui

_STEP = re.compile(r"step (\d+)/\d+")


class PruningUi(Ui):
    """The runner's messages, listened to for the start of each step.

    Args:
        storage: the study's storage URL.
        study_name: the study's name.
        number: the trial's number.
        out: the folder the trial's run folder is in.
    """

    def __init__(self, storage: str, study_name: str, number: int, out: str) -> None:
        super().__init__(quiet=True)
        import optuna

        self.study = optuna.load_study(study_name=study_name, storage=storage, pruner=make_pruner())
        self.trial = optuna.trial.Trial(self.study, next(t._trial_id for t in self.study.get_trials(deepcopy=False)
                                                         if t.number == number))
        self.number, self.out = number, Path(out)

    def info(self, message: str) -> None:
        """At the start of step ``k > 1``: report step ``k - 1``'s accuracy; stop a bad trial."""
        import optuna

        match = _STEP.search(message)
        if not match or int(match[1]) < 2:
            return
        runs = sorted(self.out.glob(f"trial-{self.number:03d}-*/state.json"))
        finished = json.loads(runs[-1].read_text())["finished"] if runs else []
        accuracy = finished[-1]["result"].get("val_accuracy") if finished else None
        if accuracy is None:
            return
        self.trial.report(accuracy, len(finished))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after step {len(finished)} ({finished[-1]['step']}): "
                                     f"validation accuracy {accuracy:.2%} below the median of earlier trials")


def make_pruner():
    """The median pruner, judging from the third trial on."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
