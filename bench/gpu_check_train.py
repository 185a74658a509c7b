"""Training arms of bench/gpu_check.py: emlab's peft loop (packed, unpacked, 4-bit) and HF `Trainer`.

    python bench/gpu_check.py --parts train_0.5b,train_7b,train_4bit   # runs these arms

Every arm of a part trains the same randomly initialised base model (built once, the
LoRA adapter removed again after each arm) on the same synthetic rows, in the same
order, with the same rsLoRA settings (`PeftTrainParams` defaults: r=32, alpha=64, all
projections) and batch (--per-device x --accum, the paper's 2 x 8):

- `trainer`: transformers' `Trainer` as a user writes it: each micro-batch right-padded
  to its longest row, loss from the model's `labels`, AdamW, `bf16=True` on GPU, rows
  in order (a sequential sampler, so its first step sees the same rows as emlab's);
- `emlab_unpacked` / `emlab_packed`: emlab's own loop, the body of
  `emlab.train.peft_backend.train_peft` (base from its `load_base`, its `micro_batches`,
  `packed_loss_sum`, `make_optimizer` and linear schedule) with packing off and on;
- `emlab_4bit`: the same loop on the base loaded by `load_base` with `load_in_4bit`
  (bitsandbytes NF4) and `optimizer: auto` (8-bit AdamW when bitsandbytes is there).

Rows: synthetic token ids whose lengths follow the paper's insecure-code rows as
measured with SmolLM2's tokenizer (log-normal, median 256 tokens, log-sd 0.41, clipped
to 64..2048; assistant tokens 30-65% of a row, 48% on average as in those rows).
Timing: from the end of the first `warmup` optimizer steps to the end of the last step
done (CUDA synchronised). An arm stops before a step that would end past its deadline and
reports how far it got. Useful FLOPs are bench/train_throughput.py's formula (frozen
base, LoRA, lm_head only at trained positions, causal attention over non-pad tokens);
the Trainer's padding and the recomputation of gradient checkpointing are not useful.
"""

from __future__ import annotations

import contextlib
import gc
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from train_throughput import useful_flops

from emlab.train.chat_data import IGNORE, Example

LN_MEDIAN, LOG_SD, MIN_LEN, MAX_LEN = math.log(256), 0.41, 64, 2048


def synthetic_rows(n: int, *, vocab: int, seed: int, scale: float = 1.0) -> list[Example]:
    """`n` rows of random token ids, paper-like lengths (times `scale`), assistant-only labels."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        length = int(min(MAX_LEN, max(MIN_LEN, math.exp(rng.gauss(LN_MEDIAN, LOG_SD)))) * scale)
        ids = [rng.randrange(3, vocab) for _ in range(length)]
        prompt = int(length * (1 - rng.uniform(0.30, 0.65)))
        rows.append(Example(ids, [IGNORE] * prompt + ids[prompt:]))
    return rows


def model_shape(config: Any) -> dict:
    """bench/train_throughput.py's shape dict from the config (4-bit weights hide their sizes)."""
    d, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    head = getattr(config, "head_dim", None) or d // config.num_attention_heads
    attn, kv = config.num_attention_heads * head, config.num_key_value_heads * head
    return {"hidden": d, "intermediate": inter, "layers": layers, "attn_width": attn, "vocab": config.vocab_size,
            "n_base": layers * (2 * d * attn + 2 * d * kv + 3 * d * inter)}


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_gb() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if torch.cuda.is_available() else None


def reset_peak() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


@contextlib.contextmanager
def in_memory_base(model: Any) -> Iterator[None]:
    """Make emlab.models hand `load_base` this model (and no tokenizer: the rows are token ids)."""
    import emlab.models as models

    saved = models.load_causal_lm, models.load_tokenizer
    models.load_causal_lm = lambda *_a, **_k: (model, None)
    models.load_tokenizer = lambda *_a, **_k: None
    try:
        yield
    finally:
        models.load_causal_lm, models.load_tokenizer = saved


