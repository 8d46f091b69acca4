"""The device side runs without TensorFlow: it must work on a board that has none."""

from __future__ import annotations

import json
import subprocess
import sys


def test_device_side_benchmarks_without_importing_tensorflow(trained_model_and_files):
    _, files = trained_model_and_files
    code = (
        "import sys, json\n"
        "import edgeloop.device, edgeloop.converters\n"
        "from edgeloop.device import benchmark, TFLiteModel\n"
        "from edgeloop.converters import read_model, verify\n"
        "import numpy as np\n"
        f"r = benchmark({str(files['int8'])!r}, warmup=1, runs=3)\n"
        f"p = TFLiteModel({str(files['int8'])!r}).predict(np.zeros((2, 8, 8, 1), np.float32))\n"
        f"ok = all(c.passed for c in verify(read_model({str(files['int8'])!r})))\n"
        "print(json.dumps({'tf': 'tensorflow' in sys.modules, 'runs': len(r.times_ms), 'shape': list(p.shape), 'ok': ok}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"tf": False, "runs": 3, "shape": [2, 10], "ok": True}


def test_the_agents_benchmark_process_runs_without_tensorflow(trained_model_and_files):
    _, files = trained_model_and_files
    request = {"task": "benchmark", "models": [str(files["int8"])], "options": {"runs": 5, "warmup": 1, "op_profiling": True},
               "memory_limit_mb": 1024}
    code = (
        "import io, json, sys\n"
        f"sys.stdin = io.StringIO({json.dumps(request)!r})\n"
        "from edgeloop.device import child\n"
        "child.main()\n"
        "print(json.dumps({'tf': 'tensorflow' in sys.modules}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    reply, modules = (json.loads(line) for line in proc.stdout.strip().splitlines()[-2:])
    assert reply["ok"] and reply["result"]["stats"]["count"] == 5 and len(reply["result"]["op_profile"]) == 5
    assert modules == {"tf": False}

