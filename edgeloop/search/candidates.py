"""One proposal's evaluation: fine-tune, convert to int8, score the *converted* model.

This is the unit of work an executor runs, possibly in another process or on another
machine (Ray), so it travels as plain data: the model's config and weights, where the data
comes from, and the training settings. Latency is not measured here: measurements go one
at a time per device, in the process that owns the device.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DataSpec:
    """How a worker loads the same split the search uses.

    ``preprocess`` is :meth:`edgeloop.preprocess.Preprocess.to_dict` (``None``: [0, 1] for
    images, a ``.npz`` as stored).
    """

    source: str
    seed: int = 0
    val_fraction: float = 0.2
    image_size: tuple[int, int] | None = None
    preprocess: dict | None = field(default=None, hash=False)

    def load(self):
        """The split data set (cached per process: workers evaluate many proposals)."""
        key = json.dumps(self.preprocess, sort_keys=True) if self.preprocess else None
        return _load(self.source, self.seed, self.val_fraction, self.image_size, key)


@functools.lru_cache(maxsize=4)
def _load(source, seed, val_fraction, image_size, preprocess):
    from edgeloop.data import load_data

    return load_data(source, val_fraction=val_fraction, seed=seed, image_size=image_size,
                     preprocess=json.loads(preprocess) if preprocess else None)


@dataclass
class Job:
    """A model to fine-tune and score.

    Attributes:
        key: names the proposal in the report (``it03/conv2``).
        config: ``model.get_config()``.
        sequential: the model is a ``Sequential`` (else functional).
        weights: ``model.get_weights()``.
        data: where the data comes from.
        epochs: fine-tuning passes (0: score as is).
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate.
        seed: seeds the fine-tuning, so a proposal gives the same model every time.
        calibration: training samples for int8 calibration.
    """

    key: str
    config: dict
    sequential: bool
    weights: list[np.ndarray]
    data: DataSpec
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    calibration: int = 100


@dataclass
class Outcome:
    """What a :class:`Job` gave back."""

    key: str
    weights: list[np.ndarray]
    tflite: bytes
    int8_accuracy: float
    keras_accuracy: float
    seconds: float
    history: dict = field(default_factory=dict)


def to_job(model, key: str, data: DataSpec, epochs: int, batch_size: int, learning_rate: float, seed: int,
           calibration: int) -> Job:
    """Pack a Keras model and its training settings into a :class:`Job`."""
    from edgeloop._tf import keras

    return Job(key, model.get_config(), isinstance(model, keras.Sequential), model.get_weights(), data, epochs,
               batch_size, learning_rate, seed, calibration)


def rebuild(config: dict, sequential: bool, weights: list[np.ndarray]):
    """The Keras model a job describes."""
    from edgeloop._tf import keras
    from edgeloop.models.loading import register_custom_classes

    register_custom_classes()  # a Ray worker is a fresh process
    cls = keras.Sequential if sequential else keras.Model
    model = cls.from_config(config)
    model.set_weights(weights)
    return model


def run_job(job: Job) -> Outcome:
    """Fine-tune, convert to full int8 and score both the Keras and the converted model."""
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.pipeline._training import compile_classifier, keras_accuracy

    started = time.perf_counter()
    data = job.data.load()
    model = rebuild(job.config, job.sequential, job.weights)
    history = {}
    if job.epochs:
        keras.utils.set_random_seed(job.seed)
        compile_classifier(model, job.learning_rate)
        fit = model.fit(data.x_train, data.y_train, epochs=job.epochs, batch_size=job.batch_size, shuffle=True, verbose=0)
        history = {k: float(v[-1]) for k, v in fit.history.items()}
    blob = convert(model, "int8", data.representative(min(job.calibration, len(data.y_train))))
    pred = TFLiteModel(blob).predict(data.x_val)
    return Outcome(
        key=job.key,
        weights=model.get_weights(),
        tflite=blob,
        int8_accuracy=float(np.mean(np.argmax(pred, axis=-1) == data.y_val)),
        keras_accuracy=keras_accuracy(model, data.x_val, data.y_val),
        seconds=time.perf_counter() - started,
        history=history,
    )
