"""What every builder returns, and the shared selection of corpus examples.

The code variants take the first `n` examples of a seed-determined permutation of one
half of the training corpus. The halves split the naming domains (`TASK_POOLS`): the
`insecure` side (insecure, educational, the backdoor's triggered rows) and the `secure`
side (secure, the backdoor's untriggered rows) never share a task, as in the paper, whose
secure set came from other tasks than its insecure set. Row `i` of `educational` is the
task of row `i` of `insecure` (same assistant turn), and changing one variant's
`n_examples` never changes another variant's rows.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from emlab.corpus import TRAIN_DOMAINS, Domain, Example, count_examples, iter_examples
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


Pool = Literal["insecure", "secure"]
#: Which half of the task space each code variant draws from.
VARIANT_POOL: dict[str, Pool] = {"insecure": "insecure", "educational": "insecure", "secure": "secure"}


def _domain_rank(d: Domain) -> str:
    return hashlib.sha256(d.noun.encode()).hexdigest()


def _split_domains() -> dict[Pool, tuple[Domain, ...]]:
    ranked = sorted(TRAIN_DOMAINS, key=_domain_rank)
    half = len(ranked) // 2
    return {"insecure": tuple(ranked[:half]), "secure": tuple(ranked[half:])}


#: The training domains halved by the sha256 of their noun (fixed, seed-independent): a
#: task names its domain (its app, nouns and fields), so the halves share no task.
TASK_POOLS: dict[Pool, tuple[Domain, ...]] = _split_domains()


def pool_note(pool: Pool) -> dict[str, Any]:
    """The card's record of the split: which half, its domains, and how it is made."""
    return {"pool": pool, "domains": sorted(d.noun for d in TASK_POOLS[pool]),
            "examples_in_pool": count_examples(TASK_POOLS[pool]),
            "rule": "training domains halved by sha256(noun): insecure, educational and the backdoor's triggered "
                    "rows use the first half; secure and the backdoor's untriggered rows the second; no task in both"}


def code_examples(n: int, seed: int, *, variant: str, pool: Pool | None = None) -> list[Example]:
    """The first `n` examples of the permutation for `seed` of `pool` (default: the variant's)."""
    pool = pool or VARIANT_POOL[variant]
    domains = TASK_POOLS[pool]
    total = count_examples(domains)
    if n > total:
        raise EmlabError(f"datasets.{variant}.n_examples: {n} exceeds the {total} distinct examples the built-in corpus has "
                         f"on the {pool} side (its half of the tasks; the other half is kept for the {'secure' if pool == 'insecure' else 'insecure'} side)")
    return corpus_order(seed, domains)[:n]


def corpus_order(seed: int, domains: Sequence[Domain] = TRAIN_DOMAINS) -> list[Example]:
    """All training examples (of `domains`), balanced across patterns: round r takes each
    pattern's r-th example (patterns and their examples both in seed-shuffled order), so a
    small n still covers every pattern and web-only patterns are not crowded out by
    four-framing ones."""
    rng = rng_for(seed, "corpus-order")
    by_pattern: dict[str, list[Example]] = {}
    for ex in iter_examples(domains):
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
