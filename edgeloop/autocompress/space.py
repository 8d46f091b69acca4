"""The policy space: which techniques a trial applies, where, and how much.

A policy is a flat mapping of Optuna parameters (every one categorical, so a policy is
plain data that round-trips through the study's storage and the report), turned into
the recipe steps that apply it by :meth:`Space.steps`. Each dimension can be switched off:

- ``width``: filters kept per NetAdapt group (:func:`edgeloop.search.proposals.prunable_groups`),
  applied by ``filter_prune``;
- ``sparsity``: magnitude-pruning sparsity per prunable layer (``prune``), or with ``m_by_n``
  2:4 structured sparsity instead;
- ``clusters``: cluster count per layer (``cluster``, sparsity preserved after ``prune``);
- ``precision``: int8, int16 activations or float per layer (``convert``'s ``precisions``);
- ``distill``: knowledge distillation from the starting model, temperature and α;
- ``factorize``: low-rank factorization, its rank set by the share of energy kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTHS = (1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25)
SPARSITIES = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9)
CLUSTERS = (0, 64, 32, 16, 8, 4)  # 0: not clustered
PRECISIONS = ("int8", "int16", "float")
TEMPERATURES = (1.0, 2.0, 4.0, 8.0)
ALPHAS = (0.1, 0.3, 0.5, 0.7)
ENERGIES = (0.0, 0.99, 0.95, 0.9, 0.8, 0.6)  # 0: not factorized
M_BY_N = ("off", "2:4")


@dataclass
class Space:
    """The searchable parts of one model.

    Attributes:
        dimensions: the switched-on dimensions.
        groups: ``{group name: width}`` of the groups ``width`` may narrow.
        prunable: layers ``sparsity`` may prune.
        clusterable: layers ``clusters`` may cluster.
        quantizable: layers ``precision`` may keep off int8, as the converted model's
            convolution and fully connected ops are named (after a fused batch norm or
            activation, when there is one).
        factorizable: layers ``factorize`` may split (Dense, Conv2D; not the last).
        output_layer: the model's last layer: int8 or float only (the LiteRT quantizer
            leaves an int16 output op's tensor int16, no float output).
        sizes: weights in each layer's kernel. A small kernel is offered no sparsity above
            80 % (tfmot's mask rounds 90 % of 144 weights to 88.9 %, which ``prune``'s check
            refuses) and no more clusters than an eighth of its weights (tfmot's k-means++
            needs as many weights as clusters on each side of zero).
        op_names: each Keras layer's name among :attr:`quantizable` (a layer kept in float
            carries its batch norm folded in per channel, so its clusters cannot survive:
            it is not clustered).
    """

    dimensions: tuple[str, ...]
    groups: dict[str, int]
    prunable: tuple[str, ...]
    clusterable: tuple[str, ...]
    quantizable: tuple[str, ...]
    factorizable: tuple[str, ...]
    output_layer: str = ""
    sizes: dict[str, int] = field(default_factory=dict)
    op_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, model, dimensions) -> "Space":
        """The space of ``model`` with the given dimensions switched on."""
        from edgeloop.pipeline._sparsity import is_clusterable, is_prunable, prunable_indices
        from edgeloop.search.proposals import prunable_groups

        last = model.layers[-1].name
        quantizable = weighted_op_layers(model)
        weighted = [layer.name for layer in model.layers if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D", "Dense")]
        return cls(
            dimensions=tuple(dimensions),
            groups={g.name: g.width for g in prunable_groups(model)},
            prunable=tuple(layer.name for layer in model.layers if is_prunable(layer)),
            clusterable=tuple(layer.name for layer in model.layers if is_clusterable(layer)),
            quantizable=quantizable,
            factorizable=tuple(layer.name for layer in model.layers
                               if type(layer).__name__ in ("Conv2D", "Dense") and layer.name != last
                               and layer.get_config().get("groups", 1) == 1),
            output_layer=quantizable[-1] if quantizable else last,
            sizes={layer.name: int(sum(layer.get_weights()[i].size for i in prunable_indices(layer)))
                   for layer in model.layers if is_prunable(layer)},
            op_names=dict(zip(weighted, quantizable)) if len(weighted) == len(quantizable) else {},
        )

    def distributions(self) -> dict:
        """Every parameter's Optuna distribution (categorical), in a fixed order."""
        from optuna.distributions import CategoricalDistribution as C

        on, out = set(self.dimensions), {}
        if "width" in on:
            out.update({f"width.{g}": C(WIDTHS) for g in self.groups})
        if "sparsity" in on:
            out.update({f"sparsity.{n}": C(tuple(v for v in SPARSITIES if v <= 0.8 or self.sizes.get(n, 10**6) >= 1000))
                        for n in self.prunable})
        if "m_by_n" in on:
            out["m_by_n"] = C(M_BY_N)
        if "clusters" in on:
            out.update({f"clusters.{n}": C(tuple(c for c in CLUSTERS if 8 * c <= self.sizes.get(n, 10**6)))
                        for n in self.clusterable})
        if "precision" in on:
            out.update({f"precision.{n}": C(PRECISIONS if n != self.output_layer else ("int8", "float"))
                        for n in self.quantizable})
        if "distill" in on:
            out.update({"distill": C((False, True)), "distill.temperature": C(TEMPERATURES), "distill.alpha": C(ALPHAS)})
        if "factorize" in on and self.factorizable:
            out["factorize.energy"] = C(ENERGIES)
        return out

    def neutral(self) -> dict:
        """The policy that changes nothing (plain int8): every dimension at its off value."""
        values = {"width": 1.0, "sparsity": 0.0, "m_by_n": "off", "clusters": 0, "precision": "int8", "distill": False,
                  "distill.temperature": 4.0, "distill.alpha": 0.3, "factorize.energy": 0.0}
        return {k: values.get(k, values.get(k.split(".")[0])) for k in self.distributions()}

    def steps(self, params: dict, epochs: int, batch_size: int = 32) -> list[dict]:
        """The recipe steps that apply the policy ``params`` (without ``convert``), in the
        order the techniques compose: narrow, distil, factorize, prune, cluster."""
        p = {**self.neutral(), **params}
        tuned = max(1, epochs)  # these steps train by definition: at least one pass
        out: list[dict] = []
        channels = {g: max(1, int(round(w * p[f"width.{g}"]))) for g, w in self.groups.items() if f"width.{g}" in p}
        channels = {g: c for g, c in channels.items() if c < self.groups[g]}
        distill = bool(p.get("distill"))
        if channels:
            out.append({"filter_prune": {"channels": channels, "epochs": 0 if distill else epochs,
                                         "batch_size": batch_size}})
        if distill:
            out.append({"distill": {"teacher": "baseline", "temperature": p["distill.temperature"],
                                    "alpha": p["distill.alpha"], "epochs": tuned, "batch_size": batch_size}})
        # The ``*_lowrank`` layers factorization adds are not in the policy (the pre-flight
        # sees the model before any step, so prune cannot skip them by name): pruning gives
        # them its gentlest setting (``target_sparsity`` the lowest sparsity chosen) and
        # clustering leaves them alone.
        if p.get("factorize.energy"):
            out.append({"factorize": {"layers": list(self.factorizable), "energy": p["factorize.energy"],
                                      "epochs": epochs, "batch_size": batch_size}})
        if p.get("m_by_n", "off") != "off":
            m, n = (int(v) for v in p["m_by_n"].split(":"))
            out.append({"prune": {"m_by_n": [m, n], "epochs": tuned, "batch_size": batch_size}})
        else:
            sparsity = {n: p[f"sparsity.{n}"] for n in self.prunable if p.get(f"sparsity.{n}")}
            if sparsity:
                out.append({"prune": {"layers": sparsity, "skip": [n for n in self.prunable if n not in sparsity],
                                      "target_sparsity": min(sparsity.values()), "epochs": tuned,
                                      "batch_size": batch_size}})
        clusters = {n: p[f"clusters.{n}"] for n in self.clusterable
                    if p.get(f"clusters.{n}") and p.get(f"precision.{self.op_names.get(n, n)}") != "float"}
        if clusters:
            out.append({"cluster": {"layers": clusters, "skip": [n for n in self.clusterable if n not in clusters],
                                    "clusters": max(clusters.values()), "epochs": tuned, "batch_size": batch_size}})
            if p.get("factorize.energy"):  # the factors are not in the policy: left unclustered
                out[-1]["cluster"]["skip"].append("*_lowrank")
        return out

    def precisions(self, params: dict) -> dict[str, str]:
        """``{layer: int16 | float}`` for the layers the policy keeps off int8."""
        return {n: params[f"precision.{n}"] for n in self.quantizable if params.get(f"precision.{n}", "int8") != "int8"}

    def seeds(self, sensitivity: dict[str, float], count: int) -> list[dict]:
        """Policies to try first, from the sensitivity analysis (``{layer: safe sparsity}``).

        The safe sparsities themselves; the same with 16 clusters; widths cut where layers
        tolerate pruning (a layer safe at 70 % keeps half its filters, at 50 % three
        quarters); all of them at once with distillation; the widths two steps narrower
        everywhere (the latency end of the front); then a ladder for the whole front: the
        widths as they are, one and two steps narrower, each with the sparsities and the
        clusters (which cost no latency, and make the file small). Each is snapped to the
        space's grid.
        """
        dists = self.distributions()

        def snap(key, value):  # the nearest sparsity the layer is offered
            return min(dists[key].choices, key=lambda c: abs(c - value))

        base = self.neutral()
        sparse = {f"sparsity.{n}": snap(f"sparsity.{n}", s) for n, s in sensitivity.items() if f"sparsity.{n}" in dists}
        clustered = {k: min(16, max(dists[k].choices)) for k in dists if k.startswith("clusters.")}
        width = {}
        for g in self.groups:
            s = sensitivity.get(g, 0.0)
            if f"width.{g}" in dists:
                width[f"width.{g}"] = 0.5 if s >= 0.7 else 0.75 if s >= 0.5 else 1.0
        def narrower(steps: int) -> dict:  # every width ``steps`` steps down the grid, to 0.375 at most
            return {k: WIDTHS[min(WIDTHS.index(w) + steps, WIDTHS.index(0.375))] for k, w in width.items()}

        distill = {"distill": True} if "distill" in dists else {}
        small = {**sparse, **clustered}
        candidates = [{**base, **sparse}, {**base, **small}, {**base, **width},
                      {**base, **width, **sparse, **distill}, {**base, **narrower(2)},
                      {**base, **width, **small}, {**base, **narrower(1), **small}, {**base, **narrower(2), **small}]
        unique = []
        for c in candidates:
            if c not in unique and c != base:
                unique.append(c)
        return unique[:count]


def weighted_op_layers(model) -> tuple[str, ...]:
    """The layers the converted model's convolutions and fully connected ops are named after,
    in execution order: the names ``convert``'s ``precisions`` matches."""
    from edgeloop.converters.tflite import convert
    from edgeloop.quant.step import op_layers

    weighted = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    _, rows = op_layers(convert(model, mode="float32"))
    return tuple(dict.fromkeys(layer for layer, op, _ in rows if op in weighted))
