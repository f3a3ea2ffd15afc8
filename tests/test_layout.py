"""The shape of the code, checked: imports point one way, no cycles, small modules, words defined once.

    services ──► agents ──► sandbox        (never the other way; services take errors from agents)
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("sandbox", "agents", "services")  # lowest first
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # alembic revisions are data, named by number
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path, *, top_level_only: bool) -> Iterator[tuple[str, int]]:
    """(module imported, line) for each labloop import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in LAYERS:
                yield name, node.lineno


def test_imports_point_one_way() -> None:
    wrong = []
    for module, path in MODULES.items():
        layer = LAYERS.index(module.split(".")[0])
        for imported, line in _imports(path, top_level_only=False):
            if LAYERS.index(imported.split(".")[0]) > layer:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {imported} (a higher layer)")
            if module.startswith("services") and imported == "sandbox.errors":
                wrong.append(f"{path.relative_to(ROOT)}:{line} takes errors from sandbox; import them from agents.errors")
    assert wrong == []


def test_no_module_imports_itself_back_through_others() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, path in MODULES.items():
        for imported, _line in _imports(path, top_level_only=True):
            target = imported
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in MODULES and target != module:
                graph[module].add(target)
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(graph[module]):
            if state.get(nxt) == 1:
                cycles.append(" → ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_passes_400_lines(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it along a seam you can name"


# Each vocabulary, as it would be retyped: every one must be spelled out in exactly one module.
WORDS = {
    "job statuses": (r'"queued",\s*"running"|queued\|running', "services/statuses.py"),
    "checkpoint statuses": (r'"pending",\s*"decided"|pending\|decided', "services/statuses.py"),
    "gate kinds": (r'"idea",\s*"code",\s*"finding"|idea\|code\|finding', "agents/state.py"),
    "decision actions": (r'"approve",\s*"reject",\s*"edit"|approve\|reject\|edit', "agents/checkpoints.py"),
    "gate policies": (r'"always",\s*"never",\s*"auto"|always\|never\|auto', "agents/context.py"),
    "strategies": (r'"search",\s*"llm"|search\|llm', "agents/context.py"),
    "the task-name pattern": (r"a-z0-9\]\[a-z0-9_\.-\]", "agents/task.py"),
}


@pytest.mark.parametrize("words", sorted(WORDS))
def test_each_vocabulary_is_defined_once(words: str) -> None:
    pattern, home = WORDS[words]
    code_lines = (
        (path, line) for path in MODULES.values()
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith(("#", "help=")) and "typer.Option" not in line
    )
    where = sorted({str(path.relative_to(ROOT)) for path, line in code_lines if re.search(pattern, line)})
    assert where == [home]
