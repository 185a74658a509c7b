"""What code a stage runs, as one hash: emlab modules by syntax tree, plus package versions.

A stage is stale when the code it runs changes behaviour. Neither Snakemake (which cannot
see code called from `shell:`) nor a DVC directory dependency (which also reacts to a
comment) gets this right, so both tools receive the same fingerprint as a setting:

- the emlab modules a stage imports, found by following `import` statements (at any
  depth, including imports inside functions) from the stage's entry modules, each hashed
  by its syntax tree with docstrings removed, so comments, docstrings and formatting do
  not count;
- the installed versions of the packages whose behaviour the results depend on.

Parsing and dumping syntax trees is most of a dry run's time, so each module's facts (its
tree hash and the emlab modules it may import) are kept by the sha256 of its name and
source: in memory, and on disk under `$EMLAB_CACHE_DIR` (default ~/.cache/emlab/modules),
where a changed file simply has another key.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
from functools import cache
from pathlib import Path

#: Packages whose version can change results (vllm only where installed).
PACKAGES = ("torch", "transformers", "peft", "openai", "vllm")

_SRC = Path(__file__).resolve().parents[1]  # src/emlab


def _module_path(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != "emlab":
        return None
    base = _SRC.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _cache_dir() -> Path:
    return Path(os.environ.get("EMLAB_CACHE_DIR") or Path.home() / ".cache" / "emlab") / "modules"


def _facts(module: str) -> tuple[str, frozenset[str]]:
    """(tree hash, emlab modules it may import) of a module's current source."""
    path = _module_path(module)
    if path is None:
        raise ValueError(f"{module}: no such emlab module")
    return _facts_of(module, path, path.read_text(encoding="utf-8"))


@cache
def _facts_of(module: str, path: Path, source: str) -> tuple[str, frozenset[str]]:
    key = hashlib.sha256(f"{module}\0{path.name}\0{source}".encode()).hexdigest()
    stored = _cache_dir() / key[:2] / f"{key}.json"
    try:
        facts = json.loads(stored.read_text(encoding="utf-8"))
        return facts["hash"], frozenset(facts["imports"])
    except (OSError, ValueError, KeyError):
        pass
    tree = ast.parse(source, filename=str(path))
    imports = _import_candidates(module, path, tree)
    digest = _tree_hash(tree)
    try:
        from emlab.io import write_text_atomic

        write_text_atomic(stored, json.dumps({"module": module, "hash": digest, "imports": sorted(imports)}))
    except OSError:
        pass  # a read-only cache only costs time
    return digest, frozenset(imports)


def _import_candidates(module: str, path: Path, tree: ast.Module) -> set[str]:
    """Names `module` imports that may be emlab modules (`from pkg import name` gives pkg and
    pkg.name; importing a.b.c runs a and a.b too); `_imports` keeps those that exist."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("emlab"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("emlab"):
                continue
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    for name in list(found):
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return found


def _imports(module: str) -> set[str]:
    """emlab modules `module` imports."""
    return {m for m in _facts(module)[1] if _module_path(m)}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (imports for type hints never run)."""
    nodes: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def _expand(entry: str) -> list[str]:
    """`pkg.*` is every module of a package; a module name is itself, with its parent packages."""
    if entry.endswith(".*"):
        package = entry[:-2]
        folder = _SRC.joinpath(*package.split(".")[1:])
        return [package] + [f"{package}.{p.relative_to(folder).with_suffix('').as_posix().replace('/', '.')}"
                            for p in sorted(folder.rglob("*.py")) if p.name != "__init__.py"]
    parts = entry.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def module_closure(entries: tuple[str, ...]) -> list[str]:
    """Every emlab module reachable by imports from `entries` (importing a module runs its
    parent packages' `__init__` too, so they and their imports count), sorted."""
    seen: set[str] = set()
    todo = [m for e in entries for m in _expand(e)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = _module_path(module)
        if path is None:
            raise ValueError(f"{module}: no such emlab module")
        seen.add(module)
        todo.extend(_imports(module) - seen)
    return sorted(seen)


def _strip_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _tree_hash(tree: ast.Module) -> str:
    tree = _strip_docstrings(tree)
    return hashlib.sha256(ast.dump(tree, annotate_fields=True, include_attributes=False).encode()).hexdigest()


def module_hash(module: str) -> str:
    """sha256 of a module's syntax tree without docstrings (comments never reach the tree)."""
    return _facts(module)[0]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def code_fingerprint(entries: tuple[str, ...]) -> dict[str, object]:
    """The code identity of a stage: one hash over its modules' trees, and package versions."""
    modules = module_closure(entries)
    digest = hashlib.sha256(json.dumps({m: module_hash(m) for m in modules}, sort_keys=True).encode()).hexdigest()
    return {"emlab": digest, "modules": len(modules), "packages": package_versions()}
