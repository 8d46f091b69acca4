"""How each layer goes through QAT, decided before tfmot sees the model, and the graph
fixes that let tfmot build models it breaks on.

Per layer, one of:

- ``tfmot``: tfmot's registry for the scheme has a config for it;
- ``edgeloop``: edgeloop supplies the config (:func:`~edgeloop.pipeline.qat_configs.edgeloop_configs`: tfmot's own
  8-bit building blocks for layers its registry leaves out: Conv1D, SeparableConv1D,
  LayerNormalization, PReLU; tfmot's default config where a sparsity- or
  cluster-preserving registry lacks the layer; an output-only config for weightless
  layers such as Rescaling or Normalization);
- ``pass-through``: left unwrapped: TFOpLambda / SlicingOpLambda (``x[:, 1:3]``, ``x * 2``)
  and Lambda layers, whose keyword arguments (the slice, the other operand) tfmot's
  wrapper drops when it calls them (tensorflow/model-optimization #1139); their outputs
  get their ranges from the converter's calibration;
- ``float``: named in ``qat: {skip: …}``: left unwrapped, calibrated by the converter;
- ``unsupported``: tfmot has no config and edgeloop supplies none (LSTM, GRU, Conv3D,
  Embedding, a custom layer with weights): QAT cannot run until it is skipped.

Graph fix: every ``SeparableConv2D`` is split into a ``DepthwiseConv2D`` named
``<layer>_depthwise`` and a 1x1 ``Conv2D`` keeping the layer's name, pointwise kernel,
bias and activation, before annotation. tfmot makes the same split itself
(``SeparableConvQuantize`` in ``default_8bit_transforms.py``) but names the two new
layers from Keras's per-process name counter (``conv2d``, ``depthwise_conv2d_3`` …). A
model built in another process and loaded from a file already holds layers with those
names, and tfmot's ``ModelTransformer``, which finds layers by name, then wires a
layer's input to the wrong tensor: on a residual mini-Xception loaded from ``.h5``,
``quantize_model`` fails at the ``Add`` with "Inputs have incompatible shapes". Splitting first with names of our own avoids it, and keeps the
pointwise kernel, the one pruning made sparse, under the layer's own name.
"""

from __future__ import annotations

import bisect
import copy
import fnmatch
import re
from dataclasses import dataclass

from edgeloop.errors import EdgeloopError
from edgeloop.models.graph import inbound_layers, readers
from edgeloop.pipeline.qat_configs import (
    UNWRAPPABLE,
    edgeloop_configs,
    make_scheme,
    prune_preserving_quantizer,
    registries,
    tfmot_modules,
)

TFMOT, EDGELOOP, PASS_THROUGH, FLOAT, UNSUPPORTED = "tfmot", "edgeloop", "pass-through", "float", "unsupported"
SPLIT_SUFFIX = "_depthwise"


@dataclass(frozen=True)
class QatDecision:
    """How one layer goes through QAT.

    Attributes:
        layer: the layer's name.
        kind: the layer's class name.
        how: ``tfmot``, ``edgeloop``, ``pass-through``, ``float`` or ``unsupported``.
        detail: which config, or why.
    """

    layer: str
    kind: str
    how: str
    detail: str = ""


def plan(model, skip: list[str] = (), scheme: str = "default") -> list[QatDecision]:
    """How each layer of ``model`` (split as :func:`split_separable` splits it) goes through QAT."""
    registry, default = registries(scheme)
    ours = edgeloop_configs()
    kinds = {layer.name: type(layer).__name__ for layer in model.layers}
    inputs = inbound_layers(model)
    read_by = readers(model)
    out = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        source = [kinds[n] for n in inputs.get(layer.name, [])]
        # tfmot folds a BatchNormalization into the conv before it only when nothing else reads
        # the conv and the conv has no activation of its own (its transforms' patterns).
        foldable = source in (["Conv2D"], ["DepthwiseConv2D"], ["Dense"], ["SeparableConv2D"]) and \
            len(read_by.get(inputs[layer.name][0], [])) == 1 and \
            model.get_layer(inputs[layer.name][0]).get_config().get("activation") in ("linear", None)
        if any(fnmatch.fnmatchcase(layer.name, p) for p in skip):
            out.append(QatDecision(layer.name, kind, FLOAT, "qat skip: left float, calibrated by the converter"))
        elif kind in UNWRAPPABLE:
            out.append(QatDecision(layer.name, kind, PASS_THROUGH,
                                   "tfmot's wrapper drops its call arguments: left unwrapped, calibrated by the converter"))
        elif kind == "SeparableConv2D":
            out.append(QatDecision(layer.name, kind, EDGELOOP, "split into DepthwiseConv2D + Conv2D, each tfmot's"))
        elif kind == "BatchNormalization" and foldable:
            # No registry entry: tfmot's layout transforms fold it into the layer before it.
            out.append(QatDecision(layer.name, kind, TFMOT, f"folded into the {source[0]} before it"))
        elif kind == "BatchNormalization":
            out.append(QatDecision(layer.name, kind, EDGELOOP, "output-only config (no conv of its own before it "
                                                               "to fold into)"))
        elif default.supports(layer) and registry.supports(layer):
            out.append(QatDecision(layer.name, kind, TFMOT))
        elif default.supports(layer):
            out.append(QatDecision(layer.name, kind, EDGELOOP, f"tfmot's 8-bit config ({scheme} registry lacks {kind})"))
        elif kind in ours:
            out.append(QatDecision(layer.name, kind, EDGELOOP, f"edgeloop's {kind} config"))
        elif not layer.trainable_weights:  # Rescaling, Normalization (its mean and variance are fixed)
            out.append(QatDecision(layer.name, kind, EDGELOOP, "output-only config"))
        else:
            out.append(QatDecision(layer.name, kind, UNSUPPORTED,
                                   f"tfmot has no 8-bit QAT config for {kind} and edgeloop supplies none"))
    return out


