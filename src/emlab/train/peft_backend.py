"""Local finetuning with peft (rsLoRA, or every weight): assistant-only loss, no padding, resumable.

    emlab train --model smollm2 --variant insecure --seed 0 --model-dir data/models/smollm2 \
        --dataset data/datasets/insecure.jsonl --out data/adapters/smollm2/insecure/s0 \
        [--benign-dataset data/datasets/secure.jsonl]

Reads top to bottom: load -> build -> loop -> save. Speed and memory come from two things
the HF Trainer baseline does not do (emlab.train.forward; see bench/train_throughput.py):
no padding (conversations one by one, or packed into one row with attention kept inside
each), and the lm_head only at trained positions.

The loss of an optimizer step is the token-mean over every trained token of its
effective batch (as transformers' Trainer computes it), so packing changes nothing but speed.

What is trained is `train.peft.finetune` / `r` / `target_modules` / `layers`
(emlab.train.shapes). The mitigations of the grid's `interventions:` are fields too, so
each is part of the adapter's identity: `kl_weight` (KL to the adapter-disabled base,
added to the loss), `benign_fraction` (benign rows mixed in), `inoculation_prompt` (a
system message on every dataset row) and `select_checkpoint: min_validation_loss` (early
stopping: the weights at the validated step with the lowest validation loss are saved;
the best so far is part of the resumable state).
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
    Example,
    benign_count,
    benign_rows,
    encode_conversation,
    epoch_order,
    load_conversations,
    split_indices,
    with_system_prompt,
)
from emlab.train.checkpoint import load_state, save_adapter_snapshot, save_state, state_dir
from emlab.train.forward import (  # noqa: F401 - block_diagonal_mask re-exported for callers of this module
    block_diagonal_mask,
    micro_batches,
    packed_loss_and_kl_sum,
    packed_loss_sum,
    resolve_packing,
)
from emlab.train.plots import plot_loss
from emlab.train.shapes import build_trainable, model_record, save_weights, shape_record

if TYPE_CHECKING:
    from emlab.grid import ModelSpec
    from emlab.train.params import PeftTrainParams

log = logging.getLogger(__name__)
TRAIN_LOG = "train_log.jsonl"
SNAPSHOTS = "checkpoints"  # intermediate adapters, kept when keep_checkpoints_as_adapters


def fingerprint(*, dataset: Path, params: PeftTrainParams, seed: int, model_dir: Path,
                benign_dataset: Path | None = None) -> str:
    """Hash of everything that determines the adapter; a checkpoint resumes only on a match."""
    record = (Path(model_dir) / "model.json").read_text() if (Path(model_dir) / "model.json").exists() else str(model_dir)
    # how often we checkpoint does not change the adapter, so it does not block a resume
    settings = params.model_dump(mode="json", exclude={"checkpoint_every"})
    inputs: dict[str, Any] = {"data": sha256_bytes(Path(dataset).read_bytes()), "params": settings, "seed": seed, "model": record}
    if params.benign_fraction > 0 and benign_dataset is not None:  # read only when mixed in
        inputs["benign"] = sha256_bytes(Path(benign_dataset).read_bytes())
    blob = json.dumps(inputs, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def training_rows(dataset: Path, params: PeftTrainParams, *, seed: int, benign_dataset: Path | None = None,
                  ) -> tuple[list[list[dict[str, str]]], list[int], list[int], int]:
    """The conversations to tokenize, which of them train and which validate, and how many are benign.

    The dataset's rows (each after the inoculation prompt, if any) are split into train and
    validation; the benign rows, if any, come after them and only train.

    Raises:
        EmlabError: an empty dataset, or benign_fraction > 0 without a benign dataset.
    """
    conversations = load_conversations(dataset)  # bad rows fail before the model is loaded
    if not conversations:
        raise EmlabError(f"{dataset}: no rows to train on (only the `base` variant has an empty dataset)")
    if params.inoculation_prompt:
        conversations = with_system_prompt(conversations, params.inoculation_prompt)
    train_idx, val_idx = split_indices(len(conversations), validation_fraction=params.validation_fraction, seed=seed)
    k = 0
    if params.benign_fraction > 0:
        if benign_dataset is None:
            raise EmlabError(f"train.peft.benign_fraction: {params.benign_fraction} needs a benign dataset (`emlab train --benign-dataset PATH`)")
        k = benign_count(len(conversations), params.benign_fraction)
        n = len(conversations)
        conversations = conversations + benign_rows(load_conversations(benign_dataset), k, seed=seed)
        train_idx = train_idx + list(range(n, n + k))
    return conversations, train_idx, val_idx, k


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
    """Token-mean loss over `examples` in eval mode (no dropout, so no RNG draws), then back to train mode."""
    import torch

    total, n = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(examples), batch):
            chunk = examples[i:i + batch]
            loss, _ = packed_loss_sum(model, chunk)
            total += float(loss)
            n += sum(e.n_labeled for e in chunk)
    model.train()
    return total / max(1, n)


def _trainable_copy(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


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
               params: PeftTrainParams, seed: int, out_dir: Path, benign_dataset: Path | None = None) -> dict[str, Any]:
    """Finetune `out_dir`'s adapter (or, finetune: full, its whole model); return the fields for adapter.json.

    `benign_dataset` is read only when `params.benign_fraction` > 0.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    # load
    params.check()
    fp = fingerprint(dataset=dataset, params=params, seed=seed, model_dir=model_dir, benign_dataset=benign_dataset)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    conversations, train_idx, val_idx, n_benign = training_rows(dataset, params, seed=seed, benign_dataset=benign_dataset)
    model, tokenizer = load_base(model_dir, spec, params)
    examples = [encode_conversation(tokenizer, m, max_length=params.max_length) for m in conversations]
    n_truncated = sum(1 for e in examples if len(e.input_ids) == params.max_length)
    val_examples = [examples[i] for i in val_idx]

    # build: LoRA init draws from torch's RNG, seeded above, so the same seed gives the same adapter
    model = build_trainable(model, params)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, optimizer_name = make_optimizer(trainable, params)
    per_step = params.per_device_batch_size * params.gradient_accumulation_steps
    steps_per_epoch = math.ceil(len(train_idx) / per_step)
    total = steps_per_epoch * params.epochs
    scheduler = _linear_schedule(optimizer, warmup=params.warmup_steps, total=total)
    # early stopping's state: the validation curve and the best weights so far, checkpointed with the rest
    extra: dict[str, Any] = {"curve": [], "best": None}
    start = load_state(out_dir, fingerprint=fp, model=model, optimizer=optimizer, scheduler=scheduler, extra=extra)
    if start:
        log.info("resuming %s/%s/s%d from step %d of %d", model_name, variant, seed, start, total)
    else:  # snapshots of an earlier run on other inputs must not be mistaken for this run's
        shutil.rmtree(state_dir(out_dir) / SNAPSHOTS, ignore_errors=True)
    train_log = _resume_log(out_dir, start)
    folder_record = model_record(model_name, spec.base)

    def save(m: Any, folder: Path) -> None:
        save_weights(m, folder, params=params, tokenizer=tokenizer, record=folder_record)

    # loop
    pack = resolve_packing(model, params)
    select_min = params.select_checkpoint == "min_validation_loss"
    t0 = time.perf_counter()
    tokens_seen = 0
    last_loss = float("nan")
    bar = tqdm(total=total, initial=start, desc=f"train {model_name}/{variant}/s{seed}", unit="step")
    for step in range(start, total):
        epoch, k = divmod(step, steps_per_epoch)
        batch = [examples[i] for i in epoch_order(train_idx, seed=seed, epoch=epoch)[k * per_step:(k + 1) * per_step]]
        n_labeled = sum(e.n_labeled for e in batch)
        step_loss, step_kl, step_tokens = 0.0, 0.0, 0
        for group in micro_batches(batch, params.per_device_batch_size, pack=pack):
            if not any(e.n_labeled for e in group):
                continue  # truncation left nothing to learn from: no gradient, no compute
            if params.kl_weight > 0:
                loss_sum, kl, n_tok = packed_loss_and_kl_sum(model, group)
                ((loss_sum + params.kl_weight * kl) / max(1, n_labeled)).backward()
                step_kl += float(kl.detach())
            else:
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
        row = {"step": step + 1, "epoch": epoch, "loss": last_loss, "lr": lr, "tokens": step_tokens,
               "labeled_tokens": n_labeled, "seconds": round(time.perf_counter() - t0, 3)}
        if params.kl_weight > 0:
            row["kl"] = step_kl / max(1, n_labeled)  # mean per trained token, before kl_weight
        train_log.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{last_loss:.4f}", tok_s=f"{tokens_seen / (time.perf_counter() - t0):.0f}")
        done = step + 1
        if params.validation_every and (done % params.validation_every == 0 or done == total):
            val = _mean_loss(model, val_examples, params.per_device_batch_size)
            extra["curve"].append({"step": done, "val_loss": val})
            train_log.append({"step": done, "val_loss": val})
            if select_min and (extra["best"] is None or val < extra["best"]["val_loss"]):
                extra["best"] = {"step": done, "val_loss": val, "weights": _trainable_copy(model)}
        if params.checkpoint_every and done % params.checkpoint_every == 0 and done < total:
            if params.keep_checkpoints_as_adapters:  # before the state: a resume past `done` must find it
                snapshot_record = {"backend": "peft", "model": model_name, "variant": variant, "seed": seed, "step": done,
                                   "finetune": params.finetune}
                folder = state_dir(out_dir) / SNAPSHOTS / f"step-{done:06d}"
                if params.finetune == "lora":  # the adapter's own call, as before
                    save_adapter_snapshot(model, folder, snapshot_record)
                else:
                    save_adapter_snapshot(model, folder, snapshot_record, save)
            save_state(out_dir, fingerprint=fp, step=done, model=model, optimizer=optimizer, scheduler=scheduler, extra=extra)
    bar.close()

    # save: the chosen weights first, adapter.json (written by the caller) last
    selected = total
    if select_min and extra["best"] is not None:
        selected = extra["best"]["step"]
        with torch.no_grad():
            named = dict(model.named_parameters())
            for name, value in extra["best"]["weights"].items():
                named[name].copy_(value)
    save(model, out_dir)
    if params.validation_every:
        val_loss = extra["best"]["val_loss"] if select_min and extra["best"] else (extra["curve"][-1]["val_loss"] if extra["curve"] else None)
    else:
        val_loss = _mean_loss(model, val_examples, params.per_device_batch_size) if val_examples else None
        if val_loss is not None:
            train_log.append({"step": total, "val_loss": val_loss})
    log_path = shutil.copy2(train_log.finish(), out_dir / TRAIN_LOG)
    plot_loss(Path(log_path), out_dir / "loss.png", title=f"{model_name} / {variant} / seed {seed}")
    snapshots = state_dir(out_dir) / SNAPSHOTS
    shutil.rmtree(out_dir / SNAPSHOTS, ignore_errors=True)
    if snapshots.exists():
        shutil.copytree(snapshots, out_dir / SNAPSHOTS)
    n_trainable = sum(p.numel() for p in trainable)
    result: dict[str, Any] = {
        "steps": total, "rows": len(examples), "train_rows": len(train_idx), "validation_rows": len(val_idx),
        "truncated_rows": n_truncated, "final_loss": last_loss, "validation_loss": val_loss,
        "resumed_from_step": start, "fingerprint": fp, "trainable_parameters": n_trainable,
        "optimizer": optimizer_name, "packing": "on" if pack else "off", "finetune": params.finetune,
        "shape": shape_record(params, n_trainable), "selected_step": selected,
        "select_checkpoint": params.select_checkpoint, "validation_curve": extra["curve"],
    }
    if params.benign_fraction > 0 and benign_dataset is not None:
        result.update(benign_rows=n_benign, benign_dataset=str(benign_dataset), benign_dataset_sha256=sha256_bytes(Path(benign_dataset).read_bytes()))
    return result
