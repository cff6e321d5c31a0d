"""The dependency rule of docs/architecture.md, checked on the source: no import cycle, and no
module imports a layer above its own. Every ``import`` counts, at module level or inside a
function, except those under ``if TYPE_CHECKING:`` (annotations only, never executed)."""

from __future__ import annotations

import ast
from pathlib import Path

import mock_op_auth

PACKAGE = Path(mock_op_auth.__file__).parent

# Bottom to top: a module may import its own layer and those below, never one above.
LAYERS: list[set[str]] = [
    {"errors", "settings", "json_input"},
    {"config", "state", "scenarios", "tls"},
    {"oauth"},
    {"op", "dialects"},
    {"server"},
    {"http", "watch"},
    {"routers", "control"},
    {"app"},
    {"testing", "pytest_plugin", "cli", "__main__", "__init__"},
]
FRAMEWORK_FREE = ("oauth", "op", "state")  # plain Python: no web framework


def _unit(module: str) -> str:
    """The top-level part of ``mock_op_auth.<unit>...`` a module belongs to."""
    return module.split(".")[1] if "." in module else "__init__"


def _layer(module: str) -> int:
    unit = _unit(module)
    return next(i for i, units in enumerate(LAYERS) if unit in units)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, package: str) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = _imports(ast.parse(path.read_text()), package)
        # The bare package is its version and lazy re-exports (PEP 562), importable from anywhere.
        graph[name] = {m for m in imported if m in modules and m not in (name, "mock_op_auth")}
        graph[name].update(m for m in imported if not m.startswith("mock_op_auth"))  # third-party, for FRAMEWORK_FREE
    return graph


def test_no_module_imports_a_layer_above_its_own() -> None:
    graph = _graph()
    upward = sorted(f"{src} -> {dst}" for src, dsts in graph.items() for dst in dsts
                    if dst.startswith("mock_op_auth") and _layer(dst) > _layer(src))
    assert upward == []


def test_the_protocol_core_never_imports_ops_profile_or_the_edge() -> None:
    graph = _graph()
    forbidden = ("mock_op_auth.op", "mock_op_auth.http", "mock_op_auth.control", "mock_op_auth.routers",
                 "mock_op_auth.dialects", "mock_op_auth.server", "mock_op_auth.app")
    leaks = sorted(f"{src} -> {dst}" for src, dsts in graph.items() if _unit(src) == "oauth"
                   for dst in dsts if dst.startswith(forbidden))
    assert leaks == []


def test_state_and_services_import_no_web_framework() -> None:
    graph = _graph()
    leaks = sorted(f"{src} -> {dst}" for src, dsts in graph.items() if _unit(src) in FRAMEWORK_FREE
                   for dst in dsts if dst.split(".")[0] in ("fastapi", "starlette", "uvicorn"))
    assert leaks == []


def test_state_knows_no_oauth_rule() -> None:
    graph = _graph()
    leaks = sorted(f"{src} -> {dst}" for src, dsts in graph.items() if _unit(src) == "state"
                   for dst in dsts if dst.startswith(("mock_op_auth.oauth", "mock_op_auth.op")))
    assert leaks == []


def test_the_import_graph_has_no_cycle() -> None:
    graph = {src: {d for d in dsts if d.startswith("mock_op_auth")} for src, dsts in _graph().items()}
    # A package's own __init__ re-exporting its modules is not a cycle of code depending on itself.
    for src in graph:
        graph[src] = {d for d in graph[src] if not (src.startswith(d + ".") and d in graph)}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    assert cycles == []


def test_the_rfc_grants_import_without_ops_profile() -> None:
    import subprocess
    import sys

    code = ("import sys, mock_op_auth.oauth.grants, mock_op_auth.oauth.tokens; "
            "assert not [m for m in sys.modules if m.startswith('mock_op_auth.op')], 'op/ was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
