"""A small trained CNN, a real agent on loopback and one reference search against it."""

from __future__ import annotations

import pytest

# Three trials (the unchanged int8 model, one policy from the sensitivity analysis, one
# from the sampler) in batches of two, one epoch of fine-tuning per technique; the winner and
# one other front trial rerun with the "longer" fine-tune; every file timed again in two passes.
OPTIONS = {"trials": 3, "seeds": 1, "epochs": 1, "final_epochs": 1, "refine_front": 1, "side_by_side": 2, "runs": 20, "sampler": "tpe", "parallel": 2,
           "max_drop": 5.0, "calibration_samples": 50, "seed": 0}


def ac_cnn():
    """8x8 digits -> conv 16 -> conv 32 -> pool -> logits: every technique has a layer to act on."""
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        L.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        L.MaxPooling2D(name="pool"),
        L.Flatten(name="flatten"),
        L.Dense(10, name="logits"),
    ], name="ac_cnn")


@pytest.fixture(scope="session")
def ac_model(tmp_path_factory, digits):
    """The CNN trained for 3 epochs, saved as .keras."""
    from helpers import train_and_save

    return train_and_save(ac_cnn(), digits, 3, tmp_path_factory.mktemp("ac_model") / "ac_cnn.keras")


@pytest.fixture(scope="session")
def ac_agent(tmp_path_factory):
    """The real agent (``edgeloop agent serve``) on a loopback port, with a token."""
    from device.conftest import start_agent

    process = start_agent(tmp_path_factory.mktemp("ac_agent"))
    yield process
    process.proc.terminate()
    process.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def ac_store(tmp_path_factory):
    """One latency store: a file measured twice on the agent reads the same."""
    return str(tmp_path_factory.mktemp("ac_store") / "latency.sqlite")


def cli_args(model, agent, store, out, **extra) -> list[str]:
    """``edgeloop autocompress`` arguments for the reference search (``extra`` overrides options)."""
    import yaml

    options = {**OPTIONS, **extra}
    opts = out / "options.yaml"
    out.mkdir(parents=True, exist_ok=True)
    opts.write_text(yaml.safe_dump(options))
    return ["autocompress", "--model", str(model), "--data", "digits", "--device", agent.url,
            "--token-file", str(agent.cache.parent / "token"), "--store", store, "--options", str(opts),
            "--out", str(out), "-q"]


def run_cli(args: list[str]) -> int:
    """The command in this process; its exit status."""
    from edgeloop.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="session")
def reference(ac_model, ac_agent, ac_store, tmp_path_factory):
    """The reference search, uninterrupted, sequential, measured on the agent: (exit status, run folder)."""
    out = tmp_path_factory.mktemp("ac_reference")
    status = run_cli(cli_args(ac_model, ac_agent, ac_store, out))
    return status, only_run(out)


def only_run(out):
    """The one run folder in ``out``."""
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def trials(run_dir) -> list[tuple]:
    """Each trial's policy, state and figures (latency included), in order, from the report; a
    trial a kill stopped while its policy was drawn (it never ran) is left out."""
    import json

    state = json.loads((run_dir / "autocompress" / "autocompress.json").read_text())
    return [(t["params"], t["state"],
             None if not t["figures"] else (t["figures"]["int8_accuracy"], t["figures"]["latency_ms"],
                                            t["figures"]["size_kb"]))
            for t in state["trials"] if not t.get("aborted")]
