"""Typed step options built from a recipe's plain mapping.

A recipe is data, so every key is checked here: an unknown key is an error that lists the
valid ones, and a value of the wrong type is an error that says which type was expected.
Range checks belong to each options class's ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping

from edgeloop.errors import EdgeloopError, refuse_unknown_keys


def parse_options(cls: type, mapping: Mapping[str, Any] | None, where: str):
    """Build the dataclass ``cls`` from ``mapping``, refusing unknown keys and wrong types.

    Args:
        cls: a dataclass whose fields are the valid keys.
        mapping: the recipe's options (``None`` means all defaults).
        where: how to name the place in messages, e.g. ``"step 2 (prune)"``.

    Raises:
        EdgeloopError: unknown key, wrong type, or a value ``__post_init__`` refuses.
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):  # `- train: 5` in a recipe
        raise EdgeloopError(f"{where}: options must be a mapping such as {{epochs: 5}}, got {mapping!r}")
    mapping = dict(mapping)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    refuse_unknown_keys(mapping, fields, where)
    hints = typing.get_type_hints(cls)
    values = {key: _coerce(value, hints[key], f"{where}: option {key!r}") for key, value in mapping.items()}
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise EdgeloopError(f"{where}: {exc}") from None


def options_to_dict(options) -> dict:
    """The options as plain data, for reports and the run's saved recipe."""
    return dataclasses.asdict(options)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except EdgeloopError as exc:
                errors.append(str(exc))
        raise EdgeloopError(errors[0])
    if origin is typing.Literal:
        if value not in args:
            raise EdgeloopError(f"{where} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise EdgeloopError(f"{where} must be a list, got {value!r}")
        item = args[0] if args else Any
        return origin(_coerce(v, item, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise EdgeloopError(f"{where} must be a mapping, got {value!r}")
        return value
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise EdgeloopError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EdgeloopError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EdgeloopError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise EdgeloopError(f"{where} must be a string, got {value!r}")
        return value
    return value
