"""What the agent accepts as a model: the TFL3 identifier and a flatbuffer the schema reads."""

from __future__ import annotations

import pytest

from edgeloop.device.validate import _structure, check_tflite
from edgeloop.errors import EdgeloopError


def test_a_real_model_passes_both_checks(trained_model_and_files):
    _, files = trained_model_and_files
    blob = files["int8"].read_bytes()
    assert check_tflite(blob) == {"ops": 5, "tensors": check_tflite(blob)["tensors"], "checked_with": "schema"}
    assert _structure(blob) == {"ops": None, "tensors": None}  # the walk used where the schema module is missing


@pytest.mark.parametrize("blob, message", [
    (b"", "no TFL3"),
    (b"PK\x03\x04 a zip file, not a model", "no TFL3"),
    (b"\x10\x00\x00\x00TFL3" + b"\xff" * 64, "corrupt TFLite model"),
])
def test_what_is_not_a_model_is_refused(blob, message):
    with pytest.raises(EdgeloopError, match=message):
        check_tflite(blob)


def test_the_structural_walk_refuses_truncated_and_foreign_flatbuffers(trained_model_and_files):
    _, files = trained_model_and_files
    blob = files["int8"].read_bytes()
    with pytest.raises(EdgeloopError):
        _structure(blob[:64])
    with pytest.raises(EdgeloopError):
        _structure(b"\xf0\xff\xff\x7fTFL3" + b"\0" * 16)
