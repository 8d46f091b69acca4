"""A small trained CNN whose int8 latency is mostly its convolutions, and one reference search.

Every search here is timed by the deterministic clock of ``tests/clock.py`` (a test double
for the device's timer): what a search decides, and whether it meets its budget, must not
depend on how busy the machine is. How fast the searched models really run is measured by
``scripts/bench`` (section ``search``)."""

from __future__ import annotations

import pytest

# Fast settings: two iterations of large steps, one epoch of fine-tuning, one baseline width.
FAST = {"budget": "0.5x", "short_epochs": 1, "long_epochs": 1, "initial_reduction": 0.3, "decay": 1.0, "step": 48,
        "baseline_widths": [1.0, 0.5], "runs": 300, "calibration_samples": 50, "budget_margin": 0.1}


def search_cnn():
    """8x8 digits -> conv 32 -> conv 96 -> conv 96 -> logits: ~7 M MACs, so filters removed show
    in the clock's latency (most of it is the convolutions' MACs, not its per-invoke cost)."""
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
        L.Conv2D(96, 3, padding="same", activation="relu", name="conv2"),
        L.Conv2D(96, 3, padding="same", activation="relu", name="conv3"),
        L.Flatten(name="flatten"),
        L.Dense(10, name="logits"),
    ], name="search_cnn")


@pytest.fixture(scope="session", autouse=True)
def clocked_search():
    """Searches on this machine measure with the clock's meter (the latency store and everything
    else real); a search on an agent measures on the agent."""
    import edgeloop.search.session as session
    from clock import ClockMeter

    real = session.Meter
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(session, "Meter", lambda device="local", *a, **k: (ClockMeter if device == "local" else real)(
            device, *a, **k))
        yield


@pytest.fixture(scope="session")
def search_model(tmp_path_factory, digits):
    """The CNN trained for 4 epochs (about 98 % on held-out digits), saved as .keras."""
    from helpers import train_and_save

    return train_and_save(search_cnn(), digits, 4, tmp_path_factory.mktemp("search_model") / "search_cnn.keras")


@pytest.fixture(scope="session")
def search_store(tmp_path_factory):
    """One latency store for the session's searches: the same file measured twice reads the same."""
    return str(tmp_path_factory.mktemp("store") / "latency.sqlite")


@pytest.fixture(scope="session")
def reference_search(search_model, search_store, tmp_path_factory):
    """A whole search, uninterrupted, sequential, timed by the clock."""
    from edgeloop.pipeline.options import parse_options
    from edgeloop.search import SearchOptions, search

    options = parse_options(SearchOptions, FAST, "test")
    return search(str(search_model), "digits", options, device="local", out=tmp_path_factory.mktemp("runs"),
                  store=search_store)


def choices(state: dict) -> list[tuple]:
    """What each iteration decided: the group narrowed, to how many filters."""
    return [(it["chosen"], next(p["width_to"] for p in it["proposals"] if p["group"] == it["chosen"]))
            for it in state["iterations"]]
