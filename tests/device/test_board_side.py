"""The board side (``edgeloop.device``) runs with numpy and an interpreter only.

What ``edgeloop[device]`` installs on a Coral, a Pi or a Jetson is numpy and a TFLite
interpreter: no TensorFlow, and nothing the host side uses (rich's tables, the SQLite
store, YAML recipes, ``edgeloop.host``). These tests make those modules unimportable
(a ``sys.meta_path`` finder that refuses them, installed by a ``sitecustomize`` so that
every process started with it, the agent's children included, has it) and then use the
real board code: every module imported, a real benchmark, the real agent over HTTP.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOKEN, start_agent

import edgeloop.device
from edgeloop.device.options import BenchmarkOptions
from edgeloop.host.client import AgentClient

# Top-level names a board does not have (tensorflow's and the host side's dependencies).
BLOCKED = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "rich", "sqlite3", "_sqlite3", "yaml",
           "sklearn", "scipy", "matplotlib", "optuna", "ray", "edgeloop.host")

_SITECUSTOMIZE = f'''
import importlib.abc, sys

BLOCKED = {BLOCKED!r}


class _Board(importlib.abc.MetaPathFinder):
    """Refuse what a board does not have."""

    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{name}} is not on the board")
        return None


sys.meta_path.insert(0, _Board())
'''


@pytest.fixture(scope="module")
def board_env(tmp_path_factory):
    """The environment of a process that runs as on a board (the finder on its path first)."""
    folder = tmp_path_factory.mktemp("board")
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    root = Path(edgeloop.device.__file__).resolve().parents[2]
    return {"PYTHONPATH": f"{folder}:{root}"}


def _board_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(edgeloop.device.__path__, "edgeloop.device."))


def test_the_finder_refuses_what_a_board_lacks(board_env):
    proc = subprocess.run([sys.executable, "-c", "import rich"], capture_output=True, text=True, timeout=60,
                          env={**_base_env(), **board_env})
    assert proc.returncode == 1 and "rich is not on the board" in proc.stderr


def test_every_board_module_imports_and_benchmarks_without_the_host_side(board_env):
    code = (
        "import importlib, json, sys, tempfile, os\n"
        f"for name in {_board_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "from edgeloop.device import child, fingerprint, validate\n"
        "from edgeloop.device.op_profile import tiny_model\n"
        "path = os.path.join(tempfile.mkdtemp(), 'add.tflite')\n"
        "open(path, 'wb').write(tiny_model())\n"
        "validate.check_tflite(open(path, 'rb').read())\n"
        "reply = child.handle({'task': 'benchmark', 'models': [path], 'options': {'runs': 5, 'warmup': 1}})\n"
        "print(json.dumps({'count': reply['stats']['count'], 'id': fingerprint.collect()['id'],\n"
        "                  'loaded': sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'rich', 'sqlite3'))}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**_base_env(), **board_env})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["count"] == 5 and len(out["id"]) == 16 and out["loaded"] == []
    assert {"edgeloop.device.agent", "edgeloop.device.child", "edgeloop.device.benchmark", "edgeloop.device.validate",
            "edgeloop.device.fingerprint", "edgeloop.device.interpreter"} <= set(_board_modules())


def test_the_agent_serves_a_benchmark_on_a_board(board_env, tmp_path, monkeypatch):
    from edgeloop.device.op_profile import tiny_model

    for key, value in board_env.items():
        monkeypatch.setenv(key, value)
    agent = start_agent(tmp_path / "agent")  # edgeloop agent serve, and its benchmark children, all with the finder
    try:
        client = AgentClient(agent.url, TOKEN)
        modules = set(client.info()["agent"]["modules"])
        result = client.benchmark(tiny_model(), BenchmarkOptions(runs=5, warmup=1))
    finally:
        agent.proc.terminate()
        agent.proc.wait(timeout=10)
    assert result.stats.count == 5 and result.source == "agent"
    assert "numpy" in modules and not modules & {"tensorflow", "rich", "sqlite3", "yaml"}


def _base_env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
