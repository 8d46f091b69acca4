"""Why is the int8 file slower than the float32 one? The two compared op by op.

Each file is read (ops, the Keras layer each came from) and loaded in the interpreter with
the benchmark's delegate, whose node list says which ops the delegate's partitions took
(XNNPACK by default) and which fell out of them to the runtime's built-in kernels. With
the per-op times of an op-profiled benchmark (:mod:`edgeloop.device.op_profile`), the ops
are grouped by type and the int8 time set against the float time of the same ops: the op
types whose int8 ops cost more than their float ops, largest excess first, are named with
their layers, whether they fell out of the delegate, and the conversion option that fixes
them where one does. ``QUANTIZE`` / ``DEQUANTIZE`` ops the int8 file adds are counted and
timed as their own row.

Nothing here imports TensorFlow; the comparison itself needs only the two files and the
two benchmark results.
"""

from __future__ import annotations

from edgeloop.device.benchmark import BenchmarkResult, open_model
from edgeloop.device.delegates import DEFAULT_DELEGATE, delegated_indices
from edgeloop.device.options import BenchmarkOptions

# Where a conversion option removes the cause (see edgeloop.converters.hard_swish / float_stem).
FIXES = {
    "HARD_SWISH": "convert with hard_swish: rewrite (the default): x·ReLU6(DW1x1[w=1,b=3](x))/6, int8 ops XNNPACK runs",
    "stem": "try float_stem: true (the first convolution float), or mode: fastest to measure every candidate",
}
_CASTS = ("QUANTIZE", "DEQUANTIZE")


def file_ops(raw: bytes, result: BenchmarkResult, options: BenchmarkOptions | None = None) -> dict:
    """One file's ops: type, layer, delegated or not, per-op time; its partitions and totals.

    Args:
        raw: the ``.tflite`` bytes.
        result: its benchmark (``op_profile`` filled for per-op times; empty gives ``None``).
        options: the benchmark's delegate and threads (the result's own options by default).
    """
    from edgeloop.converters import read_model

    options = options or BenchmarkOptions(threads=result.threads, delegate=result.delegate)
    info = read_model(raw)
    nodes = open_model(raw, options)._get_ops_details()
    taken = delegated_indices(nodes)
    partitions = sum(1 for n in nodes if n["op_name"] == "DELEGATE")
    times = {row["index"]: row.get("median_ms") for row in result.op_profile}
    ops = []
    for op in info.ops:
        first_input = next((i for i in op.inputs if i >= 0 and not info.tensors[i].is_constant), None)
        channels = info.tensors[first_input].shape[-1] if first_input is not None and info.tensors[first_input].shape else None
        ops.append({"index": op.index, "op": op.name, "layer": op.layer, "delegated": op.index in taken,
                    "ms": times.get(op.index), "reads_input": first_input in info.inputs, "in_channels": channels})
    return {"median_ms": result.stats.median_ms, "partitions": partitions, "ops": ops,
            "delegate": (options.delegate or DEFAULT_DELEGATE.lower()).upper(),
            "not_delegated": _count(op["op"] for op in ops if not op["delegated"]) if partitions else {},
            "casts": _count(op["op"] for op in ops if op["op"] in _CASTS)}


def _count(names) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in names:
        out[name] = out.get(name, 0) + 1
    return out


def compare(int8: dict, float32: dict) -> dict:
    """The int8 file against the float32 one (both from :func:`file_ops`).

    Returns:
        ``{"speed": float ms / int8 ms, "int8": …, "float32": …, "by_op": [per op type],
        "culprits": [op types whose int8 ops cost more, worst first], "lines": [the verdict
        in words]}``.
    """
    types = list(dict.fromkeys(op["op"] for op in (*int8["ops"], *float32["ops"])))
    by_op = []
    for name in types:
        mine = [op for op in int8["ops"] if op["op"] == name]
        theirs = [op for op in float32["ops"] if op["op"] == name]
        by_op.append({
            "op": name, "int8_count": len(mine), "float32_count": len(theirs),
            "int8_ms": _total(mine), "float32_ms": _total(theirs),
            "int8_not_delegated": sum(1 for op in mine if not op["delegated"]) if int8["partitions"] else 0,
            "float32_not_delegated": sum(1 for op in theirs if not op["delegated"]) if float32["partitions"] else 0,
            "layers": list(dict.fromkeys(op["layer"] for op in mine if op["layer"]))})
    for row in by_op:
        row["extra_ms"] = (row["int8_ms"] or 0.0) - (row["float32_ms"] or 0.0)
    culprits = sorted((r for r in by_op if r["extra_ms"] > 0 and r["int8_count"]), key=lambda r: -r["extra_ms"])
    speed = float32["median_ms"] / int8["median_ms"] if int8["median_ms"] else None
    out = {"speed": speed, "int8": _summary(int8), "float32": _summary(float32), "by_op": by_op,
           "culprits": [_culprit(r, int8) for r in culprits]}
    out["lines"] = _lines(out)
    return out