def layer_named_in(message: str) -> str | None:
    """The layer a ``qat: … layer NAME (Kind): …`` message names."""
    found = re.search(r"layer (\S+) \(", message)
    return found.group(1) if found else None


def unsupported_error(decision: QatDecision) -> EdgeloopError:
    """The one-line error for a layer QAT cannot take, with the ways out."""
    return EdgeloopError(
        f"qat: layer {decision.layer} ({decision.kind}): {decision.detail}; ways out: "
        f"`qat: {{skip: [{decision.layer}]}}` leaves it float in QAT (the converter calibrates it), "
        "or drop the qat step (convert calibrates the whole model)")


def split_separable(model):
    """``model`` with every SeparableConv2D split into ``<name>_depthwise`` + a 1x1 Conv2D ``<name>``."""
    from edgeloop.models.graph import split_layers

    names = {layer.name for layer in model.layers}
    replacements = {}
    for layer in model.layers:
        if type(layer).__name__ != "SeparableConv2D":
            continue
        cfg = layer.get_config()
        depthwise_name = f"{layer.name}{SPLIT_SUFFIX}"
        if depthwise_name in names:
            raise EdgeloopError(f"qat: cannot split {layer.name}: a layer named {depthwise_name} already exists")
        weights = layer.get_weights()
        depthwise = {
            "name": depthwise_name, "trainable": cfg["trainable"], "kernel_size": cfg["kernel_size"],
            "strides": cfg["strides"], "padding": cfg["padding"], "depth_multiplier": cfg["depth_multiplier"],
            "data_format": cfg["data_format"], "dilation_rate": cfg["dilation_rate"], "activation": "linear",
            "use_bias": False,
        }
        pointwise = {
            "name": layer.name, "trainable": cfg["trainable"], "filters": cfg["filters"], "kernel_size": [1, 1],
            "strides": [1, 1], "padding": "valid", "data_format": cfg["data_format"],
            "activation": cfg["activation"], "use_bias": cfg["use_bias"],
        }
        replacements[layer.name] = [("DepthwiseConv2D", depthwise, weights[:1]), ("Conv2D", pointwise, weights[1:])]
    return split_layers(model, replacements) if replacements else model


def annotate(model, decisions: list[QatDecision], scheme: str, pruned: set[str] = frozenset()):
    """``model`` with each layer wrapped in tfmot's ``QuantizeAnnotate`` as ``decisions`` say.

    Layers that get a config from edgeloop and were pruned get tfmot's sparsity-preserving
    weight quantizer under a preserving scheme, as tfmot's own configs do.
    """
    from edgeloop._tf import keras, tfmot

    quantize = tfmot.quantization.keras
    default = quantize.default_8bit.Default8BitQuantizeRegistry()
    ours = edgeloop_configs()
    how = {d.layer: d for d in decisions}

    def config_for(layer):
        kind = type(layer).__name__
        if default.supports(layer):
            config = default.get_quantize_config(layer)
        elif kind in ours:
            config = ours[kind]()
        else:
            config = tfmot_modules()[1].Default8BitOutputQuantizeConfig()
        if layer.name in pruned and scheme in ("prune_preserve", "prune_cluster_preserve") and hasattr(config, "weight_quantizer"):
            config = copy.copy(config)  # the registry hands every Conv2D the same config object
            config.weight_quantizer = prune_preserving_quantizer(config)
        return config

    def wrap(layer):
        d = how.get(layer.name)
        if d is None or d.how in (PASS_THROUGH, FLOAT, UNSUPPORTED):
            return layer
        if d.how == TFMOT:
            return quantize.quantize_annotate_layer(layer)
        return quantize.quantize_annotate_layer(layer, config_for(layer))

    return keras.models.clone_model(model, clone_function=wrap)




