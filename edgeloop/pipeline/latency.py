"""Every latency a run measures goes through the latency store (:mod:`edgeloop.host.store`).

The ``benchmark`` step, the measurements after every step (:mod:`edgeloop.pipeline.measure`)
and the ``netadapt`` step measure through :func:`edgeloop.host.latency.measure`: each
measurement is kept with the device's fingerprint, the benchmark options and the model's
SHA-256, so the store is the one place a latency predictor learns from, and a recipe run
adds to it. The store is the recipe's ``store:`` (a file), else the one ``edgeloop bench``
and ``edgeloop search`` use (``$XDG_CACHE_HOME/edgeloop/latency.sqlite``).
"""

from __future__ import annotations

from pathlib import Path

from edgeloop.pipeline.base import Context


class InProcessDevice:
    """This machine, timed in this process (no child process to start).

    For the quick per-step measurements, which time models the run has just converted
    and checked; the store keeps them apart from ``local`` (child-process) ones by ``kind``.
    """

    name = "local"
    kind = "inprocess"

    def info(self) -> dict:
        """This machine's fingerprint."""
        from edgeloop.device.fingerprint import collect

        return collect()

    def benchmark(self, model, options, progress=None):
        """Time ``model`` here with ``options``."""
        from edgeloop.device.benchmark import run_benchmark

        return run_benchmark(model, options, progress=progress)


def store_path(ctx: Context) -> str | None:
    """The store a run adds to: the recipe's ``store``, else ``None`` (the user's default store)."""
    recipe = ctx.recipe
    return getattr(recipe, "store", None) if recipe is not None else None


def open_store(ctx: Context):
    """The run's latency store, opened (and checked) once per run."""
    from edgeloop.host.store import LatencyStore

    cache = ctx.cache
    if "latency_store" not in cache:
        cache["latency_store"] = LatencyStore(store_path(ctx))
    return cache["latency_store"]


def measure_through_store(ctx: Context, model: bytes | str | Path, device, options, fresh: bool = False,
                          progress=None):
    """Measure ``model`` on ``device`` through the run's store; the :class:`~edgeloop.host.latency.Measurement`.

    A new measurement is added to the store; with ``fresh`` false, one the store holds for
    the same model, device and options answers instead. The run counts what it added in
    ``ctx.state.latency_store`` (the report's figures).
    """
    from edgeloop.host.latency import measure

    store = open_store(ctx)
    m = measure(model, [device], options, store, fresh=fresh, progress=progress)[0]
    if ctx.state.latency_store is None:
        ctx.state.latency_store = {"path": str(store.path), "added": 0, "answered": 0}
    counts = ctx.state.latency_store
    counts["added" if m.stored_id is not None else "answered"] += 1
    return m
