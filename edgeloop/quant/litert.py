"""Quantize a float ``.tflite`` with the LiteRT quantizer (``litert-quantizer``), op by op.

Why this library and not TensorFlow's converter for these paths: it reads and writes
``.tflite`` files directly (a float file from a model hub quantizes without its Keras
model or TensorFlow), every op's precision comes from a recipe matched on the op's output
tensor name (int8, int16 activations or float: the mixed precision ``mode: auto`` needs),
and calibration results are plain ``{tensor: {"min", "max"}}`` data we can replace with
ranges of our own choosing (percentile, MSE, KL). Its files hold the same ops as the
converter's (fused activations stay fused) and pass edgeloop's verification.

Modes:

- ``int8``: static, int8 weights and activations (``static_wi8_ai8``); I/O int8, uint8 or float32;
- ``int16x8``: int16 activations, int8 weights (``static_wi8_ai16``);
- ``weight_only``: int8 weights dequantized into float ops (``weight_only_wi8_afp32``);
- ``dynamic``: int8 weights, activations quantized on the fly (``dynamic_wi8_afp32``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgeloop._quiet import native_stderr_silenced
from edgeloop.errors import EdgeloopError
from edgeloop.quant.prepare import SIGNATURE_KEY, prepare

MODES = ("int8", "int16x8", "weight_only", "dynamic")
CALIBRATED = ("int8", "int16x8")
PRECISIONS = ("int8", "int16", "float")
WEIGHT_ALGORITHMS = ("minmax", "mse", "gptq")
IO_TYPES = {"int8": ("int8", "uint8", "float32"), "int16x8": ("int16", "float32"),
            "weight_only": ("float32",), "dynamic": ("float32",)}


@dataclass
class Quantized:
    """A quantized file and how it was made.

    Attributes:
        model: the ``.tflite`` bytes.
        recipe: the LiteRT quantizer recipe that made it (JSON-able).
        folded: ops folded into constants before quantizing (``DEQUANTIZE``, ``DENSIFY``).
        sparse_weights: sparsity of the weights the input file stored sparse.
        ranges: ``{tensor: [min, max]}`` of every calibrated activation.
    """

    model: bytes
    recipe: list
    folded: dict = field(default_factory=dict)
    sparse_weights: dict = field(default_factory=dict)
    ranges: dict = field(default_factory=dict)
    qsvs: dict | None = field(default=None, repr=False, compare=False)


@contextlib.contextmanager
def _quiet():
    # The quantizer logs, warns and draws tqdm bars on stderr; edgeloop shows its own progress.
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with native_stderr_silenced(), warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _lq():
    try:
        from litert_quantizer import qtyping, quantizer
    except ImportError:
        raise EdgeloopError("quantizing .tflite files needs litert-quantizer: pip install 'litert-quantizer>=0.11,<0.12'") from None
    return quantizer, qtyping


def signature_input(model: bytes) -> tuple[str, str, tuple[int, ...]]:
    """The signature key, its single input's name and the input's shape (batch included)."""
    from edgeloop.device.interpreter import load_interpreter

    interpreter = load_interpreter(model)
    signatures = interpreter.get_signature_list()
    if not signatures:
        raise EdgeloopError("the model has no signature")
    key = SIGNATURE_KEY if SIGNATURE_KEY in signatures else next(iter(signatures))
    inputs = signatures[key]["inputs"]
    if len(inputs) != 1:
        raise EdgeloopError(f"only single-input models can be quantized for now; this one has {len(inputs)} inputs")
    runner = interpreter.get_signature_runner(key)
    shape = tuple(int(d) for d in runner.get_input_details()[inputs[0]]["shape"])
    return key, inputs[0], shape


def _op_config(qtyping, activation_bits: int | None, dtype: str = "INT", symmetric_weights: bool = True,
               per_channel: bool = True):
    weights = qtyping.TensorQuantizationConfig(
        num_bits=8, symmetric=symmetric_weights,
        granularity=qtyping.QuantGranularity.CHANNELWISE if per_channel else qtyping.QuantGranularity.TENSORWISE)
    if activation_bits is None:
        return qtyping.OpQuantizationConfig(weight_tensor_config=weights)
    activations = qtyping.TensorQuantizationConfig(num_bits=activation_bits, symmetric=activation_bits == 16,
                                                   dtype=qtyping.TensorDataType(dtype))
    return qtyping.OpQuantizationConfig(activation_tensor_config=activations, weight_tensor_config=weights,
                                        compute_precision=qtyping.ComputePrecision.INTEGER)


def build_recipe(mode: str, io_type: str, precisions: dict[str, str] | None = None, weights: str = "minmax",
                 per_channel: bool = True) -> list:
    """The LiteRT quantizer recipe for ``mode`` with per-op ``precisions`` on top.

    Args:
        mode: one of :data:`MODES`.
        io_type: one of ``IO_TYPES[mode]``.
        precisions: ``{op output tensor name: "int8" | "int16" | "float"}``; later entries
            of a recipe win, so these override the mode for the ops they name.
        weights: ``minmax``, ``mse`` (scales minimising the weights' squared error) or
            ``gptq`` (GPTQ's Hessian-aware rounding; the quantizer has it for fully
            connected ops only, the rest keep min/max).
        per_channel: one weight scale per output channel.
    """
    quantizer, qtyping = _lq()
    from litert_quantizer import algorithm_manager, recipe_manager

    names = algorithm_manager.AlgorithmName
    algorithm = {"minmax": names.MIN_MAX_UNIFORM_QUANT, "mse": names.MSE, "gptq": names.MIN_MAX_UNIFORM_QUANT}[weights]
    op = qtyping.TFLOperationName
    rm = recipe_manager.RecipeManager()
    with _quiet():
        if mode == "weight_only":
            rm.add_weight_only_config(".*", op.ALL_SUPPORTED, 8, algorithm_key=algorithm)
            if weights == "gptq":
                rm.add_weight_only_config(".*", op.FULLY_CONNECTED, 8, algorithm_key=names.GPTQ)
        elif mode == "dynamic":
            rm.add_dynamic_config(".*", op.ALL_SUPPORTED, 8, algorithm_key=algorithm)
            if weights == "gptq":
                rm.add_dynamic_config(".*", op.FULLY_CONNECTED, 8, algorithm_key=names.GPTQ)
        else:
            bits = 8 if mode == "int8" else 16
            rm.add_quantization_config(".*", op.ALL_SUPPORTED, _op_config(qtyping, bits, per_channel=per_channel),
                                       names.MIN_MAX_UNIFORM_QUANT)
            if weights == "mse":  # MSE covers the weighted ops; everything else keeps min/max
                for kind in (op.CONV_2D, op.DEPTHWISE_CONV_2D, op.FULLY_CONNECTED):
                    rm.add_quantization_config(".*", kind, _op_config(qtyping, bits, per_channel=per_channel), names.MSE)
            if weights == "gptq":
                # Measured with litert-quantizer 0.11: GPTQ inside a static int8 recipe wrote a file
                # scoring 11.7 % where min/max scored 74.9 % (MobileNetV2 on digits); it is offered
                # for weight-only and dynamic files, where the quantizer means it to be used.
                raise EdgeloopError("weights: gptq works with weight-only and dynamic quantization; "
                                    "for full integer use weights: minmax or mse")
            if io_type == "float32":
                for edge in (op.INPUT, op.OUTPUT):
                    rm.add_quantization_config(".*", edge, None, names.NO_QUANTIZE)
            elif io_type == "uint8":
                for edge in (op.INPUT, op.OUTPUT):
                    rm.add_quantization_config(".*", edge, _op_config(qtyping, 8, "UINT"), names.MIN_MAX_UNIFORM_QUANT)
        for tensor, precision in (precisions or {}).items():
            if precision not in PRECISIONS:
                raise EdgeloopError(f"unknown precision {precision!r} for {tensor}; precisions: {', '.join(PRECISIONS)}")
            scope = f"^{re.escape(tensor)};$"  # the quantizer's op scope: output names, each ended by ";"
            if precision == "float":
                rm.add_quantization_config(scope, op.ALL_SUPPORTED, None, names.NO_QUANTIZE)
            else:
                bits = 8 if precision == "int8" else 16
                rm.add_quantization_config(scope, op.ALL_SUPPORTED, _op_config(qtyping, bits, per_channel=per_channel),
                                           names.MIN_MAX_UNIFORM_QUANT)
    return rm.get_quantization_recipe()


def calibration_data(key: str, name: str, samples: np.ndarray) -> dict:
    """Samples as the quantizer takes them: ``{signature: [{input: sample[None]}, …]}``."""
    return {key: [{name: np.asarray(s, np.float32)[None, ...]} for s in samples]}


def quantize_tflite(
    model: bytes,
    samples: np.ndarray | None = None,
    mode: str = "int8",
    io_type: str | None = None,
    precisions: dict[str, str] | None = None,
    weights: str = "minmax",
    per_channel: bool = True,
    calibration: str = "minmax",
    percentile: float = 99.99,
    ranges: Callable[[bytes, dict, np.ndarray], dict] | None = None,
    qsvs: dict | None = None,
) -> Quantized:
    """Quantize a float ``.tflite`` (float16 or sparse weights included).

    Args:
        model: the float file's bytes.
        samples: calibration samples shaped like one input each (no batch dimension);
            required for ``int8`` and ``int16x8``.
        mode: one of :data:`MODES`.
        io_type: input / output type (default: the mode's first in ``IO_TYPES``).
        precisions: per-op overrides, ``{op output tensor name: "int8" | "int16" | "float"}``.
        weights: weight quantization algorithm (:data:`WEIGHT_ALGORITHMS`).
        per_channel: one weight scale per output channel.
        calibration: how activation ranges are chosen (:data:`edgeloop.quant.ranges.METHODS`).
        percentile: the percentile ``calibration="percentile"`` clips at.
        ranges: called as ``ranges(prepared_model, qsvs, samples)`` instead of the
            ``calibration`` method, to replace calibrated ranges; returns new QSVs.
        qsvs: calibration results of an earlier call (``Quantized.qsvs``) to reuse: the
            same model quantized with other per-op precisions needs no new calibration.

    Raises:
        EdgeloopError: bad arguments, a model the quantizer cannot take, missing samples.
    """
    if mode not in MODES:
        raise EdgeloopError(f"unknown quantization mode {mode!r}; modes: {', '.join(MODES)}")
    io_type = io_type or IO_TYPES[mode][0]
    if io_type not in IO_TYPES[mode]:
        raise EdgeloopError(f"{mode} models take {' or '.join(IO_TYPES[mode])} input/output, not {io_type!r}")
    if weights not in WEIGHT_ALGORITHMS:
        raise EdgeloopError(f"unknown weight algorithm {weights!r}; algorithms: {', '.join(WEIGHT_ALGORITHMS)}")
    quantizer, _ = _lq()
    if ranges is None:
        from edgeloop.quant.ranges import range_chooser

        ranges = range_chooser(calibration, percentile)
    prepared = prepare(model)
    key, name, shape = signature_input(prepared.model)
    recipe = build_recipe(mode, io_type, precisions, weights, per_channel)
    needs_samples = mode in CALIBRATED or weights == "gptq"
    if needs_samples and qsvs is None:
        if samples is None or len(samples) == 0:
            raise EdgeloopError(f"{mode} quantization needs calibration samples")
        if tuple(samples.shape[1:]) != shape[1:]:
            raise EdgeloopError(f"calibration samples have shape {tuple(samples.shape[1:])}, the model takes {shape[1:]}")
    try:
        with _quiet():
            qt = quantizer.Quantizer(bytearray(prepared.model), recipe)
            if qt.need_calibration and qsvs is None:
                qsvs = qt.calibrate(calibration_data(key, name, samples), num_threads=1)
                if ranges is not None:
                    qsvs = ranges(prepared.model, qsvs, samples)
            result = qt.quantize(qsvs if qt.need_calibration else None, enable_progress_report=False)
    except EdgeloopError:
        raise
    except Exception as exc:  # the quantizer raises ValueError / RuntimeError / KeyError on what it cannot do
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise EdgeloopError(f"the LiteRT quantizer could not quantize the model ({mode}): {first}") from None
    used = {t: [float(np.min(v["min"])), float(np.max(v["max"]))] for t, v in (qsvs or {}).items() if "min" in v}
    return Quantized(bytes(result.quantized_model), recipe, prepared.folded, prepared.sparse_weights, used, qsvs)
