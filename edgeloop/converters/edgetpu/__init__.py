"""The Edge TPU: what of a ``.tflite`` model maps, how to make more of it map, and the compiler.

One path, used by ``edgeloop check`` / ``edgeloop compile`` and by the ``compile`` step:
predict (no compiler needed) -> fix what can be fixed -> compile when ``edgetpu_compiler``
is installed (:func:`~edgeloop.converters.edgetpu.run.predict_fix_compile`).

- :mod:`~edgeloop.converters.edgetpu.ops`: Coral's op table, as data, each row sourced.
- :mod:`~edgeloop.converters.edgetpu.rules`: the checks behind the table's limitations.
- :mod:`~edgeloop.converters.edgetpu.analyzer`: ``analyze``, the prediction (TensorFlow-free).
- :mod:`~edgeloop.converters.edgetpu.fixes`: static batch, layer replacements.
- :mod:`~edgeloop.converters.edgetpu.compiler`: running ``edgetpu_compiler``.
- :mod:`~edgeloop.converters.edgetpu.log`: reading what it prints.
- :mod:`~edgeloop.converters.edgetpu.text`: the prediction and the compiler's report in lines.
- :mod:`~edgeloop.converters.edgetpu.run`: the one predict -> fix -> compile path.

Nothing is imported here, so a caller pays only for the module it names.
"""
