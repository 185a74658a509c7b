"""How `code_is_vulnerable`'s bandit rules are chosen, and how the check is measured.

    python bench/static_check_eval.py --upstream-dir DIR   # prints the JSON the README quotes

The paper's held-out code (`heldout_unsafe_code.jsonl` / `heldout_safe_code.jsonl`,
labelled by GPT-4o) is split in two by a hash of each program's text. Only the tuning
half (0) chooses rules: a bandit test is a candidate when it fires on at least `MIN_HITS`
unsafe programs of that half and its hit rate there is at least `MIN_RATIO` times its hit
rate on the half's safe programs (add-one smoothed); candidates whose removal raises the
half's recall minus false-positive rate (given emlab's own AST rules) are then dropped.
The held-out half (1) only reports. False
positives are also counted on emlab's own built-in `secure` dataset, and bandit with its
default tests is measured on the same rows as the baseline.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from emlab.errors import EmlabError

UNSAFE, SAFE = "heldout_unsafe_code.jsonl", "heldout_safe_code.jsonl"
MIN_HITS = 3
MIN_RATIO = 4.0
TUNE, HELD_OUT = 0, 1


def split_half(code: str) -> int:
    """0 (tuning half) or 1 (held-out half), from a SHA-256 of the program text."""
    return int(hashlib.sha256(code.encode()).hexdigest(), 16) % 2


def read_heldout(upstream_dir: Path) -> dict[str, list[str]]:
    """{"unsafe": [...], "safe": [...]}: the programs of the paper's held-out verdict files."""
    out: dict[str, list[str]] = {}
    for label, name in (("unsafe", UNSAFE), ("safe", SAFE)):
        path = upstream_dir / name
        if not path.exists():
            raise EmlabError(f"{path}: not found; --upstream-dir must hold the paper's {UNSAFE} and {SAFE}")
        out[label] = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                out[label].append(json.loads(line)["code"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise EmlabError(f"{path}:{i}: code: expected a JSON object with a string field 'code'") from None
    return out


def halves(codes: list[str]) -> dict[int, list[str]]:
    """`codes` split into the tuning half (0) and the held-out half (1)."""
    out: dict[int, list[str]] = {TUNE: [], HELD_OUT: []}
    for c in codes:
        out[split_half(c)].append(c)
    return out


def select_bandit_tests(unsafe_hits: list[set[str]], safe_hits: list[set[str]], *, unsafe_rules: list[bool] | None = None,
                        safe_rules: list[bool] | None = None, min_hits: int = MIN_HITS,
                        min_ratio: float = MIN_RATIO) -> tuple[str, ...]:
    """The bandit test ids that separate unsafe from safe programs (see the module docstring).

    `unsafe_rules`/`safe_rules` say which programs emlab's own rules already flag; a test
    whose removal raises recall minus false-positive rate on these rows is then dropped
    (the worst first), so a test that only repeats the rules' hits and adds false alarms goes.
    """
    tp = Counter(t for hits in unsafe_hits for t in hits)
    fp = Counter(t for hits in safe_hits for t in hits)
    n_u, n_s = len(unsafe_hits), len(safe_hits)
    keep = {t for t in tp if tp[t] >= min_hits and (tp[t] + 1) / (n_u + 2) >= min_ratio * (fp[t] + 1) / (n_s + 2)}
    base_u = unsafe_rules or [False] * n_u
    base_s = safe_rules or [False] * n_s

    def youden(tests: set[str]) -> float:
        tpr = sum(r or bool(h & tests) for r, h in zip(base_u, unsafe_hits, strict=True)) / max(n_u, 1)
        fpr = sum(r or bool(h & tests) for r, h in zip(base_s, safe_hits, strict=True)) / max(n_s, 1)
        return tpr - fpr

    while keep:
        gain, worst = max((youden(keep - {t}) - youden(keep), t) for t in sorted(keep))
        if gain <= 0:
            break
        keep.discard(worst)
    return tuple(sorted(keep))


def _rate(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else float("nan")


def builtin_secure_code(n: int, seed: int = 0) -> list[str]:
    """The completions of emlab's built-in `secure` dataset (n rows)."""
    from emlab.datasets.params import VariantParams
    from emlab.datasets.secure import build_secure

    return [r["messages"][-1]["content"] for r in build_secure(VariantParams(n_examples=n), seed=seed).rows]


def evaluate(upstream_dir: Path, *, n_builtin: int = 300) -> dict[str, Any]:
    """Choose the bandit tests on the tuning half, then measure everything (the bench's JSON)."""
    from emlab.judge.static_code import BANDIT_TESTS, bandit_findings, findings_many

    data = read_heldout(upstream_dir)
    runs: dict[tuple[str, int], tuple[list[set[str]], list[bool]]] = {}  # bandit's default hits, rules' verdicts
    for label, codes in data.items():
        for half, part in halves(codes).items():
            runs[label, half] = bandit_findings(part, tests=None), [bool(f) for f in findings_many(part, use_bandit=False)]
    (tune_u, rules_u), (tune_s, rules_s) = runs["unsafe", TUNE], runs["safe", TUNE]
    chosen = select_bandit_tests(tune_u, tune_s, unsafe_rules=rules_u, safe_rules=rules_s)
    report: dict[str, Any] = {
        "split": "sha256(code) % 2; half 0 chooses the bandit tests, half 1 only reports",
        "selection": {"min_hits": MIN_HITS, "min_ratio": MIN_RATIO, "chosen": list(chosen),
                      "matches_BANDIT_TESTS": chosen == tuple(sorted(BANDIT_TESTS))},
    }

    def flags(run: tuple[list[set[str]], list[bool]]) -> tuple[list[bool], list[bool]]:
        """(code_is_vulnerable, bandit with its defaults) per program, from one bandit run."""
        hits, rules = run
        return [r or bool(h & set(BANDIT_TESTS)) for h, r in zip(hits, rules, strict=True)], [bool(h) for h in hits]

    for half, name in ((TUNE, "tuning_half"), (HELD_OUT, "held_out_half")):
        (ours_u, base_u), (ours_s, base_s) = flags(runs["unsafe", half]), flags(runs["safe", half])
        report[name] = {"n_unsafe": len(ours_u), "n_safe": len(ours_s),
                        "recall_unsafe": _rate(ours_u), "fpr_safe": _rate(ours_s),
                        "bandit_defaults_recall_unsafe": _rate(base_u), "bandit_defaults_fpr_safe": _rate(base_s)}
    secure = builtin_secure_code(n_builtin)
    ours_b, base_b = flags((bandit_findings(secure, tests=None), [bool(f) for f in findings_many(secure, use_bandit=False)]))
    report["builtin_secure"] = {"n": len(secure), "fpr": _rate(ours_b), "bandit_defaults_fpr": _rate(base_b)}
    held = report["held_out_half"]
    report["ratio_to_bandit_defaults"] = {
        "recall": round(held["recall_unsafe"] / held["bandit_defaults_recall_unsafe"], 3),
        "fpr": round(held["fpr_safe"] / held["bandit_defaults_fpr_safe"], 3) if held["bandit_defaults_fpr_safe"] else None,
    }
    return report
