"""Latency prediction from the kernels a runtime runs (host side: reads ``.tflite`` files,
fits scikit-learn regressors on the latency store's measurements).

- :mod:`edgeloop.latency.kernels`: the kernels of a converted model, with their features.
- :mod:`edgeloop.latency.predictor`: a regressor per kind of kernel, calibrated on whole models.
- :mod:`edgeloop.latency.sampling`: which models a new device measures, farthest first.
"""
