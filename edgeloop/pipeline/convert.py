"""``convert``: Keras -> TFLite, verified before it is called done.

Writes ``model.tflite`` (the compressed model in the asked mode) and, for comparison,
``baseline_float32.tflite`` (the model before compression, plain float32). Both are
verified; a failed check stops the run with the op or tensor named. With
``fold_preprocessing`` the model is converted behind its preprocessing layer
(:mod:`edgeloop.models.fold`), calibrated on raw pixels, and checked to take raw 0–255
pixels and to give the unfolded model's outputs. ``model.tflite`` says what it expects in
its metadata (:mod:`edgeloop.converters.metadata`).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from typing import Literal

from edgeloop import _io
from edgeloop.errors import EdgeloopError
from edgeloop.converters.metadata import add_metadata
from edgeloop.converters.modes import FULL_INTEGER, io_types_for
from edgeloop.pipeline._sparsity import SPARSITY_TOLERANCE, layer_kinds
from edgeloop.pipeline.base import Context, Preflight, Problem, Step, register_step
from edgeloop.pipeline.folding import check_fold, input_expectation, input_payload

MODEL_FILE = "model.tflite"
REJECTED_FILE = "model.rejected.tflite"  # a full-integer file that failed verification, kept to look at
BASELINE_FILE = "baseline_float32.tflite"


def file_sizes(data: bytes) -> dict:
    """Raw and gzipped size: gzip shows what zeros and repeated values really save."""
    return {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=9))}


@dataclass
class ConvertOptions:
    """Options of ``convert``.

    Attributes:
        mode: ``int8`` (full integer, calibrated), ``int16x8`` (int16 activations, int8
            weights, calibrated), ``dynamic`` (int8 weights, float activations),
            ``float16``, ``float32``, ``auto`` (mixed precision within ``max_drop``) or
            ``fastest`` (every candidate built, scored and timed on the target device; the
            fastest within ``max_drop`` kept: :mod:`edgeloop.pipeline.fastest`).
        io_type: input / output type; by default ``int8`` for int8, ``int16`` for
            int16x8 and ``float32`` for the others (``uint8`` and ``float32`` also fit int8).
        calibration_samples: training samples fed to the calibration.
        per_channel: per-channel weight scales (per-tensor when false).
        debug: rank the layers by int8 quantization error (TensorFlow's
            QuantizationDebugger) and report the ranking.
        keep_float: keep the N layers with the largest error in float (selective
            quantization; needs ``mode: int8`` and ``io_type: float32``). The report says
            what that costs in size and in ops the Edge TPU would hand back to the CPU.
        baseline: also convert the uncompressed model to float32 for comparison.
        calibration: how activation ranges are chosen: ``minmax`` (the converter's),
            ``percentile``, ``mse``, ``kl`` or ``ema`` (the LiteRT quantizer's moving average).
        percentile: the percentile ``calibration: percentile`` clips at.
        weights: weight scales: ``minmax`` or ``mse`` (through the LiteRT quantizer).
        quantizer: ``converter`` (TensorFlow's) or ``litert`` (the LiteRT quantizer on the
            float32 file); the options above and ``mode: auto`` imply ``litert``.
        max_drop: ``mode: auto``: the accuracy budget in points; ops move off int8 (int16
            activations, then float) until the converted model is within it. ``mode:
            fastest``: the budget every candidate is held to.
        edgetpu: ``mode: auto``: cost each move by the ops it cuts off the Edge TPU.
        report: write the per-op quantization error report (``quant_report.png`` / ``.json``).
        equalize: cross-layer equalization of the float model first (pairs joined by ReLU).
        bias_correction: correct biases for the rounding of the weights first.
        adaround: learn each weight's rounding (AdaRound) on calibration samples first.
        adaround_iterations: optimisation steps per layer for ``adaround``.
        hard_swish: ``auto`` (default) and ``rewrite`` write every hard-swish as
            x · ReLU6(DW1x1[w=1, b=3](x)) / 6, int8 ops XNNPACK runs (the converter's int8
            ``HARD_SWISH`` falls to a kernel ~30x slower than float on a CPU); ``int8`` keeps
            the converter's op. Full-integer modes only; the file stays full int8.
        float_stem: keep the convolution reading a 1-3 channel input in float (float
            input, the rest int8; needs ``mode: int8``): faster on some CPUs, slower on
            others (``mode: fastest`` measures it).
        precisions: ``mode: int8``: ops kept off int8, by Keras layer name or glob pattern,
            ``{layer: int16 | float}`` (int16 activations, or float); through the LiteRT
            quantizer, with float32 input / output (an op at the edge may stay float).
    """

    mode: Literal["int8", "int16x8", "dynamic", "float16", "float32", "auto", "fastest"] = "int8"
    io_type: Literal["int8", "uint8", "int16", "float32"] | None = None
    calibration_samples: int = 200
    per_channel: bool = True
    debug: bool = False
    keep_float: int = 0
    baseline: bool = True
    calibration: Literal["minmax", "percentile", "mse", "kl", "ema"] = "minmax"
    percentile: float = 99.99
    weights: Literal["minmax", "mse"] = "minmax"
    quantizer: Literal["converter", "litert"] = "converter"
    max_drop: float = 0.5
    edgetpu: bool = False
    report: bool = False
    equalize: bool = False
    bias_correction: bool = False
    adaround: bool = False
    adaround_iterations: int = 300
    hard_swish: Literal["auto", "rewrite", "int8"] = "auto"
    float_stem: bool = False
    precisions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.precisions:
            bad = {k: v for k, v in self.precisions.items() if v not in ("int8", "int16", "float")}
            if bad:
                raise ValueError(f"precisions must be int8, int16 or float per layer, got {bad}")
            if self.mode != "int8" or self.io_type not in (None, "float32"):
                raise ValueError("precisions (ops off int8) need mode int8 with io_type float32")
            self.io_type = "float32"
        if self.calibration_samples < 1:
            raise ValueError(f"calibration_samples must be at least 1, got {self.calibration_samples}")
        if self.keep_float < 0:
            raise ValueError(f"keep_float must be at least 0, got {self.keep_float}")
        if self.keep_float and (self.mode != "int8" or self.io_type not in (None, "float32")):
            raise ValueError("keep_float (selective quantization) needs mode int8 with io_type float32")
        if self.float_stem and (self.mode != "int8" or self.keep_float or self.io_type not in (None, "float32")):
            raise ValueError("float_stem needs mode int8 with io_type float32, without keep_float")
        if self.keep_float or self.float_stem:
            self.io_type = "float32"
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {self.percentile}")
        if self.adaround_iterations < 1:
            raise ValueError(f"adaround_iterations must be at least 1, got {self.adaround_iterations}")
        if self.max_drop < 0:
            raise ValueError(f"max_drop must be >= 0, got {self.max_drop}")
        from edgeloop.quant.step import uses_litert

        if uses_litert(self) and self.mode not in ("int8", "int16x8", "auto"):
            raise ValueError(f"calibration, weights and quantizer: litert apply to int8, int16x8 and auto, not {self.mode}")
        if self.mode == "fastest" and (self.keep_float or self.float_stem or self.debug or uses_litert(self)):
            raise ValueError("mode fastest builds its own candidates: drop keep_float, float_stem, debug and the "
                             "LiteRT quantizer options")
        if self.mode == "auto" and self.keep_float:
            raise ValueError("mode auto chooses the ops kept off int8 itself: drop keep_float")
        allowed = io_types_for("int8" if self.mode in ("auto", "fastest") else self.mode)
        if self.io_type is None:
            self.io_type = allowed[0]
        elif self.io_type not in allowed:
            raise ValueError(f"{self.mode} models take {' or '.join(allowed)} input/output, not {self.io_type!r}")


@register_step("convert", ConvertOptions, takes_any_model=True, needs_labels=False)
class Convert(Step):
    """Convert to TFLite, verify, and measure sizes and sparsity in the converted file."""

    def preflight(self, model, plan: Preflight) -> list[Problem]:
        """Convert once with a few samples when steps before this one train: an op that stays
        float or a converter error is found before that work, not after."""
        from edgeloop.converters.trial import trial_convert

        o = self.options
        if not plan.work_before or o.keep_float or plan.samples is None or o.mode == "fastest":
            # failing here loses nothing: the conversion itself says why; fastest tries several files
            return []
        key = ("convert", o.mode, o.io_type, id(model))
        if key not in plan.cache:
            plan.cache[key] = trial_convert(model, o.mode, plan.samples, o.io_type)
        trial = plan.cache[key]
        return [Problem(self.name, f"convert: {trial.problem}", trial.layer)] if trial.problem else []

    def apply(self, model, ctx: Context):
        from edgeloop.converters import read_model, verify
        from edgeloop.converters.rejected import ConversionError, keep, refused
        from edgeloop.converters.tflite import convert
        from edgeloop.data import n_samples
        from edgeloop.quant.keras_prep import wants_transforms
        from edgeloop.quant.step import uses_litert

        o = self.options
        litert = getattr(model, "is_tflite", False) or uses_litert(o)
        if getattr(ctx, "fold_preprocessing", False) and (litert or wants_transforms(o)):
            raise EdgeloopError("fold_preprocessing does not work with the LiteRT quantizer path (calibration, "
                                "weights, mode auto, a .tflite model) or the float transforms yet: give one or the other")
        if getattr(model, "is_tflite", False):  # a float .tflite in: the LiteRT quantizer on the file itself
            self._litert(model, ctx, original=model)
            return model
        converted = self._transformed(model, ctx)
        if o.mode == "fastest":
            self._fastest(converted, ctx, original=model)
            return model
        if litert:
            self._litert(converted, ctx, original=model)
            return model
        representative, prefix = conversion_inputs(converted, ctx, o.calibration_samples)
        if prefix is not None and o.keep_float:
            raise EdgeloopError("keep_float does not work with fold_preprocessing yet: give one or the other")
        if o.mode not in FULL_INTEGER:
            representative = None
        label = f"calibrate ({n_samples(representative)} samples)" if representative is not None else f"convert ({o.mode})"
        with ctx.progress(label, n_samples(representative) if representative is not None else 1) as advance:
            try:
                data = convert(converted, mode=o.mode, representative=representative, io_type=o.io_type,
                               per_channel=o.per_channel, progress=lambda done, total: advance(1), prefix=prefix,
                               hard_swish=hard_swish_form(o))
            except ConversionError as exc:
                kept = keep(exc.rejected, ctx.path(REJECTED_FILE)) if exc.rejected else None
                if kept:
                    ctx.record(rejected_file=REJECTED_FILE)
                raise refused(exc, o.mode, kept) from None
            if representative is None:
                advance(1)
        if o.float_stem:  # the plain conversion above checked the model converts at all; this one is kept
            data, info, checks = self._float_stem(converted, representative, prefix, ctx)
        else:
            info = read_model(data)
            checks = verify(info, mode=o.mode, io_type=o.io_type)
        if o.mode in FULL_INTEGER and hard_swish_form(o) == "rewrite":
            from edgeloop.converters.hard_swish import count_hard_swish

            ctx.record(hard_swish={"form": "rewrite", "rewritten": count_hard_swish(converted)})
        self._finish(converted, ctx, data, info, checks, original=model, prefix=prefix)
        return model

    def _fastest(self, model, ctx: Context, original):
        """Keep the fastest candidate within the budget (:mod:`edgeloop.pipeline.fastest`)."""
        from edgeloop.converters import read_model
        from edgeloop.pipeline.fastest import check_chosen, fastest

        o = self.options
        if getattr(ctx, "fold_preprocessing", False):
            raise EdgeloopError("mode fastest does not work with fold_preprocessing yet: give one or the other")
        target = getattr(ctx, "target", None)
        edgetpu = bool(o.edgetpu or getattr(target, "edgetpu", False))
        chosen, candidates = fastest(model, ctx, o.max_drop, edgetpu, o.calibration_samples)
        ctx.record(fastest={"chosen": chosen.name, "max_drop": o.max_drop, "full_int8_only": edgetpu,
                            "device": getattr(target, "device", None) or "local",
                            "candidates": [c.row() for c in candidates]})
        self._finish(model, ctx, chosen.blob, read_model(chosen.blob), check_chosen(chosen), original=original,
                     prefix=None)
        ctx.state["tflite"].update(mode=chosen.mode, io_type=chosen.io_type)
        ctx.record(mode=chosen.mode, io_type=chosen.io_type)

    def _float_stem(self, model, representative, prefix, ctx: Context):
        """The int8 file with its stem convolution kept float (:mod:`edgeloop.converters.float_stem`)."""
        from edgeloop.converters import read_model
        from edgeloop.converters.float_stem import convert_float_stem, stem_tensor
        from edgeloop.converters.selective import float_ops_check

        if prefix is not None:
            raise EdgeloopError("float_stem does not work with fold_preprocessing yet: give one or the other")
        hard_swish = hard_swish_form(self.options)
        data = convert_float_stem(model, representative, hard_swish)
        info = read_model(data)
        if hard_swish == "rewrite":
            from edgeloop.converters.hard_swish import rewrite_hard_swish

            model = rewrite_hard_swish(model, representative)[0]
        stem = stem_tensor(model)
        ctx.record(float_stem={"tensor": stem})
        return data, info, [c for c in verify_checks(info) if c.name != "int8_compute"] + [float_ops_check(info, [stem])]

    def _transformed(self, model, ctx: Context):
        """The model the file is made from: ``model``, or its transformed copy (:mod:`edgeloop.quant.keras_prep`)."""
        from edgeloop.quant.keras_prep import transform, wants_transforms

        o = self.options
        if not wants_transforms(o):
            return model
        with ctx.progress("equalize / bias correction / AdaRound", 1) as advance:
            converted, record = transform(model, ctx.data.representative(o.calibration_samples), o, o.per_channel)
            advance(1)
        from edgeloop.pipeline._training import keras_accuracy

        record["transformed_float_accuracy"] = keras_accuracy(converted, ctx.data.x_val, ctx.data.y_val)
        ctx.record(float_transforms=record)
        return converted

    def _litert(self, model, ctx: Context, original):
        """The accuracy-aware path (:mod:`edgeloop.quant.step`)."""
        from edgeloop.converters import read_model
        from edgeloop.quant.step import convert_litert

        data, checks, extra = convert_litert(model, ctx, self.options)
        ctx.record(**extra)
        self._finish(model, ctx, data, read_model(data), checks, original=original, prefix=None)

    def _finish(self, model, ctx: Context, data, info, checks, original, prefix):
        """Selective quantization, fold / sparsity / cluster checks, the report, the files.

        ``model`` is what the file was made from, ``original`` the step's input model
        (they differ after float-model transforms); the float baseline is the original's.
        """
        from edgeloop.converters import (
            checks_to_dict,
            enforce,
            max_nonzero_per_group,
            op_counts,
            verify,
            weight_sparsity,
            weight_unique_values,
        )
        from edgeloop.converters.rejected import keep, rejection
        from edgeloop.converters.tflite import convert

        o = self.options
        if o.debug or o.keep_float:
            data, info, checks = self._selective(model, ctx.data.representative(o.calibration_samples), data, info,
                                                 checks, ctx)
        verified = list(checks)  # what makes the file what was asked (the rest: what compression left in it)
        if prefix is not None:
            fold_checks, fold = check_fold(model, prefix, info, ctx.data)
            checks += fold_checks
            ctx.record(fold=fold)
        data = add_metadata(data, input_payload(ctx.data, folded=prefix is not None))
        kinds = layer_kinds(model)
        sparsity = weight_sparsity(info, kinds)
        pruned = ctx.state.get("pruned")
        unique = weight_unique_values(info, kinds)
        if pruned:
            checks.append(_sparsity_check(sparsity, pruned["layers"], pruned.get("m_by_n"), kinds))
            if pruned.get("m_by_n"):
                checks.append(_m_by_n_check(max_nonzero_per_group(info, pruned["m_by_n"][1], kinds), pruned))
        clustered = ctx.state.get("clustered")
        if clustered:
            checks.append(_clusters_check(unique, clustered["clusters"], clustered.get("layers")))
        ctx.record(mode=o.mode, io_type=o.io_type, file=MODEL_FILE, sizes=file_sizes(data), ops=op_counts(info),
                   weight_sparsity=sparsity, weight_unique_values=unique, checks=checks_to_dict(checks),
                   input=input_expectation(data))
        if o.mode in FULL_INTEGER and not all(c.passed for c in verified):
            kept = keep(data, ctx.path(REJECTED_FILE))  # a resumed run leaves the first one as it is
            ctx.record(rejected_file=REJECTED_FILE)
            raise rejection(info, verified, o.mode, kept)
        enforce(checks)  # the report above already holds what failed
        _io.write_bytes(ctx.path(MODEL_FILE), data)
        ctx.state["tflite"] = {"file": MODEL_FILE, "mode": o.mode, "io_type": o.io_type, "folded": prefix is not None}

        if o.baseline:
            baseline = ctx.baseline_model(original)
            base = baseline.data if getattr(baseline, "is_tflite", False) else convert(baseline, mode="float32")
            enforce(verify(base, mode="float32", io_type="float32"))
            _io.write_bytes(ctx.path(BASELINE_FILE), base)
            ctx.record(baseline={"file": BASELINE_FILE, "sizes": file_sizes(base)})
            ctx.state["baseline_tflite"] = BASELINE_FILE


    def _selective(self, model, representative, data, info, checks, ctx: Context):
        """Rank layers by quantization error; with ``keep_float``, redo the conversion keeping the worst in float."""
        from edgeloop.converters import read_model
        from edgeloop.converters.selective import convert_selective, float_ops_check, rank_layers

        o = self.options
        ranking = rank_layers(model, representative)
        ctx.record(quantization_error=ranking)
        if not o.keep_float:
            return data, info, checks
        kept = [r["tensor"] for r in ranking[: o.keep_float]]
        selective = convert_selective(model, representative, kept)
        sel_info = read_model(selective)
        sel_checks = [c for c in verify_checks(sel_info) if c.name != "int8_compute"] + [float_ops_check(sel_info, kept)]
        ctx.record(selective={
            "kept_float": kept,
            "full_int8_sizes": file_sizes(data),
            "selective_sizes": file_sizes(selective),
            "ops_not_on_an_edge_tpu": len(kept),
            "note": f"{len(kept)} float op(s) run on the CPU next to an Edge TPU, each splitting the graph there",
        })
        return selective, sel_info, sel_checks


def hard_swish_form(options: ConvertOptions) -> str:
    """``rewrite`` or ``int8``: what ``options.hard_swish`` asks of the converter.

    ``auto`` rewrites whatever the target: the rewrite is full int8 (depthwise convolution,
    ReLU6, MUL), ops every int8 runtime runs, XNNPACK and the Edge TPU included.
    """
    return "int8" if options.hard_swish == "int8" else "rewrite"


def conversion_inputs(model, ctx: Context, samples: int):
    """Calibration samples and the prefix to convert in front of the model (folded
    preprocessing, when the run asks for it; else ``None``)."""
    from edgeloop.pipeline.folding import prepare

    return prepare(model, ctx.data, samples, ctx.fold_preprocessing)


def verify_checks(info):
    """The checks of a float-I/O int8 model (selective quantization keeps float I/O)."""
    from edgeloop.converters import verify

    return verify(info, mode="int8", io_type="float32")


def _sparsity_check(sparsity: dict[str, float], targets: dict[str, float], m_by_n: list[int] | None,
                    kinds: dict[str, str] | None = None):
    from edgeloop.converters import Check
    from edgeloop.layer_table import layer_kind

    kinds = kinds or {}
    # Recurrent layers' weights come out of the converter under names that do not tell the layer.
    unreadable = sorted(n for n in targets if n in kinds and layer_kind(kinds[n]).tflite_op is None)
    targets = {n: t for n, t in targets.items() if n not in unreadable}
    note = f"; not readable in the file: {', '.join(unreadable)}" if unreadable else ""
    missing = sorted(set(targets) - set(sparsity))
    if missing:
        return Check("sparsity_survived", False, f"pruned layers not found in the converted file: {', '.join(missing)}")
    if not targets:
        return Check("sparsity_survived", True, "no pruned layer whose weights the file names" + note)
    short = {name: sparsity[name] for name, t in targets.items() if sparsity[name] < t - SPARSITY_TOLERANCE}
    if short:
        detail = ", ".join(f"{name} {s:.1%} (pruned to {targets[name]:.0%})" for name, s in short.items())
        return Check("sparsity_survived", False, f"zeros lost before the file: {detail}")
    low = min(sparsity[name] for name in targets)
    pattern = f", {m_by_n[0]}:{m_by_n[1]} pattern" if m_by_n else ""
    return Check("sparsity_survived", True, f"every pruned layer >= {low:.1%} zeros in the file{pattern}{note}")


def _m_by_n_check(worst: dict[str, int], pruned: dict):
    from edgeloop.converters import Check

    m, n = pruned["m_by_n"]
    bad = {name: worst.get(name) for name in pruned["layers"] if worst.get(name) is None or worst[name] > m}
    if bad:
        detail = ", ".join(f"{name} ({'not found' if v is None else f'{v} of {n}'})" for name, v in bad.items())
        return Check("m_by_n_pattern", False, f"groups of {n} with more than {m} non-zeros: {detail}")
    return Check("m_by_n_pattern", True, f"every group of {n} input weights has <= {m} non-zeros in "
                 f"{len(pruned['layers'])} layer(s)")


def _clusters_check(unique: dict[str, int], clusters: int, layers: list[str] | None = None):
    from edgeloop.converters import Check

    if layers is not None:  # the layers clustered (a depthwise kernel never is)
        unique = {name: n for name, n in unique.items() if name in layers}
    over = {name: n for name, n in unique.items() if n > clusters}
    if not unique:
        return Check("clusters_survived", False, "no weight tensors found in the converted file")
    if over:
        detail = ", ".join(f"{name} {n}" for name, n in over.items())
        return Check("clusters_survived", False, f"more than {clusters} distinct values in: {detail}")
    return Check("clusters_survived", True, f"every clustered weight tensor holds <= {max(unique.values())} distinct "
                 f"values per channel (clusters {clusters})")
