"""``evaluate``: the *converted* model next to the float model, with or without labels.

The ``.tflite`` model runs in the LiteRT interpreter with inputs quantized by its own
scale and zero point (raw pixels when its preprocessing is folded in), on the same
validation split the float model is scored on. The float baseline's outputs are the
reference: output SNR, cosine, top-1 agreement and mean |Δprobability|
(:mod:`edgeloop.fidelity`) for any model. With labels, accuracy and the paired accuracy
drop; the gate judges ``max_drop`` against the drop's 95 % interval
(:mod:`edgeloop.gates`). A failed gate does not stop the run: later steps run, the report
says which gate failed and ``edgeloop optimize`` exits with status 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.base import Context, Step, register_step


@dataclass
class EvaluateOptions:
    """Options of ``evaluate``.

    Attributes:
        max_drop: most accuracy (in percentage points) the converted model may lose
            against the float baseline, judged against the drop's 95 % interval; without
            labels, against the share of top-1 classes changed; ``null`` to only report.
        enforce: a failed gate makes the run's exit status 1 (false: only reported).
        min_snr_db: least output SNR (dB) of the converted model against the float model
            (any model: regressions, embeddings, autoencoders); ``null`` to only report.
        task: ``classification`` judges top-1 (accuracy, agreement); ``other`` only the
            outputs' SNR and cosine; ``auto``: classification with labels, or when the
            model ends in a softmax.
    """

    max_drop: float | None = 1.0
    enforce: bool = True
    min_snr_db: float | None = None
    task: Literal["auto", "classification", "other"] = "auto"

    def __post_init__(self) -> None:
        if self.max_drop is not None and not self.max_drop >= 0:
            raise ValueError(f"max_drop must be >= 0, got {self.max_drop}")


@register_step("evaluate", EvaluateOptions, takes_any_model=True, needs_labels=False)
class Evaluate(Step):
    """Score the float baseline, the compressed Keras model and the converted file(s)."""

    def apply(self, model, ctx: Context):
        from edgeloop import fidelity
        from edgeloop.gates import snr_gate
        from edgeloop.pipeline._training import outputs_probabilities

        tflite = ctx.state.get("tflite")
        if not tflite:
            raise EdgeloopError("evaluate needs a converted model: put a convert step before it")
        from edgeloop.data import n_samples
        from edgeloop.models.io import model_outputs, output_index, pick_output

        data, o = ctx.data, self.options
        x = data.x_val
        scored = output_index(model, ctx.output)  # a multi-output model: the output the labels are for
        # The converted files name their outputs after the model's when it has several.
        output = ctx.output if len(model_outputs(model)) > 1 else None
        baseline = ctx.baseline_model(model)
        reference = pick_output(baseline.predict(x, batch_size=256, verbose=0), scored)
        keras_out = reference if baseline is model else pick_output(model.predict(x, batch_size=256, verbose=0), scored)
        outputs = {f"tflite_{tflite['mode']}": self._run(ctx, tflite["file"], data.raw(x) if tflite.get("folded") else x,
                                                         output)}
        if ctx.state.get("baseline_tflite"):
            outputs["tflite_baseline_float32"] = self._run(ctx, ctx.state["baseline_tflite"], x, output)
        converted = outputs[f"tflite_{tflite['mode']}"]
        classify = o.task == "classification" or (
            o.task == "auto" and fidelity.is_class_scores(reference) and (data.labeled or outputs_probabilities(baseline)))
        label = f"{tflite['mode']} model" + (" (raw pixels in)" if tflite.get("folded") else "")
        fid = {"converted_vs_float": fidelity.compare(reference, converted, f"{label} vs float baseline"),
               "conversion_only": fidelity.compare(keras_out, converted, f"{label} vs the Keras model converted")}
        ctx.record(n_val=int(n_samples(x)), labeled=data.labeled, task="classification" if classify else "other",
                   fidelity=fid)
        gates = []
        if classify and data.labeled:
            gates.append(self._accuracy(ctx, baseline, model, reference, keras_out, outputs, label))
        elif classify:
            from edgeloop.gates import top1_changes_gate

            gates.append(top1_changes_gate(fid["converted_vs_float"]["changed"], n_samples(x), o.max_drop, label))
        if o.min_snr_db is not None or not classify:
            gates.append(snr_gate(fid["converted_vs_float"]["snr_db"], o.min_snr_db, label))
        ctx.record(gates=[g.figures | {"name": g.name, "verdict": g.verdict} for g in gates],
                   checks=[g.to_check(gate=o.enforce) for g in gates])
        unresolved = [g for g in gates if g.verdict == "unresolved"]
        for g in unresolved:
            ctx.warn(f"evaluate: {g.name} unresolved: {g.detail}")
        return model

    def _accuracy(self, ctx: Context, baseline, model, reference, keras_out, outputs, label):
        from edgeloop.gates import accuracy_drop_gate

        y = ctx.data.y_val
        float_right = np.argmax(reference, axis=-1) == y
        acc = {"baseline_float": float(np.mean(float_right)), "keras": float(np.mean(np.argmax(keras_out, -1) == y))}
        for key, out in outputs.items():
            acc[key] = float(np.mean(np.argmax(out, axis=-1) == y))
        converted = next(iter(outputs.values()))
        right = np.argmax(converted, axis=-1) == y
        changed = int(np.sum(np.argmax(converted, axis=-1) != np.argmax(reference, axis=-1)))
        gate = accuracy_drop_gate(int(np.sum(float_right & ~right)), int(np.sum(~float_right & right)), len(y), changed,
                                  self.options.max_drop, acc[next(iter(outputs))], acc["baseline_float"], label)
        ctx.record(accuracy=acc, drop_points=gate.figures["drop_points"])
        return gate

    @staticmethod
    def _run(ctx: Context, name: str, x, output: str | None = None) -> np.ndarray:
        from edgeloop.data import n_samples
        from edgeloop.device.interpreter import TFLiteModel

        with ctx.progress(f"evaluate {name}", n_samples(x)) as advance:
            return TFLiteModel(ctx.path(name)).predict(x, progress=lambda done, total: advance(1), output=output)
