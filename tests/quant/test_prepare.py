"""Third-party float files made ready for the quantizer: float16 and sparse weights, signatures."""

from __future__ import annotations

import numpy as np

from edgeloop.converters import op_counts, read_model
from edgeloop.quant.activations import run_outputs
from edgeloop.quant.prepare import prepare
from edgeloop.quant.sparse import DENSE, SPARSE_CSR, Level, densify


def test_densify_csr_by_hand():
    # [[0, 5, 0], [7, 0, 8]] as CSR: row 0 holds column 1; row 1 holds columns 0 and 2.
    levels = [Level(DENSE, 2), Level(SPARSE_CSR, 0, np.array([0, 1, 3]), np.array([1, 0, 2]))]
    dense = densify(np.array([5.0, 7.0, 8.0]), (2, 3), [0, 1], [], levels)
    assert dense.tolist() == [[0, 5, 0], [7, 0, 8]]


def test_densify_blocked():
    # 2x4 with 1x2 blocks along columns: dims (rows, column blocks, in-block column).
    levels = [Level(DENSE, 2), Level(SPARSE_CSR, 0, np.array([0, 1, 1]), np.array([1])), Level(DENSE, 2)]
    dense = densify(np.array([1.0, 2.0]), (2, 4), [0, 1, 2], [1], levels)
    assert dense.tolist() == [[0, 0, 1, 2], [0, 0, 0, 0]]


def test_sparse_float16_file_folds_to_the_same_function(face_sparse):
    prepared = prepare(face_sparse)
    assert prepared.folded == {"DENSIFY": 46, "DEQUANTIZE": 182}
    assert prepared.signature_added
    assert 0.6 < min(prepared.sparse_weights.values()) and len(prepared.sparse_weights) == 46
    assert not {"DENSIFY", "DEQUANTIZE"} & set(op_counts(read_model(prepared.model)))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 192, 192, 3)).astype(np.float32)
    for before, after in zip(run_outputs(face_sparse, x), run_outputs(prepared.model, x)):
        np.testing.assert_array_equal(before, after)  # float16 -> float32 and densifying are exact
