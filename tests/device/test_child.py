"""run_in_child: no child outlives its call, whatever goes wrong in the caller."""

from __future__ import annotations

import os
import signal

import pytest

from edgeloop.device.child import ChildError, run_in_child
from edgeloop.errors import EdgeloopError


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class _Boom(Exception):
    pass


def _raise_on_start(pids: list[int]):
    def on_start(pid):
        if pid is not None:
            pids.append(pid)
            raise _Boom("the caller failed just after the child started")

    return on_start


def test_the_child_is_killed_when_the_caller_fails(trained_model_and_files):
    _, files = trained_model_and_files
    pids: list[int] = []
    try:
        with pytest.raises(_Boom):
            run_in_child({"task": "probe"}, 60, on_start=_raise_on_start(pids))
        assert pids and not _alive(pids[0])

        started, seen = [], []

        def on_progress(done, total):
            seen.append(done)
            raise _Boom("a progress bar that fails")

        with pytest.raises(_Boom):
            run_in_child({"task": "benchmark", "models": [str(files["int8"])], "options": {"runs": 10**6, "warmup": 0}},
                         60, on_start=lambda pid: pid and started.append(pid), on_progress=on_progress)
        assert seen == [1] and started and not _alive(started[0])
    finally:
        for pid in pids:  # only where the test fails: do not leave the child behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_time_limit_that_is_not_a_positive_finite_number_starts_nothing():
    for bad in (float("nan"), float("inf"), 0, -1):
        with pytest.raises(EdgeloopError, match="positive, finite time limit"):
            run_in_child({"task": "probe"}, bad)


def test_progress_reaches_every_run_and_errors_keep_their_kind(trained_model_and_files, bad_models):
    _, files = trained_model_and_files
    seen = []
    result = run_in_child({"task": "benchmark", "models": [str(files["int8"])], "options": {"runs": 40, "warmup": 5}},
                          60, on_progress=lambda done, total: seen.append((done, total)))
    assert result["stats"]["count"] == 40 and seen == [(i, 45) for i in range(1, 46)]
    with pytest.raises(ChildError, match="did not finish within 3 s") as error:
        run_in_child({"task": "benchmark", "models": [str(bad_models["hang"])], "options": {"time_limit_s": 1}}, 3)
    assert error.value.kind == "timeout"
