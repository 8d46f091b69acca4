"""An operator's builtin options (strides, padding, fused activation, axis …) as a dict.

The schema module generates one class per options table (``Conv2DOptions``,
``ResizeBilinearOptions`` …) with one accessor per field. Rather than a hand-written
list per op, every scalar accessor of the class the operator names is read, so new
fields of a newer schema show up by themselves. Enum fields come back as their names
(``"SAME"``, ``"RELU6"``), vectors as lists.
"""

from __future__ import annotations

import inspect as _pyinspect
import re
from functools import lru_cache

# Fields whose integers are enums of the schema, by the name the enum class has there.
_ENUM_FIELDS = {
    "padding": "Padding",
    "fused_activation_function": "ActivationFunctionType",
    "weights_format": "FullyConnectedOptionsWeightsFormat",
    "kernel_type": "LSTMKernelType",
    "mode": "MirrorPadMode",
}
_SKIP = ("Init", "GetRootAs")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@lru_cache(maxsize=None)
def _accessors(cls) -> tuple[tuple[str, str, bool], ...]:
    """(method, field name, is_vector) for every field accessor of an options class."""
    out = []
    for name, fn in vars(cls).items():
        if name.startswith("_") or name.startswith(_SKIP) or not callable(fn):
            continue
        if name.endswith(("Length", "IsNone", "BufferHasIdentifier")):
            continue
        params = list(_pyinspect.signature(fn).parameters)
        if name.endswith("AsNumpy"):
            out.append((name, _snake(name[: -len("AsNumpy")]), True))
        elif params == ["self"]:
            out.append((name, _snake(name), False))
    return tuple(out)


@lru_cache(maxsize=None)
def _enum_names(schema, enum_class: str) -> dict[int, str]:
    cls = getattr(schema, enum_class, None)
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)} if cls else {}


@lru_cache(maxsize=None)
def _option_classes(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOptions).items() if not k.startswith("_") and isinstance(v, int)}


def builtin_options(schema, op, budget=None) -> dict:
    """The builtin options of one ``schema.Operator`` as ``{field: value}`` (``{}`` if none).

    ``budget`` (a :class:`edgeloop.converters._limits.Budget`) is charged each vector's
    length before the vector is read.
    """
    kind = op.BuiltinOptionsType()
    if not kind:
        return {}
    cls = getattr(schema, _option_classes(schema).get(kind, ""), None)
    table = op.BuiltinOptions()
    if cls is None or table is None:
        return {}
    options = cls()
    options.Init(table.Bytes, table.Pos)
    values: dict = {}
    for method, field, is_vector in _accessors(cls):
        if is_vector and budget is not None:
            budget.take(getattr(options, method[: -len("AsNumpy")] + "Length")(), field)
        value = getattr(options, method)()
        if is_vector:
            values[field] = value.tolist() if hasattr(value, "tolist") else []
        elif isinstance(value, (bool, int, float)):
            enum = _ENUM_FIELDS.get(field)
            values[field] = _enum_names(schema, enum).get(value, value) if enum else value
    return values
