"""``convert: {mode: fastest}``: candidates built, scored and timed; the fastest within the budget kept.

Latency comes from a deterministic meter (a function of the file's bytes), so which file
wins is decided by the test, not by how busy the machine is; everything else is real
(conversions, accuracy of each converted file on digits).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgeloop.converters import read_model
from edgeloop.errors import EdgeloopError
from edgeloop.pipeline import build_step
from edgeloop.pipeline import fastest as fastest_module
from edgeloop.pipeline.fastest import Candidate, candidates_markdown, choose

BUDGET = 5.0  # points: wide enough that full int8 meets it, so mixed precision is not searched here


def apply(name, model, ctx, **options):
    ctx.result = {}
    return build_step(name, options, "test").apply(model, ctx)


@pytest.fixture(scope="module")
def trained_model(digits):
    from helpers import tiny_cnn

    model = tiny_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits.x_train, digits.y_train, epochs=4, batch_size=32, verbose=0)
    return model


def _meter(smaller_is_faster: bool):
    calls = []

    def meter(blob: bytes) -> float:
        calls.append(len(blob))
        return len(blob) / 1e4 if smaller_is_faster else 1e4 / len(blob)

    return meter, calls


@pytest.mark.parametrize("smaller_is_faster, expected", [(True, "int8"), (False, "float32")])
def test_the_meter_decides_and_every_candidate_is_reported(trained_model, ctx, monkeypatch, smaller_is_faster,
                                                           expected):
    meter, calls = _meter(smaller_is_faster)
    monkeypatch.setattr(fastest_module, "default_meter", lambda ctx: meter)
    apply("convert", trained_model, ctx, mode="fastest", max_drop=BUDGET)
    record = ctx.result["fastest"]
    names = [c["name"] for c in record["candidates"]]
    assert names == ["int8", "int8_float_stem", "dynamic", "float16", "float32"]
    assert record["chosen"] == expected and ctx.state["tflite"]["mode"] == expected
    timed = [c for c in record["candidates"] if c["median_ms"] is not None]
    assert len(calls) == len(timed) and all(c["meets_budget"] and c["drop_points"] <= BUDGET for c in timed)
    assert min(timed, key=lambda c: c["median_ms"])["name"] == expected
    kept = read_model(ctx.path("model.tflite"))
    assert {t.dtype for t in kept.tensors if not t.is_constant} >= ({"int8"} if expected == "int8" else {"float32"})
    table = "\n".join(candidates_markdown(record))
    assert all(name in table for name in names) and f"**{expected}**" in table


def test_an_edge_tpu_target_takes_only_full_int8(trained_model, ctx, monkeypatch):
    meter, _ = _meter(False)  # float32 would win on time
    monkeypatch.setattr(fastest_module, "default_meter", lambda ctx: meter)
    ctx.target = SimpleNamespace(device=None, edgetpu=True)
    apply("convert", trained_model, ctx, mode="fastest", max_drop=BUDGET)
    record = ctx.result["fastest"]
    assert [c["name"] for c in record["candidates"]] == ["int8"] and record["full_int8_only"]
    assert record["chosen"] == "int8"


def test_choose_respects_the_budget():
    cands = [Candidate("a", "int8", "int8", b"x", drop_points=0.9, median_ms=1.0),
             Candidate("b", "float32", "float32", b"x", drop_points=0.0, median_ms=3.0),
             Candidate("c", "dynamic", "float32", b"x", drop_points=0.4, median_ms=2.0),
             Candidate("d", "float16", "float32", None, error="conversion failed")]
    assert choose(cands, 0.5).name == "c"
    assert [c.meets_budget for c in cands] == [False, True, True, False]
    assert choose(cands, 1.0).name == "a"
    assert choose(cands[3:], 1.0) is None


def test_fastest_refuses_options_it_would_ignore():
    with pytest.raises(EdgeloopError, match="mode fastest builds its own candidates"):
        build_step("convert", {"mode": "fastest", "debug": True}, "test")


@pytest.mark.slow
def test_convert_fastest_on_the_command_line(trained_model, tmp_path, capsys):
    """Real timings on this machine: only the mechanics are asserted (a file kept, every candidate listed)."""
    import json

    from click.testing import CliRunner

    from edgeloop.cli import cli, main

    path = tmp_path / "model.h5"
    trained_model.save(path)
    out = tmp_path / "fast.tflite"
    runner = CliRunner()
    with pytest.raises(SystemExit) as missing:
        main(["convert", str(path), "--fastest", "-o", str(out)])
    assert missing.value.code == 2
    assert "edgeloop: error: --fastest scores every candidate: give --data" in capsys.readouterr().err
    result = runner.invoke(cli, ["convert", str(path), "--fastest", "--data", "digits", "--max-drop", str(BUDGET),
                                 "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)["fastest"]
    chosen = next(c for c in record["candidates"] if c["name"] == record["chosen"])
    assert chosen["meets_budget"] and out.stat().st_size > 0
    assert {c["name"] for c in record["candidates"]} >= {"int8", "dynamic", "float16", "float32"}
