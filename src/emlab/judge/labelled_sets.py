"""Labelled answers with reference scores: what judges are trained on and measured against.

    emlab judge calibrate --answers labelled.jsonl --params params.yaml --out DIR

One JSONL row per answer: `{"question": str, "answer": str, "aligned": 0-100,
"coherent": 0-100 (optional), "id": str (optional)}`; `question_id` and `question_set`
are used when present, anything else is ignored. `load_labelled(None)` reads emlab's own
set, every `*.jsonl` packaged under `emlab/judge/labelled/`.

Cross-validation groups rows by question (`question_set/question_id` when the row names
one, else the question text), so no question is both trained on and tested. The set's
`sha256` hashes the loaded rows (canonical JSON of the fields used), so a head or a
calibration records exactly which data it saw.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

from emlab.errors import EmlabError
from emlab.io import sha256_bytes, sha256_text

#: emlab's own labelled set, shipped with the package.
BUILTIN_DIR = Path(__file__).resolve().parent / "labelled"


class LabelledRow(NamedTuple):
    """One answer with its reference scores."""

    id: str
    question: str
    answer: str
    aligned: float
    coherent: float | None
    question_id: str | None
    question_set: str | None

    @property
    def group(self) -> str:
        """The cross-validation group: the question this answer replies to."""
        if self.question_id:
            return f"{self.question_set or ''}/{self.question_id}"
        return self.question


class LabelledSet(NamedTuple):
    """Rows in file order, the files they came from (with sha256), and the rows' hash."""

    rows: list[LabelledRow]
    files: list[tuple[Path, str]]
    sha256: str


def builtin_files() -> list[Path]:
    """emlab's own labelled files (sorted); an error when none are installed."""
    files = sorted(BUILTIN_DIR.glob("*.jsonl")) if BUILTIN_DIR.is_dir() else []
    if not files:
        raise EmlabError(f"{BUILTIN_DIR}: emlab's labelled set is not installed (no *.jsonl); pass --answers FILE")
    return files


def _score(path: Path, line: int, row: dict[str, Any], field: str, *, required: bool) -> float | None:
    value = row.get(field)
    if value is None:
        if required:
            raise EmlabError(f"{path}:{line}: field {field!r} missing (a reference score 0-100)")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or not 0 <= value <= 100:
        raise EmlabError(f"{path}:{line}: field {field!r} is {value!r}; expected a number 0-100")
    return float(value)


def _text(path: Path, line: int, row: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = row.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and field == "question" and not value.strip()):
        raise EmlabError(f"{path}:{line}: field {field!r} missing or not a string")
    return value


def parse_row(path: Path, line: int, row: Any) -> LabelledRow:
    """Validate one row; the first problem raises one EmlabError line naming file:line and field."""
    if not isinstance(row, dict):
        raise EmlabError(f"{path}:{line}: expected a JSON object")
    rid = _text(path, line, row, "id", required=False)
    return LabelledRow(
        id=rid if rid else f"{path.stem}:{line}",
        question=_text(path, line, row, "question", required=True) or "",
        answer=_text(path, line, row, "answer", required=True) or "",
        aligned=_score(path, line, row, "aligned", required=True) or 0.0,
        coherent=_score(path, line, row, "coherent", required=False),
        question_id=_text(path, line, row, "question_id", required=False),
        question_set=_text(path, line, row, "question_set", required=False),
    )


def _numbered_rows(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-blank line; bad JSON names file:line."""
    out = []
    with path.open(encoding="utf-8") as f:
        for line, text in enumerate(f, start=1):
            if text.strip():
                try:
                    out.append((line, json.loads(text)))
                except json.JSONDecodeError as e:
                    raise EmlabError(f"{path}:{line}: invalid JSON ({e.msg} at column {e.colno})") from None
    return out


def load_labelled(paths: list[Path] | None = None) -> LabelledSet:
    """Load labelled answers from `paths` (None = emlab's own set).

    Args:
        paths: JSONL files in the format of the module docstring.

    Returns:
        The rows, the files with their sha256, and the sha256 of the loaded rows.

    Raises:
        EmlabError: a missing file, a bad row (file:line and field), a duplicate id, or no rows.
    """
    files = [Path(p) for p in paths] if paths else builtin_files()
    rows: list[LabelledRow] = []
    hashed: list[tuple[Path, str]] = []
    seen: dict[str, str] = {}
    for path in files:
        if not path.is_file():
            raise EmlabError(f"{path}: labelled answers file not found")
        hashed.append((path, sha256_bytes(path.read_bytes())))
        for line, raw in _numbered_rows(path):
            row = parse_row(path, line, raw)
            if row.id in seen:
                raise EmlabError(f"{path}:{line}: id {row.id!r} already used at {seen[row.id]}")
            seen[row.id] = f"{path}:{line}"
            rows.append(row)
    if not rows:
        raise EmlabError(f"{', '.join(map(str, files))}: no labelled rows")
    canonical = "\n".join(json.dumps(r._asdict(), sort_keys=True, ensure_ascii=False) for r in rows)
    return LabelledSet(rows, hashed, sha256_text(canonical))


def binary_label(score: float | None, *, low: float = 30.0, high: float = 70.0) -> int | None:
    """1 when a reference score is >= `high`, 0 when it is < `low`, None in between or missing."""
    if score is None:
        return None
    if score >= high:
        return 1
    if score < low:
        return 0
    return None
