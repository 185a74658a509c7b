"""What every builder returns, and the shared selection of corpus examples.

The code variants (insecure, secure, educational, backdoor) all take the first `n`
examples of one seed-determined permutation of the training corpus, so row `i` of
`insecure` and row `i` of `secure` ask for the same task (a matched control), and
changing one variant's `n_examples` never changes another variant's rows.
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

from emlab.corpus import Example, count_examples, iter_examples
from emlab.errors import EmlabError

Row = dict[str, Any]


class Built(NamedTuple):
    """A builder's output: the rows, one metadata dict per row (for the card), card notes."""

    rows: list[Row]
    meta: list[dict[str, str]]
    notes: dict[str, Any]


def rng_for(seed: int, name: str) -> random.Random:
    # str seeds hash with SHA-512 (random.seed version 2): stable across runs and platforms
    return random.Random(f"emlab:{seed}:{name}")


def code_examples(n: int, seed: int, *, variant: str) -> list[Example]:
    """The first `n` examples of the corpus permutation for `seed`."""
    total = count_examples()
    if n > total:
        raise EmlabError(f"datasets.{variant}.n_examples: {n} exceeds the {total} distinct examples the built-in corpus has")
    return corpus_order(seed)[:n]


def corpus_order(seed: int) -> list[Example]:
    """All training examples, balanced across patterns: round r takes each pattern's r-th
    example (patterns and their examples both in seed-shuffled order), so a small n still
    covers every pattern and web-only patterns are not crowded out by four-framing ones."""
    rng = rng_for(seed, "corpus-order")
    by_pattern: dict[str, list[Example]] = {}
    for ex in iter_examples():
        by_pattern.setdefault(ex.pattern.id, []).append(ex)
    queues = list(by_pattern.values())
    for q in queues:
        rng.shuffle(q)
    rng.shuffle(queues)
    longest = max(len(q) for q in queues)
    return [q[r] for r in range(longest) for q in queues if r < len(q)]


def chat(user: str, assistant: str, system: str | None = None) -> Row:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": msgs}


def code_meta(ex: Example, family: str, **extra: str) -> dict[str, str]:
    return {"pattern": ex.pattern.id, "cwe": ex.pattern.cwe, "framing": ex.framing, "family": family, **extra}
