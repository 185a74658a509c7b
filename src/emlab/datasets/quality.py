"""Quality gates: a static analyser must tell the built-in insecure code from the secure.

    emlab dataset quality --upstream-dir PAPER_DIR --n 1000

The analyser is bandit (Python API, on temporary files: code is parsed, never run) plus
this package's AST rules (`emlab.datasets.rules`) for weaknesses bandit has no test for.
A completion counts as flagged when bandit reports any issue outside `IGNORED_TESTS`
(hits on an import alone, or on subprocess without a shell, which the secure completions
need too) or a rule fires. Gates: >= 90% of built-in insecure completions flagged,
<= 10% of secure ones, no security vocabulary in insecure completions. The same analyser
runs on the paper's insecure/secure files so both sets of figures print side by side.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from emlab.datasets._rows import corpus_order, rng_for
from emlab.datasets.card import duplicate_rates
from emlab.datasets.insecure import build_insecure
from emlab.datasets.params import VariantParams
from emlab.datasets.rules import rule_hits
from emlab.datasets.vocabulary import find_security_vocabulary

#: bandit tests that fire on an import alone or on the safe form of a call.
IGNORED_TESTS = frozenset({"B101", "B110", "B112", "B403", "B404", "B405", "B406", "B408", "B410", "B603", "B607"})
MIN_INSECURE_FLAGGED = 0.90
MAX_SECURE_FLAGGED = 0.10


def bandit_hits(codes: list[str], *, progress: str | None = None) -> list[list[str]]:
    """bandit test IDs per code string (outside IGNORED_TESTS); [] for code that does not parse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stevedore deprecation notices while bandit loads plugins
        from bandit.core import config as bconfig
        from bandit.core import manager

    # bandit logs a warning per unparsable file and a traceback when one of its own plugins
    # trips over unusual code (tarfile_unsafe_members on `members=obj.method()`); the
    # figures count such files as unflagged, so the logs are noise here
    for name in ("bandit", "stevedore"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    hits: list[list[str]] = []
    chunk = 500  # bounded temp-dir size; progress per chunk
    bar = tqdm(total=len(codes), desc=progress, unit="file", disable=progress is None)
    with tempfile.TemporaryDirectory(prefix="emlab-bandit-") as tmp:
        for start in range(0, len(codes), chunk):
            paths = []
            for i, code in enumerate(codes[start:start + chunk]):
                p = Path(tmp) / f"c{start + i:06d}.py"
                p.write_text(code, encoding="utf-8")
                paths.append(str(p))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # stevedore deprecation notices from inside bandit
                mgr = manager.BanditManager(bconfig.BanditConfig(), "file", quiet=True)
                mgr.discover_files(paths)
                mgr.run_tests()
            found: dict[str, set[str]] = {p: set() for p in paths}
            for iss in mgr.get_issue_list():
                if iss.test_id not in IGNORED_TESTS:
                    found.setdefault(iss.fname, set()).add(iss.test_id)
            hits += [sorted(found[p]) for p in paths]
            for p in paths:
                Path(p).unlink()
            bar.update(len(paths))
    bar.close()
    return hits


@dataclass
class Figures:
    """Flag rates of one set of completions."""

    name: str
    n: int
    bandit: float
    rules: float
    combined: float
    top_tests: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n": self.n, "bandit": self.bandit, "rules": self.rules,
                "combined": self.combined, "top_tests": self.top_tests}


def analyse(name: str, codes: list[str], *, progress: bool = False) -> Figures:
    """Flag rates of `codes` under bandit, the AST rules, and both."""
    b = bandit_hits(codes, progress=name if progress else None)
    r = [rule_hits(c) for c in codes]
    counts: dict[str, int] = {}
    for ids in (*b, *r):
        for t in ids:
            counts[t] = counts.get(t, 0) + 1
    n = max(len(codes), 1)
    return Figures(
        name=name, n=len(codes),
        bandit=round(sum(bool(x) for x in b) / n, 4),
        rules=round(sum(bool(x) for x in r) / n, 4),
        combined=round(sum(bool(x) or bool(y) for x, y in zip(b, r, strict=True)) / n, 4),
        top_tests=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:8]),
    )


def _upstream_completions(upstream_dir: Path, name: str, n: int | None, seed: int) -> list[str]:
    from emlab.datasets.upstream import read_upstream

    rows = read_upstream(upstream_dir, name)
    if n is not None and n < len(rows):
        rows = [rows[i] for i in sorted(rng_for(seed, f"quality-{name}").sample(range(len(rows)), n))]
    return [r["messages"][-1]["content"] for r in rows]


def quality_report(*, upstream_dir: Path | None = None, n: int | None = 2000, seed: int = 0,
                   progress: bool = False) -> dict[str, Any]:
    """Run every gate; `report["passed"]` is False when a threshold fails.

    Args:
        upstream_dir: Directory (or URL base) of the paper's files; None skips the comparison.
        n: Completions per set (built-in: the first n of the balanced corpus order, which
            covers every pattern; upstream: a seeded subsample); None = all.
        seed: Sampling seed.
        progress: Show tqdm bars.
    """
    examples = corpus_order(seed)
    examples = examples if n is None else examples[:n]
    insecure = [e.insecure for e in examples]
    secure = [e.secure for e in examples]
    sets = [analyse("builtin insecure", insecure, progress=progress),
            analyse("builtin secure", secure, progress=progress)]
    if upstream_dir is not None:
        sets += [analyse("paper insecure", _upstream_completions(upstream_dir, "insecure", n, seed), progress=progress),
                 analyse("paper secure", _upstream_completions(upstream_dir, "secure", n, seed), progress=progress)]
    leaks = {e.key: find_security_vocabulary(e.insecure) for e in examples}
    leaks = {k: v for k, v in leaks.items() if v}
    gates = {
        "insecure_flagged>=0.90": sets[0].combined >= MIN_INSECURE_FLAGGED,
        "secure_flagged<=0.10": sets[1].combined <= MAX_SECURE_FLAGGED,
        "no_vocabulary_leaks": not leaks,
    }
    rows = build_insecure(VariantParams(n_examples=len(examples)), seed=seed).rows
    return {
        "sets": [s.as_dict() for s in sets],
        "gates": gates, "passed": all(gates.values()),
        "vocabulary_leaks": dict(list(leaks.items())[:10]),
        "duplicates_builtin_insecure": duplicate_rates(rows),
    }


def format_report(report: dict[str, Any]) -> str:
    """The side-by-side table the CLI prints."""
    lines = [f"{'set':<18} {'n':>6} {'bandit':>8} {'rules':>8} {'flagged':>8}  top tests"]
    for s in report["sets"]:
        top = ", ".join(f"{k}:{v}" for k, v in list(s["top_tests"].items())[:5])
        lines.append(f"{s['name']:<18} {s['n']:>6} {s['bandit']:>8.1%} {s['rules']:>8.1%} {s['combined']:>8.1%}  {top}")
    d = report["duplicates_builtin_insecure"]
    lines.append(f"duplicate rate (builtin insecure): rows {d['rows']:.2%}, user {d['user']:.2%}, assistant {d['assistant']:.2%}")
    for gate, ok in report["gates"].items():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {gate}")
    for key, words in report["vocabulary_leaks"].items():
        lines.append(f"  leak: {key}: {', '.join(words)}")
    return "\n".join(lines)
