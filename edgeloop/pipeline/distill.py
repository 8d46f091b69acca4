"""``distill``: knowledge distillation from a teacher into the model (or a new student).

loss = α · CE(labels, student) + (1 − α) · T² · KL(softmax(teacher / T) ‖ softmax(student / T))

The T² factor keeps the soft term's gradients on the scale of the hard term's as T grows
(Hinton et al., 2015). The teacher is fixed, so its logits are computed once and travel
next to the labels; the student trains with an ordinary ``fit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeloop.pipeline._training import check_training_options, fit, keras_accuracy, outputs_probabilities
from edgeloop.pipeline.base import Context, Step, register_step


def distillation_loss(temperature: float, alpha: float, student_probabilities: bool = False):
    """A Keras loss over ``y_true = [label, teacher logits …]`` and the student's outputs.

    Args:
        temperature: softens both distributions (T).
        alpha: weight of the cross-entropy with the true labels.
        student_probabilities: the student ends in a softmax (its outputs are logged back
            to logits first).
    """
    from edgeloop._tf import tf

    def loss(y_true, y_pred):
        labels = tf.cast(y_true[:, 0], tf.int32)
        teacher_logits = y_true[:, 1:]
        student_logits = tf.math.log(tf.maximum(y_pred, 1e-12)) if student_probabilities else y_pred
        hard = tf.keras.losses.sparse_categorical_crossentropy(labels, student_logits, from_logits=True)
        p_teacher = tf.nn.softmax(teacher_logits / temperature)
        log_p_teacher = tf.nn.log_softmax(teacher_logits / temperature)
        log_p_student = tf.nn.log_softmax(student_logits / temperature)
        soft = tf.reduce_sum(p_teacher * (log_p_teacher - log_p_student), axis=-1)
        return alpha * hard + (1.0 - alpha) * temperature**2 * soft

    return loss


def _label_accuracy(y_true, y_pred):
    from edgeloop._tf import tf

    return tf.cast(tf.equal(tf.cast(y_true[:, 0], tf.int64), tf.argmax(y_pred, axis=-1)), tf.float32)


def teacher_logits(teacher, x: np.ndarray) -> np.ndarray:
    """The teacher's logits (log of its probabilities when it ends in a softmax)."""
    out = teacher.predict(x, batch_size=256, verbose=0).astype(np.float32)
    return np.log(np.maximum(out, 1e-12)) if outputs_probabilities(teacher) else out


@dataclass
class DistillOptions:
    """Options of ``distill``.

    Attributes:
        teacher: ``baseline`` (the model before compression began), or a model file /
            ``zoo:`` name of a trained teacher.
        student: ``null`` distils into the current model; a model file or ``zoo:<name>``
            starts a new student (e.g. ``zoo:digits_cnn?width=0.5``).
        temperature: T, softens the teacher's and the student's distributions.
        alpha: weight of the cross-entropy with the true labels (1 − alpha on the teacher).
        epochs: training passes.
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate.
    """

    teacher: str = "baseline"
    student: str | None = None
    temperature: float = 4.0
    alpha: float = 0.1
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")
        check_training_options(self.epochs, self.batch_size, self.learning_rate)


@register_step("distill", DistillOptions, changes_model=True, compresses=True)
class Distill(Step):
    """Train the student on the labels and on the teacher's softened outputs."""

    def apply(self, model, ctx: Context):
        from edgeloop._tf import keras
        from edgeloop.data import check_compatible
        from edgeloop.models import load_model

        o = self.options
        data = ctx.data
        if o.teacher == "baseline":
            teacher = ctx.baseline_model(model)
        else:
            teacher = load_model(o.teacher, input_shape=data.sample_shape, classes=data.classes)
        check_compatible(data, teacher.input_shape, teacher.output_shape[-1])
        student = model
        if o.student:
            keras.utils.set_random_seed(ctx.seed)
            student = load_model(o.student, input_shape=data.sample_shape, classes=data.classes)
            check_compatible(data, student.input_shape, student.output_shape[-1])
        soft_train = teacher_logits(teacher, data.x_train)
        soft_val = teacher_logits(teacher, data.x_val)
        targets = (
            np.concatenate([data.y_train[:, None].astype(np.float32), soft_train], axis=1),
            np.concatenate([data.y_val[:, None].astype(np.float32), soft_val], axis=1),
        )
        student.compile(
            optimizer=keras.optimizers.Adam(o.learning_rate),
            loss=distillation_loss(o.temperature, o.alpha, outputs_probabilities(student)),
            metrics=[_label_accuracy],
        )
        result = fit(student, ctx, o.epochs, o.batch_size, "distill", targets=targets)
        result["train_accuracy"] = keras_accuracy(student, data.x_train, data.y_train)
        result["val_accuracy"] = keras_accuracy(student, data.x_val, data.y_val)
        ctx.record(
            **result,
            teacher=o.teacher,
            teacher_params=int(teacher.count_params()),
            student_params=int(student.count_params()),
            teacher_val_accuracy=keras_accuracy(teacher, data.x_val, data.y_val),
        )
        return student
