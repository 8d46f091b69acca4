"""Shared fixtures: the real digits data and tiny tf_keras models that train in seconds."""

from __future__ import annotations

import pytest

from anywhere_models import anywhere  # noqa: F401  (models from anywhere, a session fixture)
from helpers import tiny_cnn


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """The latency store and the agent's model cache go to a temp folder, not ~/.cache
    (subprocesses inherit the variable)."""
    import os

    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits, split 80/20 with seed 0."""
    from edgeloop.data import load_data

    return load_data("digits", val_fraction=0.2, seed=0)


@pytest.fixture
def make_tiny_cnn():
    """Factory for fresh tiny CNNs."""
    return tiny_cnn


@pytest.fixture
def ctx(tmp_path, digits):
    """A pipeline context on digits writing into a temp run folder, collecting warnings."""
    import contextlib

    from edgeloop.pipeline import Context

    @contextlib.contextmanager
    def progress(description, total):
        yield lambda n=1: None

    warnings: list[str] = []
    context = Context(data=digits, run_dir=tmp_path, seed=0, progress=progress, warn=warnings.append)
    context.warnings = warnings  # type: ignore[attr-defined]
    return context
