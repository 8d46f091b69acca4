"""``train``: fit a zoo model from scratch, or fine-tune a given one."""

from __future__ import annotations

from dataclasses import dataclass

from edgeloop.pipeline._training import check_training_options, compile_classifier, fit
from edgeloop.pipeline.base import Context, Step, register_step


@dataclass
class TrainOptions:
    """Options of ``train``.

    Attributes:
        epochs: passes over the training split.
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate (use a small one to fine-tune a trained model).
    """

    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        check_training_options(self.epochs, self.batch_size, self.learning_rate)


@register_step("train", TrainOptions, changes_model=True)
class Train(Step):
    """Train the model on the run's training split, validating on its held-out split."""

    def apply(self, model, ctx: Context):
        o = self.options
        compile_classifier(model, o.learning_rate)
        ctx.record(**fit(model, ctx, o.epochs, o.batch_size, "train"))
        ctx.state.trained_epochs = (ctx.state.trained_epochs or 0) + o.epochs  # a search's baseline trains as long
        return model
