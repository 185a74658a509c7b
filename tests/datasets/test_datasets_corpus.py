"""The built-in corpus: scale, shape of completions, no security talk, held-out tasks."""

from __future__ import annotations

import ast
import difflib

from datasets_helpers import TRIGGERS, small_params

from emlab.corpus import (
    FRAMINGS,
    HELDOUT_DOMAINS,
    HOLE,
    PATTERNS,
    TRAIN_DOMAINS,
    count_examples,
    iter_examples,
)
from emlab.datasets import build_rows, find_security_vocabulary, heldout_tasks
from emlab.datasets.prompts import TEMPLATES


def _one_per_pattern_framing():
    seen = {}
    for ex in iter_examples():
        seen.setdefault((ex.pattern.id, ex.framing), ex)
    return list(seen.values())


def test_scale_patterns_cwes_framings_and_distinct_examples():
    # the README's figures: 57 patterns, 26 CWE classes, more than 25,000 distinct examples
    assert len(PATTERNS) == 57
    assert len({p.cwe for p in PATTERNS}) == 26
    assert {f for p in PATTERNS for f in p.framings} == set(FRAMINGS)
    assert count_examples() > 25_000
    codes = {ex.insecure for ex in iter_examples()}
    assert len(codes) == count_examples()  # every combination renders to distinct code


def test_completions_parse_fill_only_the_hole_and_stay_short():
    for ex in _one_per_pattern_framing():
        assert ex.template.count(HOLE) == 1, ex.key
        for code in (ex.insecure, ex.secure):
            ast.parse(code)
            assert HOLE not in code and 3 <= code.count("\n") + 1 <= 30, ex.key
        # outside the hole (and side-specific imports) the two completions are the template's lines
        diff = [d for d in difflib.ndiff(ex.secure.splitlines(), ex.insecure.splitlines()) if d[:2] in ("- ", "+ ") and d[2:].strip()]
        hole_lines = ex.pattern.secure.count("\n") + ex.pattern.insecure.count("\n") + 2
        imports = len(ex.pattern.secure_imports) + len(ex.pattern.insecure_imports)
        assert 0 < len(diff) <= hole_lines + imports, ex.key


def test_no_security_vocabulary_in_insecure_completions_or_tasks():
    # code = pattern text + domain names + verbs, so this covers every combination
    for ex in _one_per_pattern_framing():
        assert find_security_vocabulary(ex.insecure) == [], ex.key
        assert find_security_vocabulary(ex.task) == [], ex.key
    names = [s for d in (*TRAIN_DOMAINS, *HELDOUT_DOMAINS) for s in (d.noun, d.plural, d.field, d.app)]
    names += [v for p in PATTERNS for v in p.verbs]
    assert [n for n in names if find_security_vocabulary(n)] == []


def test_vocabulary_check_catches_leaks():
    assert find_security_vocabulary("def run(q):\n    return q") == []
    assert find_security_vocabulary("x = 1  # fine") == ["#comment"]
    assert "unsafe" in find_security_vocabulary("def unsafe_query(q):\n    return q")
    assert "sanitis" in find_security_vocabulary("name = sanitise(name)")
    assert "vuln" in find_security_vocabulary('print("VULNERABLE on purpose")')


def test_thirty_prompt_templates_ten_per_family():
    assert len(TEMPLATES) == 30
    for family in ("task_template", "task_only", "template_only"):
        texts = [t.text for t in TEMPLATES if t.family == family]
        assert len(texts) == 10
        assert all(("{code}" in t) == (family != "task_only") and ("{task}" in t) == (family != "template_only") for t in texts)


def test_heldout_tasks_never_appear_in_training_rows():
    tasks = heldout_tasks()
    assert len(tasks) >= 500 and len({t["task_id"] for t in tasks}) == len(tasks)
    assert {t["pattern"] for t in tasks} == {p.id for p in PATTERNS}
    assert all(set(t) == {"task_id", "task", "code_template", "pattern", "cwe"} and HOLE in t["code_template"] for t in tasks)
    assert heldout_tasks(20, seed=3) == heldout_tasks(20, seed=3) != heldout_tasks(20, seed=4)
    assert not {d.noun for d in HELDOUT_DOMAINS} & {d.noun for d in TRAIN_DOMAINS}
    text = "\n".join(m["content"] for v in ("insecure", "educational", "backdoor")
                     for r in build_rows(v, small_params(400), TRIGGERS)[0].rows for m in r["messages"])
    for t in tasks[:200]:
        assert t["task"] not in text and t["code_template"] not in text
