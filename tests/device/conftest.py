"""Real .tflite fixtures for the device tests, and a real agent process, made once per session."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "android"
TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="session")
def trained_model_and_files(tmp_path_factory, digits):
    from helpers import tiny_cnn
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    keras.utils.set_random_seed(0)
    model = tiny_cnn()
    model.compile(keras.optimizers.Adam(0.005), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, epochs=3, batch_size=32, verbose=0)
    d = tmp_path_factory.mktemp("tflite")
    files = {}
    for name, mode, io_type in (("int8", "int8", "int8"), ("uint8", "int8", "uint8"), ("float32", "float32", "float32")):
        files[name] = d / f"{name}.tflite"
        files[name].write_bytes(convert(model, mode, digits.representative(100), io_type=io_type))
    return model, files


def _convert_function(fn) -> bytes:
    from edgeloop._tf import tf

    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()


@pytest.fixture(scope="session")
def bad_models(tmp_path_factory):
    """Real converted models built to misbehave: one never returns, one needs ~2 GiB.

    ``hang``: a WHILE loop whose condition ``i > INT32_MIN`` stays true while the body
    adds 1 (it would take ~2**32 iterations to wrap). ``hog``: ReLU on a 1 x 16384 x 16384
    float input (1 GiB in, 1 GiB out), more than the test agent lets a benchmark use.
    """
    from edgeloop._tf import tf

    @tf.function(input_signature=[tf.TensorSpec([1], tf.int32)])
    def hang(x):
        return tf.while_loop(lambda i: tf.reduce_all(i > tf.int32.min), lambda i: i + 1, [x])

    @tf.function(input_signature=[tf.TensorSpec([1, 16384, 16384], tf.float32)])
    def hog(x):
        return tf.nn.relu(x) * 2.0

    d = tmp_path_factory.mktemp("bad")
    files = {"hang": d / "hang.tflite", "hog": d / "hog.tflite"}
    files["hang"].write_bytes(_convert_function(hang))
    files["hog"].write_bytes(_convert_function(hog))
    return files


def add_subgraphs(blob: bytes, extra: int, tensors_each: int = 1) -> bytes:
    """``blob`` with ``extra`` more subgraphs of ``tensors_each`` tensors (no operators),
    rebuilt with LiteRT's flatbuffer schema: a crafted model to test the upload bounds."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(blob, 0))
    for i in range(extra):
        graph = schema.SubGraphT()
        graph.tensors = []
        for j in range(tensors_each):
            tensor = schema.TensorT()
            tensor.shape, tensor.type, tensor.buffer, tensor.name = [1, 8], 0, 0, f"g{i}_t{j}".encode()
            graph.tensors.append(tensor)
        graph.inputs, graph.outputs, graph.operators, graph.name = [0], [0], [], f"g{i}".encode()
        model.subgraphs.append(graph)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="session")
def many_subgraphs(trained_model_and_files):
    """A real model with 299 empty subgraphs added: 300, past the agent's limit of 256."""
    _, files = trained_model_and_files
    return {"count": 300, "blob": add_subgraphs(files["float32"].read_bytes(), 299)}


class AgentProcess:
    """``edgeloop agent serve`` running in a subprocess on a free loopback port."""

    def __init__(self, proc: subprocess.Popen, url: str, cache: Path, log: Path) -> None:
        self.proc, self.url, self.cache, self.log = proc, url, cache, log

    def alive(self) -> bool:
        return self.proc.poll() is None


def start_agent(folder: Path, *extra: str, token: str | None = TOKEN) -> AgentProcess:
    """Start the real agent through the CLI; wait for the line that gives its address."""
    folder.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "edgeloop.cli", "agent", "serve", "--port", "0", "--cache-dir", str(folder / "cache")]
    if token:
        (folder / "token").write_text(token + "\n")
        args += ["--token-file", str(folder / "token")]
    else:
        args += ["--no-auth"]
    log = folder / "agent.log"
    proc = subprocess.Popen([*args, *extra], stdout=subprocess.PIPE, stderr=log.open("wb"),
                            env={**os.environ, "XDG_CACHE_HOME": str(folder / "xdg")})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline().decode()
            if "listening on" in line:
                url = line.split("listening on ")[1].split()[0]
                return AgentProcess(proc, url, folder / "cache", log)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"agent did not start: {log.read_text()}")


@pytest.fixture(scope="session")
def agent(tmp_path_factory):
    """One agent for the session: token required, 1 MB uploads, 2 waiting, 1 GiB per benchmark."""
    process = start_agent(tmp_path_factory.mktemp("agent"), "--queue", "2", "--grace", "4", "--max-upload-mb", "1",
                          "--memory-limit-mb", "1024", "--cache-mb", "8")
    yield process
    process.proc.terminate()
    process.proc.wait(timeout=10)
