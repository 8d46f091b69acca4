"""What steps leave for later steps: a typed record instead of string keys.

``ctx.state`` is a :class:`RunFacts`. A step writes ``ctx.state.pruned = {...}`` and a later
one reads ``ctx.state.pruned``; the run saves it in ``state.json`` (under ``"state"``) after
every step, so a resumed run sees the same facts. It still reads and writes as a mapping
(``ctx.state["pruned"]``, ``.get``), the form the pre-flight's planned facts take (a plain
dict) and the form ``state.json`` keeps; a key this version does not know (written by a
newer step) is kept as it is, in :attr:`RunFacts.other`.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(eq=False)
class RunFacts(MutableMapping):
    """The facts of one run; ``None`` means not set (and is not saved).

    Attributes:
        baseline_model: the model file saved before the first compressing step.
        sensitivity: the per-layer sparsities ``sensitivity`` chose (layer -> sparsity).
        pruned: what ``prune`` did (``layers``: layer -> sparsity, ``m_by_n`` …).
        clustered: what ``cluster`` did (``clusters``, ``layers``).
        qat: the scheme QAT used (``{"scheme": …}``).
        tflite: the converted file later steps use (``file``, ``mode``, ``io_type``, ``folded``).
        baseline_tflite: the float32 baseline's file.
        device_info: the device agent's ``/v1/info`` (its Edge TPU runtime sets ``-m``).
        edgetpu: what ``compile`` wrote (``files``).
        trained_epochs: epochs the ``train`` steps ran (a width baseline trains as long).
        netadapt: where the ``netadapt`` step keeps its search (``folder``).
        latency_store: the latency store the run adds to (``path``) and the measurements it
            added and the store answered.
        other: keys this version does not know, kept as they are.
    """

    baseline_model: str | None = None
    sensitivity: dict | None = None
    pruned: dict | None = None
    clustered: dict | None = None
    qat: dict | None = None
    tflite: dict | None = None
    baseline_tflite: str | None = None
    device_info: dict | None = None
    edgetpu: dict | None = None
    trained_epochs: int | None = None
    netadapt: dict | None = None
    latency_store: dict | None = None
    other: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict | None) -> "RunFacts":
        """The facts ``state.json`` holds (a plain mapping)."""
        facts = cls()
        for key, value in (data or {}).items():
            facts[key] = value
        return facts

    def to_dict(self) -> dict:
        """Plain data for ``state.json``: the facts that are set."""
        return dict(self.items())

    @staticmethod
    def _known() -> tuple[str, ...]:
        return tuple(f.name for f in fields(RunFacts) if f.name != "other")

    def __getitem__(self, key: str) -> Any:
        if key in self._known():
            value = getattr(self, key)
            if value is None:
                raise KeyError(key)
            return value
        return self.other[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self._known():
            setattr(self, key, value)
        else:
            self.other[key] = value

    def __delitem__(self, key: str) -> None:
        if key in self._known():
            if getattr(self, key) is None:
                raise KeyError(key)
            setattr(self, key, None)
        else:
            del self.other[key]

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self._known() if getattr(self, k) is not None)
        yield from self.other

    def __len__(self) -> int:
        return sum(1 for _ in self)
