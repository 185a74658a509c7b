"""No import cycles: shared types sit below the packages that use them (emlab.grid), and
`emlab.config` composes the stage sections at the top (STYLE.md rule 24).

The graph is read from the source by `emlab.workflow.fingerprint` (the same reading that
decides which code a stage runs): imports that execute, at any depth; imports made only
for type hints (`if TYPE_CHECKING:`) do not run and do not count.
"""

from __future__ import annotations

from emlab.workflow.fingerprint import _SRC, _imports


def modules() -> list[str]:
    names = []
    for path in sorted(_SRC.rglob("*.py")):
        names.append(path.relative_to(_SRC.parent).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__"))
    return names


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def module_graph() -> dict[str, set[str]]:
    graph = {}
    for m in modules():
        parents = {".".join(m.split(".")[:i]) for i in range(1, len(m.split(".")))}
        # a package's __init__ importing its own submodules is how packages work, not a cycle
        graph[m] = {t for t in _imports(m) if t != m and t not in parents}
    return graph


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "emlab"


def test_no_module_imports_itself_back():
    assert cycles(module_graph()) == []


def test_no_package_imports_another_both_ways():
    graph: dict[str, set[str]] = {}
    for m, targets in module_graph().items():
        graph.setdefault(package_of(m), set()).update(
            package_of(t) for t in targets if package_of(t) not in (package_of(m), "emlab"))
    assert cycles(graph) == []


def test_the_reader_sees_imports_inside_functions():
    """A cycle hidden in a function-level import still counts (it runs)."""
    graph = module_graph()
    assert "emlab.datasets" in graph["emlab.questions._in_distribution"] or \
        any(t.startswith("emlab.datasets") for t in graph["emlab.questions._in_distribution"])