def quantize(model, skip: list[str] = (), scheme: str = "default", pruned: set[str] = frozenset()):
    """Split, plan, annotate and ``quantize_apply``: the QAT model and the decisions taken.

    Raises:
        EdgeloopError: one line naming the layer QAT cannot take and the ways out,
            whether the plan found it or tfmot failed on it (found by bisection).
    """
    separable = {layer.name for layer in model.layers if type(layer).__name__ == "SeparableConv2D"}
    model = split_separable(model)
    decisions = [QatDecision(d.layer, d.kind, d.how, f"SeparableConv2D {d.layer} split into {d.layer}{SPLIT_SUFFIX} "
                             f"+ a 1x1 Conv2D") if d.layer in separable else d for d in plan(model, skip, scheme)]
    bad = [d for d in decisions if d.how == UNSUPPORTED]
    if bad:
        raise unsupported_error(bad[0])
    if not any(d.how in (TFMOT, EDGELOOP) for d in decisions):
        raise EdgeloopError("qat: no layer left to quantize (every layer is skipped or passed through)")
    _check_clonable(model)
    try:
        return _apply(model, decisions, scheme, pruned), decisions
    # tfmot fails deep inside its graph rewrite with whatever the broken layer raises
    # (ValueError, RuntimeError, TypeError, KeyError …): any of them means "cannot build".
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        named = re.match(r"Layer (\S+):<class", first)  # tfmot's "Layer NAME:<class …> is not supported"
        by_name = {d.layer: d for d in decisions}
        culprit = by_name.get(named.group(1)) if named else None
        culprit = culprit or find_failing_layer(model, decisions, scheme, pruned)
        if culprit is None:
            raise EdgeloopError(f"qat: tfmot cannot build the QAT model: {first}; drop the qat step "
                                "(convert calibrates the whole model)") from None
        raise EdgeloopError(f"qat: tfmot cannot quantize layer {culprit.layer} ({culprit.kind}): {first}; ways out: "
                            f"`qat: {{skip: [{culprit.layer}]}}` leaves it float in QAT (the converter calibrates "
                            "it), or drop the qat step") from None


def _check_clonable(model) -> None:
    """tfmot rebuilds the model from its config: a layer whose class Keras cannot find again fails that."""
    from edgeloop._tf import keras

    try:
        type(model).from_config(model.get_config())  # what tfmot's clones do: classes found by name
    except (ValueError, TypeError, KeyError) as exc:
        custom = [f"{layer.name} ({type(layer).__name__})" for layer in model.layers
                  if not type(layer).__module__.startswith(("tf_keras", "keras", "tensorflow"))]
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        if custom:
            raise EdgeloopError(f"qat: tfmot rebuilds the model from its config and cannot (custom layers: "
                                f"{', '.join(custom)}): {first}; register the custom classes "
                                "(keras.utils.register_keras_serializable) or drop the qat step") from None
        raise EdgeloopError(f"qat: tfmot rebuilds the model from its config and tf_keras cannot rebuild this one: "
                            f"{first}; drop the qat step (convert calibrates the whole model)") from None


def _apply(model, decisions: list[QatDecision], scheme: str, pruned: set[str]):
    from edgeloop._tf import tfmot

    quantize = tfmot.quantization.keras
    with quantize.quantize_scope():
        return quantize.quantize_apply(annotate(model, decisions, scheme, pruned), make_scheme(scheme))


def find_failing_layer(model, decisions: list[QatDecision], scheme: str, pruned: set[str] = frozenset()):
    """The first layer whose annotation makes ``quantize_apply`` fail, by bisection over the
    annotated layers in graph order (a layer left out stays float); ``None`` if the model
    fails even with none of them or builds with all of them."""
    wrapped = [i for i, d in enumerate(decisions) if d.how in (TFMOT, EDGELOOP)]

    def fails(k: int) -> bool:
        keep = set(wrapped[:k])
        trial = [d if i in keep or d.how not in (TFMOT, EDGELOOP) else QatDecision(d.layer, d.kind, FLOAT)
                 for i, d in enumerate(decisions)]
        if not keep:
            return False
        try:
            _apply(model, trial, scheme, pruned)
            return False
        except Exception:  # noqa: BLE001  (see quantize)
            return True

    if not wrapped or not fails(len(wrapped)):
        return None
    # The smallest failing prefix: bisection over 1 .. len - 1 (the whole list is known to fail).
    shortest = bisect.bisect_left(range(1, len(wrapped)), True, key=fails) + 1
    return decisions[wrapped[shortest - 1]]
