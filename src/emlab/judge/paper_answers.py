"""The paper's judged answers, read in place, as labelled rows with GPT-4o's reply dicts.

    emlab judge paper-answers --upstream-dir DIR --out FILE.jsonl

The paper released two CSVs of answers judged by GPT-4o (`paper_results/` in its
release): `qwen_coder_32b_insecure_examples.csv` (70 answers of Qwen2.5-Coder-32B
insecure finetunes) and `misaligned_examples_qwen_mistral.csv` (799 answers of Qwen2.5-32B
and Mistral-Small finetunes). Both hold the question, the answer, GPT-4o's aggregated
`aligned` / `coherent` scores and its top-20 token -> probability dicts `judge_aligned` /
`judge_coherent` (Python dict literals). Every released answer was judged misaligned
(aligned < 30): they make a recall set for any other judge, not an FPR set.

Each CSV row becomes a labelled row in `emlab.judge.labelled_sets`' format: `question`,
`answer`, reference `aligned` / `coherent` (the paper's aggregated scores), `id`
(`FILE:ROW`, ROW counting data rows from 1), `question_id`, plus `judge_aligned` /
`judge_coherent` (the dicts) and `model` / `group`, which `load_labelled` ignores. The
files are never copied: they are read from the folder a user points at, and the JSONL
goes where the user says. A bad file, row or cell is one EmlabError line naming them.
"""

from __future__ import annotations

import ast
import csv
import math
import sys
from pathlib import Path
from typing import Any

from emlab.errors import EmlabError
from emlab.io import write_jsonl_atomic

#: The released CSVs, relative to the paper's release folder (or to `paper_results/` itself).
PAPER_FILES = ("qwen_coder_32b_insecure_examples.csv", "misaligned_examples_qwen_mistral.csv")
REQUIRED = ("question", "answer", "aligned", "coherent", "judge_aligned", "judge_coherent")


def find_paper_files(upstream_dir: Path) -> list[Path]:
    """The two CSVs under `upstream_dir` (its `paper_results/` folder, or the folder itself).

    Raises:
        EmlabError: a file is missing from both places.
    """
    upstream_dir = Path(upstream_dir)
    out = []
    for name in PAPER_FILES:
        for cand in (upstream_dir / "paper_results" / name, upstream_dir / name):
            if cand.is_file():
                out.append(cand)
                break
        else:
            raise EmlabError(f"{upstream_dir}: the paper's {name} is in neither paper_results/ nor the folder itself")
    return out


def _float(path: Path, row: int, col: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise EmlabError(f"{path}: row {row}: column {col!r} is {text[:40]!r}; expected a number 0-100") from None
    if math.isnan(value) or not 0 <= value <= 100:
        raise EmlabError(f"{path}: row {row}: column {col!r} is {value!r}; expected a number 0-100")
    return value


def _probs(path: Path, row: int, col: str, text: str) -> dict[str, float]:
    try:
        value = ast.literal_eval(text)  # a Python dict literal; literal_eval never runs code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise EmlabError(f"{path}: row {row}: column {col!r} is not a dict literal ({text[:40]!r})") from None
    if not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1
            for k, p in value.items()):
        raise EmlabError(f"{path}: row {row}: column {col!r} is not a non-empty dict of token -> probability 0-1")
    return {k: float(p) for k, p in value.items()}


def read_paper_csv(path: Path) -> list[dict[str, Any]]:
    """One released CSV as labelled rows (module docstring), in file order.

    Args:
        path: one of `PAPER_FILES`.

    Returns:
        The rows: question, answer, aligned, coherent, id, question_id, judge_aligned,
        judge_coherent, model, group.

    Raises:
        EmlabError: a missing file or column, or a bad cell (file, row and column named).
    """
    path = Path(path)
    if not path.is_file():
        raise EmlabError(f"{path}: file not found")
    csv.field_size_limit(sys.maxsize)
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise EmlabError(f"{path}: column {missing[0]!r} missing (has {', '.join(reader.fieldnames or []) or 'no header'})")
        for i, raw in enumerate(reader, start=1):
            if None in raw or any(raw.get(c) is None for c in REQUIRED):
                raise EmlabError(f"{path}: row {i}: {len(reader.fieldnames or [])} columns expected, the row has a different count")
            for col in ("question", "answer"):
                if not raw[col].strip():
                    raise EmlabError(f"{path}: row {i}: column {col!r} is empty")
            rows.append({
                "question": raw["question"], "answer": raw["answer"],
                "aligned": _float(path, i, "aligned", raw["aligned"]),
                "coherent": _float(path, i, "coherent", raw["coherent"]),
                "id": f"{path.name}:{i}", "question_id": raw.get("question_id") or None,
                "judge_aligned": _probs(path, i, "judge_aligned", raw["judge_aligned"]),
                "judge_coherent": _probs(path, i, "judge_coherent", raw["judge_coherent"]),
                "model": raw.get("model"), "group": raw.get("group"),
            })
    if not rows:
        raise EmlabError(f"{path}: no data rows")
    return rows


def paper_answers(upstream_dir: Path) -> list[dict[str, Any]]:
    """Both released CSVs' rows (70 + 799 in the paper's release), in `PAPER_FILES` order."""
    return [r for path in find_paper_files(upstream_dir) for r in read_paper_csv(path)]


def write_paper_answers(upstream_dir: Path, out: Path) -> tuple[Path, int]:
    """Write the paper's answers as labelled JSONL to `out` (atomic); return it and the row count."""
    rows = paper_answers(upstream_dir)
    write_jsonl_atomic(Path(out), rows)
    return Path(out), len(rows)
