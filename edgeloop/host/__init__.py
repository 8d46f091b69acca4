"""The host side of measuring: reaching devices, and keeping what they measured.

Beside :mod:`edgeloop.device` (what runs on the board), never imported by it:

- :mod:`~edgeloop.host.devices`: a device string (``local``, ``http://HOST:PORT``,
  ``adb:SERIAL``) made a device (:func:`open_device`);
- :mod:`~edgeloop.host.client`: the agent's HTTP client;
- :mod:`~edgeloop.host.android` and :mod:`~edgeloop.host.android_output`: a phone through
  ``adb`` and TFLite's ``benchmark_model``, and reading what that prints;
- :mod:`~edgeloop.host.store`: the latency store (SQLite);
- :mod:`~edgeloop.host.latency`: measuring through the store, and the regression gate;
- :mod:`~edgeloop.host.op_compare`: an int8 file and its float twin compared op by op;
- :mod:`~edgeloop.host.render`: ``edgeloop bench``'s tables (rich).

::

    from edgeloop.device import BenchmarkOptions
    from edgeloop.host import open_device

    device = open_device("local")
    report = device.benchmark("model.tflite", BenchmarkOptions(runs=50, op_profiling=True))
"""

from edgeloop.host.devices import open_device

__all__ = ["open_device"]
