"""Fixtures for the zoo tests."""

from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def _without_keras_traces():
    from edgeloop._tf import keras  # noqa: F401  (selects Keras 2 before tf_keras is imported below)
    from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope

    with keras_option_scope(save_traces=False):
        yield


@pytest.fixture
def untraced_export():
    """Convert without Keras' per-layer SavedModel traces: the same bytes, 2-7x faster.

    ``edgeloop.converters.tflite.convert`` hands the converter the Keras model, which saves
    it as a SavedModel only to hold its variables; saving traces every layer's call first
    (MobileNetV2 at 8x8: 21.7 s of conversion with the traces, 3.1 s without; DenseNet-121
    40 s and 23 s). The converter never uses those traces:
    ``test_conversion_is_the_same_without_keras_traces`` checks the files are identical.
    """
    with _without_keras_traces():
        yield


@pytest.fixture
def without_keras_traces():
    """The context manager itself, for a test that converts both ways."""
    return _without_keras_traces
