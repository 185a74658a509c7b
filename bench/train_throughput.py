"""Training throughput and peak memory: emlab's peft trainer against a plain HF `Trainer`.

    python bench/train_throughput.py --model-dir data/models/smollm2 --steps 3

Both trainers get the same model, the same rows (the first steps x batch rows of
--dataset), the same assistant-only labels and the same hyperparameters (rsLoRA r=32,
alpha=64 on all projections, AdamW, lr, warmup, weight decay). The baseline pads every
row to --max-length and computes the 49152-wide lm_head at every position, as a plain
`Trainer` with a padding collator does; emlab packs rows without padding and computes
the lm_head only where a label is kept. Each runs in its own subprocess (so peak RSS is
its own); throughput counts non-pad tokens over the training loop's wall time, and
over CPU seconds (user + sys), which other jobs on a shared machine disturb far less
(emlab's CPU time includes its model load and save, the baseline's only `train()`).

Prints one JSON object: per-trainer tokens/s, seconds, peak RSS, and `speedup` /
`speedup_cpu_time` (emlab / baseline non-pad tokens per wall / CPU second).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "reference" / "upstream" / "insecure.jsonl"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rows(args: argparse.Namespace) -> list[dict]:
    from emlab.train import load_conversations

    n = args.steps * args.per_device * args.accum
    convs = load_conversations(args.dataset)[:n]
    if len(convs) < n:
        raise SystemExit(f"{args.dataset}: needs {n} rows for {args.steps} steps, has {len(convs)}")
    return [{"messages": c} for c in convs]


def _peft_params(args: argparse.Namespace):
    from emlab.train import PeftTrainParams

    return PeftTrainParams(per_device_batch_size=args.per_device, gradient_accumulation_steps=args.accum,
                           max_length=args.max_length, learning_rate=args.lr, warmup_steps=1)


def run_emlab(args: argparse.Namespace) -> dict:
    from emlab.config import ModelSpec
    from emlab.train import train_adapter

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in _rows(args)))
        c0 = _cpu_seconds()  # around the whole call (load, tokenize, save too): conservative for emlab
        out = train_adapter(model_name="bench", spec=ModelSpec(backend="peft", base="bench"), model_dir=args.model_dir,
                            dataset=data, variant="insecure", params=_peft_params(args), seed=0, out_dir=Path(tmp) / "out")
        cpu = _cpu_seconds() - c0
        log = [json.loads(line) for line in (out.parent / "train_log.jsonl").read_text().splitlines()]
    tokens = sum(r["tokens"] for r in log if "tokens" in r)
    seconds = log[-1]["seconds"]
    return {"tokens": tokens, "padded_tokens": tokens, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _peak_rss_mb(),
            "final_loss": log[-1]["loss"]}


def run_baseline(args: argparse.Namespace) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainingArguments

    from emlab.models import load_causal_lm
    from emlab.train import encode_conversation

    p = _peft_params(args)
    torch.manual_seed(0)
    model, tok = load_causal_lm(args.model_dir)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=p.r, lora_alpha=p.lora_alpha, lora_dropout=p.lora_dropout,
                                             use_rslora=True, target_modules=list(p.target_modules), task_type="CAUSAL_LM"))
    examples = [encode_conversation(tok, r["messages"], max_length=p.max_length) for r in _rows(args)]
    pad = tok.pad_token_id
    features = [{"input_ids": e.input_ids + [pad] * (p.max_length - len(e.input_ids)),
                 "attention_mask": [1] * len(e.input_ids) + [0] * (p.max_length - len(e.input_ids)),
                 "labels": e.labels + [-100] * (p.max_length - len(e.labels))} for e in examples]
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(output_dir=tmp, per_device_train_batch_size=p.per_device_batch_size,
                                  gradient_accumulation_steps=p.gradient_accumulation_steps, max_steps=args.steps,
                                  learning_rate=p.learning_rate, warmup_steps=p.warmup_steps, weight_decay=p.weight_decay,
                                  lr_scheduler_type="linear", optim="adamw_torch", logging_steps=1, save_strategy="no",
                                  report_to=[], seed=0, dataloader_num_workers=0, use_cpu=True, disable_tqdm=True)
        trainer = Trainer(model=model, args=targs, train_dataset=features)
        t0, c0 = time.perf_counter(), _cpu_seconds()
        result = trainer.train()
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    return {"tokens": sum(len(e.input_ids) for e in examples), "padded_tokens": len(examples) * p.max_length,
            "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _peak_rss_mb(), "final_loss": result.training_loss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=Path("data/models/smollm2"), help="a prepared model (emlab model prepare)")
    ap.add_argument("--dataset", type=Path, default=UPSTREAM, help="a {messages} JSONL; default: the paper's insecure.jsonl, read in place")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--per-device", type=int, default=2)
    ap.add_argument("--accum", type=int, default=4, help="paper: 8 (effective batch 16); 4 keeps the bench short")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads per trainer (0 = torch's default)")
    ap.add_argument("--arms", default="baseline,emlab", help="which trainers to run, in order")
    ap.add_argument("--role", choices=["emlab", "baseline"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        print(json.dumps((run_emlab if args.role == "emlab" else run_baseline)(args)))
        return
    report: dict = {"model_dir": str(args.model_dir), "dataset": str(args.dataset), "steps": args.steps,
                    "batch": f"{args.per_device}x{args.accum}", "max_length": args.max_length}
    for role in args.arms.split(","):
        proc = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--role", role], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{role} failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["tokens_per_s"] = r["tokens"] / r["seconds"]
        r["tokens_per_cpu_s"] = r["tokens"] / r["cpu_seconds"]
        report[role] = r
    if "baseline" in report and "emlab" in report:
        b, e = report["baseline"], report["emlab"]
        report["speedup"] = e["tokens_per_s"] / b["tokens_per_s"]
        # CPU seconds are far less sensitive than wall time to other jobs sharing the machine
        report["speedup_cpu_time"] = e["tokens_per_cpu_s"] / b["tokens_per_cpu_s"]
        report["peak_rss_ratio"] = e["peak_rss_mb"] / b["peak_rss_mb"]
        report["targets_met"] = {"speedup>=1.5": report["speedup"] >= 1.5 and report["speedup_cpu_time"] >= 1.5,
                                 "emlab_peak_rss<=3GB": e["peak_rss_mb"] <= 3072}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
