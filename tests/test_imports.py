"""TensorFlow is imported only where it is needed, and always with Keras 2 selected; no import cycles.

Dependencies point down (cli -> steps / search -> converters, device, models -> data,
report, _tf, errors): a module never imports, even inside a function, one that imports it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import edgeloop


def _modules_after(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_recipes_and_pipeline_registry_load_without_tensorflow():
    out = _modules_after(
        "import sys, edgeloop, edgeloop.cli, edgeloop.recipe, edgeloop.pipeline, edgeloop.presets, edgeloop.report\n"
        "print('tensorflow' in sys.modules)"
    )
    assert out.strip() == "False"


def test_tensorflow_comes_with_legacy_keras():
    out = _modules_after(
        "import os\nfrom edgeloop._tf import tf, keras\n"
        "print(os.environ['TF_USE_LEGACY_KERAS'], keras.__name__.split('.')[0], tf.keras.Model.__module__.split('.')[0])"
    )
    assert out.split() == ["1", "tf_keras", "tf_keras"]


def _edgeloop_imports() -> dict[str, set[str]]:
    """Each ``edgeloop`` module -> the ``edgeloop`` modules it imports, at the top or inside a
    function (a deferred import still ties the two modules together)."""
    root = Path(edgeloop.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, (path, is_package) in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                # ``from pkg import sub`` imports the submodule; ``from mod import name`` the module
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else known(base) for a in node.names)
        graph[name] = targets - {None, name}
    return graph


def _a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, …, a]``), or None when the graph has none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[module] = 2
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_edgeloop_has_no_import_cycle():
    graph = _edgeloop_imports()
    assert len(graph) > 100 and "edgeloop.device.agent" in graph["edgeloop.cli"]  # deferred imports are seen
    cycle = _a_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _a_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