def _total(ops: list[dict]) -> float | None:
    times = [op["ms"] for op in ops if op["ms"] is not None]
    return float(sum(times)) if times else None


def _summary(f: dict) -> dict:
    return {"median_ms": f["median_ms"], "partitions": f["partitions"], "delegate": f["delegate"],
            "ops": len(f["ops"]), "not_delegated": f["not_delegated"], "casts": f["casts"]}


def _culprit(row: dict, int8: dict) -> dict:
    why = []
    if row["int8_not_delegated"] > row["float32_not_delegated"]:
        why.append(f"{row['int8_not_delegated']} of {row['int8_count']} fell out of {int8['delegate']} to the "
                   "built-in kernels in int8")
    if row["op"] in _CASTS:
        why.append("added by quantization at float/int8 boundaries")
    elif row["int8_count"] > row["float32_count"]:
        why.append(f"{row['int8_count']} in the int8 file against {row['float32_count']} in the float32 one: ops "
                   "written differently (hard-swish rewritten, a float stem), compare the totals")
    stems = [op for op in int8["ops"] if op["op"] == row["op"] and op["reads_input"] and (op["in_channels"] or 9) <= 3]
    if stems and not why:
        why.append(f"includes the stem reading a {stems[0]['in_channels']}-channel input: int8 kernels with few input "
                   "channels can be slower than float on this CPU")
    fix = FIXES.get(row["op"]) or (FIXES["stem"] if stems else None)
    return {"op": row["op"], "count": row["int8_count"], "extra_ms": row["extra_ms"], "int8_ms": row["int8_ms"],
            "float32_ms": row["float32_ms"], "layers": row["layers"], "why": "; ".join(why) or
            "slower int8 kernels for these ops on this device", "fix": fix}


def _lines(c: dict) -> list[str]:
    i8, fl = c["int8"], c["float32"]
    speed = c["speed"]
    lines = [f"int8 {i8['median_ms']:.4f} ms against float32 {fl['median_ms']:.4f} ms: int8 runs at "
             f"{speed:.2f}x the float32 speed" if speed else "no whole-model timings to compare"]
    lines.append(f"{i8['delegate']} partitions: int8 {i8['partitions']}, float32 {fl['partitions']}; ops left to the "
                 f"built-in kernels: int8 {_names(i8['not_delegated'])}, float32 {_names(fl['not_delegated'])}")
    if i8["casts"]:
        lines.append(f"QUANTIZE / DEQUANTIZE in the int8 file: {_names(i8['casts'])}")
    if speed is not None and speed >= 1:
        lines.append("int8 is not slower than float32 here")
    for k in c["culprits"][:5]:
        layers = ", ".join(k["layers"][:4]) + (f" (+{len(k['layers']) - 4} more)" if len(k["layers"]) > 4 else "")
        line = (f"{k['op']} x{k['count']}: +{k['extra_ms']:.4f} ms in int8 ({k['int8_ms']:.4f} against "
                f"{k['float32_ms'] or 0:.4f} ms float): {k['why']}" + (f"; layers {layers}" if layers else ""))
        lines.append(line + (f"; fix: {k['fix']}" if k["fix"] else ""))
    return lines


def _names(counts: dict) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items()) or "none"


def compare_files(int8_path: str, float_path: str, devices: list, options: BenchmarkOptions, store=None,
                  fresh: bool = False) -> dict:
    """Measure both files with op profiling on each device (through the latency store) and compare them.

    Which ops a delegate took is read from this machine's interpreter with the same
    delegate; per-op and whole-model times are the device's.

    Returns:
        ``{device name: comparison}`` (see :func:`compare`).
    """
    import dataclasses

    from edgeloop.host import latency
    from edgeloop.device.benchmark import model_bytes

    options = dataclasses.replace(options, op_profiling=True)
    raws = {"int8": model_bytes(int8_path), "float32": model_bytes(float_path)}
    measured = {key: latency.measure(path, devices, options, store, fresh=fresh)
                for key, path in (("int8", int8_path), ("float32", float_path))}
    out = {}
    for i, device in enumerate(devices):
        ops = {key: file_ops(raws[key], measured[key][i].result, options) for key in raws}
        out[device.name] = compare(ops["int8"], ops["float32"])
    return out
