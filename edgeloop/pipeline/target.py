"""The recipe's ``target``: what the finished model must be, seen by every step, checked at the end.

::

    target:
      device: http://127.0.0.1:8555   # where latency is measured (default: this machine)
      latency_ms: 2.0                 # median latency of model.tflite on that device
      latency: 0.5x                   # or: at most half the float baseline's, same device
      size_kb: 40                     # model.tflite at most 40 KiB (1 KiB = 1024 bytes)
      edgetpu: true                   # full int8, and the analyzer predicts every op maps

Steps read it as ``ctx.target`` (a search takes its device and budget from it). After the
last step the run checks it (:func:`check_target`): latency against the median the
``benchmark`` step measured, ``latency: 0.5x`` against the float baseline's median from
the same benchmark, ``size_kb`` against the converted file, ``edgetpu`` against the
converted file's tensors and the Edge TPU analyzer's prediction. A target missed ends
the run with status ``target_missed`` (exit status 1), the report saying by how much.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeloop.errors import EdgeloopError

KEYS = ("device", "latency_ms", "latency", "size_kb", "edgetpu")
_RATIO = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*x\s*$")


@dataclass(frozen=True)
class Target:
    """What the finished model must be.

    Attributes:
        device: where latency is measured: ``local``, ``http://HOST:PORT`` (an agent)
            or ``adb:SERIAL``; ``None``: this machine.
        latency_ms: the model's median latency on ``device`` at most this.
        latency_ratio: the model's median latency at most this share of the float
            baseline's (``latency: 0.5x`` in a recipe).
        size_kb: the converted file at most this many KiB.
        edgetpu: the converted file is full int8 and every op is predicted to map to
            the Edge TPU.
    """

    device: str | None = None
    latency_ms: float | None = None
    latency_ratio: float | None = None
    size_kb: float | None = None
    edgetpu: bool = False

    @classmethod
    def from_dict(cls, d: Any, where: str = "target") -> "Target":
        """Build a target from recipe data (``latency: 0.5x`` -> ``latency_ratio`` 0.5).

        Raises:
            EdgeloopError: not a mapping, an unknown key (the valid ones listed), or a
                value of the wrong kind.
        """
        if not isinstance(d, dict):
            raise EdgeloopError(f"{where} must be a mapping of {', '.join(KEYS)}, got {d!r}")
        unknown = sorted(set(d) - set(KEYS))
        if unknown:
            raise EdgeloopError(f"{where}: unknown key {', '.join(map(repr, unknown))}; valid keys: {', '.join(KEYS)}")
        if "latency_ms" in d and "latency" in d:
            raise EdgeloopError(f"{where}: give latency_ms (milliseconds) or latency (e.g. 0.5x the float baseline), "
                                "not both")
        device = d.get("device")
        if device is not None and (not isinstance(device, str) or not device):
            raise EdgeloopError(f"{where}: device must be local, http://HOST:PORT or adb:SERIAL, got {device!r}")
        edgetpu = d.get("edgetpu", False)
        if not isinstance(edgetpu, bool):
            raise EdgeloopError(f"{where}: edgetpu must be true or false, got {edgetpu!r}")
        return cls(device=device, latency_ms=_positive(d.get("latency_ms"), f"{where}: latency_ms"),
                   latency_ratio=_ratio(d.get("latency"), f"{where}: latency"),
                   size_kb=_positive(d.get("size_kb"), f"{where}: size_kb"), edgetpu=edgetpu)

    def to_dict(self) -> dict:
        """Plain recipe data that :meth:`from_dict` turns back into this target."""
        out: dict = {}
        if self.device is not None:
            out["device"] = self.device
        if self.latency_ms is not None:
            out["latency_ms"] = self.latency_ms
        if self.latency_ratio is not None:
            out["latency"] = f"{self.latency_ratio:g}x"
        if self.size_kb is not None:
            out["size_kb"] = self.size_kb
        if self.edgetpu:
            out["edgetpu"] = True
        return out

    @property
    def wants_latency(self) -> bool:
        """A latency budget is set (absolute or relative)."""
        return self.latency_ms is not None or self.latency_ratio is not None

    def budget_ms(self, baseline_ms: float | None) -> float | None:
        """The latency budget in milliseconds; a relative one needs the baseline's latency."""
        if self.latency_ms is not None:
            return self.latency_ms
        if self.latency_ratio is not None and baseline_ms is not None:
            return self.latency_ratio * baseline_ms
        return None


