"""NetAdapt driven by latency measured on the device, resumable after every iteration.

One iteration: the constraint tightens by the schedule's reduction; for every prunable
group, the proposal that removes the fewest filters (by L1 norm, through
:func:`edgeloop.models.shrink`) while meeting the constraint; each proposal fine-tuned
briefly, converted to int8 and scored *converted* (on an executor); each measured on the
device (one at a time); the best by the selection rule is kept. The search stops once the
kept model's measured latency is within the budget, then fine-tunes the winner longer.

The search folder's ``search.json`` is rewritten (atomically) after every phase and every
iteration; :func:`resume` continues from the last one finished. Measurements are kept in
it too, so a resumed search sees the latencies the interrupted one saw.
"""

from __future__ import annotations

import time

from edgeloop import _io
from edgeloop.errors import EdgeloopError
from edgeloop.search import objective, selection
from edgeloop.search.candidates import Job, Outcome, to_job
from edgeloop.search.proposals import Group, fewest_removed, prunable_groups
from edgeloop.search.session import Session


MAX_HALVINGS = 3


def run_iterations(s: Session) -> None:
    """NetAdapt's loop, from the last finished iteration until the budget or a stop."""
    from edgeloop.models import load_model, shrink

    state = s.state
    budget_ms = state["budget_ms"]
    aim_ms = budget_ms * (1 - s.options.budget_margin)  # room for the noise of the final measurement
    while "stopped" not in state:
        done = state["iterations"]
        last = done[-1] if done else state["original"]
        current_ms = last["latency_ms"]
        if current_ms <= aim_ms:
            state["stopped"] = f"budget met: {current_ms:.4f} ms <= {budget_ms:.4f} ms (aiming at {aim_ms:.4f})"
            break
        if len(done) >= s.options.max_iterations:
            state["stopped"] = f"max_iterations ({s.options.max_iterations}) reached above the budget"
            break
        index = len(done)
        started = time.perf_counter()
        model = load_model(s.path(last["model_file"]))
        target = objective.iteration_target(index, current_ms, state["original"]["latency_ms"], aim_ms,
                                            s.options.initial_reduction, s.options.decay)
        halved = 0
        while True:
            s.ui.info(f"[bold]iteration {index + 1}[/bold]: {current_ms:.4f} ms now, target {target:.4f} ms")
            proposals = _propose(s, model, target, shrink)
            if proposals or halved == MAX_HALVINGS:
                break
            # No single layer can give the schedule's reduction (many small layers share the
            # latency): ask for half as much, a few times, before giving up.
            halved += 1
            target = current_ms - (current_ms - target) / 2
        if not proposals:
            state["stopped"] = f"no layer can be narrowed to reach {target:.4f} ms"
            break
        jobs = [to_job(m, f"it{index + 1:02d}/{p['group']}", s.data_spec, s.options.short_epochs,
                       s.options.batch_size, s.options.learning_rate, s.seed_for(index + 1, i),
                       s.options.calibration_samples) for i, (p, m) in enumerate(proposals)]
        with s.ui.progress(f"iteration {index + 1} proposals", len(jobs)) as advance:
            outcomes = s.executor.map(jobs, lambda o: advance(1))
        records = [_score(s, p, o, target) for (p, _), o in zip(proposals, outcomes)]
        best = selection.select(records)
        if best is None:
            state["stopped"] = "every proposal was rejected (Edge TPU mapping)"
            break
        outcome = outcomes[records.index(best)]
        model_file = f"iter_{index + 1:02d}.keras"
        s.save_weights_as(proposals[records.index(best)][1], outcome.weights, model_file)
        done.append({
            "iteration": index + 1,
            "target_ms": target,
            "reduction_halved": halved,
            "seconds": round(time.perf_counter() - started, 2),
            "proposals": records,
            "chosen": best["group"],
            "widths": {**last.get("widths", {}), best["group"]: best["width_to"]},
            "model_file": model_file,
            "latency_ms": best["measured_ms"],
            "int8_accuracy": best["int8_accuracy"],
        })
        s.ui.info(f"  kept {best['group']} {best['width_from']} -> {best['width_to']} filters: "
                  f"{best['int8_accuracy']:.2%} int8, {best['measured_ms']:.4f} ms measured")
        s.save()
    s.ui.info(f"stopped: {state['stopped']}")
    s.save()


def _propose(s: Session, model, target: float, shrink) -> list[tuple[dict, object]]:
    """For each group, the narrowest cut (fewest filters removed) whose estimate meets ``target``."""
    out = []
    for group in prunable_groups(model):
        step = s.step_for(group)
        built: dict[int, object] = {}

        def latency_at(width: int, g: Group = group) -> float:
            built[width] = shrink(model, {g.name: width})
            return s.source.estimate(built[width])

        found = fewest_removed(group.width, step, s.options.min_channels, latency_at, target)
        if found is None:
            continue
        width, estimate = found
        record = {"group": group.name, "layers": list(group.layers), "width_from": group.width, "width_to": width,
                  "estimated_ms": estimate}
        out.append((record, built[width]))
    return out


