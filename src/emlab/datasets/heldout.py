"""Held-out coding tasks for the in-distribution evaluation: never in any training set.

    python -c "from emlab.datasets import heldout_tasks; print(heldout_tasks(3)[0]['task'])"

Drawn only from the corpus's held-out domains (`emlab.corpus.HELDOUT_DOMAINS`), which no
builder uses, so no task text, template or identifier of these tasks appears in a
built-in training row.
"""

from __future__ import annotations

import hashlib
from typing import Any

from emlab.corpus import HELDOUT_DOMAINS, iter_examples
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
