"""Per layer: which techniques apply, each tried the way its step would use it.

- prune: the layer table's prunable kernels, wrapped with tfmot's ``prune_low_magnitude``;
- qat: the QAT plan's decision, then the whole QAT model built on a clone with
  ``quantize_apply`` (the layer it fails on found by bisection);
- cluster: the table's clusterable weights, wrapped with tfmot's ``cluster_weights``;
- filter_prune: whether :func:`~edgeloop.models.shrink` may narrow the layer's filters;
- Edge TPU: the analyzer's prediction for the layer's ops in a quick int8 conversion.

Each verdict is ``True`` (applies), ``False`` (cannot, with the reason) or ``None`` (not
applicable: nothing to prune in a ReLU).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from edgeloop.errors import EdgeloopError
from edgeloop.layer_table import layer_kind

TECHNIQUES = ("prune", "qat", "cluster", "filter_prune", "edgetpu")


@dataclass(frozen=True)
class Verdict:
    """One technique on one layer: applies (``True``), cannot (``False``) or n/a (``None``)."""

    applies: bool | None
    detail: str = ""


@dataclass
class LayerFacts:
    """What the doctor found for one layer."""

    layer: str
    kind: str
    params: int
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        return {"layer": self.layer, "kind": self.kind, "params": self.params,
                **{k: asdict(v) for k, v in self.verdicts.items()}}


def _prune(layer) -> Verdict:
    from edgeloop._tf import tfmot
    from edgeloop.pipeline._sparsity import prunable_indices

    kernels = [layer.weights[i].name.split("/")[-1].split(":")[0] for i in prunable_indices(layer)]
    if not kernels:
        return Verdict(None, "no kernel tfmot prunes" if layer.weights else "")
    try:
        tfmot.sparsity.keras.prune_low_magnitude(layer)
    except (ValueError, TypeError) as exc:
        return Verdict(False, f"tfmot refuses: {str(exc).splitlines()[0][:120]}")
    return Verdict(True, ", ".join(kernels))


def _cluster(layer) -> Verdict:
    from edgeloop._tf import tfmot
    from edgeloop.pipeline._sparsity import is_clusterable

    if not is_clusterable(layer):
        return Verdict(None, "no weights tfmot clusters" if layer.weights else "")
    clustering = tfmot.clustering.keras
    try:
        clustering.cluster_weights(layer, number_of_clusters=16,
                                   cluster_centroids_init=clustering.CentroidInitialization.LINEAR)
    except (ValueError, TypeError) as exc:
        return Verdict(False, f"tfmot refuses: {str(exc).splitlines()[0][:120]}")
    return Verdict(True, ", ".join(layer_kind(type(layer).__name__).clusterable))


def _qat(model, decisions, failure: tuple[str | None, str] | None) -> dict[str, Verdict]:
    from edgeloop.pipeline.qat_plan import SPLIT_SUFFIX, UNSUPPORTED

    out = {}
    for d in decisions:
        out[d.layer] = Verdict(d.how != UNSUPPORTED, f"{d.how}: {d.detail}" if d.detail else d.how)
    if failure is not None:
        layer, message = failure
        if layer is not None:
            layer = layer.removesuffix(SPLIT_SUFFIX) if layer.removesuffix(SPLIT_SUFFIX) in out else layer
            out[layer] = Verdict(False, message)
    return out


def _shrink(model) -> dict[str, Verdict]:
    from edgeloop.models.shrink import channel_groups, layer_width, makes_channels, shrinkable

    try:
        ok = shrinkable(model)
    except EdgeloopError as exc:
        return {layer.name: Verdict(False, f"shrink cannot follow the graph: {exc}")
                for layer in model.layers if makes_channels(layer)}
    group_of = {m: root for root, members in channel_groups(model).items() for m in members}
    chosen = {group_of.get(name, name) for name in ok}
    out = {}
    for layer in model.layers:
        if not makes_channels(layer):
            continue
        if layer.name in ok or group_of.get(layer.name, layer.name) in chosen:
            out[layer.name] = Verdict(True, f"{layer_width(layer)} filters")
        else:
            out[layer.name] = Verdict(False, "its channels reach the input or an output")
    return out


def _layers_of(info, index: int) -> set[str]:
    """Every Keras layer an op was made from: the converter joins the names of the ops it
    fused (``model/act/Relu;model/bn/FusedBatchNormV3;model/conv/Conv2D``) in its output's
    name, and names weights after their layer."""
    from edgeloop.converters.inspect import layer_name

    op = info.ops[index]
    names = [info.tensors[i].name for i in op.outputs]
    names += [info.tensors[i].name for i in op.inputs if i >= 0 and info.tensors[i].is_constant]
    found = set()
    for name in names:
        for part in name.split(";"):
            if len(part.split("/")) > 2:
                found.add(layer_name(part))
    return found


def _edgetpu(analysis, info) -> dict[str, Verdict]:
    """Each Keras layer's ops: all mapped, or the first one that is not and why."""
    out: dict[str, Verdict] = {}
    ops: dict[str, list] = {}
    for v in analysis.ops:
        for layer in _layers_of(info, v.index) or ({v.layer} if v.layer else set()):
            ops.setdefault(layer, []).append(v)
    for layer, verdicts in ops.items():
        off = [v for v in verdicts if not v.mapped and not v.edge]
        if off:
            out[layer] = Verdict(False, f"{off[0].op}: {off[0].status}" + (f" ({off[0].reason})" if off[0].reason else ""))
        else:
            out[layer] = Verdict(True, f"{len(verdicts)} op(s)")
    return out


def layer_facts(model, qat_decisions, qat_failure, analysis, info=None) -> list[LayerFacts]:
    """Every layer's verdicts (see the module's docstring).

    Args:
        model: the (flattened) tf_keras model.
        qat_decisions: the QAT plan for the model (:func:`edgeloop.pipeline.qat_plan.plan`).
        qat_failure: ``(layer, message)`` when building the QAT model failed, else ``None``.
        analysis: the Edge TPU analysis of a quick int8 conversion, or ``None``.
        info: the parsed file the analysis is of.
    """
    qat = _qat(model, qat_decisions, qat_failure)
    shrink = _shrink(model)
    tpu = _edgetpu(analysis, info) if analysis is not None else {}
    out = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        facts = LayerFacts(layer.name, type(layer).__name__, int(layer.count_params()))
        facts.verdicts = {
            "prune": _prune(layer),
            "qat": qat.get(layer.name, Verdict(None)),
            "cluster": _cluster(layer),
            "filter_prune": shrink.get(layer.name, Verdict(None)),
            "edgetpu": tpu.get(layer.name, Verdict(None, "no op" if analysis is not None else "not converted")),
        }
        out.append(facts)
    return out
