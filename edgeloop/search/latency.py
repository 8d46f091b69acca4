"""Where the search's latencies come from: the device, a look-up table, or a predictor.

Every source answers ``estimate(model) -> ms`` for a Keras model; the search uses it to
choose how many filters a proposal removes. Whatever the source, the models the search
keeps are also *measured* on the device (:class:`Meter`), and the report compares the
source's estimate of the final model with its measurement.

- ``measure``: convert the candidate to int8 and time it on the device (repeats of the same
  file are answered from memory and the latency store).
- ``lut``: NetAdapt's per-layer look-up table, built once from the device's op profiling
  and summed (:mod:`edgeloop.search.lut`).
- ``predictor``: the kernel latency predictor fitted on the device's op profiles and stored
  measurements (:mod:`edgeloop.latency`).
"""

from __future__ import annotations

import hashlib

import numpy as np

from edgeloop.search.predictor import model_features

# Calibration only sets int8 scales; latency does not depend on them, so a few samples do.
TIMING_CALIBRATION = 8


def timing_blob(model, data) -> bytes:
    """``model`` as full int8 TFLite, calibrated on a few samples: good for timing only."""
    from edgeloop.converters.tflite import convert

    # Hard-swish rewritten, as the convert step does by default: the latency is the file's that ships.
    return convert(model, "int8", data.representative(min(TIMING_CALIBRATION, len(data.y_train))), hard_swish="rewrite")


class Meter:
    """Measures converted models on the search's device, one at a time, through the latency store.

    A model the device has measured before with the same options is answered from the store
    (unless ``fresh``); within one search, a file measured once is answered from
    ``records``, which ``search.json`` keeps, so a resumed search sees the latencies the
    interrupted one saw.

    Args:
        device: ``local``, ``http://HOST:PORT`` (an agent) or ``adb:SERIAL``.
        threads: interpreter threads.
        warmup: untimed runs.
        runs: timed runs; the median is the latency.
        token: the agent's token.
        store: the latency store's file (default: the user's cache folder).
        fresh: measure again what the store already holds.
    """

    def __init__(self, device: str = "local", threads: int = 1, warmup: int = 10, runs: int = 100,
                 token: str | None = None, store: str | None = None, fresh: bool = False) -> None:
        from edgeloop.host.devices import open_device
        from edgeloop.device.options import BenchmarkOptions
        from edgeloop.host.store import LatencyStore

        self.spec = device
        self.device = open_device(device, token=token)
        # A generous limit: a measurement is of one model, and the device may be a slow board.
        self.options = BenchmarkOptions(threads=threads, warmup=warmup, runs=runs, time_limit_s=600.0)
        self.store = LatencyStore(store)
        self.fresh = fresh
        self.records: dict[str, dict] = {}  # sha256 -> {"median_ms", "features"}
        self._info: dict | None = None

    @property
    def info(self) -> dict:
        """The device's fingerprint (delegates, runtime …), asked once."""
        if self._info is None:
            self._info = self.device.info()
        return self._info

    @property
    def has_edgetpu(self) -> bool:
        """The device reports an Edge TPU it can load."""
        return bool(self.info.get("delegates", {}).get("edgetpu", {}).get("loads"))

    def median_ms(self, blob: bytes, features: dict | None = None) -> float:
        """The median latency of ``blob`` on the device."""
        from edgeloop.host.latency import measure

        sha = hashlib.sha256(blob).hexdigest()
        record = self.records.get(sha)
        if record is None:
            result = measure(blob, [self.device], self.options, self.store, fresh=self.fresh)[0].result
            record = self.records[sha] = {"median_ms": result.stats.median_ms, "features": None}
        known = record["features"] or self.store.get_features(sha) or {}
        if features is not None and any(k not in known for k in features):
            # A file measured before with fewer features (the kernels, say) gets the new ones too.
            record["features"] = {**known, **features}
            self.store.put_features(sha, record["features"])
        return record["median_ms"]

    def profile(self, blob: bytes) -> list[dict]:
        """Every op's latency on the device (op profiling): rows with ``index``, ``op``, ``layer`` (the
        Keras layer it came from) and ``median_ms``."""
        import dataclasses

        from edgeloop.host.latency import measure

        from edgeloop.converters import read_model

        options = dataclasses.replace(self.options, op_profiling=True)
        result = measure(blob, [self.device], options, self.store, fresh=self.fresh)[0].result
        ops = read_model(blob).ops  # each op's Keras layer, by its output's or its weights' name
        return [{**row, "layer": ops[row["index"]].layer} for row in result.op_profile]

    def samples(self) -> tuple[list[dict], list[float]]:
        """Features and median latencies of every model the store holds for this device."""
        from edgeloop.host.latency import device_key

        rows = self.store.featured_medians(device_key(self.device, self.info), self.options.key())
        return [f for f, _ in rows], [ms for _, ms in rows]


class MeasuredLatency:
    """``measure``: every estimate is a measurement on the device."""

    name = "measure"

    def __init__(self, meter: Meter, data) -> None:
        self.meter = meter
        self.data = data

    def prepare(self, model) -> None:
        """Nothing to build."""

    def estimate(self, model) -> float:
        """Convert ``model`` and time it on the device."""
        return self.meter.median_ms(timing_blob(model, self.data), model_features(model))

    def describe(self) -> dict:
        """What the report says of this source."""
        return {"source": self.name}


