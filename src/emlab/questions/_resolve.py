"""Which file a question set name in params.yaml stands for: the one resolution every user shares.

    emlab config check params.yaml     # says in one line when a question file is missing

A name of `grid.question_sets` resolves, in this order, to
1. `question_files.<name>`: a YAML file in the upstream format named in params.yaml (e.g.
   the paper's `data/upstream/first_plot_questions.yaml`, copied there by
   `emlab dataset import`);
2. `questions/<name>.yaml` in the project folder;
3. the built-in set of that name (`emlab questions list`).

The config check, the workflow's settings (the file's content hash) and the argument the
verbs receive (`--question-set`) all come from `resolve_question_set`, so they cannot
disagree on which file a set is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from emlab.errors import EmlabError
from emlab.questions._loader import list_question_sets

SourceKind = Literal["question_files", "questions_dir", "builtin"]


@dataclass(frozen=True)
class QuestionSource:
    """Where one question set's questions come from.

    Attributes:
        name: the set's name in params.yaml (a wildcard value and the rows' `question_set`).
        kind: which of the three places it was found in.
        path: the file to hash (None for `in_distribution`, built in code).
        shown: how settings and reports name it (`data/upstream/x.yaml`, `questions/<n>.yaml`, `builtin:<n>`).
        arg: what the verbs take as `--question-set`.
    """

    name: str
    kind: SourceKind
    path: Path | None
    shown: str
    arg: str


def _builtin_path(name: str) -> Path:
    return Path(__file__).resolve().parent / "sets" / f"{name}.yaml"


def resolve_question_set(name: str, question_files: dict[str, str] | None, root: Path, *, where: str = "grid.question_sets") -> QuestionSource:
    """Resolve a question set name (see the module docstring for the order).

    Args:
        name: the set's name, as `grid.question_sets` writes it.
        question_files: params.yaml's `question_files:` (name -> path relative to `root`).
        root: the project folder (where params.yaml lives).
        where: the params field named in errors about an unknown name.

    Raises:
        EmlabError: a `question_files` entry whose file is missing, or a name found nowhere.
    """
    files = question_files or {}
    if name in files:
        written = files[name]
        path = Path(written) if Path(written).is_absolute() else root / written
        if not path.is_file():
            folder = Path(written).parent.as_posix() or "."
            raise EmlabError(f"question_files.{name}: {written} not found; run `emlab dataset import --from PAPER_DIR_OR_URL --out {folder}`")
        return QuestionSource(name, "question_files", path, written, f"{name}={written}")
    custom = root / "questions" / f"{name}.yaml"
    if custom.exists():
        shown = f"questions/{name}.yaml"
        return QuestionSource(name, "questions_dir", custom, shown, shown)
    if name in list_question_sets():
        builtin = _builtin_path(name)
        return QuestionSource(name, "builtin", builtin if builtin.exists() else None, f"builtin:{name}", name)
    raise EmlabError(f"{where}: unknown question set {name!r}; built-in: {', '.join(list_question_sets())}, "
                     f"or add questions/{name}.yaml, or name a file under question_files:")
