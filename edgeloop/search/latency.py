"""Where the search's latencies come from: the device, a look-up table, or a predictor.

Every source answers ``estimate(model) -> ms`` for a Keras model; the search uses it to
choose how many filters a proposal removes. Whatever the source, the models the search
keeps are also *measured* on the device (:class:`Meter`), and the report compares the
source's estimate of the final model with its measurement.

- ``measure``: convert the candidate to int8 and time it on the device (repeats of the same
  file are answered from memory and the latency store).
- ``lut``: NetAdapt's per-layer look-up table, built once from the device's op profiling
  and summed (:mod:`edgeloop.search.lut`).
- ``predictor``: a model of latency fitted on the device's stored measurements
  (:mod:`edgeloop.search.predictor`).
"""

from __future__ import annotations

import hashlib

import numpy as np

from edgeloop.search.predictor import LatencyPredictor, model_features

# Calibration only sets int8 scales; latency does not depend on them, so a few samples do.
TIMING_CALIBRATION = 8


def timing_blob(model, data) -> bytes:
    """``model`` as full int8 TFLite, calibrated on a few samples: good for timing only."""
    from edgeloop.converters.tflite import convert

    return convert(model, "int8", data.representative(min(TIMING_CALIBRATION, len(data.y_train))))


class Meter:
    """Measures converted models on the search's device, one at a time.

    Args:
        device: the device to measure on (``local``: this machine's LiteRT interpreter).
        threads: interpreter threads.
        warmup: untimed runs.
        runs: timed runs; the median is the latency.
    """

    def __init__(self, device: str = "local", threads: int = 1, warmup: int = 10, runs: int = 100) -> None:
        self.device = device
        self.threads = threads
        self.warmup = warmup
        self.runs = runs
        self.records: dict[str, dict] = {}  # sha256 -> {"median_ms", "features"}

    def median_ms(self, blob: bytes, features: dict | None = None) -> float:
        """The median latency of ``blob``; a file measured before is answered from memory."""
        from edgeloop.device.benchmark import benchmark

        sha = hashlib.sha256(blob).hexdigest()
        record = self.records.get(sha)
        if record is None:
            result = benchmark(blob, threads=self.threads, warmup=self.warmup, runs=self.runs)
            record = self.records[sha] = {"median_ms": result.stats.median_ms, "features": None}
        if features is not None and record["features"] is None:
            record["features"] = features
        return record["median_ms"]

    def samples(self) -> tuple[list[dict], list[float]]:
        """Features and latencies of every measurement that has its features."""
        rows = [r for r in self.records.values() if r["features"] is not None]
        return [r["features"] for r in rows], [r["median_ms"] for r in rows]


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
    """``predictor``: a latency model fitted on the device's measurements.

    When the device has too few measurements, ``prepare`` measures a spread of narrowed
    copies of the model first (every group at a uniform fraction, and at random fractions).

    Args:
        meter: measures on the device.
        data: for calibrating the measured copies.
        seed_models: narrowed copies measured when the store has too few measurements.
        seed: seeds the random fractions.
    """

    name = "predictor"

    def __init__(self, meter: Meter, data, seed_models: int = 12, seed: int = 0) -> None:
        self.meter = meter
        self.data = data
        self.seed_models = seed_models
        self.seed = seed
        self.predictor: LatencyPredictor | None = None

    def prepare(self, model) -> None:
        """Measure seed models if needed, then fit."""
        features, _ = self.meter.samples()
        if len(features) < self.seed_models:
            for variant in narrowed_variants(model, self.seed_models - len(features), self.seed):
                self.meter.median_ms(timing_blob(variant, self.data), model_features(variant))
        self.refit()

    def refit(self) -> None:
        """Fit again on every measurement the meter holds (the search adds some each iteration)."""
        self.predictor = LatencyPredictor.fit(*self.meter.samples())

    def estimate(self, model) -> float:
        """Predicted latency of ``model``."""
        if self.predictor is None:
            self.prepare(model)
        return self.predictor.predict(model_features(model))

    def describe(self) -> dict:
        """Coefficients, sample count and fit error."""
        p = self.predictor
        return {"source": self.name, **({"coefficients": p.coefficients, "samples": p.samples,
                                         "fit_median_relative_error": p.fit_error} if p else {})}


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
        """Measure the original, then op-profile the look-up table's design of narrowed copies."""
        from edgeloop.search.lut import build

        if self.table is None:
            original_ms = self.meter.median_ms(timing_blob(model, self.data), model_features(model))
            self.table = build(model, original_ms, lambda m: self.meter.profile(timing_blob(m, self.data)))

    def estimate(self, model) -> float:
        """The original's measured latency plus the change the table predicts."""
        return self.table.estimate(model)

    def describe(self) -> dict:
        """The table itself (kept in ``search.json``) and how it was built."""
        return {"source": self.name, **({"profiled_models": self.table.profiled_models, "table": self.table.to_dict()}
                                        if self.table else {})}


def narrowed_variants(model, count: int, seed: int):
    """``count`` copies of ``model`` with every prunable group narrowed: uniform fractions
    first (1.0 down to 0.25), then independent random fractions per group."""
    from edgeloop.search.proposals import narrowed, prunable_groups

    groups = prunable_groups(model)
    rng = np.random.default_rng(seed)
    uniform = list(np.linspace(1.0, 0.25, 6))
    for i in range(count):
        yield narrowed(model, uniform[i] if i < len(uniform) else list(rng.uniform(0.2, 1.0, size=len(groups))))
