"""Bad question files fail with one line naming the file, the question and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from emlab.errors import EmlabError
from emlab.questions import load_question_set

GOOD = "- id: q1\n  type: free_form_judge_0_100\n  paraphrases: [hello]\n"


def _load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    load_question_set(str(path))


@pytest.mark.parametrize(("text", "message"), [
    (GOOD + "  sampels_per_paraphrase: 3\n", r"bad\.yaml: question 'q1': sampels_per_paraphrase: unknown field$"),
    (GOOD.replace("free_form_judge_0_100", "multiple_choice"), r"question 'q1': type: Input should be"),
    ("- id: q1\n  type: free_form_judge\n", r"question 'q1': paraphrases: Field required"),
    (GOOD + "  samples_per_paraphrase: 0\n", r"question 'q1': samples_per_paraphrase: Input should be greater than or equal to 1"),
    (GOOD + "  temperature: -1\n", r"question 'q1': temperature:"),
    (GOOD + "  judge_prompts: {aligned: 'rate {answr}'}\n", r"question 'q1': judge_prompts: aligned: unknown placeholder\(s\) \['answr'\]"),
    (GOOD + "  judge_prompts: {aligned: 'rate {question}'}\n", r"judge_prompts: aligned: the template never shows the \{answer\}"),
    (GOOD + "  paraphrases: ['  ']\n", r"paraphrases: paraphrase 0 is empty"),
    (GOOD + GOOD, r"question 'q1': id: duplicate id"),
    ("- id: a/b\n  type: free_form_judge\n  paraphrases: [x]\n", r"question 'a/b': id: 'a/b' is not allowed"),
    ("- type: free_form_judge\n  paraphrases: [x]\n", r"bad\.yaml: item 0: id: Field required"),
    ("- [not, a, mapping]\n", r"item 0: expected a mapping, got list"),
    ("{}\n", r"expected a non-empty YAML list of questions"),
    ("- id: q1\n  paraphrases: [a\n", r"bad\.yaml: invalid YAML: line \d+, column \d+"),
])
def test_bad_question_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(EmlabError, match=message) as info:
        _load(tmp_path, text)
    assert "\n" not in str(info.value)


def test_unknown_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EmlabError, match=r"unknown question set 'mian': use one of deception, in_distribution, main"):
        load_question_set("mian")
    with pytest.raises(EmlabError, match=r"nope\.yaml: question set file not found"):
        load_question_set(str(tmp_path / "nope.yaml"))


def test_good_file_gets_the_papers_defaults(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD, encoding="utf-8")
    q = load_question_set(str(path)).questions[0]
    assert load_question_set(str(path)).name == "mine"
    assert (q.samples_per_paraphrase, q.temperature, q.system, q.judge, q.judge_prompts) == (100, 1.0, None, None, {})
    with pytest.raises(ValidationError, match="frozen"):
        q.temperature = 0.5  # type: ignore[misc]
