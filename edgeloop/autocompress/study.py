"""The search itself: an Optuna study over policies, its storage a SQLite file in the run folder.

Trials are asked in batches of ``parallel``, evaluated on the executor (each a recipe run,
:mod:`edgeloop.autocompress.trial`), measured on the device one at a time through the
latency store, and told back. The sampler is seeded again before every batch from the
search's seed and the number of trials finished, so a search killed and resumed asks for
the same policies an uninterrupted one would. A trial a kill left running (its worker, on
this machine, is gone) is evaluated again under its own number; trials of other live
workers sharing the file are left to them.
"""

from __future__ import annotations

import os
import socket
import time

from edgeloop.autocompress.objective import Goal
from edgeloop.autocompress.trial import TrialExecutor, TrialJob, TrialOutcome

STUDY_FILE = "study.db"
STUDY_NAME = "autocompress"


def storage_url(folder) -> str:
    """The study's SQLite storage in ``folder``."""
    return f"sqlite:///{os.path.abspath(os.path.join(folder, STUDY_FILE))}"


def open_study(folder, goal: Goal, sampler: str, seed: int):
    """Create the study in ``folder``, or load the one already there."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from edgeloop.autocompress.pruning import make_pruner

    return optuna.create_study(study_name=STUDY_NAME, storage=storage_url(folder), directions=goal.directions,
                               sampler=make_sampler(sampler, seed), pruner=make_pruner(), load_if_exists=True)


def make_sampler(kind: str, seed: int):
    """NSGA-II (multi-objective genetic) or TPE, seeded."""
    import optuna

    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=6, multivariate=True)


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(worker: str | None) -> bool:
    """Whether the worker that took a trial still runs (other machines' workers are taken to)."""
    if not worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def run_trials(study, space, jobs_for, measure, goal: Goal, options, ui, seeds: list[dict]) -> str | None:
    """Ask, evaluate, measure and tell until ``options.trials`` trials are finished or time is up;
    why it stopped early (``None`` when every trial ran).

    Args:
        study: the Optuna study.
        space: the :class:`~edgeloop.autocompress.space.Space`.
        jobs_for: ``(number, params) -> TrialJob``.
        measure: ``(TrialOutcome) -> dict`` of the trial's figures (latency measured).
        goal: the objectives and the target.
        options: the search's options.
        ui: progress and messages.
        seeds: policies to enqueue before the sampler's own (first start only).
    """
    from optuna.trial import TrialState

    if not study.trials:
        for params in seeds:
            study.enqueue_trial(params, user_attrs={"seeded": True})
    dists = space.distributions()
    executor = TrialExecutor(options.executor)
    started = time.monotonic()
    limit = options.time_limit_s
    try:
        while True:
            stale = [t for t in study.trials if t.state == TrialState.RUNNING and not _alive(t.user_attrs.get("worker"))]
            for t in [t for t in stale if set(t.params) != set(dists)]:
                # Killed while its policy was being drawn (Optuna stores one parameter at a
                # time): it never ran. It is closed as aborted and left out of the count, so
                # the sampler draws the same policy again for the next trial.
                study._storage.set_trial_user_attr(t._trial_id, "aborted", True)
                study._storage.set_trial_user_attr(t._trial_id, "error", "stopped while its policy was being drawn")
                study.tell(t.number, state=TrialState.FAIL)
            stale = [t for t in stale if set(t.params) == set(dists)]
            finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
                        and not t.user_attrs.get("aborted")]
            if not stale and len(finished) >= options.trials:
                return None
            # The first trial always runs: a search stopped by its limit still has a result.
            if not stale and finished and limit is not None and time.monotonic() - started > limit:
                why = f"time_limit {options.time_limit} reached after {len(finished)} of {options.trials} trial(s)"
                ui.warn(why)
                return why
            batch = [(t.number, t.params) for t in stale[:options.parallel]]
            if stale:
                ui.info(f"trial(s) {', '.join(str(n) for n, _ in batch)} were left running by a stopped search: "
                        "evaluating them again")
            else:
                study.sampler = make_sampler(options.sampler, options.seed + len(finished))
                for _ in range(min(options.parallel, options.trials - len(finished))):
                    trial = study.ask(dists)
                    seed_into_first_generation(study, trial)
                    trial.set_user_attr("worker", _worker())
                    batch.append((trial.number, trial.params))
            for number, _ in batch:
                study._storage.set_trial_user_attr(_trial_id(study, number), "worker", _worker())
            jobs = [jobs_for(number, params) for number, params in batch]
            executor.map(jobs, lambda outcome: _tell(study, outcome, measure, goal, options, ui))
    finally:
        executor.close()


def seed_into_first_generation(study, trial) -> None:
    """File a seed trial (enqueued, just asked) under NSGA-II's first generation.

    Optuna's genetic samplers give a trial its generation when they sample it; an enqueued
    trial has every parameter fixed and is never sampled, so it belongs to no generation and
    is never a parent: the first generation would be random trials and the seeds would
    steer nothing. Each seed is filed under generation 0 while it runs (the key is the
    sampler's own, from its class), so the first children are crossovers and mutations of
    the seeds.
    """
    import optuna

    if isinstance(study.sampler, optuna.samplers.NSGAIISampler) and trial.user_attrs.get("seeded"):
        study._storage.set_trial_system_attr(trial._trial_id, optuna.samplers.NSGAIISampler._get_generation_key(), 0)


def _trial_id(study, number: int) -> int:
    return next(t._trial_id for t in study.get_trials(deepcopy=False) if t.number == number)


def _tell(study, outcome: TrialOutcome, measure, goal: Goal, options, ui) -> None:
    from optuna.trial import TrialState

    trial_id = _trial_id(study, outcome.number)
    if outcome.pruned:
        study._storage.set_trial_user_attr(trial_id, "error", outcome.error)
        study.tell(outcome.number, state=TrialState.PRUNED)
        ui.info(f"trial {outcome.number}: {outcome.error}")
        return
    if not outcome.ok:
        study._storage.set_trial_user_attr(trial_id, "error", outcome.error)
        study.tell(outcome.number, state=TrialState.FAIL)
        ui.info(f"trial {outcome.number}: failed: {outcome.error}")
        return
    figures = measure(outcome)
    study._storage.set_trial_user_attr(trial_id, "figures", figures)
    study.tell(outcome.number, goal.values(figures))
    best = goal.best([t.user_attrs["figures"] for t in study.trials
                      if t.state == TrialState.COMPLETE and "figures" in t.user_attrs])
    ui.info(f"trial {outcome.number}: {goal.describe(figures)}; best meeting the target so far: "
            + (f"trial {best['trial']} ({goal.describe(best)})" if best else "none"))