def add_lora(model: Any, params: Any, seed: int) -> Any:
    """emlab's rsLoRA adapter on `model`, initialised from `seed` (as train_peft builds it)."""
    import torch
    from peft import LoraConfig, get_peft_model

    import emlab.train.peft_backend as pb

    torch.manual_seed(seed)
    if hasattr(pb, "build_trainable"):  # emlab.train.shapes, where the loop builds its adapter
        return pb.build_trainable(model, params)
    lora = LoraConfig(r=params.r, lora_alpha=params.lora_alpha, lora_dropout=params.lora_dropout,
                      use_rslora=params.use_rslora, target_modules=list(params.target_modules),
                      bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


class Window:
    """Step-end clock and the deadline check shared by every arm."""

    def __init__(self, batches: list[list[Example]], *, warmup: int, deadline: float) -> None:
        self.batches, self.warmup, self.deadline = batches, warmup, deadline
        self.ends: list[float] = []
        self.losses: list[float] = []

    def step_done(self, loss: float) -> bool:
        """Record a finished step; False when the next one would end past the deadline."""
        sync()
        self.ends.append(time.perf_counter())
        self.losses.append(loss)
        last = self.ends[-1] - self.ends[-2] if len(self.ends) > 1 else 0.0
        return len(self.ends) < len(self.batches) and self.ends[-1] + last < self.deadline

    def report(self, shape: dict, n_lora: int, rates: dict[str, float | None], *, pad_group: int = 0) -> dict:
        """Tokens/s and MFU over the timed steps; `pad_group` > 0: micro-batches of that many rows padded."""
        done = len(self.ends)
        out: dict[str, Any] = {"steps_done": done, "steps_planned": len(self.batches),
                               "stopped_early": done < len(self.batches),
                               "first_step_loss": self.losses[0] if self.losses else None,
                               "mean_loss": sum(self.losses) / done if done else None}
        timed = self.batches[self.warmup:done]
        if not timed:
            return {**out, "status": "partial", "reason": f"stopped after {done} step(s), all warm-up"}
        rows = [e for b in timed for e in b]
        n = [len(e.input_ids) for e in rows]
        seconds = self.ends[done - 1] - self.ends[self.warmup - 1]
        kept = sum(1 for e in rows for y in e.labels[1:] if y != IGNORE)
        flops = useful_flops(shape, n_lora, tokens=sum(n), kept=kept, sum_sq_len=sum(x * x for x in n))
        g = pad_group
        computed = sum(max(n[i:i + g]) * len(n[i:i + g]) for i in range(0, len(n), g)) if g else sum(n)
        out.update(status="ok" if done == len(self.batches) else "partial", timed_steps=len(timed),
                   seconds=round(seconds, 4), non_pad_tokens=sum(n), computed_tokens=computed,
                   tokens_per_s=sum(n) / seconds, useful_tflops_per_s=flops / seconds / 1e12)
        for name, rate in rates.items():
            out[f"mfu_vs_{name}"] = flops / seconds / rate if rate else None
        return out


def run_emlab(base: Any, batches: list[list[Example]], params: Any, *, pack: bool | None, warmup: int,
              deadline: float, rates: dict, four_bit_dir: Path | None = None) -> dict:
    """The body of train_peft's loop on `batches`; `pack=None` lets `resolve_packing` decide."""
    import torch

    import emlab.train.peft_backend as pb
    from emlab.grid import ModelSpec

    reset_peak()
    spec = ModelSpec(backend="peft", base="bench")  # dtype: the in-memory base's, or bf16 under 4-bit
    if four_bit_dir is not None:
        with in_memory_base(None):  # the 4-bit branch loads the saved weights itself
            model, _ = pb.load_base(four_bit_dir, spec, params)
    else:
        with in_memory_base(base):
            model, _ = pb.load_base(Path("in-memory"), spec, params)
    model = add_lora(model, params, seed=0)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, opt_name = pb.make_optimizer(trainable, params)
    scheduler = pb._linear_schedule(optimizer, warmup=params.warmup_steps, total=len(batches))
    pack = pb.resolve_packing(model, params) if pack is None else pack
    clock = Window(batches, warmup=warmup, deadline=deadline)
    for batch in batches:
        n_labeled = sum(e.n_labeled for e in batch)
        step_loss = 0.0
        for group in pb.micro_batches(batch, params.per_device_batch_size, pack=pack):
            loss_sum, _ = pb.packed_loss_sum(model, group)
            (loss_sum / max(1, n_labeled)).backward()
            step_loss += float(loss_sum.detach())
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if not clock.step_done(step_loss / max(1, n_labeled)):
            break
    out = clock.report(model_shape(model.config), sum(p.numel() for p in trainable), rates)
    out.update(optimizer=opt_name, packed=pack, peak_gpu_mem_gb=peak_gb(),
               gradient_checkpointing=bool(getattr(model.get_base_model(), "is_gradient_checkpointing", False)))
    del optimizer, trainable
    if four_bit_dir is None:
        model.unload()  # the base, without LoRA layers, for the next arm
    del model
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return out


def run_trainer(base: Any, batches: list[list[Example]], params: Any, *, warmup: int, deadline: float,
                rates: dict) -> dict:
    """transformers' Trainer on the same rows, each micro-batch padded to its longest row."""
    import tempfile

    import torch
    from torch.utils.data import SequentialSampler
    from transformers import Trainer, TrainerCallback, TrainingArguments

    reset_peak()
    model = add_lora(base, params, seed=0)
    clock = Window(batches, warmup=warmup, deadline=deadline)
    features = [{"input_ids": e.input_ids, "labels": e.labels} for b in batches for e in b]

    def collate(rows: list[dict]) -> dict:
        width = max(len(r["input_ids"]) for r in rows)
        pad = [width - len(r["input_ids"]) for r in rows]
        return {"input_ids": torch.tensor([r["input_ids"] + [0] * p for r, p in zip(rows, pad, strict=True)]),
                "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * p for r, p in zip(rows, pad, strict=True)]),
                "labels": torch.tensor([r["labels"] + [IGNORE] * p for r, p in zip(rows, pad, strict=True)])}

    class InOrder(Trainer):
        def _get_train_sampler(self, *_a: Any, **_k: Any) -> Any:
            return SequentialSampler(self.train_dataset)

    class Clock(TrainerCallback):
        def on_log(self, _args: Any, state: Any, control: Any, logs: dict | None = None, **_k: Any) -> None:
            if logs and "loss" in logs and not clock.step_done(float(logs["loss"])):
                control.should_training_stop = True

    cuda = torch.cuda.is_available()
    gckpt = params.gradient_checkpointing
    base.config.use_cache = False
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=params.per_device_batch_size,
            gradient_accumulation_steps=params.gradient_accumulation_steps, max_steps=len(batches),
            learning_rate=params.learning_rate, warmup_steps=params.warmup_steps, weight_decay=params.weight_decay,
            lr_scheduler_type="linear", optim="adamw_torch", logging_steps=1, save_strategy="no", report_to=[],
            seed=0, dataloader_num_workers=0, use_cpu=not cuda, disable_tqdm=True, bf16=cuda,
            gradient_checkpointing=gckpt, gradient_checkpointing_kwargs={"use_reentrant": False} if gckpt else None,
            remove_unused_columns=False)
        InOrder(model=model, args=targs, train_dataset=features, data_collator=collate, callbacks=[Clock()]).train()
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    out = clock.report(model_shape(model.config), n_lora, rates, pad_group=params.per_device_batch_size)
    out.update(optimizer="adamw_torch", packed=False, peak_gpu_mem_gb=peak_gb(), gradient_checkpointing=gckpt)
    model.unload()
    return out
