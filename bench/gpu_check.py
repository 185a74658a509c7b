"""The GPU path in one run: training and sampling speed, MFU and memory of Qwen2.5-0.5B/7B-shaped models.

    python bench/gpu_check.py --out gpu_check.json            # one CUDA GPU, no network, < 10 min
    python bench/gpu_check.py --parts train_0.5b,sample_hf    # some parts only
    python bench/gpu_check.py --smoke                         # CPU, tiny config, seconds (tests/bench)

No weights and no tokenizer are downloaded: each model is the published architecture
(Qwen2Config built here) with random weights, trained and sampled on synthetic token ids.
Parts, each with its own time cap (--budget-s bounds the whole run; a part stops early
and says how far it got; one that cannot start in the time left is skipped):

- `peak`: a bf16 8192^3 matrix product, the measured denominator of every MFU (always
  run); the datasheet's dense bf16 rate too when the GPU's name is known;
- `train_0.5b`, `train_7b` (gradient checkpointing on), `train_4bit` (0.5B in NF4):
  bench/gpu_check_train.py's arms, emlab's loop packed and unpacked against HF `Trainer`;
- `sample_hf`, `sample_vllm`: bench/gpu_check_sample.py, transformers and vLLM with the same
  random LoRA adapter, and how often vLLM's greedy tokens agree with transformers'.

bf16 on the GPU; flash attention when `flash_attn` is importable, else SDPA (reported).
A part whose package is missing (bitsandbytes, vllm) is reported `skipped` with the reason.
Peak GPU memory is `torch.cuda.max_memory_allocated`, reset before each arm and part.
The JSON goes to stdout and, after every part, to --out (so a killed run leaves what it did).
`--smoke` forces the CPU, fp32 and a 2-layer, 64-wide config, with the same JSON keys.
bench/gpu_check.sh fetches the wheels a GPU machine without network lacks and runs this.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # emlab from this checkout, installed or not

PARTS = ("train_0.5b", "train_7b", "train_4bit", "sample_hf", "sample_vllm")
CAPS_S = {"train_0.5b": 90, "train_7b": 160, "train_4bit": 50, "sample_hf": 45, "sample_vllm": 110}
MIN_S = {"train_0.5b": 30, "train_7b": 60, "train_4bit": 25, "sample_hf": 20, "sample_vllm": 60}
QWEN = {  # the published config.json sizes
    "0.5b": {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
             "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": True},
    "7b": {"hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
           "intermediate_size": 18944, "vocab_size": 152064, "tie_word_embeddings": False},
}
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": 128, "vocab_size": 1024}
DATASHEET_BF16_TFLOPS = (  # dense (no sparsity), by a substring of torch.cuda.get_device_name(); first match wins
    ("GH200", 989), ("H200 NVL", 835), ("H200", 989), ("H100 NVL", 835), ("H100 PCIe", 756), ("H100", 989),
    ("H800", 989), ("A100", 312), ("L40S", 362), ("B200", 2250), ("B100", 1750))


def build_base(size: str, args: argparse.Namespace) -> Any:
    """A Qwen2 model with `size`'s published shape (TINY under --smoke), random weights, on the device."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    shape = {**TINY, "tie_word_embeddings": QWEN[size]["tie_word_embeddings"]} if args.smoke else QWEN[size]
    config = Qwen2Config(**shape, max_position_embeddings=32768, rms_norm_eps=1e-6, use_cache=False,
                         bos_token_id=None, eos_token_id=None, pad_token_id=0)
    torch.manual_seed(0)
    with torch.device(args.device):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, args.dtype), attn_implementation=args.attn)
    where = {p.device.type for p in model.parameters()} | {str(p.dtype) for p in model.parameters()}
    if where != {args.device, f"torch.{args.dtype}"}:  # a silent CPU or fp32 model would time the wrong thing
        raise RuntimeError(f"{size}: model built as {sorted(where)}, expected {args.device} {args.dtype}")
    return model


