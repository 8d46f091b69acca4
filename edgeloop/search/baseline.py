"""The baseline the field compares against: the same model at uniform width multipliers.

A zoo model is rebuilt at each width (``width × the original's``) and trained from scratch
for as many epochs as the searched model saw in all (its training, one short fine-tune per
iteration it went through, the long fine-tune). A model file cannot be rebuilt at another
width, so its baseline narrows every prunable group by the same fraction (filters by L1
norm, like the search) and fine-tunes it for the epochs the search spent after training.
Every baseline model is converted, scored and measured on the same device as the search.
"""

from __future__ import annotations

from edgeloop.search.candidates import to_job
from edgeloop.search.session import Session

# Training from scratch uses the rate the starting model was trained with.
SCRATCH_LEARNING_RATE = 1e-3


def width_model(s: Session, width: float):
    """The baseline architecture at ``width`` and whether it starts from scratch."""
    from edgeloop._tf import keras
    from edgeloop.models import create, load_model
    from edgeloop.models.loading import parse_zoo_spec
    from edgeloop.search.proposals import narrowed

    if s.is_zoo:
        name, options = parse_zoo_spec(s.state["model"])
        options["width"] = float(options.get("width", 1.0)) * width
        keras.utils.set_random_seed(s.options.seed)
        return create(name, input_shape=s.data.sample_shape, classes=s.data.classes, **options), True
    return narrowed(load_model(s.path(s.state["original"]["model_file"])), width), False


def run_baseline(s: Session) -> None:
    """Train, score and measure every baseline width not done yet."""
    state = s.state
    entries = state.setdefault("baseline", [])
    done = {e["width"] for e in entries}
    steps = len(state["iterations"])
    after_training = steps * s.options.short_epochs + s.options.long_epochs
    for width in s.options.baseline_widths:
        if width in done:
            continue
        model, scratch = width_model(s, width)
        epochs = state["original"]["trained_epochs"] + after_training if scratch else after_training
        s.ui.info(f"[bold]baseline[/bold] width {width:g}x ({'from scratch' if scratch else 'uniform shrink'}, {epochs} epochs)")
        job = to_job(model, f"width {width:g}", s.data_spec, epochs, s.options.batch_size,
                     SCRATCH_LEARNING_RATE if scratch else s.options.learning_rate, s.seed_for(-1, int(width * 100)),
                     s.options.calibration_samples)
        outcome = s.executor.map([job])[0]
        entries.append({
            "width": width,
            "how": "from scratch" if scratch else "uniform shrink + fine-tune",
            "epochs": epochs,
            "params": int(model.count_params()),
            "int8_accuracy": outcome.int8_accuracy,
            "keras_accuracy": outcome.keras_accuracy,
            "latency_ms": s.meter.median_ms(outcome.tflite),
        })
        s.save()
    state["checks"] = [c for c in state["checks"] if c["name"] != "beats_width_baseline"] + [baseline_check(state)]


def baseline_check(state: dict) -> dict:
    """Whether the searched model is at least as accurate as the width multipliers at its latency."""
    from edgeloop.search.pareto import accuracy_at

    final = state["final"]
    at = accuracy_at(state["baseline"], final["latency_ms"])
    if at is None:
        fastest = min(state["baseline"], key=lambda b: b["latency_ms"])
        if final["latency_ms"] < fastest["latency_ms"]:  # faster than every width: compare with the fastest
            at = fastest["int8_accuracy"]
        else:
            return {"name": "beats_width_baseline", "passed": False,
                    "detail": f"the searched model ({final['latency_ms']:.4f} ms) is slower than every width multiplier"}
    return {"name": "beats_width_baseline", "passed": final["int8_accuracy"] >= at,
            "detail": f"searched {final['int8_accuracy']:.2%} vs width multipliers {at:.2%} at {final['latency_ms']:.4f} ms"}
