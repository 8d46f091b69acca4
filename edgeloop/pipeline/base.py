"""The step interface, the context steps share, and the registry of steps by name.

A technique is one small class registered under the name a recipe uses::

    @register_step("prune", PruneOptions, changes_model=True, compresses=True)
    class Prune(Step):
        def apply(self, model, ctx):
            ...
            ctx.record(sparsity=...)
            return pruned_model

Adding a technique is a new module in :mod:`edgeloop.pipeline` that registers its step;
the runner never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from edgeloop.data import Dataset
from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.facts import RunFacts
from edgeloop.pipeline.options import options_to_dict, parse_options

if TYPE_CHECKING:
    from edgeloop.pipeline.target import Target

_STEPS: dict[str, type["Step"]] = {}


class Step:
    """One technique applied to a model.

    Class attributes:
        name: the key a recipe uses.
        Options: the dataclass of the step's options.
        changes_model: the step returns a new Keras model (the runner saves it).
        compresses: the step makes the model smaller or cheaper; the model as it stood
            before the first such step is the run's *baseline*, kept for comparison.
        takes_any_model: the step also runs on a model without Keras layers (a
            :class:`~edgeloop.models.signature.SignatureModel`: subclassed, Keras 3, any
            SavedModel); the others need a tf_keras Functional or Sequential model.
        needs_labels: the step trains or scores against labels (data without labels is
            refused before the run starts).
    """

    name: ClassVar[str]
    Options: ClassVar[type]
    changes_model: ClassVar[bool] = False
    compresses: ClassVar[bool] = False
    takes_any_model: ClassVar[bool] = False
    needs_labels: ClassVar[bool] = True

    def __init__(self, options: Any) -> None:
        self.options = options

    def apply(self, model: Any, ctx: "Context") -> Any:
        """Run the step on ``model``; return the model the next step gets."""
        raise NotImplementedError

    def preflight(self, model: Any, plan: "Preflight") -> list["Problem"]:
        """What would stop this step on ``model``, found in seconds and before any training.

        A step that can fail on a layer overrides this (try tfmot's wrapper on a clone,
        convert once with a few samples …). The default finds nothing.
        """
        return []

    def describe(self) -> dict:
        """Name and options, as plain data."""
        return {"step": self.name, "options": options_to_dict(self.options)}


@dataclass(frozen=True)
class Problem:
    """Why a step cannot run on a model, found by the pre-flight.

    Attributes:
        step: the step's name.
        message: one line: what fails, on which layer, and the way out.
        layer: the layer at fault, when there is one.
    """

    step: str
    message: str
    layer: str | None = None


@dataclass
class Preflight:
    """What a step's pre-flight knows besides the model.

    Attributes:
        state: the facts the steps before it will have left (``pruned``, ``clustered``,
            ``sensitivity``), as planned rather than done.
        samples: a few input samples (from the data when there is any, else random)
            for a trial conversion.
        work_before: a step before this one trains or changes the model (work a late
            failure would lose).
        cache: results shared between the checks of one pre-flight.
    """

    state: dict = field(default_factory=dict)
    samples: Any = None
    work_before: bool = False
    cache: dict = field(default_factory=dict)


def register_step(name: str | type[Step], options: type | None = None, **flags: bool):
    """Class decorator: make a step available to recipes under its name.

    ``@register_step("prune", PruneOptions, changes_model=True)`` declares the step's name,
    options and flags (the class attributes of :class:`Step`) in one line; a bare
    ``@register_step`` takes them from the class body.
    """
    if isinstance(name, type):
        return _register(name)
    unknown = sorted(set(flags) - {"changes_model", "compresses", "takes_any_model", "needs_labels"})
    if unknown:
        raise TypeError(f"register_step: unknown step flag(s) {', '.join(unknown)}")

    def declare(cls: type[Step]) -> type[Step]:
        cls.name = name
        if options is not None:
            cls.Options = options
        for flag, value in flags.items():
            setattr(cls, flag, value)
        return _register(cls)

    return declare


def _register(cls: type[Step]) -> type[Step]:
    if cls.name in _STEPS:
        raise ValueError(f"step {cls.name!r} is registered twice")
    _STEPS[cls.name] = cls
    return cls


def step_names() -> list[str]:
    """Every registered step name, in registration order."""
    return list(_STEPS)


def step_class(name: str) -> type[Step]:
    """The step class registered under ``name``."""
    try:
        return _STEPS[name]
    except KeyError:
        raise EdgeloopError(f"unknown step {name!r}; valid steps: {', '.join(_STEPS)}") from None


def build_step(name: str, options: dict | None, where: str) -> Step:
    """Instantiate a registered step from recipe data, validating its options."""
    cls = step_class(name)
    return cls(parse_options(cls.Options, options, f"{where} ({name})"))


def graph_problems(model, step: str) -> list["Problem"]:
    """A tfmot step needs a model whose layers can be cloned one by one: Sequential or functional."""
    from edgeloop._tf import keras

    if isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False):
        return []
    return [Problem(step, f"{step} needs a Sequential or functional tf_keras model (tfmot clones it layer by layer); "
                          f"this is a {type(model).__name__}: rebuild it with the functional API, or drop the {step} step")]


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's first line, for one-line messages."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def check_patterns(model, patterns: list[str], step: str) -> None:
    """Refuse a layer name or glob pattern that matches no layer of ``model``, listing the layers."""
    import fnmatch

    names = [layer.name for layer in model.layers]
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            raise EdgeloopError(f"{step}: no layer matches {pattern!r}; layers: {', '.join(names)}")


@dataclass
class Context:
    """What steps share during one run.

    Attributes:
        data: the split data set.
        run_dir: the run folder; every artifact goes in it.
        seed: the run's seed.
        state: the facts steps leave for later steps (:class:`~edgeloop.pipeline.facts.RunFacts`,
            saved after every step so a resumed run sees them): ``pruned``,
            ``baseline_model``, ``tflite`` …
        progress: factory for progress bars, ``progress(description, total)`` returns a
            context manager yielding an ``advance(n)`` callable.
        warn: reports a warning to the user and into the report.
        result: what the running step recorded so far (the runner resets it per step).
        output: the model output the labels are for (a multi-output model); ``None``
            for the first.
        fold_preprocessing: converted models take raw 0–255 pixels, the data's
            preprocessing folded in as their first layer (:mod:`edgeloop.models.fold`).
        target: the recipe's target (device, latency / size budget, Edge TPU), ``None``
            when it sets none (:mod:`edgeloop.pipeline.target`).
        recipe: the recipe being run (its model and data specs, for steps that start
            workers of their own), ``None`` outside a run.
        ui: progress bars and messages (:class:`edgeloop.ui.Ui`), for steps that report
            as they go.
        cache: objects shared by the steps of one process (the opened latency store …),
            never saved.
    """

    data: Dataset
    run_dir: Path
    seed: int = 0
    state: RunFacts = field(default_factory=RunFacts)
    progress: Callable = None  # type: ignore[assignment]
    warn: Callable[[str], None] = print
    result: dict = field(default_factory=dict)
    output: str | None = None
    fold_preprocessing: bool = False
    target: "Target | None" = None
    recipe: Any = None
    ui: Any = None
    cache: dict = field(default_factory=dict)

    def record(self, **values: Any) -> None:
        """Add results of the current step to its part of the report."""
        self.result.update(values)

    def path(self, name: str) -> Path:
        """A path inside the run folder."""
        return self.run_dir / name

    def baseline_model(self, current: Any) -> Any:
        """The model before compression began (``current`` if no step compressed it yet)."""
        saved = self.state.baseline_model
        if not saved:
            return current
        from edgeloop.models import load_model

        return load_model(self.path(saved))
