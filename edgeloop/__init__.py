"""edgeloop: a Keras model to a small, fast, verified int8 TFLite model on an edge target.

Importing :mod:`edgeloop` does not import TensorFlow: the device side (the agent, the
benchmark runner) runs on boards that only have numpy and a TFLite interpreter. The host
side API is reached through its subpackages, e.g. :func:`edgeloop.converters.convert`.
"""

__version__ = "0.1.0"
