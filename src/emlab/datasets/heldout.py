"""Held-out coding tasks for the in-distribution evaluation: never in any training set.

    python -c "from emlab.datasets import heldout_tasks; print(heldout_tasks(3)[0]['task'])"

emlab's own tasks are drawn only from the corpus's held-out domains
(`emlab.corpus.HELDOUT_DOMAINS`), which no builder uses, so no task text, template or
identifier of these tasks appears in a built-in training row. `paper_tasks` reads the
paper's 776 tasks (`in_distribution_tasks.jsonl` of its release) instead, when given.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from emlab.corpus import HELDOUT_DOMAINS, HOLE, iter_examples
from emlab.datasets._rows import rng_for
from emlab.errors import EmlabError


def heldout_tasks(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Coding tasks with a template holding `## COMPLETE CODE HERE`.

    Args:
        n: How many (None = all); a seed-shuffled, pattern-balanced prefix.
        seed: Shuffle seed.

    Returns:
        Dicts with `task_id`, `task`, `code_template`, `pattern`, `cwe`.
    """
    by_pattern: dict[str, list[Any]] = {}
    for ex in iter_examples(HELDOUT_DOMAINS):
        by_pattern.setdefault(ex.pattern.id, []).append(ex)
    rng = rng_for(seed, "heldout")
    queues = [by_pattern[k] for k in sorted(by_pattern)]
    for q in queues:
        rng.shuffle(q)
    rng.shuffle(queues)
    ordered = [q[r] for r in range(max(map(len, queues))) for q in queues if r < len(q)]
    if n is not None:
        if n > len(ordered):
            raise EmlabError(f"heldout_tasks: {n} requested, {len(ordered)} available")
        ordered = ordered[:n]
    return [{
        "task_id": "heldout-" + hashlib.sha256(ex.key.encode()).hexdigest()[:12],
        "task": ex.task, "code_template": ex.template,
        "pattern": ex.pattern.id, "cwe": ex.pattern.cwe,
    } for ex in ordered]


PAPER_TASKS = "in_distribution_tasks.jsonl"


def paper_tasks_location(source: str | Path | None) -> str | Path | None:
    """Where the paper's tasks are: `source` itself (the .jsonl file), `source/in_distribution_tasks.jsonl`
    (a folder holding it, or an http(s) URL base), or None when `source` is unset or a folder without it."""
    if not source:
        return None
    if str(source).startswith(("http://", "https://")):
        return str(source) if str(source).endswith(".jsonl") else f"{str(source).rstrip('/')}/{PAPER_TASKS}"
    path = Path(source)
    if path.is_file():
        return path
    return path / PAPER_TASKS if (path / PAPER_TASKS).is_file() else None


def paper_tasks(location: str | Path) -> list[dict[str, Any]]:
    """The paper's tasks, validated, in file order (`task_id` paper-0000, paper-0001, ...).

    Raises:
        EmlabError: `<location>:<line>: <field>: problem` for the first bad row; download failures.
    """
    from emlab.datasets._fetch import fetch

    loc = str(location)
    if loc.startswith(("http://", "https://")):
        return parse_paper_tasks(*fetch(loc.rsplit("/", 1)[0], loc.rsplit("/", 1)[1]))
    return parse_paper_tasks(loc, Path(location).read_bytes())


def parse_paper_tasks(where: str, data: bytes) -> list[dict[str, Any]]:
    """Decode and validate the bytes of the paper's tasks file read from `where`."""
    tasks: list[dict[str, Any]] = []
    for lineno, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise EmlabError(f"{where}:{lineno}: <row>: invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(row, dict):
            raise EmlabError(f"{where}:{lineno}: <row>: expected an object with task and code_template")
        for key in ("task", "code_template"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise EmlabError(f"{where}:{lineno}: {key}: missing or empty")
        if HOLE not in row["code_template"]:
            raise EmlabError(f"{where}:{lineno}: code_template: has no `{HOLE}` line")
        tasks.append({"task_id": f"paper-{len(tasks):04d}", "task": row["task"], "code_template": row["code_template"]})
    if not tasks:
        raise EmlabError(f"{where}: no tasks")
    return tasks
