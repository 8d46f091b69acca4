"""Where an iteration's proposals are evaluated: one after another here, or on Ray.

The proposals of one NetAdapt iteration are independent (each fine-tunes its own copy of
the model), so they can run in parallel. ``--executor ray`` starts a local Ray; ``ray://HOST:PORT``
joins a running cluster through Ray Client (its nodes need edgeloop installed with the
``tf`` extra). Device measurements never go through an executor: they stay one at a time
per device, in the search's own process.
"""

from __future__ import annotations

from typing import Callable, Sequence

from edgeloop.errors import EdgeloopError
from edgeloop.search.candidates import Job, Outcome, run_job


class SequentialExecutor:
    """Runs jobs one after another in this process."""

    name = "sequential"

    def map(self, jobs: Sequence[Job], done: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
        """Outcomes of ``jobs``, in the jobs' order; ``done`` is called as each finishes."""
        outcomes = []
        for job in jobs:
            outcomes.append(run_job(job))
            done(outcomes[-1])
        return outcomes

    def close(self) -> None:
        """Nothing to release."""


class RayExecutor:
    """Runs jobs as Ray tasks (a local Ray, or a cluster through ``ray://HOST:PORT``).

    Args:
        address: ``None`` for a local Ray started here, or a Ray Client address.
        num_cpus: CPUs a local Ray may use (default: all).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise EdgeloopError("--executor ray needs Ray: pip install 'edgeloop[ray]'") from None
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            kwargs = {"address": address} if address else {"num_cpus": num_cpus, "include_dashboard": False}
            try:
                ray.init(log_to_driver=False, ignore_reinit_error=True, **kwargs)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError … on a bad start
                raise EdgeloopError(f"cannot start Ray ({address or 'local'}): {str(exc).splitlines()[0]}") from None
        # One CPU per task: a fine-tune is single-process TensorFlow, and tasks must not oversubscribe.
        self._remote = ray.remote(num_cpus=1)(run_job)
        self.address = address or "local"

    def map(self, jobs: Sequence[Job], done: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
        """Outcomes of ``jobs`` in the jobs' order; ``done`` is called in the order they finish."""
        ray = self._ray
        refs = [self._remote.remote(job) for job in jobs]
        pending = list(refs)
        results = {}
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            outcome = ray.get(ready[0])
            results[ready[0]] = outcome
            done(outcome)
        return [results[r] for r in refs]

    def close(self) -> None:
        """Shut down a Ray this executor started."""
        if self._started_here:
            self._ray.shutdown()


def make_executor(spec: str):
    """``sequential``, ``ray`` (local) or ``ray://HOST:PORT`` (a cluster)."""
    if spec == "sequential":
        return SequentialExecutor()
    if spec == "ray":
        return RayExecutor()
    if spec.startswith("ray://"):
        return RayExecutor(address=spec)
    raise EdgeloopError(f"unknown executor {spec!r}: use sequential, ray or ray://HOST:PORT")
