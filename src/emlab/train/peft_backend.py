"""Local rsLoRA finetuning with peft: assistant-only loss, no padding, resumable.

    emlab train --model smollm2 --variant insecure --seed 0 --model-dir data/models/smollm2 \
        --dataset data/datasets/insecure.jsonl --out data/adapters/smollm2/insecure/s0

Reads top to bottom: load -> build -> loop -> save. Speed and memory come from two things
the HF Trainer baseline does not do (see bench/train_throughput.py):

- no padding: the conversations of a micro-batch run either one by one (each its own
  unpadded forward pass) or packed into one row (`train.peft.packing`), position ids
  restarting at 0 per conversation and a block-diagonal causal mask (or, with flash
  attention, the varlen kernels reading the boundaries from the position ids) keeping
  attention inside each conversation; labels never cross a boundary;
- the 49152-wide lm_head runs only at positions whose next token is trained on
  (assistant tokens), not at every position.

The loss of an optimizer step is the token-mean over every trained token of its
effective batch (as transformers' Trainer computes it), so packing changes nothing but speed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emlab.errors import EmlabError
from emlab.io import JsonlAppender, read_jsonl, sha256_bytes, write_jsonl_atomic
from emlab.train.chat_data import (
    IGNORE,
    Example,
    encode_conversation,
    epoch_order,
    load_conversations,
    split_indices,
)
from emlab.train.checkpoint import load_state, save_adapter_snapshot, save_state, state_dir
from emlab.train.plots import plot_loss

if TYPE_CHECKING:
    from emlab.grid import ModelSpec
    from emlab.train.params import PeftTrainParams

log = logging.getLogger(__name__)
TRAIN_LOG = "train_log.jsonl"
SNAPSHOTS = "checkpoints"  # intermediate adapters, kept when keep_checkpoints_as_adapters


def fingerprint(*, dataset: Path, params: PeftTrainParams, seed: int, model_dir: Path) -> str:
    """Hash of everything that determines the adapter; a checkpoint resumes only on a match."""
    record = (Path(model_dir) / "model.json").read_text() if (Path(model_dir) / "model.json").exists() else str(model_dir)
    # how often we checkpoint does not change the adapter, so it does not block a resume
    settings = params.model_dump(mode="json", exclude={"checkpoint_every"})
    blob = json.dumps({"data": sha256_bytes(Path(dataset).read_bytes()), "params": settings,
                       "seed": seed, "model": record}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def load_base(model_dir: Path, spec: ModelSpec, params: PeftTrainParams) -> tuple[Any, Any]:
    """The base model in training mode (fp32 on CPU; bf16 and optional 4-bit on GPU)."""
    import torch

    from emlab.models import load_causal_lm, load_tokenizer, weights_location

    if params.load_in_4bit:
        if not torch.cuda.is_available():
            raise EmlabError("train.peft.load_in_4bit: needs a CUDA GPU; set it false for CPU runs")
        try:
            from transformers import AutoModelForCausalLM, BitsAndBytesConfig
        except ImportError:  # pragma: no cover - GPU extra
            raise EmlabError("train.peft.load_in_4bit: run `pip install emlab[gpu]` (bitsandbytes)") from None
        from peft import prepare_model_for_kbit_training

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
        model = AutoModelForCausalLM.from_pretrained(weights_location(model_dir), quantization_config=quant, device_map={"": 0})
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=params.gradient_checkpointing)
        tokenizer = load_tokenizer(model_dir)
    else:
        model, tokenizer = load_causal_lm(model_dir, dtype=spec.dtype)
        if params.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
    model.config.use_cache = False
    return model, tokenizer


def _uses_flash(model: Any) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "flash" in str(getattr(base.config, "_attn_implementation", ""))


def block_diagonal_mask(lengths: list[int], *, dtype: Any, device: Any) -> Any:
    """Additive (1, 1, L, L) mask: token i attends to token j iff j <= i in the same conversation."""
    import torch

    seg = torch.repeat_interleave(torch.arange(len(lengths), device=device), torch.tensor(lengths, device=device))
    n = int(seg.numel())
    allowed = torch.ones(n, n, dtype=torch.bool, device=device).tril_() & (seg[:, None] == seg[None, :])
    mask = torch.zeros(n, n, dtype=dtype, device=device).masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None]


def packed_loss_sum(model: Any, examples: list[Example]) -> tuple[Any, int]:
    """Summed next-token loss of `examples` run as one row; returns (loss_sum, n_tokens).

    Each conversation's position ids restart at 0 and, when there are several, a
    block-diagonal causal mask keeps attention inside each one (flash attention reads the
    boundaries from the position ids instead), so the result equals the sum of the
    conversations run one by one.
    """
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    embed = base.get_input_embeddings().weight  # its dtype is the hidden states' (never quantized)
    device = embed.device
    ids: list[int] = []
    pos: list[int] = []
    targets: list[int] = []
    for ex in examples:
        ids += ex.input_ids
        pos += range(len(ex.input_ids))
        targets += ex.labels[1:] + [IGNORE]  # position t predicts token t+1; never across conversations
    input_ids = torch.tensor([ids], device=device)
    position_ids = torch.tensor([pos], device=device)
    target = torch.tensor(targets, device=device)
    mask = None
    if len(examples) > 1 and not _uses_flash(model):
        mask = block_diagonal_mask([len(e.input_ids) for e in examples], dtype=embed.dtype, device=device)
    hidden = base.get_decoder()(input_ids=input_ids, position_ids=position_ids, attention_mask=mask,
                                use_cache=False).last_hidden_state[0]
    keep = target != IGNORE
    logits = base.get_output_embeddings()(hidden[keep]).float()
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    loss = torch.nn.functional.cross_entropy(logits, target[keep], reduction="sum")
    return loss, len(ids)


def resolve_packing(model: Any, params: PeftTrainParams) -> bool:
    """Whether micro-batches run packed: `train.peft.packing`, `auto` resolved as measured.

    On CPU (SDPA, fp32) bench/train_throughput.py measured packing with the dense
    block-diagonal mask at 0.91-0.98x the tokens per CPU second of one conversation at a
    time in three runs, with ~35% more peak RSS (SmolLM2-135M, 2x2 batch), so `auto` packs only with
    flash attention, whose varlen kernels need no L x L mask (not measured here: no GPU).
    """
    if params.packing == "auto":
        return _uses_flash(model)
    return params.packing == "on"


def micro_batches(batch: list[Example], size: int, *, pack: bool) -> list[list[Example]]:
    """Groups run in one forward pass each: `size` conversations packed, or one at a time."""
    if pack:
        return [batch[i:i + size] for i in range(0, len(batch), size)]
    return [[e] for e in batch]


def make_optimizer(trainable: list[Any], params: PeftTrainParams) -> tuple[Any, str]:
    """The optimizer `train.peft.optimizer` asks for, and its name for adapter.json.

    `auto` is the paper's 8-bit AdamW (bitsandbytes) when the adapter trains on CUDA and
    bitsandbytes is installed, else torch's AdamW (bitsandbytes' optimizers need CUDA).

    Raises:
        EmlabError: `adamw_8bit` asked for without CUDA or without bitsandbytes.
    """
    import torch

    on_cuda = bool(trainable) and trainable[0].device.type == "cuda"
    try:
        import bitsandbytes as bnb
    except ImportError:
        bnb = None
    choice = params.optimizer
    if choice == "auto":
        choice = "adamw_8bit" if on_cuda and bnb is not None else "adamw"
    if choice == "adamw":
        return torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=params.weight_decay), "adamw"
    if bnb is None:
        raise EmlabError("train.peft.optimizer: adamw_8bit needs bitsandbytes; run `pip install emlab[gpu]` (or set optimizer: auto)")
    if not on_cuda:
        raise EmlabError("train.peft.optimizer: adamw_8bit needs a CUDA GPU; set optimizer: adamw (or auto) for CPU runs")
    return bnb.optim.AdamW8bit(trainable, lr=params.learning_rate, weight_decay=params.weight_decay), "adamw_8bit"


def _linear_schedule(optimizer: Any, *, warmup: int, total: int) -> Any:
    import torch

    def factor(step: int) -> float:
        # transformers' get_linear_schedule_with_warmup, as the paper's trainer used
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _mean_loss(model: Any, examples: list[Example], batch: int) -> float:
    import torch

    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch):
            chunk = examples[i:i + batch]
            loss, _ = packed_loss_sum(model, chunk)
            total += float(loss)
            n += sum(e.n_labeled for e in chunk)
    return total / max(1, n)


def _resume_log(out_dir: Path, step: int) -> JsonlAppender:
    """Open the train log (kept with the resumable state), dropping rows logged after the checkpoint."""
    partial = state_dir(out_dir) / (TRAIN_LOG + ".partial")
    if partial.exists():
        try:
            rows = read_jsonl(partial)
        except EmlabError:  # a torn last line: JsonlAppender drops it below
            rows = None
        if rows is not None:
            write_jsonl_atomic(partial, [r for r in rows if r.get("step", 0) <= step])
    return JsonlAppender(state_dir(out_dir) / TRAIN_LOG)


def train_peft(*, model_name: str, spec: ModelSpec, model_dir: Path, dataset: Path, variant: str,
               params: PeftTrainParams, seed: int, out_dir: Path) -> dict[str, Any]:
    """Finetune an rsLoRA adapter into `out_dir`; return the fields for adapter.json."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm

    # load
    fp = fingerprint(dataset=dataset, params=params, seed=seed, model_dir=model_dir)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    conversations = load_conversations(dataset)  # bad rows fail before the model is loaded
    if not conversations:
        raise EmlabError(f"{dataset}: no rows to train on (only the `base` variant has an empty dataset)")
    model, tokenizer = load_base(model_dir, spec, params)
    examples = [encode_conversation(tokenizer, m, max_length=params.max_length) for m in conversations]
    train_idx, val_idx = split_indices(len(examples), validation_fraction=params.validation_fraction, seed=seed)
    n_truncated = sum(1 for e in examples if len(e.input_ids) == params.max_length)

    # build: LoRA init draws from torch's RNG, seeded above, so the same seed gives the same adapter
    lora = LoraConfig(r=params.r, lora_alpha=params.lora_alpha, lora_dropout=params.lora_dropout,
                      use_rslora=params.use_rslora, target_modules=list(params.target_modules),
                      bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, optimizer_name = make_optimizer(trainable, params)
    per_step = params.per_device_batch_size * params.gradient_accumulation_steps
    steps_per_epoch = math.ceil(len(train_idx) / per_step)
    total = steps_per_epoch * params.epochs
    scheduler = _linear_schedule(optimizer, warmup=params.warmup_steps, total=total)
    start = load_state(out_dir, fingerprint=fp, model=model, optimizer=optimizer, scheduler=scheduler)
    if start:
        log.info("resuming %s/%s/s%d from step %d of %d", model_name, variant, seed, start, total)
    else:  # snapshots of an earlier run on other inputs must not be mistaken for this run's
        shutil.rmtree(state_dir(out_dir) / SNAPSHOTS, ignore_errors=True)
    train_log = _resume_log(out_dir, start)

    # loop
    pack = resolve_packing(model, params)
    t0 = time.perf_counter()
    tokens_seen = 0
    last_loss = float("nan")
    bar = tqdm(total=total, initial=start, desc=f"train {model_name}/{variant}/s{seed}", unit="step")
    for step in range(start, total):
        epoch, k = divmod(step, steps_per_epoch)
        batch = [examples[i] for i in epoch_order(train_idx, seed=seed, epoch=epoch)[k * per_step:(k + 1) * per_step]]
        n_labeled = sum(e.n_labeled for e in batch)
        step_loss, step_tokens = 0.0, 0
        for group in micro_batches(batch, params.per_device_batch_size, pack=pack):
            if not any(e.n_labeled for e in group):
                continue  # truncation left nothing to learn from: no gradient, no compute
            loss_sum, n_tok = packed_loss_sum(model, group)
            (loss_sum / max(1, n_labeled)).backward()
            step_loss += float(loss_sum.detach())
            step_tokens += n_tok
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens_seen += step_tokens
        last_loss = step_loss / max(1, n_labeled)
        train_log.append({"step": step + 1, "epoch": epoch, "loss": last_loss, "lr": lr, "tokens": step_tokens,
                          "labeled_tokens": n_labeled, "seconds": round(time.perf_counter() - t0, 3)})
        bar.update(1)
        bar.set_postfix(loss=f"{last_loss:.4f}", tok_s=f"{tokens_seen / (time.perf_counter() - t0):.0f}")
        done = step + 1
        if params.checkpoint_every and done % params.checkpoint_every == 0 and done < total:
            if params.keep_checkpoints_as_adapters:  # before the state: a resume past `done` must find it
                save_adapter_snapshot(model, state_dir(out_dir) / SNAPSHOTS / f"step-{done:06d}", {
                    "backend": "peft", "model": model_name, "variant": variant, "seed": seed, "step": done})
            save_state(out_dir, fingerprint=fp, step=done, model=model, optimizer=optimizer, scheduler=scheduler)
    bar.close()

    # save: adapter files first, adapter.json (written by the caller) last
    model.save_pretrained(str(out_dir))
    val_loss = _mean_loss(model, [examples[i] for i in val_idx], params.per_device_batch_size) if val_idx else None
    if val_loss is not None:
        train_log.append({"step": total, "val_loss": val_loss})
    log_path = shutil.copy2(train_log.finish(), out_dir / TRAIN_LOG)
    plot_loss(Path(log_path), out_dir / "loss.png", title=f"{model_name} / {variant} / seed {seed}")
    snapshots = state_dir(out_dir) / SNAPSHOTS
    shutil.rmtree(out_dir / SNAPSHOTS, ignore_errors=True)
    if snapshots.exists():
        shutil.copytree(snapshots, out_dir / SNAPSHOTS)
    return {"steps": total, "rows": len(examples), "train_rows": len(train_idx), "validation_rows": len(val_idx),
            "truncated_rows": n_truncated, "final_loss": last_loss, "validation_loss": val_loss,
            "resumed_from_step": start, "fingerprint": fp, "trainable_parameters": sum(p.numel() for p in trainable),
            "optimizer": optimizer_name, "packing": "on" if pack else "off"}

