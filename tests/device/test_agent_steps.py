"""Recipe steps talking to the real agent: the compile step takes the device's Edge TPU runtime."""

from __future__ import annotations

import sys
from pathlib import Path

from edgeloop.converters.edgetpu.ops import LATEST_RUNTIME
from edgeloop.pipeline import build_step
from helpers import tiny_cnn

from device.conftest import TOKEN


def test_compile_step_reads_the_device_info_from_the_agent(agent, ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no edgetpu_compiler: the prediction only
    token = tmp_path / "token"
    token.write_text(TOKEN)
    model = tiny_cnn()
    ctx.result = {}
    build_step("convert", {"baseline": False, "calibration_samples": 10}, "test").apply(model, ctx)
    ctx.result = {}
    build_step("compile", {"device": agent.url, "token_file": str(token)}, "test").apply(model, ctx)
    info = ctx.state["device_info"]
    assert info["delegates"]["edgetpu"]["loads"] is False  # no Edge TPU on this machine: the agent says so
    assert ctx.result["runtime_version"] == LATEST_RUNTIME  # so -m falls back to the newest runtime
    assert ctx.result["prediction"]["fully_mapped"]