def _score(s: Session, proposal: dict, outcome: Outcome, target: float) -> dict:
    """A proposal's record: accuracy, measured latency, Edge TPU verdict, score."""
    record = dict(proposal)
    record.update(int8_accuracy=outcome.int8_accuracy, keras_accuracy=outcome.keras_accuracy,
                  measured_ms=s.meter.median_ms(outcome.tflite), fine_tune_seconds=round(outcome.seconds, 2), rejected=None)
    record["score"] = selection.score(s.options.select, record["int8_accuracy"], record["measured_ms"], s.state["budget_ms"])
    if s.edgetpu_mode != "off":
        selection.apply_edgetpu(record, selection.edgetpu_verdict(outcome.tflite), s.edgetpu_mode, s.options.edgetpu_penalty)
    return record


def finish(s: Session) -> None:
    """Long-term fine-tune of the chosen model, verified int8 file, predicted vs measured latency."""
    from edgeloop.converters import checks_to_dict, enforce, read_model, verify
    from edgeloop.models import load_model

    state = s.state
    if "final" in state:
        return
    last = state["iterations"][-1] if state["iterations"] else state["original"]
    model = load_model(s.path(last["model_file"]))
    s.ui.info(f"[bold]long-term fine-tune[/bold] ({s.options.long_epochs} epochs)")
    job = to_job(model, "final", s.data_spec, s.options.long_epochs, s.options.batch_size, s.options.learning_rate,
                 s.seed_for(0, 0), s.options.calibration_samples)
    outcome = s.executor.map([job])[0]
    checks = verify(read_model(outcome.tflite), mode="int8", io_type="int8")
    enforce(checks)
    final_model = s.save_weights_as(model, outcome.weights, "model.keras")
    _io.write_bytes(s.path("model.tflite"), outcome.tflite)
    measured = s.meter.median_ms(outcome.tflite)
    estimated = s.source.estimate(final_model)
    original = state["original"]
    drop = (original["int8_accuracy"] - outcome.int8_accuracy) * 100
    state["final"] = {
        "model_file": "model.keras",
        "tflite": "model.tflite",
        "from_iteration": len(state["iterations"]),
        "int8_accuracy": outcome.int8_accuracy,
        "keras_accuracy": outcome.keras_accuracy,
        "latency_ms": measured,
        "estimated_ms": estimated,
        "estimate_error": (estimated - measured) / measured,
        "latency_ratio": measured / original["latency_ms"],
        "accuracy_drop_points": drop,
        "params": int(final_model.count_params()),
        "widths": last.get("widths", {}),
        "verification": checks_to_dict(checks),
    }
    state["checks"] = [
        {"name": "budget_met", "passed": measured <= state["budget_ms"],
         "detail": f"measured {measured:.4f} ms vs budget {state['budget_ms']:.4f} ms "
                   f"({measured / original['latency_ms']:.2f}x the original)"},
        {"name": "accuracy_drop", "passed": drop <= s.options.accuracy_drop,
         "detail": f"int8 {outcome.int8_accuracy:.2%} vs original {original['int8_accuracy']:.2%}: "
                   f"{points(drop)} (at most {s.options.accuracy_drop:.2f} may be lost)"},
    ]
    s.save()


def points(drop: float) -> str:
    """An accuracy drop in points, said as lost or gained."""
    return f"{drop:.2f} points lost" if drop >= 0 else f"{-drop:.2f} points gained"


def original_phase(s: Session, model, trained_before: int = 0) -> None:
    """Score and measure the starting model converted.

    The model comes trained (a recipe's ``train`` step trains a zoo model);
    ``trained_before`` is the epochs it was trained for, which a width baseline trained
    from scratch trains too.
    """
    from edgeloop.models import save_model
    from edgeloop.models.macs import model_macs

    state = s.state
    if "original" in state:
        return
    save_model(model, s.path("original.keras"))
    job = to_job(model, "original", s.data_spec, 0, s.options.batch_size, s.options.learning_rate, 0,
                 s.options.calibration_samples)
    outcome = s.executor.map([job])[0]
    _io.write_bytes(s.path("original.tflite"), outcome.tflite)
    latency = s.meter.median_ms(outcome.tflite)
    state["original"] = {
        "model_file": "original.keras",
        "tflite": "original.tflite",
        "trained_epochs": trained_before,
        "int8_accuracy": outcome.int8_accuracy,
        "keras_accuracy": outcome.keras_accuracy,
        "latency_ms": latency,
        "params": int(model.count_params()),
        "macs": model_macs(model)["total"],
        "widths": {g.name: g.width for g in prunable_groups(model)},
    }
    budget = objective.parse_budget(s.options.budget)
    state["budget_ms"] = budget.resolve(latency)
    if state["budget_ms"] >= latency:
        raise EdgeloopError(f"the original model already meets the budget ({latency:.4f} ms <= {state['budget_ms']:.4f} ms)")
    s.ui.info(f"original: {outcome.int8_accuracy:.2%} int8, {latency:.4f} ms measured; budget {budget} = "
              f"{state['budget_ms']:.4f} ms")
    s.save()


__all__ = ["Job", "finish", "original_phase", "run_iterations"]
