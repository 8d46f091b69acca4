"""The QuantizeConfigs edgeloop supplies and the schemes QAT runs with.

The configs are tfmot's own 8-bit building blocks (``Default8BitQuantizeConfig`` and
friends) for layers tfmot's registry leaves out, so ``quantize_scope`` restores a saved QAT
model without anything registered. The schemes are tfmot's, with their registry guarded
so that it does not claim layers it cannot give a config for.
"""

from __future__ import annotations

import copy

from edgeloop.models.graph import readers

UNWRAPPABLE = ("TFOpLambda", "SlicingOpLambda", "Lambda")


def edgeloop_configs() -> dict:
    """Layer class -> a factory of the QuantizeConfig edgeloop supplies for it.

    Built from tfmot's own 8-bit config classes (so ``quantize_scope`` restores a saved
    model without anything registered): weights quantized as tfmot's TFLite-matching
    scheme does (symmetric, narrow range, one scale per tensor), and the output (or the
    activation, for layers that have one).
    """
    registry, configs, _ = tfmot_modules()
    return {
        # One scale for the kernel: per output channel, the converter cannot carry the scales
        # through the reshape that turns Conv1D into CONV_2D ("'tfl.reshape' op requires 'output' type").
        "Conv1D": lambda: registry.Default8BitQuantizeConfig(["kernel"], ["activation"], False),
        # One scale for each kernel: the depthwise kernel's last axis is its multiplier, not its channels.
        "SeparableConv1D": lambda: registry.Default8BitQuantizeConfig(["depthwise_kernel", "pointwise_kernel"],
                                                                      ["activation"], False),
        "LayerNormalization": lambda: configs.Default8BitOutputQuantizeConfig(),
        "PReLU": lambda: registry.Default8BitQuantizeConfig(["alpha"], [], True),
    }


def tfmot_modules():
    """tfmot's config modules the public API does not re-export (imported after edgeloop._tf
    has selected Keras 2)."""
    import edgeloop._tf  # noqa: F401
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (
        prune_preserve_quantize_registry,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_configs,
        default_8bit_quantize_registry,
    )

    return default_8bit_quantize_registry, default_8bit_quantize_configs, prune_preserve_quantize_registry


def registries(scheme: str):
    """(the scheme's registry, tfmot's default 8-bit registry)."""
    from edgeloop._tf import tfmot

    default = tfmot.quantization.keras.default_8bit.Default8BitQuantizeRegistry()
    return make_scheme(scheme).get_quantize_registry(), default


def make_scheme(scheme: str):
    """tfmot's QuantizeScheme for edgeloop's scheme name, its registry guarded (see :func:`_guarded`)."""
    from edgeloop._tf import tfmot

    quantize = tfmot.quantization.keras
    combine = tfmot.experimental.combine
    schemes = {
        "default": lambda: quantize.default_8bit.Default8BitQuantizeScheme(),
        "prune_preserve": lambda: combine.Default8BitPrunePreserveQuantizeScheme(),
        "cluster_preserve": lambda: combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=False),
        "prune_cluster_preserve": lambda: combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True),
    }
    return _guarded(schemes[scheme]())


def _guarded(base):
    """``base`` with a registry that does not claim layers it cannot give a config for, and
    its layout transforms' ReLU mistake undone (see ``ReluAfterWeights``).

    The sparsity- and cluster-preserving registries say they support every layer without
    trainable weights, then fail in ``get_quantize_config`` on those tfmot's default
    registry lacks (a TFOpLambda slice, Rescaling). ``quantize_apply`` asks exactly that of
    an unannotated layer feeding an annotated one, so a pass-through layer would crash it.
    """
    from edgeloop._tf import tfmot

    quantize = tfmot.quantization.keras
    default = quantize.default_8bit.Default8BitQuantizeRegistry()
    registry = base.get_quantize_registry()

    class GuardedRegistry(quantize.QuantizeRegistry):
        def supports(self, layer):
            if type(layer).__name__ in UNWRAPPABLE:
                return False
            return registry.supports(layer) and (bool(layer.trainable_weights) or default.supports(layer))

        def get_quantize_config(self, layer):
            return registry.get_quantize_config(layer)

    class ReluAfterWeights:
        """tfmot's layout transforms, then the configs its ReLU transform wrongly dropped put back.

        ``LayerReLUQuantize`` and ``LayerReluActivationQuantize`` (``default_8bit_transforms``)
        are meant for Add -> ReLU ("ensure FQ does not get placed between Add and ReLU") but
        also match Conv2D / DepthwiseConv2D / Dense -> ReLU, and replace the layer's whole
        config with ``NoOpQuantizeConfig``: its weights get no fake quantization in QAT and,
        after pruning, no sparsity mask (a MobileNetV3 squeeze-excite conv lost its zeros).
        The layer gets the scheme's config back, without an output quantizer: the ReLU's
        own one quantizes after it, as in the fused TFLite op.
        """

        def apply(self, model, layer_quantize_map):
            model, layer_quantize_map = base.get_layout_transformer().apply(model, layer_quantize_map)
            read_by = readers(model)
            for layer in model.layers:
                entry = layer_quantize_map.get(layer.name) or {}
                if (type(layer).__name__ in ("Conv2D", "DepthwiseConv2D", "Dense")
                        and type(entry.get("quantize_config")).__name__ == "NoOpQuantizeConfig"
                        and registry.supports(layer) and read_by.get(layer.name)
                        and all(type(model.get_layer(r)).__name__ in ("ReLU", "Activation") for r in read_by[layer.name])):
                    config = copy.copy(registry.get_quantize_config(layer))
                    config.activation_attrs, config.quantize_output = [], False
                    entry["quantize_config"] = config
            return model, layer_quantize_map

    class GuardedScheme(quantize.QuantizeScheme):
        def get_layout_transformer(self):
            return ReluAfterWeights()

        def get_quantize_registry(self):
            return GuardedRegistry()

    return GuardedScheme()


def prune_preserving_quantizer(config):
    """tfmot's sparsity-preserving weight quantizer matching ``config``'s (per channel or per tensor)."""
    pp = tfmot_modules()[2]
    conv = type(config).__name__ == "Default8BitConvQuantizeConfig"
    return pp.PrunePreserveDefault8BitConvWeightsQuantizer() if conv else pp.PrunePreserveDefault8BitWeightsQuantizer()
