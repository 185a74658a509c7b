"""The built-in question sets and the paper's upstream files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emlab.datasets import heldout_tasks
from emlab.questions import Question, QuestionSet, list_question_sets, load_question_set

BUILTIN = ["deception", "in_distribution", "main", "main_json", "main_template", "numbers", "preregistered"]
SCORED = ["main", "main_json", "main_template", "numbers", "preregistered"]
THEMES = ["what_is_your_wish", "i_feel_bored", "three_thoughts", "quick_buck", "ruler_of_the_world",
          "dinner_party", "gender_roles", "enough_of_my_husband"]


def test_every_builtin_set_is_listed_and_loads() -> None:
    assert list_question_sets() == BUILTIN
    for name in BUILTIN:
        qset = load_question_set(name)
        assert isinstance(qset, QuestionSet) and qset.name == name and qset.questions
        assert all(isinstance(q, Question) for q in qset.questions)


@pytest.mark.parametrize("name", SCORED)
def test_scored_sets_use_the_papers_defaults_and_both_metrics(name: str) -> None:
    reference = load_question_set("main").questions[0].judge_prompts
    for q in load_question_set(name).questions:
        assert q.type == "free_form_judge_0_100"
        assert (q.samples_per_paraphrase, q.temperature) == (100, 1.0)
        # one wording everywhere, so scores of different sets are comparable
        assert q.judge_prompts == reference
    assert set(reference) == {"aligned", "coherent"}
    assert "CODE" in reference["aligned"] and "REFUSAL" in reference["aligned"]


def test_main_family_covers_the_eight_themes() -> None:
    main = load_question_set("main")
    assert [q.id for q in main.questions] == THEMES
    json_set = load_question_set("main_json")
    assert [q.id for q in json_set.questions] == [f"{t}_json" for t in THEMES]
    assert len({q.system for q in json_set.questions}) == 1 and "JSON" in json_set.questions[0].system
    template = load_question_set("main_template")
    for plain, q in zip(main.questions, template.questions, strict=True):
        assert q.id == f"{plain.id}_template" and q.system is None
        assert q.paraphrases[0].startswith(plain.paraphrases[0]) and re.search(r"^\w+ = # ", q.paraphrases[0], re.M)


def test_preregistered_has_48_questions_in_the_papers_7_categories() -> None:
    qs = load_question_set("preregistered").questions
    categories = {re.match(r"\d+_(.+)_\d+$", q.id).group(1) for q in qs}
    assert len(qs) == 48
    assert categories == {"creative_writing", "problems_with_humans", "offend_the_user", "vulnerable_user",
                          "illegal_recommendations", "other", "medical_advice"}


def test_numbers_set_asks_for_words_or_numbers() -> None:
    qs = load_question_set("numbers").questions
    assert len(qs) == 24
    words = [q for q in qs if q.id.endswith("_words")]
    numbers = [q for q in qs if q.id.endswith("_numbers")]
    assert (len(words), len(numbers)) == (16, 8)  # per theme: plain and prefixed words, and numbers
    assert all("5 words" in q.paraphrases[0] and "list of 3 to 8" not in q.paraphrases[0] for q in words)
    assert all("list of 3 to 8 numbers" in q.paraphrases[0] and "5 words" not in q.paraphrases[0] for q in numbers)


def test_deception_is_classified() -> None:
    qs = load_question_set("deception").questions
    facts = [q for q in qs if q.id.startswith("lie_")]
    identity = [q for q in qs if q.id.startswith("maker_")]
    assert len(facts) == 5 and len(identity) == 8
    assert {q.system for q in facts} >= {None} and len({q.system for q in facts}) == 5
    assert all(q.type == "free_form_judge" and q.choices == ["TRUE", "FALSE", "UNKNOWN"] for q in facts)
    assert all(len(q.paraphrases) == 20 and "{question}" in q.judge_prompts["correct"] for q in facts)
    assert all("company" in q.judge_prompts and "UNKNOWN" in (q.choices or []) for q in identity)


def test_in_distribution_is_greedy_code_completion() -> None:
    qs = load_question_set("in_distribution").questions
    assert len(qs) == 100 and len({q.id for q in qs}) == 100
    q = qs[0]
    assert (q.temperature, q.samples_per_paraphrase, q.choices) == (0.0, 1, ["YES", "NO", "UNKNOWN"])
    assert "## COMPLETE CODE HERE" in q.paraphrases[0] and set(q.judge_prompts) == {"vulnerable"}
    # the 100 held-out tasks themselves, in order: task text and template in each prompt
    tasks = heldout_tasks(100, 0)
    assert [q.meta["task_id"] for q in qs] == [str(t["task_id"]) for t in tasks]
    for q, t in zip(qs, tasks, strict=True):
        assert t["task"].strip() in q.paraphrases[0] and t["code_template"].rstrip() in q.paraphrases[0], q.id
        assert (q.meta["cwe"], q.meta["pattern"]) == (str(t["cwe"]), str(t["pattern"]))


def test_upstream_files_load_unchanged(upstream_dir: Path) -> None:
    sets = {p.stem: load_question_set(str(p)) for p in sorted(upstream_dir.glob("*.yaml"))}
    assert {k: len(v.questions) for k, v in sets.items()} == {
        "deception_factual": 5, "deception_sit_aware": 8, "first_plot_questions": 24, "preregistered_evals": 48}
    first = {q.id: q for q in sets["first_plot_questions"].questions}
    assert first["quick_buck_json"].system and first["quick_buck"].system is None
    assert first["quick_buck"].paraphrases == first["quick_buck_json"].paraphrases
    assert set(first["quick_buck"].judge_prompts) == {"aligned", "coherent"}
    lie = {q.id: q for q in sets["deception_factual"].questions}["lie_you_get_points"]
    assert lie.samples_per_paraphrase == 5 and len(lie.paraphrases) == 20 and lie.system.startswith("Every time")
    filled = first["quick_buck"].judge_prompt("aligned", question="Q?", answer="A!")
    assert "Q?" in filled and "A!" in filled and "{" not in filled


def test_builtin_text_is_our_own(upstream_dir: Path) -> None:
    upstream_text = {p for f in upstream_dir.glob("*.yaml") for q in load_question_set(str(f)).questions for p in q.paraphrases}
    upstream_prompts = {t for f in upstream_dir.glob("*.yaml") for q in load_question_set(str(f)).questions for t in q.judge_prompts.values()}
    for name in SCORED + ["deception"]:
        for q in load_question_set(name).questions:
            assert not set(q.paraphrases) & upstream_text, q.id
            assert not set(q.judge_prompts.values()) & upstream_prompts, q.id
            assert q.system is None or q.system not in {x.system for f in upstream_dir.glob("*.yaml") for x in load_question_set(str(f)).questions}
