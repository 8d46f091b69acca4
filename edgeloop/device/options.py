"""What a benchmark is asked to do: one options dataclass shared by every way to reach a device.

The same options travel from the CLI to the local runner, over HTTP to the agent (as JSON)
and to ``benchmark_model`` on a phone (as flags), and key the latency store: two
measurements are interchangeable only when their options are equal.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from edgeloop.errors import EdgeloopError, refuse_unknown_keys

# ``None`` lets the runtime choose (LiteRT applies XNNPACK to every CPU interpreter);
# ``"none"`` turns the default delegate off and runs the plain CPU kernels.
DELEGATES = ("xnnpack", "none", "edgetpu", "gpu", "nnapi", "hexagon")
MAX_THREADS = 256


@dataclass(frozen=True)
class BenchmarkOptions:
    """How to time a model.

    Attributes:
        threads: interpreter threads.
        delegate: ``None`` (runtime default), or one of :data:`DELEGATES`.
        warmup: untimed runs after the first inference.
        runs: timed runs at least.
        max_runs: timed runs at most; above ``runs``, runs continue until the bootstrap
            95 % confidence interval of the median is tighter than ``ci_target``.
            ``None`` means exactly ``runs``.
        ci_target: stop when the interval's half-width is below this fraction of the median.
        time_limit_s: wall-clock budget for the whole benchmark (load, warm-up, timed runs,
            op profiling); timed runs stop when it is spent.
        op_profiling: also measure each op's latency.
        seed: seed of the random input data.
    """

    threads: int = 1
    delegate: str | None = None
    warmup: int = 10
    runs: int = 100
    max_runs: int | None = None
    ci_target: float = 0.01
    time_limit_s: float = 60.0
    op_profiling: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("threads", "warmup", "runs", "seed"):
            _check_type(name, getattr(self, name), int)
        _check_type("max_runs", self.max_runs, int, optional=True)
        _check_type("ci_target", self.ci_target, float)
        _check_type("time_limit_s", self.time_limit_s, float)
        _check_type("op_profiling", self.op_profiling, bool)
        _check_type("delegate", self.delegate, str, optional=True)
        for name in ("ci_target", "time_limit_s"):  # 30 and 30.0 must key the store alike
            try:
                value = float(getattr(self, name))
            except OverflowError:  # an integer with hundreds of digits
                value = math.inf
            if not math.isfinite(value):  # NaN passes every comparison, and inf is no time limit
                raise EdgeloopError(f"benchmark option {name!r} must be a finite number, got {getattr(self, name)!r:.40}")
            object.__setattr__(self, name, value)
        if self.threads < 1 or self.runs < 1 or self.warmup < 0:
            raise EdgeloopError(f"threads and runs must be at least 1 and warmup at least 0 "
                                f"(got {self.threads}, {self.runs}, {self.warmup})")
        if self.threads > MAX_THREADS:  # each is an OS thread of the interpreter
            raise EdgeloopError(f"threads must be at most {MAX_THREADS}, got {self.threads}")
        if self.seed < 0:
            raise EdgeloopError(f"seed must be 0 or more, got {self.seed}")
        if self.max_runs is not None and self.max_runs < self.runs:
            raise EdgeloopError(f"max_runs ({self.max_runs}) must be at least runs ({self.runs})")
        if not 0 < self.ci_target < 1:
            raise EdgeloopError(f"ci_target must be a fraction between 0 and 1, got {self.ci_target}")
        if self.time_limit_s <= 0:
            raise EdgeloopError(f"time_limit_s must be positive, got {self.time_limit_s}")
        if self.delegate is not None and self.delegate not in DELEGATES:
            raise EdgeloopError(f"unknown delegate {self.delegate!r}; valid: {', '.join(DELEGATES)}")

    @property
    def adaptive(self) -> bool:
        """Whether timed runs may continue past ``runs`` until the median is tight enough."""
        return self.max_runs is not None and self.max_runs > self.runs

    def to_dict(self) -> dict:
        """Plain data (the agent's request body, the store's record)."""
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Canonical JSON of every option: equal keys mean interchangeable measurements."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | None) -> "BenchmarkOptions":
        """Options from plain data, refusing keys it does not know.

        Raises:
            EdgeloopError: not a mapping, unknown key, wrong type or value out of range.
        """
        if mapping is not None and not isinstance(mapping, Mapping):
            raise EdgeloopError(f"benchmark options must be a mapping of option names to values, got {mapping!r:.80}")
        mapping = dict(mapping or {})
        refuse_unknown_keys(mapping, [f.name for f in dataclasses.fields(cls)], noun="benchmark option")
        return cls(**mapping)


def _check_type(name: str, value: Any, kind: type, optional: bool = False) -> None:
    if value is None and optional:
        return
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float:  # JSON and YAML write 30 for 30.0
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise EdgeloopError(f"benchmark option {name!r} must be {'an' if kind is int else 'a'} "
                            f"{kind.__name__}{' or null' if optional else ''}, got {value!r}")
