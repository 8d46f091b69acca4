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
        from edgeloop.device.devices import open_device
        from edgeloop.device.options import BenchmarkOptions
        from edgeloop.device.store import LatencyStore

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
        from edgeloop.device.latency import measure

        sha = hashlib.sha256(blob).hexdigest()
        record = self.records.get(sha)
        if record is None:
            result = measure(blob, [self.device], self.options, self.store, fresh=self.fresh)[0].result
            record = self.records[sha] = {"median_ms": result.stats.median_ms, "features": None}
        if features is not None and record["features"] is None:
            record["features"] = features
            self.store.put_features(sha, features)
        return record["median_ms"]

    def profile(self, blob: bytes) -> list[dict]:
        """Every op's latency on the device (op profiling): rows with ``index``, ``op``, ``layer`` (the
        Keras layer it came from) and ``median_ms``."""
        import dataclasses

        from edgeloop.device.latency import measure

        from edgeloop.converters import read_model

        options = dataclasses.replace(self.options, op_profiling=True)
        result = measure(blob, [self.device], options, self.store, fresh=self.fresh)[0].result
        ops = read_model(blob).ops  # each op's Keras layer, by its output's or its weights' name
        return [{**row, "layer": ops[row["index"]].layer} for row in result.op_profile]

    def samples(self) -> tuple[list[dict], list[float]]:
        """Features and median latencies of every model the store holds for this device."""
        from edgeloop.device.latency import device_key

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
        # A copy the store already holds (the same widths twice, or the original measured
        # before) adds no sample: keep drawing until there are enough, within reason.
        variants = narrowed_variants(model, 4 * self.seed_models, self.seed)
        while len(self.meter.samples()[0]) < self.seed_models:
            variant = next(variants, None)
            if variant is None:
                break
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
