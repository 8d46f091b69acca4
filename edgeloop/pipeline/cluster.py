"""``cluster``: weight clustering (weight sharing) with tfmot's k-means.

Every clustered kernel ends with at most ``clusters`` distinct values, which is what makes
the file compress (gzip, or a codebook on the device). After a ``prune`` step clustering
keeps the zeros (``preserve_sparsity``), and a later ``qat`` step picks the
cluster-preserving scheme (CQAT) or the prune-cluster-preserving one (PCQAT).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edgeloop.errors import EdgeloopError, VerificationError
from edgeloop.models.flatten import flatten_nested
from edgeloop.pipeline._sparsity import SPARSITY_TOLERANCE, is_clusterable, kernel_sparsity, kernel_unique_values
from edgeloop.pipeline._training import check_training_options, compile_classifier, fit
from edgeloop.pipeline.base import Context, Preflight, Problem, Step, first_line, graph_problems, register_step

_INIT = {
    "kmeans_plus_plus": "KMEANS_PLUS_PLUS",
    "linear": "LINEAR",
    "density": "DENSITY_BASED",
    "random": "RANDOM",
}


@dataclass
class ClusterOptions:
    """Options of ``cluster``.

    Attributes:
        clusters: distinct values each kernel may keep (2 or more).
        init: how the centroids start: ``kmeans_plus_plus``, ``linear``, ``density`` or ``random``.
        preserve_sparsity: keep pruned zeros at zero; ``null`` means yes after a ``prune`` step.
        epochs: fine-tuning passes with the clustered weights.
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate (centroids move with it).
        layers: per-layer counts, ``{name or glob pattern: clusters}``; the first pattern that
            matches a layer wins, unmatched layers get ``clusters``.
        skip: names or glob patterns of layers left unclustered.
    """

    clusters: int = 16
    init: Literal["kmeans_plus_plus", "linear", "density", "random"] = "kmeans_plus_plus"
    preserve_sparsity: bool | None = None
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    layers: dict[str, int] = field(default_factory=dict)
    skip: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, value in [("clusters", self.clusters), *self.layers.items()]:
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"clusters for {name} must be an integer of at least 2, got {value!r}")
        check_training_options(self.epochs, self.batch_size, self.learning_rate)

    def clusters_for(self, layer_name: str) -> int | None:
        """The cluster count of ``layer_name``, or ``None`` when it is skipped."""
        if any(fnmatch.fnmatchcase(layer_name, pattern) for pattern in self.skip):
            return None
        for pattern, count in self.layers.items():
            if fnmatch.fnmatchcase(layer_name, pattern):
                return count
        return self.clusters


@register_step("cluster", ClusterOptions, changes_model=True, compresses=True)
class Cluster(Step):
    """Cluster every clusterable kernel to ``clusters`` shared values and fine-tune."""

    def preflight(self, model, plan: Preflight) -> list[Problem]:
        """Nothing to cluster, or a layer tfmot will not wrap."""
        from edgeloop._tf import tfmot

        problems = graph_problems(model, self.name)
        candidates = [layer for layer in model.layers if is_clusterable(layer)]
        if not problems and not candidates:
            return [Problem(self.name, "cluster: the model has no Conv, Dense, SeparableConv, Embedding or recurrent "
                                       "kernel to cluster; drop the cluster step")]
        for layer in [] if problems else candidates:
            try:
                tfmot.clustering.keras.cluster_weights(layer, number_of_clusters=self.options.clusters,
                                                       cluster_centroids_init=tfmot.clustering.keras.CentroidInitialization.LINEAR)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(self.name, f"cluster: tfmot cannot cluster layer {layer.name} "
                                        f"({type(layer).__name__}): {first_line(exc)}; drop the cluster step", layer.name))
        return problems

    def apply(self, model, ctx: Context):
        from edgeloop._tf import keras, tfmot

        model, _ = flatten_nested(model)
        o = self.options
        clustering = tfmot.clustering.keras
        pruned = ctx.state.pruned
        preserve = bool(pruned) if o.preserve_sparsity is None else o.preserve_sparsity
        init = getattr(clustering.CentroidInitialization, _INIT[o.init])
        if not any(is_clusterable(layer) for layer in model.layers):
            raise EdgeloopError("cluster: the model has no layer with weights to cluster")

        pruned_layers = set((pruned or {}).get("layers", {}))
        frozen: list = []

        def wrap(layer):
            # Only the layers the table names: tfmot's whole-model call refuses a model with
            # any other weighted layer (PReLU, a custom layer) instead of leaving it alone.
            count = o.clusters_for(layer.name) if is_clusterable(layer) else None
            if count is None:
                if preserve and layer.name in pruned_layers:  # the fine-tune would fill its zeros in
                    layer.trainable = False
                    frozen.append(layer)
                return layer
            return clustering.cluster_weights(layer, number_of_clusters=count, cluster_centroids_init=init,
                                              preserve_sparsity=preserve)

        try:
            wrapped = keras.models.clone_model(model, clone_function=wrap)
        except ValueError as exc:  # subclassed models cannot be cloned layer by layer
            raise EdgeloopError(f"cluster needs a Sequential or functional model: {exc}") from None
        compile_classifier(wrapped, o.learning_rate)
        ctx.record(**fit(wrapped, ctx, o.epochs, o.batch_size, "cluster"))
        for layer in frozen:
            layer.trainable = True
        stripped = clustering.strip_clustering(wrapped)
        unique = kernel_unique_values(stripped)
        unique = {n: u for n, u in unique.items() if o.clusters_for(n) is not None}
        over = {n: u for n, u in unique.items() if u > o.clusters_for(n)}
        if over:
            raise VerificationError("clustering left more values than asked in: "
                                    + ", ".join(f"{n} ({u} > {o.clusters_for(n)})" for n, u in over.items()))
        sparsity = kernel_sparsity(stripped)
        if preserve and pruned:
            lost = {n: sparsity[n] for n, t in pruned["layers"].items() if sparsity[n] < t - SPARSITY_TOLERANCE}
            if lost:
                raise VerificationError("sparsity-preserving clustering lost zeros: "
                                        + ", ".join(f"{n} {s:.1%}" for n, s in lost.items()))
        ctx.record(clusters=o.clusters, preserve_sparsity=preserve, kernel_unique_values=unique,
                   kernel_sparsity=sparsity, max_unique=int(np.max(list(unique.values()))) if unique else 0)
        ctx.state.clustered = {"clusters": max((o.clusters_for(n) for n in unique), default=o.clusters),
                               "layers": sorted(unique)}
        return stripped
