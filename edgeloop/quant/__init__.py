"""Accuracy-aware quantization: where the int8 error comes from, and how to get less of it.

- :mod:`edgeloop.quant.fidelity`: output fidelity of a quantized model (top-1 agreement,
  mean |Δp|, output SNR, cosine);
- :mod:`edgeloop.quant.litert`: float ``.tflite`` -> int8 / int16x8 / weight-only / dynamic,
  op by op, through the LiteRT quantizer (float16 and sparse inputs folded first by
  :mod:`edgeloop.quant.prepare`);
- :mod:`edgeloop.quant.ranges`: activation ranges by min/max, percentile, MSE or KL;
- :mod:`edgeloop.quant.keras_transforms`: batch-norm folding, cross-layer equalization,
  bias correction and AdaRound on the float Keras model;
- :mod:`edgeloop.quant.report`: per-tensor error of the quantized model, ranked and plotted;
- :mod:`edgeloop.quant.mixed`: per-op precisions under an accuracy budget (``mode: auto``).
"""
