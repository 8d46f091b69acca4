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
    """8x8 digits -> conv 32 -> conv 192 -> conv 192 -> logits: ~25 M MACs, so filters removed
    show in the latency (a smaller model's int8 latency is mostly the interpreter's own cost)."""
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
        L.Conv2D(192, 3, padding="same", activation="relu", name="conv2"),
        L.Conv2D(192, 3, padding="same", activation="relu", name="conv3"),
        L.Flatten(name="flatten"),
        L.Dense(10, name="logits"),
    ], name="search_cnn")


@pytest.fixture(scope="session", autouse=True)
def clocked_search():
    """Searches measure with the clock's meter (the latency store and everything else real)."""
    import edgeloop.search.run as run
    from clock import ClockMeter

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run, "Meter", ClockMeter)
        yield


@pytest.fixture(scope="session")
def search_model(tmp_path_factory, digits):
    """The CNN trained for 4 epochs (about 98 % on held-out digits), saved as .keras."""
    from edgeloop._tf import keras
    from edgeloop.pipeline._training import compile_classifier

    model = search_cnn()
    compile_classifier(model, 1e-3)
    keras.utils.set_random_seed(0)
    model.fit(digits.x_train, digits.y_train, epochs=4, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("search_model") / "search_cnn.keras"
    model.save(path)
    return path


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
