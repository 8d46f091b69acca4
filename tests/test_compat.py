"""Whole architectures through edgeloop, like timm's model tests (a representative subset;
``benchmarks/compat.py`` runs every ``tf_keras.applications`` constructor and the zoo)."""

from __future__ import annotations

import pytest

from edgeloop.doctor.compat import architectures, check_architecture

pytestmark = pytest.mark.slow


def test_the_list_holds_every_application_and_the_zoo():
    names = architectures()
    assert {"keras:MobileNetV2", "keras:Xception", "keras:EfficientNetB0", "zoo:resnet8"} <= set(names)
    assert len([n for n in names if n.startswith("keras:")]) >= 60


def test_a_small_zoo_model_goes_through_prune_qat_and_int8():
    row = check_architecture("zoo:resnet8", pipeline=True)
    assert row["ptq_int8"]["ok"] and row["edgetpu"]["maps_whole"]
    assert all(row[step]["ok"] for step in ("prune", "qat", "cluster", "filter_prune")), row
    assert row["pipeline"]["convert"] and row["pipeline"]["min_sparsity_in_file"] >= 0.49


@pytest.mark.parametrize("name, options, maps_whole", [
    ("keras:MobileNetV2", {"alpha": 0.35}, True),
    ("keras:MobileNetV3Small", {"minimalistic": False}, False),  # hard-swish has no Edge TPU kernel
])
def test_applications_convert_to_verified_int8_and_get_an_edge_tpu_verdict(name, options, maps_whole):
    row = check_architecture(name, options=options)
    assert row["builds"] and row["side"] == 32
    assert row["ptq_int8"] == {"ok": True, "why": "", "bytes": row["ptq_int8"]["bytes"]}
    assert row["edgetpu"]["maps_whole"] is maps_whole
    if not maps_whole:
        assert row["edgetpu"]["cut"].startswith("HARD_SWISH") and "no HARD_SWISH kernel" in row["edgetpu"]["why"]
    assert all(row[step]["ok"] for step in ("prune", "qat", "cluster", "filter_prune")), row


def test_an_architecture_that_does_not_build_is_a_row_with_its_reason():
    row = check_architecture("keras:NoSuchNet")
    assert row == {"name": "keras:NoSuchNet", "builds": False,
                   "why": "does not build here: no tf_keras.applications.NoSuchNet"}
