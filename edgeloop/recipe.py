"""YAML recipe -> a validated list of steps.

A recipe names the model, the data and an ordered list of steps with options::

    name: digits_int8
    model: zoo:digits_cnn
    data: digits
    seed: 0
    val_fraction: 0.2
    steps:
      - train: {epochs: 30}
      - prune: {target_sparsity: 0.5}
      - qat: {epochs: 10}
      - convert: {mode: int8}
      - evaluate: {}
      - benchmark: {runs: 100}

Presets are the same data made by named functions (``edgeloop:edgetpu_int8``), see
:mod:`edgeloop.presets`. Every key is checked: an unknown one is an error listing the valid
ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from edgeloop.errors import EdgeloopError

if TYPE_CHECKING:
    from edgeloop.pipeline.target import Target

PRESET_PREFIX = "edgeloop:"
TOP_LEVEL_KEYS = ("name", "model", "data", "seed", "val_fraction", "image_size", "preprocess", "fold_preprocessing",
                  "expected_accuracy", "measure_steps", "custom_objects", "output", "target", "steps")


@dataclass
class Recipe:
    """A validated recipe.

    Attributes:
        name: names the run folder.
        model: a model file, SavedModel folder or ``zoo:<name>``.
        data: ``digits``, a ``.npz`` file or an image folder.
        steps: built step objects, in order.
        seed: seed of the split and of training.
        val_fraction: share of the data held out for validation.
        image_size: ``[height, width]`` images from a folder are resized to.
        measure_steps: convert, score and time the model after every step that changes
            it (see :mod:`edgeloop.pipeline.measure`).
        custom_objects: a Python file defining the model's custom layers (imported and
            registered before the model is loaded).
        output: the model output the labels are for, by name (multi-output models;
            default the first).
        source: where the recipe came from (a file or a preset).
        preprocess: how raw 0–255 pixels become the model's input, as plain data (see
            :class:`edgeloop.preprocess.Preprocess`; ``None``: [0, 1] for images, a
            ``.npz`` as stored).
        fold_preprocessing: converted models take raw 0–255 pixels (the preprocessing
            folded in as their first layer).
        expected_accuracy: the validation accuracy the model's own training recorded; the
            float model far below it stops the run before compression.
        target: what the finished model must be (device, latency, size, Edge TPU; see
            :mod:`edgeloop.pipeline.target`); every step sees it, the run checks it last.
    """

    name: str
    model: str
    data: str
    steps: list = field(default_factory=list)
    seed: int = 0
    val_fraction: float = 0.2
    image_size: list[int] | None = None
    measure_steps: bool = True
    custom_objects: str | None = None
    output: str | None = None
    source: str = ""
    preprocess: dict | None = None
    fold_preprocessing: bool = False
    expected_accuracy: float | None = None
    target: Target | None = None

    def to_dict(self) -> dict:
        """Plain data that :func:`from_dict` turns back into this recipe."""
        return {
            "name": self.name,
            "model": self.model,
            "data": self.data,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "image_size": self.image_size,
            "preprocess": self.preprocess,
            "fold_preprocessing": self.fold_preprocessing,
            "expected_accuracy": self.expected_accuracy,
            "measure_steps": self.measure_steps,
            # Only when given: recipes (and run folders) without them read as they always did.
            **({"custom_objects": self.custom_objects} if self.custom_objects else {}),
            **({"output": self.output} if self.output else {}),
            **({"target": self.target.to_dict()} if self.target else {}),
            "steps": [{s.name: s.describe()["options"]} for s in self.steps],
        }


def load_recipe(spec: str, model: str | None = None, data: str | None = None, preprocess: str | None = None,
                max_drop: float | None = None, custom_objects: str | None = None, output: str | None = None) -> Recipe:
    """Read a recipe from a YAML file or a preset name, with optional overrides.

    Args:
        spec: a path to a ``.yaml`` file, or ``edgeloop:<preset>``.
        model: overrides the recipe's model.
        data: overrides the recipe's data.
        preprocess: overrides the recipe's preprocess (a convention name, a YAML / JSON
            mapping or a file holding one).
        max_drop: overrides ``max_drop`` of every ``evaluate`` step.
        custom_objects: overrides the recipe's custom objects file.
        output: overrides the recipe's scored output.
    """
    if spec.startswith(PRESET_PREFIX):
        from edgeloop.presets import preset

        raw = preset(spec[len(PRESET_PREFIX):])
    else:
        raw = _read_yaml(Path(spec))
    if model is not None:
        raw["model"] = model
    if data is not None:
        raw["data"] = data
    if preprocess is not None:
        from edgeloop.preprocess import Preprocess

        raw["preprocess"] = Preprocess.parse(preprocess, "--preprocess").to_dict()
    if max_drop is not None:
        _set_step_option(raw, "evaluate", "max_drop", max_drop, "--max-drop")
    if custom_objects is not None:
        raw["custom_objects"] = custom_objects
    if output is not None:
        raw["output"] = output
    return from_dict(raw, source=spec)


def _set_step_option(raw: Any, step: str, key: str, value: Any, flag: str) -> None:
    """Set ``key`` of every ``step`` in recipe data (a flag that overrides a step's option)."""
    steps = raw.get("steps") if isinstance(raw, dict) else None
    found = False
    for i, entry in enumerate(steps if isinstance(steps, list) else []):
        if entry == step:
            steps[i] = {step: {key: value}}
            found = True
        elif isinstance(entry, dict) and list(entry) == [step] and isinstance(entry[step], (dict, type(None))):
            steps[i] = {step: {**(entry[step] or {}), key: value}}
            found = True
    if not found:
        raise EdgeloopError(f"{flag} sets the {step} step's {key}, but the recipe has no {step} step")


def from_dict(raw: Any, source: str = "<recipe>") -> Recipe:
    """Validate plain recipe data and build its steps."""
    from edgeloop.pipeline import build_step

    if not isinstance(raw, dict):
        raise EdgeloopError(f"{source}: a recipe must be a mapping with {', '.join(TOP_LEVEL_KEYS)}")
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise EdgeloopError(
            f"{source}: unknown key {', '.join(map(repr, unknown))}; valid keys: {', '.join(TOP_LEVEL_KEYS)}"
        )
    if not raw.get("model"):
        raise EdgeloopError(f"{source}: no model (give `model:` in the recipe or --model)")
    raw_steps = raw.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise EdgeloopError(f"{source}: `steps` must be a non-empty list")
    steps = []
    for i, entry in enumerate(raw_steps, 1):
        where = f"{source}: step {i}"
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise EdgeloopError(f"{where}: write each step as `- name: {{options}}`")
        (name, options), = entry.items()
        steps.append(build_step(name, options, where))
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise EdgeloopError(f"{source}: seed must be an integer, got {seed!r}")
    val_fraction = raw.get("val_fraction", 0.2)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise EdgeloopError(f"{source}: val_fraction must be a number between 0 and 1, got {val_fraction!r}")
    image_size = raw.get("image_size")
    if image_size is not None and (
        not isinstance(image_size, list) or len(image_size) != 2 or not all(isinstance(v, int) and v > 0 for v in image_size)
    ):
        raise EdgeloopError(f"{source}: image_size must be [height, width], got {image_size!r}")
    name = raw.get("name")
    if name is not None and not _plain_folder_name(str(name)):
        raise EdgeloopError(f"{source}: name must be one plain folder name (letters, digits, '-', '_', '.'; "
                            f"no '/' and no leading '.'), got {name!r}: the run folder is <out>/<name>-<time>")
    preprocess = raw.get("preprocess")
    if preprocess is not None:
        from edgeloop.preprocess import Preprocess

        preprocess = Preprocess.parse(preprocess, f"{source}: preprocess").to_dict()
    fold = raw.get("fold_preprocessing", False)
    if not isinstance(fold, bool):
        raise EdgeloopError(f"{source}: fold_preprocessing must be true or false, got {fold!r}")
    expected = raw.get("expected_accuracy")
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, (int, float))
                                 or not 0 < expected <= 1):
        raise EdgeloopError(f"{source}: expected_accuracy must be a fraction in (0, 1], got {expected!r}")
    measure_steps = raw.get("measure_steps", True)
    if not isinstance(measure_steps, bool):
        raise EdgeloopError(f"{source}: measure_steps must be true or false, got {measure_steps!r}")
    for key in ("custom_objects", "output"):
        if raw.get(key) is not None and (not isinstance(raw[key], str) or not raw[key]):
            raise EdgeloopError(f"{source}: {key} must be a {'file name' if key == 'custom_objects' else 'name'}, "
                                f"got {raw[key]!r}")
    target = _target(raw.get("target"), steps, source)
    return Recipe(
        target=target,
        custom_objects=raw.get("custom_objects"),
        output=raw.get("output"),
        measure_steps=measure_steps,
        name=str(raw.get("name") or Path(source).stem.replace(PRESET_PREFIX, "") or "run"),
        model=str(raw["model"]),
        data=str(raw.get("data") or "digits"),
        steps=steps,
        seed=seed,
        val_fraction=float(val_fraction),
        image_size=image_size,
        source=source,
        preprocess=preprocess,
        fold_preprocessing=fold,
        expected_accuracy=None if expected is None else float(expected),
    )


def _target(raw: Any, steps: list, source: str) -> Target | None:
    """The recipe's target, refused up front when no step could measure what it asks."""
    from edgeloop.pipeline.target import Target

    if raw is None:
        return None
    target = Target.from_dict(raw, f"{source}: target")
    names = [s.name for s in steps]
    if target.wants_latency and "benchmark" not in names:
        raise EdgeloopError(f"{source}: the target sets a latency, but no benchmark step measures it; "
                            "add `- benchmark: {}` after convert")
    if (target.size_kb is not None or target.edgetpu) and "convert" not in names:
        raise EdgeloopError(f"{source}: the target sets {'size_kb' if target.size_kb is not None else 'edgetpu'}, "
                            "but no convert step writes a file to check; add `- convert: {mode: int8}`")
    return target


def _plain_folder_name(name: str) -> bool:
    """One path component that stays inside its folder: not ``..``, ``a/b`` or ``.hidden``."""
    return bool(name) and name == Path(name).name and not name.startswith(".") and not any(c in name for c in "\\\0")


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise EdgeloopError(f"recipe not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise EdgeloopError(f"{path}: not valid YAML: {first}") from None
