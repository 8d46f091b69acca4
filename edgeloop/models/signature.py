"""A model known only by the function from its inputs to its outputs.

Subclassed Keras models, SavedModels written by other tools and Keras 3 models (exported
by :mod:`edgeloop.models.keras3`) have no Functional graph to rebuild, prune or quantize
with tfmot; what they do have is a serving signature: a traced function whose input specs
say each input's name, type and shape. That is all conversion, calibration and scoring
need: :class:`SignatureModel` offers it with the parts of the Keras model interface the
post-training steps use (``predict``, ``count_params``, ``input_shape``, ``output_shape``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgeloop.errors import EdgeloopError

SIGNATURE = "serving_default"
# Written beside saved_model.pb by the Keras 3 child: the model's own input / output order.
IO_FILE = "edgeloop_io.json"

KINDS = {
    "savedmodel": "a SavedModel without a Keras graph",
    "subclassed": "a subclassed Keras model",
    "keras3": "a Keras 3 model",
}


@dataclass(frozen=True)
class IOSpec:
    """One input or output: its name, sample shape (no batch; ``None`` = any size) and type."""

    name: str
    shape: tuple
    dtype: str


class SignatureModel:
    """A model run through one traced function (a serving signature).

    Args:
        function: takes the inputs as tensors, in the order of ``inputs``, and returns a
            dict ``output name -> tensor``.
        inputs: the inputs, in the model's order.
        outputs: the outputs, in the model's order.
        variables: the variables the function reads (kept alive with the converter).
        source: where the model came from.
        kind: ``savedmodel``, ``subclassed`` or ``keras3`` (see :data:`KINDS`).
        keep: an object that owns the variables (a loaded SavedModel), kept alive.
    """

    def __init__(self, function: Callable, inputs: list[IOSpec], outputs: list[IOSpec], variables: list,
                 source: str, kind: str, keep: object = None) -> None:
        self.function = function
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.variables = list(variables)
        self.source = source
        self.kind = kind
        self._keep = keep

    @property
    def name(self) -> str:
        """A name for reports: the file or folder it came from."""
        return Path(self.source).name

    @property
    def input_names(self) -> list[str]:
        """The inputs' names, in order."""
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """The outputs' names, in order."""
        return [s.name for s in self.outputs]

    @property
    def input_shape(self):
        """Like Keras: ``(None, *shape)`` for one input, a list of them for several."""
        shapes = [(None, *s.shape) for s in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        """Like Keras: ``(None, *shape)`` for one output, a list of them for several."""
        shapes = [(None, *s.shape) for s in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def describe(self) -> str:
        """What it is, in words: ``a Keras 3 model (m.keras)``."""
        return f"{KINDS.get(self.kind, self.kind)} ({self.name})"

    def count_params(self) -> int:
        """Every value the variables hold (what Keras' ``count_params`` counts)."""
        return int(sum(np.prod(v.shape) for v in self.variables))

    def traced(self, batch: int = 1):
        """The function traced with a static batch: what the TFLite converter takes.

        Raises:
            EdgeloopError: an input has a dimension of unknown size besides the batch.
        """
        from edgeloop._tf import tf

        for spec in self.inputs:
            if any(d is None for d in spec.shape):
                raise EdgeloopError(f"input {spec.name} of {self.describe()} has shape {(None, *spec.shape)}: sizes "
                                    "besides the batch must be fixed to convert it; export it with a fixed input shape")
        specs = [tf.TensorSpec([batch, *s.shape], s.dtype, name=s.name) for s in self.inputs]
        names = self.output_names

        def call(*xs):
            result = self.function(*xs)
            return {n: result[n] for n in names}

        return tf.function(call).get_concrete_function(*specs)

    def predict(self, x, batch_size: int = 256, verbose: int = 0):
        """Outputs on ``x`` (an array, or a dict input name -> array), like Keras' ``predict``:
        an array for one output, a list in output order for several."""
        from edgeloop.data import n_samples, take

        del verbose  # Keras' argument; nothing is printed here
        arrays = {s.name: x[s.name] for s in self.inputs} if isinstance(x, dict) else {self.inputs[0].name: x}
        total = n_samples(arrays)
        parts: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for start in range(0, total, batch_size):
            batch = take(arrays, slice(start, start + batch_size))
            result = self.function(*(np.asarray(batch[s.name], s.dtype) for s in self.inputs))
            for part, spec in zip(parts, self.outputs):
                part.append(np.asarray(result[spec.name]))
        outs = [np.concatenate(p) if p else np.zeros((0, *s.shape), np.float32) for p, s in zip(parts, self.outputs)]
        return outs[0] if len(outs) == 1 else outs


def from_saved_model(path: Path, kind: str = "savedmodel") -> SignatureModel:
    """A SavedModel folder's serving signature as a :class:`SignatureModel`.

    The order of inputs and outputs is the one ``edgeloop_io.json`` gives (the Keras 3
    export writes it), else the signature's names in natural order (``output_2`` before
    ``output_10``).

    Raises:
        EdgeloopError: unreadable, or no ``serving_default`` signature.
    """
    from edgeloop._tf import tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # the loader raises many kinds, all meaning "not readable"
        raise EdgeloopError(f"cannot read SavedModel {path}: {_first_line(exc)}") from None
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if SIGNATURE not in signatures:
        found = ", ".join(signatures) or "none"
        raise EdgeloopError(f"SavedModel {path} has no {SIGNATURE} signature (signatures: {found}); save it with "
                            "tf.saved_model.save(obj, path, signatures=fn.get_concrete_function(spec)) or Keras' save")
    signature = signatures[SIGNATURE]
    in_specs = signature.structured_input_signature[1]
    out_specs = signature.structured_outputs
    order = _io_order(path)
    in_names = _ordered(list(in_specs), order.get("inputs"))
    out_names = _ordered(list(out_specs), order.get("outputs"))
    inputs = [IOSpec(n, tuple(in_specs[n].shape[1:]), in_specs[n].dtype.name) for n in in_names]
    outputs = [IOSpec(n, tuple(out_specs[n].shape[1:]), out_specs[n].dtype.name) for n in out_names]

    def call(*xs):
        return signature(**dict(zip(in_names, xs)))

    return SignatureModel(call, inputs, outputs, signature.variables, str(path), kind, keep=loaded)


def _io_order(path: Path) -> dict:
    file = Path(path) / IO_FILE
    if not file.is_file():
        return {}
    try:
        return json.loads(file.read_text())
    except ValueError:
        return {}


def _ordered(names: list[str], preferred: list[str] | None) -> list[str]:
    if preferred and sorted(preferred) == sorted(names):
        return list(preferred)
    return sorted(names, key=lambda n: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", n)])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
