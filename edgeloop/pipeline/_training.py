"""Compile-and-fit shared by every step that trains (train, prune, qat …)."""

from __future__ import annotations

import math

import numpy as np

from edgeloop.pipeline.base import Context


def check_training_options(epochs: int, batch_size: int, learning_rate: float, min_epochs: int = 1) -> None:
    """The range checks every training step's options share (ValueError names the option).

    ``min_epochs=0`` is for steps whose fine-tune is optional.
    """
    if epochs < min_epochs:
        raise ValueError(f"epochs must be at least {min_epochs}, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")


def outputs_probabilities(model) -> bool:
    """Whether the model ends in a softmax (else its outputs are taken as logits)."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if getattr(activation, "__name__", "") == "softmax":
        return True
    return type(last).__name__ == "Softmax"


def compile_classifier(model, learning_rate: float, probabilities: bool | None = None) -> None:
    """Compile for sparse-label classification with Adam."""
    from edgeloop._tf import keras
    from edgeloop.errors import EdgeloopError

    if len(model.outputs) > 1:
        raise EdgeloopError(f"training steps fit a model with one output; this one has {len(model.outputs)} "
                            f"({', '.join(model.output_names)}): convert, evaluate and benchmark take it as it is")
    if probabilities is None:
        probabilities = outputs_probabilities(model)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities),
        metrics=["accuracy"],
    )


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch."""
    return math.ceil(n_samples / batch_size)


def fit(model, ctx: Context, epochs: int, batch_size: int, description: str, callbacks=(), targets=None) -> dict:
    """Train on the run's training split with a progress bar; return the last epoch's metrics.

    The seed is set before every fit so a step gives the same model when run again.
    ``targets`` replaces the labels as ``(train, val)`` (distillation packs the teacher's
    logits next to them).
    """
    from edgeloop._tf import keras

    keras.utils.set_random_seed(ctx.seed)
    data = ctx.data
    y_train, y_val = targets if targets is not None else (data.y_train, data.y_val)
    total = epochs * steps_per_epoch(len(data.y_train), batch_size)
    with ctx.progress(description, total) as advance:
        bar = _ProgressCallback(advance)
        history = model.fit(
            data.x_train,
            y_train,
            validation_data=(data.x_val, y_val),
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[*callbacks, bar],
        )
    last = {k: float(v[-1]) for k, v in history.history.items()}
    check_finite(model, description, last.get("loss"))
    return {
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer_steps": total,
        "loss": last.get("loss"),
        "train_accuracy": last.get("accuracy"),
        "val_accuracy": last.get("val_accuracy"),
    }


def check_finite(model, description: str, loss: float | None = None) -> None:
    """Refuse a model whose training diverged: weights that became NaN or infinite.

    NaN gradients spread from where they arise back to the input, so the last layer in
    graph order whose weights are not finite is named: the place to look.

    Raises:
        VerificationError: one line: the step, the layer, the usual causes and ways out.
    """
    from edgeloop.errors import VerificationError

    floats = [(getattr(layer, "layer", layer).name, [w for w in layer.get_weights()
                                                     if np.issubdtype(np.asarray(w).dtype, np.floating)])
              for layer in model.layers]
    floats = [(name, weights) for name, weights in floats if weights]
    bad = [name for name, weights in floats if any(not np.isfinite(w).all() for w in weights)]
    if not bad:
        return
    # Once a NaN reaches the forward pass every later update is NaN too: "all of them".
    where = f"all {len(bad)} layers" if len(bad) == len(floats) else f"{len(bad)} layer(s), up to {bad[-1]},"
    raise VerificationError(
        f"{description} diverged: the weights of {where} became NaN or infinite "
        f"(last loss {loss}); usual causes: a learning rate too high, inputs on the wrong scale, or activations "
        "that are all zero there (quantization-aware training cannot scale a range of width 0: a model not trained "
        "yet); ways out: a smaller learning_rate, a `preprocess` that matches the model, train before this step")


def keras_accuracy(model, x, y: np.ndarray, batch_size: int = 256, output: int = 0) -> float:
    """Top-1 accuracy of a Keras model (or a signature model), on its output number ``output``."""
    from edgeloop.models.io import pick_output

    pred = pick_output(model.predict(x, batch_size=batch_size, verbose=0), output)
    return float(np.mean(np.argmax(pred, axis=-1) == y))


class _ProgressCallback:
    """A Keras callback advancing a progress bar once per batch (built lazily: needs keras)."""

    def __new__(cls, advance):
        from edgeloop._tf import keras

        class _Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                advance(1)

        return _Callback()