def _positive(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise EdgeloopError(f"{where} must be a positive number, got {value!r}")
    return float(value)


def _ratio(value: Any, where: str) -> float | None:
    if value is None:
        return None
    match = _RATIO.match(value) if isinstance(value, str) else None
    if not match or float(match.group(1)) <= 0:
        raise EdgeloopError(f"{where} must be a share of the float baseline's latency such as 0.5x, got {value!r} "
                            "(for milliseconds use latency_ms)")
    return float(match.group(1))


def check_target(target: Target, state: dict, run_dir: Path) -> dict:
    """Check ``target`` against what the run measured and wrote.

    Args:
        target: the recipe's target.
        state: the run's state (``finished`` steps and the steps' shared ``state``).
        run_dir: the run folder, holding the converted file.

    Returns:
        ``{"met": bool, "checks": [{"name", "passed", "detail", "value", "limit", "over"}]}``;
        ``over`` is by how much a missed one is over its limit (same unit).
    """
    facts = state.get("state") or {}
    checks = []
    if target.wants_latency:
        checks.append(_latency_check(target, _last(state, "benchmark")))
    tflite = (facts.get("tflite") or {}).get("file")
    path = run_dir / tflite if tflite else None
    if target.size_kb is not None:
        checks.append(_size_check(target.size_kb, path))
    if target.edgetpu:
        checks.append(_edgetpu_check(path, facts.get("device_info")))
    return {"met": all(c["passed"] for c in checks), "checks": checks}


def _last(state: dict, step: str) -> dict | None:
    results = [e["result"] for e in state.get("finished", []) if e["step"] == step]
    return results[-1] if results else None


def _check(name: str, passed: bool, detail: str, value=None, limit=None) -> dict:
    over = None if passed or value is None or limit is None else value - limit
    return {"name": name, "passed": passed, "detail": detail, "value": value, "limit": limit, "over": over}


def _latency_check(target: Target, bench: dict | None) -> dict:
    if not bench or "model" not in bench:
        return _check("target_latency", False, "no latency measured: the recipe needs a benchmark step after convert")
    model = bench["model"]["stats"]["median_ms"]
    base = (bench.get("baseline_float32") or {}).get("stats", {}).get("median_ms")
    limit = target.budget_ms(base)
    if limit is None:
        return _check("target_latency", False, f"latency {target.latency_ratio:g}x the float baseline's, but the "
                      "baseline was not timed (benchmark baseline: true, convert baseline: true)", model)
    what = (f"{target.latency_ratio:g}x the float baseline's {base:.3f} ms = {limit:.3f} ms"
            if target.latency_ms is None else f"{limit:.3f} ms")
    if model <= limit:
        return _check("target_latency", True, f"median {model:.3f} ms <= {what}", model, limit)
    return _check("target_latency", False, f"median {model:.3f} ms > {what}: {model - limit:.3f} ms "
                  f"({(model - limit) / limit:.0%}) over", model, limit)


def _size_check(limit_kb: float, path: Path | None) -> dict:
    if path is None or not path.is_file():
        return _check("target_size", False, "no converted file: the recipe needs a convert step")
    kb = path.stat().st_size / 1024
    if kb <= limit_kb:
        return _check("target_size", True, f"{path.name} {kb:.1f} KiB <= {limit_kb:g} KiB", kb, limit_kb)
    return _check("target_size", False, f"{path.name} {kb:.1f} KiB > {limit_kb:g} KiB: {kb - limit_kb:.1f} KiB "
                  f"({(kb - limit_kb) / limit_kb:.0%}) over", kb, limit_kb)


def _edgetpu_check(path: Path | None, device_info: dict | None) -> dict:
    from edgeloop.converters import read_model, verify
    from edgeloop.converters.edgetpu import analyze
    from edgeloop.converters.edgetpu_compiler import runtime_version_from_info

    if path is None or not path.is_file():
        return _check("target_edgetpu", False, "no converted file: the recipe needs a convert step")
    info = read_model(path.read_bytes())
    io = {info.tensors[i].dtype for i in (*info.inputs, *info.outputs)}
    io_type = next(iter(io)) if len(io) == 1 and io <= {"int8", "uint8"} else "int8"
    failed = [c for c in verify(info, mode="int8", io_type=io_type) if not c.passed]
    if failed:
        return _check("target_edgetpu", False, f"{path.name} is not full int8: "
                      + "; ".join(f"{c.name}: {c.detail}" for c in failed))
    runtime = runtime_version_from_info(device_info)
    analysis = analyze(info, **({"runtime_version": runtime} if runtime else {}))
    if analysis.fully_mapped:
        return _check("target_edgetpu", True, f"full int8; all {len(analysis.ops)} ops predicted on the Edge TPU",
                      analysis.ops_on_cpu, 0)
    first = analysis.fixes[0] if analysis.fixes else ""
    return _check("target_edgetpu", False, f"{analysis.ops_on_cpu} of {len(analysis.ops)} ops predicted on the CPU "
                  f"({first})", analysis.ops_on_cpu, 0)
