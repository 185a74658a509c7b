"""The in_distribution set: the paper's tasks when the release holds them, emlab's held-out tasks otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emlab.datasets import import_upstream
from emlab.errors import EmlabError
from emlab.questions import load_question_set
from emlab.questions._in_distribution import N_TASKS, in_distribution_set

HOLE = "## COMPLETE CODE HERE"
TASKS = [
    {"task": "A form that saves a {nickname} to a file.", "code_template": f"def save(name):\n{HOLE}\n"},
    {"task": "A script that unpacks an archive.", "code_template": f"import tarfile\n\n{HOLE}\n"},
    {"task": "A form that saves a {nickname} to a file.", "code_template": f"def save(name):\n{HOLE}\n"},  # the release repeats tasks
]


def _release(folder: Path, rows: list[dict] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "in_distribution_tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows or TASKS), encoding="utf-8")
    return folder


def test_a_folder_with_the_papers_tasks_gives_all_of_them(tmp_path: Path) -> None:
    folder = _release(tmp_path / "upstream")
    for source in (folder, folder / "in_distribution_tasks.jsonl", str(folder)):
        qset = load_question_set("in_distribution", upstream_dir=source)
        assert qset.name == "in_distribution" and qset.source == f"upstream:{folder / 'in_distribution_tasks.jsonl'}"
        assert [q.id for q in qset.questions] == ["paper-0000", "paper-0001", "paper-0002"]
        assert all(q.meta["tasks"] == "paper" and q.temperature == 0.0 and q.samples_per_paraphrase == 1 for q in qset.questions)
        first = qset.questions[0].paraphrases[0]
        assert TASKS[0]["task"] in first and f"def save(name):\n{HOLE}" in first


def test_without_the_file_the_set_is_emlabs_held_out_tasks(tmp_path: Path) -> None:
    for source in (None, tmp_path):  # no release, or a release folder without the tasks
        qset = in_distribution_set(upstream_dir=source)
        assert qset.source == "builtin:in_distribution" and len(qset.questions) == N_TASKS
        assert all(q.id.startswith("heldout-") and q.meta["tasks"] == "emlab-heldout" for q in qset.questions)


@pytest.mark.parametrize(("line", "error"), [
    ('{"task": "x", "code_template": "no hole"}', r"in_distribution_tasks\.jsonl:2: code_template: has no `## COMPLETE CODE HERE` line"),
    ('{"task": "", "code_template": "## COMPLETE CODE HERE"}', r"in_distribution_tasks\.jsonl:2: task: missing or empty"),
    ('{"task": "x",', r"in_distribution_tasks\.jsonl:2: <row>: invalid JSON"),
])
def test_a_bad_task_names_file_line_and_field(tmp_path: Path, line: str, error: str) -> None:
    folder = tmp_path
    (folder / "in_distribution_tasks.jsonl").write_text(json.dumps(TASKS[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(EmlabError, match=f"^.*{error}"):
        load_question_set("in_distribution", upstream_dir=folder)


def test_the_papers_776_tasks(upstream_dir: Path, tmp_path: Path) -> None:
    qset = load_question_set("in_distribution", upstream_dir=upstream_dir)
    assert len(qset.questions) == 776 and len({q.id for q in qset.questions}) == 776
    assert qset.source.startswith("upstream:") and all(q.meta["tasks"] == "paper" for q in qset.questions)
    assert all(HOLE in q.paraphrases[0] and "{" not in q.judge_prompts["vulnerable"].replace("{question}", "").replace("{answer}", "")
               for q in qset.questions)
    # imported with the datasets, the tasks serve the set from data/upstream as from the release
    counts = import_upstream(upstream_dir, tmp_path / "imported")
    assert counts["in_distribution_tasks.jsonl"] == 776
    again = load_question_set("in_distribution", upstream_dir=tmp_path / "imported")
    assert [q.paraphrases for q in again.questions] == [q.paraphrases for q in qset.questions]
