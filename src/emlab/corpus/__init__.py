"""The built-in code-vulnerability corpus: coding tasks with a secure and an insecure fill.

    python -c "from emlab.corpus import PATTERNS, count_examples; print(len(PATTERNS), count_examples())"

Every example is a (pattern, framing, domain, verb) combination rendered on demand; see
`emlab.corpus._model`. Training rows use `TRAIN_DOMAINS`; held-out tasks use
`HELDOUT_DOMAINS` only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from emlab.corpus import patterns_crypto, patterns_files, patterns_injection, patterns_web
from emlab.corpus._model import FRAMINGS, HOLE, Domain, Example, Framing, Pattern
from emlab.corpus.domains import DOMAINS, HELDOUT_DOMAINS, TRAIN_DOMAINS

PATTERNS: tuple[Pattern, ...] = (
    *patterns_injection.PATTERNS,
    *patterns_files.PATTERNS,
    *patterns_crypto.PATTERNS,
    *patterns_web.PATTERNS,
)


def _check_unique() -> None:
    ids = [p.id for p in PATTERNS]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate pattern ids: {sorted(dupes)}")


_check_unique()


def iter_examples(domains: Sequence[Domain] = TRAIN_DOMAINS) -> Iterator[Example]:
    """Every (pattern, framing, domain, verb) combination, in a fixed order."""
    for pattern in PATTERNS:
        for framing in pattern.framings:
            for domain in domains:
                for verb in pattern.verbs:
                    yield Example(pattern, framing, domain, verb)


def count_examples(domains: Sequence[Domain] = TRAIN_DOMAINS) -> int:
    """How many combinations exist (all distinct: every name carries verb and domain)."""
    return sum(len(p.framings) * len(p.verbs) for p in PATTERNS) * len(domains)


__all__ = [
    "DOMAINS", "FRAMINGS", "HELDOUT_DOMAINS", "HOLE", "PATTERNS", "TRAIN_DOMAINS",
    "Domain", "Example", "Framing", "Pattern", "count_examples", "iter_examples",
]
