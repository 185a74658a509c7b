"""Find and load question sets: built-in names or paths to upstream-format YAML files.

    emlab questions list
    emlab questions show main

A set is named by a built-in name, a path to a YAML file (the set takes the file's stem as
its name), or `NAME=PATH` (the file at PATH under the name NAME: how the workflow passes a
params.yaml `question_files:` entry, so the answers' `question_set` is the grid's name).
Built-in sets live as YAML under `emlab/questions/sets/` (packaged with emlab), except
`in_distribution`, which is built from the held-out coding tasks (`emlab.datasets`).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml

from emlab.errors import EmlabError
from emlab.questions._in_distribution import IN_DISTRIBUTION, in_distribution_set
from emlab.questions._schema import QuestionSet, parse_question_set

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a question set name (a wildcard value)


def _builtin_yaml_names() -> list[str]:
    folder = resources.files("emlab.questions") / "sets"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def list_question_sets() -> list[str]:
    """Names of the built-in question sets."""
    return sorted([*_builtin_yaml_names(), IN_DISTRIBUTION])


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or " ".join(str(e).split())
        raise EmlabError(f"{source}: invalid YAML: {where}{problem}") from None


def load_question_set(name_or_path: str, *, upstream_dir: str | Path | None = None) -> QuestionSet:
    """Load a built-in set by name, or an upstream-format YAML file by path.

    Args:
        name_or_path: a name from `list_question_sets()`, a path ending in .yaml/.yml, or
            `NAME=PATH` (that file, named NAME).
        upstream_dir: the paper's release (`datasets.upstream_dir`); `in_distribution`
            uses the paper's tasks when it holds them.

    Returns:
        The validated set; its `name` is the built-in name or the file's stem.

    Raises:
        EmlabError: unknown name, missing file, or a bad question (file, id and field named).
    """
    if name_or_path == IN_DISTRIBUTION:
        return in_distribution_set(upstream_dir=upstream_dir)
    if name_or_path in _builtin_yaml_names():
        res = resources.files("emlab.questions") / "sets" / f"{name_or_path}.yaml"
        source = f"builtin:{name_or_path}"
        return parse_question_set(_load_yaml(res.read_text(encoding="utf-8"), source), name=name_or_path, source=source)
    name, sep, rest = name_or_path.partition("=")
    if sep and _NAME.match(name) and Path(rest).suffix in (".yaml", ".yml"):
        path = Path(rest)
        if not path.is_file():
            raise EmlabError(f"{path}: question set file not found (question set {name!r})")
        return parse_question_set(_load_yaml(path.read_text(encoding="utf-8"), str(path)), name=name, source=str(path))
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise EmlabError(f"{path}: question set file not found")
        return parse_question_set(_load_yaml(path.read_text(encoding="utf-8"), str(path)), name=path.stem, source=str(path))
    raise EmlabError(f"unknown question set {name_or_path!r}: use one of {', '.join(list_question_sets())} or a path to a .yaml file")
