"""``evaluate``: accuracy of the *converted* model next to the float model.

The ``.tflite`` model runs in the LiteRT interpreter with inputs quantized by its own
scale and zero point, on the same validation split the float model is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeloop.errors import EdgeloopError, VerificationError
from edgeloop.pipeline._training import keras_accuracy
from edgeloop.pipeline.base import Context, Step, register_step


@dataclass
class EvaluateOptions:
    """Options of ``evaluate``.

    Attributes:
        max_drop: most accuracy (in percentage points) the converted model may lose
            against the float baseline; ``null`` to only report.
        enforce: stop the run when the drop is larger than ``max_drop``.
    """

    max_drop: float | None = 1.0
    enforce: bool = True

    def __post_init__(self) -> None:
        if self.max_drop is not None and self.max_drop < 0:
            raise ValueError(f"max_drop must be >= 0, got {self.max_drop}")


@register_step
class Evaluate(Step):
    """Score the float baseline, the compressed Keras model and the converted file(s)."""

    name = "evaluate"
    Options = EvaluateOptions
    takes_any_model = True

    def apply(self, model, ctx: Context):
        from edgeloop.converters.verify import Check
        from edgeloop.device.interpreter import TFLiteModel

        tflite = ctx.state.get("tflite")
        if not tflite:
            raise EdgeloopError("evaluate needs a converted model: put a convert step before it")
        from edgeloop.models.io import model_outputs, output_index

        x, y = ctx.data.x_val, ctx.data.y_val
        scored = output_index(model, ctx.output)
        acc = {
            "baseline_float": keras_accuracy(ctx.baseline_model(model), x, y, output=scored),
            "keras": keras_accuracy(model, x, y, output=scored),
        }
        # The converted file names its outputs after the model's when it has several.
        output = ctx.output if len(model_outputs(model)) > 1 else None
        files = {f"tflite_{tflite['mode']}": tflite["file"]}
        if ctx.state.get("baseline_tflite"):
            files["tflite_baseline_float32"] = ctx.state["baseline_tflite"]
        for key, name in files.items():
            with ctx.progress(f"evaluate {name}", len(y)) as advance:
                pred = TFLiteModel(ctx.path(name)).predict(x, progress=lambda done, total: advance(1), output=output)
            acc[key] = float(np.mean(np.argmax(pred, axis=-1) == y))
        converted = acc[f"tflite_{tflite['mode']}"]
        drop = (acc["baseline_float"] - converted) * 100.0
        ok = self.options.max_drop is None or drop <= self.options.max_drop
        limit = "no limit" if self.options.max_drop is None else f"allowed {self.options.max_drop:.2f}"
        check = Check(
            "accuracy_drop",
            ok,
            f"{tflite['mode']} model {converted:.2%} vs float {acc['baseline_float']:.2%}: "
            f"{drop:+.2f} points lost ({limit})",
        )
        ctx.record(accuracy=acc, n_val=int(len(y)), drop_points=drop, checks=[check.__dict__])
        if not ok and self.options.enforce:
            raise VerificationError(f"accuracy check failed: {check.detail}")
        return model
