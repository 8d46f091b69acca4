"""What the agent accepts as a model: a bounded walk of a TFLite flatbuffer's skeleton."""

from __future__ import annotations

import pytest

from edgeloop.device.validate import LIMITS, check_tflite
from edgeloop.errors import EdgeloopError


def test_a_real_model_passes_with_its_counts(trained_model_and_files):
    from edgeloop.converters import read_model

    _, files = trained_model_and_files
    blob = files["int8"].read_bytes()
    info = read_model(blob)  # the schema's reader, for reference
    assert check_tflite(blob) == {"subgraphs": 1, "buffers": check_tflite(blob)["buffers"], "ops": len(info.ops),
                                  "tensors": len(info.tensors)}


@pytest.mark.parametrize("blob, message", [
    (b"", "no TFL3"),
    (b"PK\x03\x04 a zip file, not a model", "no TFL3"),
    (b"\x10\x00\x00\x00TFL3" + b"\xff" * 64, "corrupt TFLite model"),
    (b"\xf0\xff\xff\x7fTFL3" + b"\0" * 16, "corrupt TFLite model"),
])
def test_what_is_not_a_model_is_refused(blob, message):
    with pytest.raises(EdgeloopError, match=message):
        check_tflite(blob)


def test_truncations_and_flipped_bytes_are_refused_with_an_edgeloop_error(trained_model_and_files):
    import random

    _, files = trained_model_and_files
    blob = files["int8"].read_bytes()
    with pytest.raises(EdgeloopError):
        check_tflite(blob[:64])
    rng = random.Random(0)
    for _ in range(300):
        damaged = bytearray(blob[:rng.randrange(8, len(blob) + 1)])
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            check_tflite(bytes(damaged))
        except EdgeloopError:
            pass  # refused with a message; anything else fails the test


def test_counts_past_the_limits_are_refused_before_the_walk(many_subgraphs):
    assert many_subgraphs["count"] > LIMITS["subgraphs"]
    with pytest.raises(EdgeloopError, match=f"{many_subgraphs['count']} subgraphs, more than this agent's limit"):
        check_tflite(many_subgraphs["blob"])
    small = {"subgraphs": many_subgraphs["count"]}
    assert check_tflite(many_subgraphs["blob"], small)["subgraphs"] == many_subgraphs["count"]
    with pytest.raises(EdgeloopError, match="more than 10 tensors"):
        check_tflite(many_subgraphs["blob"], {**small, "tensors": 10})