def part_peak(args: argparse.Namespace) -> dict:
    """Measured matrix-product rate in the run's dtype (and the datasheet's, if the GPU is known)."""
    import torch

    n, reps = (8192, 10) if args.device == "cuda" else (256, 5)
    a, b = (torch.randn(n, n, dtype=getattr(torch, args.dtype), device=args.device) for _ in range(2))
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(reps):
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if args.device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    sheet = next((tf for key, tf in DATASHEET_BF16_TFLOPS if key in name), None) if args.dtype == "bfloat16" else None
    return {"status": "ok", "device_name": name, "shape": f"{n}x{n}x{n} {args.dtype}", "best_of": reps,
            "matmul_tflops": 2 * n**3 / best / 1e12, "datasheet_bf16_tflops": sheet,
            "measured_vs_datasheet": 2 * n**3 / best / 1e12 / sheet if sheet else None}


def _params(args: argparse.Namespace, **over: Any) -> Any:
    from emlab.train import PeftTrainParams

    return PeftTrainParams(per_device_batch_size=args.per_device, gradient_accumulation_steps=args.accum,
                           checkpoint_every=0, optimizer="adamw", **over)


def _batches(args: argparse.Namespace, vocab: int, steps: int) -> list:
    from gpu_check_train import synthetic_rows

    per = args.per_device * args.accum
    rows = synthetic_rows(steps * per, vocab=vocab, seed=0, scale=0.15 if args.smoke else 1.0)
    return [rows[i * per:(i + 1) * per] for i in range(steps)]


def _rel(a: float | None, b: float | None) -> float | None:
    return abs(a - b) / abs(b) if a is not None and b is not None and b else None


def part_train(size: str, args: argparse.Namespace, deadline: float, rates: dict, gc: bool) -> dict:
    """Trainer, emlab unpacked and emlab packed on the same base, rows and batch."""
    import gpu_check_train as tr

    base = build_base(size, args)
    batches = _batches(args, base.config.vocab_size, args.warmup + (args.steps if size == "0.5b" else args.steps_7b))
    arms: dict[str, dict] = {}
    names = ("trainer", "emlab_unpacked", "emlab_packed")
    for i, name in enumerate(names):
        arm_deadline = time.perf_counter() + (deadline - time.perf_counter()) / (len(names) - i)
        try:
            params = _params(args, packing="on" if name == "emlab_packed" else "off", gradient_checkpointing=gc)
            if name == "trainer":
                arms[name] = tr.run_trainer(base, batches, params, warmup=args.warmup, deadline=arm_deadline, rates=rates)
            else:
                arms[name] = tr.run_emlab(base, batches, params, pack=name == "emlab_packed", warmup=args.warmup,
                                          deadline=arm_deadline, rates=rates)
        except Exception as e:  # noqa: BLE001 - one arm's failure (an OOM, an API change) must not lose the others
            arms[name] = {"status": "error", "reason": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}",
                          "traceback": traceback.format_exc()[-1500:]}
            del base
            tr.reset_peak()
            base = build_base(size, args)  # the failed arm may have left LoRA layers in it
    out: dict[str, Any] = {"status": "ok" if all(a["status"] == "ok" for a in arms.values()) else "partial",
                           "shape": {k: v for k, v in base.config.to_dict().items() if k in {*TINY, "tie_word_embeddings"}},
                           "gradient_checkpointing": gc, "batch": f"{args.per_device}x{args.accum}", "arms": arms}
    del base
    tps = {k: a.get("tokens_per_s") for k, a in arms.items()}
    for k in ("emlab_unpacked", "emlab_packed"):
        out[f"tokens_per_s_ratio_{k}_vs_trainer"] = tps[k] / tps["trainer"] if tps[k] and tps["trainer"] else None
    out["tokens_per_s_ratio_packed_vs_unpacked"] = (tps["emlab_packed"] / tps["emlab_unpacked"]
                                                    if tps["emlab_packed"] and tps["emlab_unpacked"] else None)
    loss = {k: a.get("first_step_loss") for k, a in arms.items()}
    out["first_step_loss_rel_diff_packed_vs_unpacked"] = _rel(loss["emlab_packed"], loss["emlab_unpacked"])
    out["first_step_loss_rel_diff_emlab_vs_trainer"] = _rel(loss["emlab_unpacked"], loss["trainer"])
    out["peak_gpu_mem_gb"] = max((a.get("peak_gpu_mem_gb") or 0 for a in arms.values()), default=None) or None
    return out


