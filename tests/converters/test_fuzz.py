"""A small seeded run of the fuzz harness (``python -m benchmarks.fuzz``) over inspect, check
and bench: malformed files never give a traceback, a hang, more than one error line or an
exit status outside 0-3. The 10,000-case run is the ``reliability`` benchmark's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ROOT


@pytest.mark.slow
def test_a_seeded_fuzz_run_breaks_no_rule(tflite_files, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in ("mappable", "leaky", "float", "float_io", "dynamic"):  # not `wide`: 8.8 MB per mutated copy
        (seeds / f"{name}.tflite").write_bytes(tflite_files[name].read_bytes())
    proc = subprocess.run([sys.executable, "-m", "benchmarks.fuzz", "--seed", "15", "--count", "120", "--jobs", "2",
                           "--subprocess-every", "12", "--models", str(seeds), "--out", str(tmp_path / "fuzz")],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    result = json.loads(proc.stdout)
    assert result["failures"] == [] and proc.returncode == 0, proc.stderr[-3000:]
    assert result["cases"] == result["passed"] == 120
    assert result["tracebacks"] == result["hangs"] == result["over_memory"] == 0
    # The run reached every family and command, and forked and fresh processes both.
    assert set(result["by_family"]) == {"truncate", "flip", "crafted", "special"}
    assert set(result["by_command"]) == {"inspect", "check", "bench"}
    assert result["by_mode"] == {"fork": 110, "subprocess": 10}
    assert set(result["exit_codes"]) <= {"0", "1", "2", "3"} and result["exit_codes"]["2"] > 0
