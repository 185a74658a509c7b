"""Validate a finetuning dataset: every row `{"messages": [...]}` in the chat format.

    emlab dataset validate data/datasets/insecure.jsonl

Rules: exactly one key `messages`, a non-empty list of `{"role", "content"}` objects;
roles system/user/assistant; a system turn only first; then user and assistant
alternating, starting with user and ending with assistant; every content a non-empty
string. The first violation raises `EmlabError("<file>:<line>: messages[i].field: ...")`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from emlab.errors import EmlabError

ROLES = ("system", "user", "assistant")


def check_row(row: Any) -> str | None:
    """Return '<field>: <problem>' for the first rule `row` breaks, or None if valid."""
    if not isinstance(row, dict):
        return f"<row>: expected a JSON object, got {type(row).__name__}"
    extra = sorted(set(row) - {"messages"})
    if extra:
        return f"{extra[0]}: unknown key (a row holds only 'messages')"
    if "messages" not in row:
        return "messages: missing"
    msgs = row["messages"]
    if not isinstance(msgs, list) or not msgs:
        return "messages: expected a non-empty list"
    expect = "user"
    for i, m in enumerate(msgs):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            return f"{where}: expected an object with role and content"
        unknown = sorted(set(m) - {"role", "content"})
        if unknown:
            return f"{where}.{unknown[0]}: unknown key (a message holds role and content)"
        role = m.get("role")
        if role is None:
            return f"{where}.role: missing"
        if role not in ROLES:
            return f"{where}.role: unknown role {role!r}; expected one of {', '.join(ROLES)}"
        if role == "system":
            if i != 0:
                return f"{where}.role: a system turn may only come first"
        elif role != expect:
            return f"{where}.role: expected {expect!r} (turns alternate user/assistant, starting with user), got {role!r}"
        else:
            expect = "assistant" if role == "user" else "user"
        content = m.get("content")
        if content is None:
            return f"{where}.content: missing"
        if not isinstance(content, str):
            return f"{where}.content: expected a string, got {type(content).__name__}"
        if not content.strip():
            return f"{where}.content: empty"
    if msgs[-1]["role"] != "assistant":
        return f"messages[{len(msgs) - 1}].role: the last turn must be 'assistant', got {msgs[-1]['role']!r}"
    return None


def validate_rows(rows: Iterable[Any], source: str) -> int:
    """Check rows already in memory; errors name `source:<row number>`."""
    n = 0
    for n, row in enumerate(rows, start=1):
        problem = check_row(row)
        if problem:
            raise EmlabError(f"{source}:{n}: {problem}")
    return n


def validate_dataset(path: Path, *, allow_empty: bool = False) -> int:
    """Validate a JSONL dataset file and return its row count.

    Args:
        path: The JSONL file.
        allow_empty: Accept a file with no rows (the `base` variant's dataset).

    Raises:
        EmlabError: One line, `<file>:<line>: <field>: <problem>`, for the first bad row.
    """
    path = Path(path)
    if not path.exists():
        raise EmlabError(f"{path}: file not found")
    n = 0
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                raise EmlabError(f"{path}:{lineno}: <row>: blank line (one JSON object per line)")
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise EmlabError(f"{path}:{lineno}: <row>: invalid JSON ({e.msg} at column {e.colno})") from None
            problem = check_row(row)
            if problem:
                raise EmlabError(f"{path}:{lineno}: {problem}")
            n += 1
    if n == 0 and not allow_empty:
        raise EmlabError(f"{path}: no rows (an empty dataset is only valid for the base variant)")
    return n