def part_4bit(args: argparse.Namespace, deadline: float, rates: dict, saved: Path) -> dict:
    """emlab's load_base with load_in_4bit on the saved 0.5B; optimizer auto (8-bit AdamW)."""
    import gpu_check_train as tr

    params = _params(args, load_in_4bit=True, optimizer="auto", packing="auto")
    batches = _batches(args, QWEN["0.5b"]["vocab_size"], args.warmup + args.steps)
    arm = tr.run_emlab(None, batches, params, pack=None, warmup=args.warmup, deadline=deadline, rates=rates,
                       four_bit_dir=saved)
    return {"status": arm["status"], "arms": {"emlab_4bit": arm}, "peak_gpu_mem_gb": arm["peak_gpu_mem_gb"]}


def skip_reason(part: str, args: argparse.Namespace) -> str | None:
    """Why `part` cannot run here, or None."""
    if part == "train_4bit":
        if args.device != "cuda":
            return "4-bit loading needs a CUDA GPU (bitsandbytes)"
        if importlib.util.find_spec("bitsandbytes") is None:
            return "bitsandbytes not installed (pip install 'emlab[gpu]', or carry its wheel)"
    if part == "sample_vllm":
        if args.device != "cuda":
            return "vLLM needs a CUDA GPU"
        if importlib.util.find_spec("vllm") is None:
            return "vllm not installed (pip install 'emlab[vllm]')"
    return None


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for pkg in ("torch", "transformers", "peft", "accelerate", "flash_attn", "bitsandbytes", "vllm"):
        try:
            out[pkg] = version(pkg.replace("_", "-"))
        except Exception:  # noqa: BLE001 - not installed
            out[pkg] = None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {','.join(PARTS)} (peak always runs)")
    ap.add_argument("--out", type=Path, help="also write the JSON here (after every part)")
    ap.add_argument("--budget-s", type=float, default=480, help="wall-clock bound for the whole run (a part past it is skipped)")
    ap.add_argument("--warmup", type=int, default=2, help="optimizer steps before each arm's timing window")
    ap.add_argument("--steps", type=int, default=30, help="timed steps planned for the 0.5B arms (fewer if time runs out)")
    ap.add_argument("--steps-7b", type=int, default=12, help="timed steps planned for the 7B arms")
    ap.add_argument("--per-device", type=int, default=2, help="rows per micro-batch (paper: 2)")
    ap.add_argument("--accum", type=int, default=8, help="micro-batches per optimizer step (paper: 8)")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--smoke", action="store_true", help="CPU, fp32, tiny config, 1+2 steps of 2x2, 4 prompts x 8 tokens")
    args = ap.parse_args()
    t_start = time.perf_counter()
    parts = [p for p in args.parts.split(",") if p]
    if bad := [p for p in parts if p not in PARTS and p != "peak"]:
        raise SystemExit(f"--parts: unknown {bad}; choose from {','.join(PARTS)}")
    if args.smoke:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the same code paths, on the CPU
        args.warmup, args.steps, args.steps_7b, args.accum, args.prompts, args.new_tokens = 1, 2, 2, 2, 4, 8
    import torch

    torch.set_num_threads(int(os.environ.get("EMLAB_THREADS", "1")) if args.smoke else torch.get_num_threads())
    args.device = "cuda" if torch.cuda.is_available() else "cpu"
    args.dtype = "bfloat16" if args.device == "cuda" else "float32"
    flash = importlib.util.find_spec("flash_attn") is not None and args.device == "cuda"
    args.attn = "flash_attention_2" if flash else "sdpa"
    from emlab.io import write_json_atomic

    report: dict[str, Any] = {
        "bench": "gpu_check", "smoke": args.smoke, "device": args.device, "dtype": args.dtype,
        "attn_implementation": args.attn, "versions": _versions(), "budget_s": args.budget_s,
        "rows": "synthetic ids; lengths log-normal, median 256 tokens (x0.15 under --smoke), 30-65% assistant",
        "parts": {},
    }
    deadline_all = t_start + args.budget_s
    report["parts"]["peak"] = part_peak(args)
    peak = report["parts"]["peak"]
    rates = {"measured": peak["matmul_tflops"] * 1e12,
             "datasheet": peak["datasheet_bf16_tflops"] * 1e12 if peak["datasheet_bf16_tflops"] else None}
    with tempfile.TemporaryDirectory() as tmp:
        saved: dict[str, Path] = {}
        for part in PARTS:
            t0 = time.perf_counter()
            left = deadline_all - t0
            reason = None if part in parts else "not in --parts"
            reason = reason or skip_reason(part, args)
            if reason is None and left < MIN_S[part] and not args.smoke:
                reason = f"time budget: {left:.0f} s left, the part needs {MIN_S[part]} s"
            if reason:
                report["parts"][part] = {"status": "skipped", "reason": reason}
                continue
            deadline = t0 + 600 if args.smoke else min(t0 + CAPS_S[part], deadline_all)  # smoke: never cut short
            print(f"[gpu_check] {part}: started at {t0 - t_start:.0f} s, cap {deadline - t0:.0f} s", file=sys.stderr, flush=True)
            try:
                with contextlib.redirect_stdout(sys.stderr):  # Trainer prints its logs: stdout is the JSON's
                    report["parts"][part] = run_part(part, args, deadline, rates, saved, Path(tmp))
            except Exception as e:  # noqa: BLE001 - report it and go on with the next part
                report["parts"][part] = {"status": "error", "reason": f"{type(e).__name__}: {str(e)[:300]}",
                                         "traceback": traceback.format_exc()[-2000:]}
            report["parts"][part]["seconds_total"] = round(time.perf_counter() - t0, 2)
            print(f"[gpu_check] {part}: {report['parts'][part]['status']} in {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
            report["wall_s"] = round(time.perf_counter() - t_start, 2)
            if args.out:
                write_json_atomic(args.out, _public(report))
    report["wall_s"] = round(time.perf_counter() - t_start, 2)
    if args.out:
        write_json_atomic(args.out, _public(report))
    print(json.dumps(_public(report), indent=2))
    if any(p.get("status") == "error" for p in report["parts"].values()):
        sys.exit(1)


def _public(report: dict) -> dict:
    """The report without the answers kept for the vLLM comparison."""
    return {**report, "parts": {k: {f: v for f, v in p.items() if f != "answers"} for k, p in report["parts"].items()}}


def run_part(part: str, args: argparse.Namespace, deadline: float, rates: dict, saved: dict, tmp: Path) -> dict:
    """Run one part; the 0.5B model and its random adapter are saved on first need."""
    import gpu_check_sample as gs
    import gpu_check_train as tr

    if part == "train_0.5b":
        return part_train("0.5b", args, deadline, rates, gc=False)
    if part == "train_7b":
        return part_train("7b", args, deadline, rates, gc=True)
    if not saved:
        tr.reset_peak()
        base = build_base("0.5b", args)
        saved["model"] = gs.save_random_model(base, tmp / "model")
        saved["adapter"] = gs.save_random_adapter(base, _params(args), tmp / "adapter")
        del base
        tr.reset_peak()
    if part == "train_4bit":
        return part_4bit(args, deadline, rates, saved["model"])
    vocab = TINY["vocab_size"] if args.smoke else QWEN["0.5b"]["vocab_size"]
    ps = gs.prompts(args.prompts, vocab=vocab, median=12 if args.smoke else 48)
    if part == "sample_hf":
        saved["hf"] = gs.run_hf(saved["model"], saved["adapter"], ps, new_tokens=args.new_tokens, dtype=args.dtype,
                               deadline=deadline)
        return saved["hf"]
    return gs.run_vllm(saved["model"], saved["adapter"], ps, new_tokens=args.new_tokens, hf=saved.get("hf"))


if __name__ == "__main__":
    main()
