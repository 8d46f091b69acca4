"""``factorize``: low-rank factorization of Dense and Conv2D layers, then a short fine-tune.

A Dense kernel W (in x out) becomes two Dense layers through its truncated SVD,
W ≈ (U_r √S_r)(√S_r V_rᵀ): ``in -> r`` without bias, then ``r -> out`` with the old bias
and activation. A k x k Conv2D kernel is reshaped to (k·k·in) x out and split the same
way: a k x k convolution to r channels, then a 1 x 1 convolution to the old outputs.
At full rank the factorized layer computes what the old one did (up to rounding).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import numpy as np

from edgeloop.pipeline._training import check_training_options, compile_classifier, fit
from edgeloop.pipeline.base import Context, Step, check_patterns, register_step


def choose_rank(singular_values: np.ndarray, energy: float) -> int:
    """Smallest rank whose singular values keep ``energy`` of the sum of their squares."""
    kept = np.cumsum(singular_values**2) / np.sum(singular_values**2)
    return int(np.searchsorted(kept, energy - 1e-12) + 1)


def _split(matrix: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    root = np.sqrt(s[:rank])
    return (u[:, :rank] * root).astype(np.float32), (root[:, None] * vt[:rank]).astype(np.float32), s


def factorize_layer(layer, rank: int | None, energy: float):
    """The replacement chain for one layer, with its rank and parameter counts, or ``None``.

    Returns:
        ``(chain, info)`` where chain is ``[(class name, config, weights), …]``.
    """
    kind = type(layer).__name__
    config = layer.get_config()
    if not (kind == "Dense" or (kind == "Conv2D" and config.get("groups", 1) == 1
                                and config.get("data_format") == "channels_last")):
        return None  # pooling, Flatten, depthwise and grouped convolutions … stay as they are
    weights = layer.get_weights()
    kernel, bias = weights[0], (weights[1] if len(weights) > 1 else None)
    matrix = kernel if kind == "Dense" else kernel.reshape(-1, kernel.shape[-1])
    first_w, second_w, s = _split(matrix, min(matrix.shape))
    r = min(rank, len(s)) if rank else choose_rank(s, energy)
    first_w, second_w = first_w[:, :r], second_w[:r]
    name = config["name"]
    first = dict(config, name=f"{name}_lowrank", activation="linear", use_bias=False)
    second = dict(config, name=name)
    if kind == "Dense":
        first["units"] = r
        chain = [("Dense", first, [first_w]), ("Dense", second, [second_w] + ([bias] if bias is not None else []))]
    else:
        first["filters"] = r
        second.update(kernel_size=[1, 1], strides=[1, 1], padding="valid", dilation_rate=[1, 1])
        chain = [
            ("Conv2D", first, [first_w.reshape(*kernel.shape[:-1], r)]),
            ("Conv2D", second, [second_w.reshape(1, 1, r, -1)] + ([bias] if bias is not None else [])),
        ]
    for _, cfg, _ in chain:
        cfg.pop("build_config", None)
    before = int(kernel.size)
    after = int(first_w.size + second_w.size)
    kept = float(np.sum(s[:r] ** 2) / np.sum(s**2))
    return chain, {"rank": r, "full_rank": int(len(s)), "energy_kept": kept, "kernel_params": before, "factorized_params": after}


@dataclass
class FactorizeOptions:
    """Options of ``factorize``.

    Attributes:
        layers: names or glob patterns of the Dense / Conv2D layers to factorize
            (default: every one but the model's last layer).
        energy: share of the squared singular values the chosen rank keeps.
        rank: a fixed rank instead (clipped to the full rank).
        only_if_smaller: leave a layer whole when its factorization has no fewer weights.
        epochs: fine-tuning passes afterwards (0 for none).
        batch_size: samples per optimizer step.
        learning_rate: Adam's learning rate for the fine-tune.
    """

    layers: list[str] = field(default_factory=list)
    energy: float = 0.9
    rank: int | None = None
    only_if_smaller: bool = True
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4

    def __post_init__(self) -> None:
        if not 0.0 < self.energy <= 1.0:
            raise ValueError(f"energy must be in (0, 1], got {self.energy}")
        if self.rank is not None and self.rank < 1:
            raise ValueError(f"rank must be at least 1, got {self.rank}")
        check_training_options(self.epochs, self.batch_size, self.learning_rate, min_epochs=0)


@register_step("factorize", FactorizeOptions, changes_model=True, compresses=True)
class Factorize(Step):
    """Split Dense / Conv2D layers into two low-rank layers and fine-tune."""

    def apply(self, model, ctx: Context):
        from edgeloop.models.graph import split_layers
        from edgeloop.models.macs import model_macs

        o = self.options
        check_patterns(model, o.layers, self.name)
        chosen = [layer for layer in model.layers
                  if (any(fnmatch.fnmatchcase(layer.name, p) for p in o.layers) if o.layers else layer is not model.layers[-1])]
        replacements, per_layer = {}, {}
        for layer in chosen:
            result = factorize_layer(layer, o.rank, o.energy)
            if result is None:
                continue
            chain, info = result
            info["factorized"] = not (o.only_if_smaller and info["factorized_params"] >= info["kernel_params"])
            per_layer[layer.name] = info
            if info["factorized"]:
                replacements[layer.name] = chain
        macs_before = model_macs(model)
        new = split_layers(model, replacements) if replacements else model
        macs_after = model_macs(new)
        for name, info in per_layer.items():
            info["macs"] = macs_before.get(name, 0)
            info["factorized_macs"] = macs_after.get(name, 0) + macs_after.get(f"{name}_lowrank", 0)
        if o.epochs and replacements:
            compile_classifier(new, o.learning_rate)
            ctx.record(**fit(new, ctx, o.epochs, o.batch_size, "factorize"))
        ctx.record(layers=per_layer, params_before=int(model.count_params()), params_after=int(new.count_params()),
                   macs_before=macs_before["total"], macs_after=macs_after["total"])
        return new
