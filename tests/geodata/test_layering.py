"""The layers read one way: geodata stores and reads and imports nothing from routing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import geodata
import routing

GEODATA = Path(geodata.__file__).parent
ROUTING = Path(routing.__file__).parent


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (top level, in functions and under TYPE_CHECKING)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def _modules(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _modules(GEODATA), ids=lambda p: str(p.relative_to(GEODATA)))
def test_geodata_module_imports_nothing_from_routing(path: Path) -> None:
    bad = [
        f"{path.name}:{line} imports {name}"
        for line, name in _imported_modules(path)
        if name == "routing" or name.startswith("routing.")
    ]
    assert not bad, "geodata/ stores and reads; it must not import routing/: " + "; ".join(bad)


def test_the_checker_sees_an_import_of_routing(tmp_path: Path) -> None:
    """The check above fails for the right reason: it finds each form of such an import."""
    sample = tmp_path / "bad.py"
    sample.write_text(
        "import routing.graph\nfrom routing.checks import Finding\n"
        "def f():\n    from routing import overlap\n",
        encoding="utf-8",
    )
    assert [n for _, n in _imported_modules(sample)] == [
        "routing.graph",
        "routing.checks",
        "routing",
    ]


def test_routing_has_no_import_cycle() -> None:
    """checks -> graph -> overlap and back (the old circle) or any other cycle in routing/."""
    edges: dict[str, set[str]] = {}
    for path in _modules(ROUTING):
        name = "routing." + ".".join(path.relative_to(ROUTING).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        edges[name] = {
            m for _, m in _imported_modules(path) if m.startswith("routing.") and m != name
        }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            pytest.fail("import cycle in routing/: " + " -> ".join(cycle))