class PredictedLatency:
    """``predictor``: the kernel predictor (:mod:`edgeloop.latency`) fitted on the device.

    ``prepare`` op-profiles a few narrowed copies of the model (each kernel's time on the
    device, the regressors' training rows), then calibrates on whole copies measured
    farthest-first (:func:`edgeloop.latency.sampling.adapt`) until the predictor holds
    within 5 % on every one it did not see, at most ``seed_models``. Every measurement goes
    through the latency store, with the kernels of the file, so later searches on the device
    start from them. Estimates convert the candidate and read its kernels from the file.

    Args:
        meter: measures on the device.
        data: for calibrating the converted copies.
        seed_models: most whole copies measured for the calibration.
        seed: seeds the random widths of the copies.
        profiled_models: copies op-profiled for the kernels' regressors.
    """

    name = "predictor"

    def __init__(self, meter: Meter, data, seed_models: int = 12, seed: int = 0, profiled_models: int = 3) -> None:
        self.meter = meter
        self.data = data
        self.seed_models = seed_models
        self.seed = seed
        self.profiled_models = profiled_models
        self.predictor = None
        self.measured: list[tuple[list, float]] = []

    def prepare(self, model) -> None:
        """Op-profile copies, fit the kernels' regressors, calibrate on copies measured farthest-first."""
        from edgeloop.latency.kernels import kernels_of
        from edgeloop.latency.predictor import KernelPredictor
        from edgeloop.latency.sampling import adapt

        invoke = invoke_ms(self.meter)
        blobs = [timing_blob(v, self.data) for v in narrowed_variants(model, self.seed_models, self.seed)]
        kernels = [kernels_of(b) for b in blobs]
        # Uniform widths first (1.0 down), then random ones: the profiled copies span the widths.
        step = max(1, min(len(blobs), 6) // max(self.profiled_models, 1))
        profiled = list(range(0, min(len(blobs), 6), step))[: self.profiled_models]
        base = KernelPredictor.fit([(kernels[i], self.meter.profile(blobs[i])) for i in profiled], invoke)
        stored = self.stored()
        if len(stored) >= 3:  # the device was measured before (an earlier search): start from that
            base = base.recalibrated(stored)

        def measure(i: int) -> float:
            return self.meter.median_ms(blobs[i], {"kernels": [k.to_dict() for k in kernels[i]]})

        self.predictor, _ = adapt(base, kernels, measure, tolerance=0.05, least=3, most=self.seed_models)
        self.refit()

    def stored(self) -> list[tuple[list, float]]:
        """``(kernels, median ms)`` of every model the store holds for the device with its kernels."""
        from edgeloop.latency.kernels import Kernel

        features, medians = self.meter.samples()
        return [([Kernel.from_dict(k) for k in f["kernels"]], ms) for f, ms in zip(features, medians) if f.get("kernels")]

    def refit(self) -> None:
        """Calibrate again on every whole-model measurement of the device with kernels (the
        search adds some each iteration)."""
        self.measured = self.stored()
        if self.predictor is not None and self.measured:
            self.predictor = self.predictor.recalibrated(self.measured)

    def estimate(self, model) -> float:
        """Predicted latency of ``model``, from the kernels of its converted file."""
        from edgeloop.latency.kernels import kernels_of

        if self.predictor is None:
            self.prepare(model)
        return self.predictor.predict(kernels_of(timing_blob(model, self.data)))

    def describe(self) -> dict:
        """The predictor's calibration, its samples and its error on the measured models."""
        p = self.predictor
        if p is None:
            return {"source": self.name}
        errors = [abs(p.predict(k) / ms - 1) for k, ms in self.measured]
        return {"source": self.name, **p.describe(), "samples": len(self.measured),
                "fit_median_relative_error": float(np.median(errors)) if errors else None}


class LookupLatency:
    """``lut``: NetAdapt's per-layer look-up table from the device's op profiling (built once).

    Args:
        meter: measures and op-profiles on the device.
        data: for calibrating the profiled copies.
        table: a table built before (a resumed search), else built by :meth:`prepare`.
    """

    name = "lut"

    def __init__(self, meter: Meter, data, table: dict | None = None) -> None:
        from edgeloop.search.lut import LookupTable

        self.meter = meter
        self.data = data
        self.table = LookupTable.from_dict(table) if table else None

    def prepare(self, model) -> None:
        """Measure the original and the per-invoke cost, then op-profile the look-up table's
        design of narrowed copies."""
        from edgeloop.search.lut import build

        if self.table is None:
            original_ms = self.meter.median_ms(timing_blob(model, self.data), model_features(model))
            self.table = build(model, original_ms, lambda m: self.meter.profile(timing_blob(m, self.data)),
                               invoke_ms=invoke_ms(self.meter))

    def estimate(self, model) -> float:
        """Per-invoke cost plus the table's sum of the model's layers."""
        return self.table.estimate(model)

    def describe(self) -> dict:
        """The table itself (kept in ``search.json``) and how it was built."""
        return {"source": self.name, **({"profiled_models": self.table.profiled_models, "table": self.table.to_dict()}
                                        if self.table else {})}


def invoke_ms(meter: Meter) -> float:
    """What one invoke costs on the meter's device without its ops: a model of one tiny op,
    less what a second tiny op adds."""
    from edgeloop.device.op_profile import tiny_model

    one, two = meter.median_ms(tiny_model(1)), meter.median_ms(tiny_model(2))
    return max(2 * one - two, 0.0)


def narrowed_variants(model, count: int, seed: int):
    """``count`` copies of ``model`` with every prunable group narrowed: uniform fractions
    first (1.0 down to 0.25), then independent random fractions per group."""
    from edgeloop.search.proposals import narrowed, prunable_groups

    groups = prunable_groups(model)
    rng = np.random.default_rng(seed)
    uniform = list(np.linspace(1.0, 0.25, 6))
    for i in range(count):
        yield narrowed(model, uniform[i] if i < len(uniform) else list(rng.uniform(0.2, 1.0, size=len(groups))))
