"""What one search holds while it runs: its folder and state, data, device, latency source, executor."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from edgeloop import _io
from edgeloop.search.candidates import DataSpec
from edgeloop.search.options import SearchOptions
from edgeloop.ui import Ui

STATE_FILE = "search.json"


@dataclass
class Session:
    """A search in progress.

    Attributes:
        folder: the search folder (every file of the search goes there).
        state: everything the search decided and measured (``search.json``).
        options: the search's options.
        data: the split data set.
        data_spec: how workers load the same split.
        meter: measures on the device.
        source: the latency estimates that steer the search.
        executor: where proposals are evaluated.
        ui: progress and messages.
        edgetpu_mode: ``off``, ``reject`` or ``penalize`` (``auto`` resolved).
    """

    folder: Path
    state: dict
    options: SearchOptions
    data: object
    data_spec: DataSpec
    meter: object
    source: object
    executor: object
    ui: Ui = field(default_factory=lambda: Ui(quiet=True))
    edgetpu_mode: str = "off"

    @property
    def is_zoo(self) -> bool:
        """The starting model comes from the zoo (untrained)."""
        return str(self.state["model"]).startswith("zoo:")

    def path(self, name: str) -> Path:
        """A path in the search folder."""
        return self.folder / name

    def save(self) -> None:
        """Write ``search.json`` atomically, with the measurements made so far."""
        self.state["measurements"] = self.meter.records
        _io.write_json(self.path(STATE_FILE), self.state)

    def seed_for(self, iteration: int, proposal: int) -> int:
        """A fine-tune's seed: fixed by the search's seed, the iteration and the proposal."""
        digest = hashlib.sha256(f"{self.options.seed}/{iteration}/{proposal}".encode()).digest()
        return int.from_bytes(digest[:4], "little") % (2**31 - 1)

    def step_for(self, group) -> int:
        """Filters a proposal removes at a time from ``group``."""
        if self.options.step:
            return self.options.step
        original = self.state["original"]["widths"].get(group.name, group.width)
        return max(1, original // 16)

    def train(self, model, epochs: int) -> dict:
        """Train ``model`` in place on the training split (the starting model of a zoo search)."""
        from edgeloop.pipeline._training import compile_classifier, fit
        from edgeloop.pipeline.base import Context

        ctx = Context(data=self.data, run_dir=self.folder, seed=self.options.seed, progress=self.ui.progress,
                      warn=self.ui.warn)
        compile_classifier(model, 1e-3)
        return fit(model, ctx, epochs, self.options.batch_size, f"train ({epochs} epochs)")

    def save_weights_as(self, architecture, weights, name: str):
        """Save ``architecture`` carrying ``weights`` as ``name`` in the search folder; the model saved."""
        from edgeloop.models import save_model
        from edgeloop.search.candidates import rebuild

        from edgeloop._tf import keras

        model = rebuild(architecture.get_config(), isinstance(architecture, keras.Sequential), weights)
        save_model(model, self.path(name))
        return model
