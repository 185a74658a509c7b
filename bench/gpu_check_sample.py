"""Sampling arms of bench/gpu_check.py: transformers and vLLM, both with the same random LoRA adapter.

    python bench/gpu_check.py --parts sample_hf,sample_vllm

The base (Qwen2.5-0.5B's architecture, random weights) is saved once as a prepared model
folder (model.json + weights/), and a random rsLoRA adapter (emlab's settings, both
matrices random so that it changes the answers) beside it with an `adapter.json`, so
both samplers read the files emlab's sampling stage reads. Prompts are synthetic token
ids (log-normal lengths, median 48 tokens: a question in a chat template); every answer
is exactly --new-tokens long (no EOS: the model is random), decoded greedily.

- `sample_hf`: the model with the adapter applied by emlab's `load_peft_for_inference`,
  `generate` on left-padded batches of the transformers sampler's default size (32), as
  `emlab.sample.transformers_sampler` calls it; also the same prompts with the adapter
  disabled (the adapter must change the answers, or the vLLM check below proves nothing)
  and in float32 (`vs_fp32`: how far bf16 rounding alone moves random-weight greedy answers: the
  floor for the vLLM agreement).
- `sample_vllm`: vLLM's `LLM` with `enable_lora` and emlab's `lora_rank`, token-id prompts
  (no tokenizer), the adapter per request, greedy; token-level agreement with the
  transformers answers (share of answer positions holding the same token), the mean
  shared prefix, and the share of first tokens that agree. `peak_gpu_mem_gb` is this
  process's; `gpu_mem_used_gb_device` the whole GPU's after decoding (KV cache included).
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

from gpu_check_train import peak_gb, reset_peak, sync

BATCH = 32  # SampleParams().batch_size, the transformers sampler's default


def save_random_model(model: Any, folder: Path) -> Path:
    """`model` saved as a prepared emlab model folder: model.json + weights/."""
    model.save_pretrained(str(folder / "weights"))
    (folder / "model.json").write_text(json.dumps({"name": "random", "kind": "local", "path": "weights"}))
    return folder


def save_random_adapter(model: Any, params: Any, folder: Path) -> Path:
    """A random rsLoRA adapter for `model` (A and B both random), with its adapter.json."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    lora = LoraConfig(r=params.r, lora_alpha=params.lora_alpha, use_rslora=params.use_rslora,
                      target_modules=list(params.target_modules), init_lora_weights=False, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    peft_model.save_pretrained(str(folder))
    (folder / "adapter.json").write_text(json.dumps({"backend": "peft", "model": "random", "variant": "bench"}))
    peft_model.unload()
    return folder


def prompts(n: int, *, vocab: int, seed: int = 0, median: int = 48) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(3, vocab) for _ in range(max(8, int(math.exp(rng.gauss(math.log(median), 0.4)))))]
            for _ in range(n)]


def hf_generate(model: Any, batch_prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
    """Greedy answers, `new_tokens` each, left-padded batches of BATCH."""
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                              use_cache=True, eos_token_id=None, pad_token_id=0)
    device = next(model.parameters()).device
    out: list[list[int]] = []
    for i in range(0, len(batch_prompts), BATCH):
        chunk = batch_prompts[i:i + BATCH]
        width = max(len(p) for p in chunk)
        ids = torch.tensor([[0] * (width - len(p)) + p for p in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=device)
        with torch.inference_mode():
            gen = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        out += gen[:, width:].tolist()
    return out


def agreement(a: list[list[int]], b: list[list[int]]) -> dict[str, float]:
    """Token-level agreement, mean shared prefix (as a share of the answer) and first-token agreement."""
    same = sum(x == y for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))
    total = sum(len(r) for r in a)

    def prefix(ra: list[int], rb: list[int]) -> int:
        return next((i for i, (x, y) in enumerate(zip(ra, rb, strict=True)) if x != y), len(ra))

    return {"token_agreement": same / total,
            "prefix_share": sum(prefix(ra, rb) / len(ra) for ra, rb in zip(a, b, strict=True)) / len(a),
            "first_token_agreement": sum(ra[0] == rb[0] for ra, rb in zip(a, b, strict=True)) / len(a)}


def run_hf(model_dir: Path, adapter_dir: Path, ps: list[list[int]], *, new_tokens: int, dtype: str,
           deadline: float) -> dict:
    """emlab's adapter loading, then greedy generate: tokens/s, plus the no-adapter and fp32 answers."""
    import torch
    from transformers import AutoModelForCausalLM

    from emlab.train import load_peft_for_inference

    reset_peak()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base = AutoModelForCausalLM.from_pretrained(str(model_dir / "weights"), dtype=getattr(torch, dtype)).to(device)
    model = load_peft_for_inference(base, adapter_dir)
    hf_generate(model, ps[:2], 2)  # warm-up
    sync()
    t0 = time.perf_counter()
    answers = hf_generate(model, ps, new_tokens)
    sync()
    seconds = time.perf_counter() - t0
    n = sum(len(a) for a in answers)
    out: dict[str, Any] = {"status": "ok", "prompts": len(ps), "batch_size": BATCH, "new_tokens": new_tokens,
                           "generated_tokens": n, "seconds": round(seconds, 4), "tokens_per_s": n / seconds,
                           "peak_gpu_mem_gb": peak_gb(), "adapter_changes_tokens": None, "vs_fp32": None, "answers": answers}
    if time.perf_counter() + 3 * seconds > deadline:  # the two comparisons cost about two timed runs
        return {**out, "status": "partial", "reason": "time cap: no-adapter and fp32 comparisons left out"}
    with model.disable_adapter():
        out["adapter_changes_tokens"] = 1 - agreement(answers, hf_generate(model, ps, new_tokens))["token_agreement"]
    del model, base
    reset_peak()
    fp32 = AutoModelForCausalLM.from_pretrained(str(model_dir / "weights"), dtype=torch.float32).to(device)
    out["vs_fp32"] = agreement(answers, hf_generate(load_peft_for_inference(fp32, adapter_dir), ps, new_tokens))
    return out


def _device_used_gb() -> float:
    """Memory in use on the whole GPU: vLLM's engine may run in a child process this one cannot see."""
    import torch

    free, total = torch.cuda.mem_get_info()
    return round((total - free) / 2**30, 3)


def run_vllm(model_dir: Path, adapter_dir: Path, ps: list[list[int]], *, new_tokens: int, hf: dict | None) -> dict:
    """vLLM with the adapter per request: tokens/s and agreement with the transformers answers."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    from emlab.sample.vllm_sampler import lora_rank

    reset_peak()
    t0 = time.perf_counter()
    llm = LLM(model=str(model_dir / "weights"), skip_tokenizer_init=True, dtype="bfloat16", seed=0,
              enable_lora=True, max_lora_rank=lora_rank(adapter_dir), max_loras=1, enforce_eager=True,
              gpu_memory_utilization=0.5, max_model_len=2048)
    startup = time.perf_counter() - t0
    lora = LoRARequest("bench", 1, str(adapter_dir))
    sampling = SamplingParams(temperature=0.0, max_tokens=new_tokens, ignore_eos=True, detokenize=False)
    inputs = [{"prompt_token_ids": p} for p in ps]
    llm.generate(inputs[:2], sampling, lora_request=lora, use_tqdm=False)  # warm-up
    t0 = time.perf_counter()
    outs = llm.generate(inputs, sampling, lora_request=lora, use_tqdm=False)
    seconds = time.perf_counter() - t0
    answers = [list(o.outputs[0].token_ids) for o in outs]
    n = sum(len(a) for a in answers)
    out: dict[str, Any] = {"status": "ok", "prompts": len(ps), "new_tokens": new_tokens, "generated_tokens": n,
                           "engine_start_s": round(startup, 2), "seconds": round(seconds, 4), "tokens_per_s": n / seconds,
                           "enforce_eager": True, "peak_gpu_mem_gb": peak_gb(), "gpu_mem_used_gb_device": _device_used_gb()}
    if hf and hf.get("answers"):
        out["vs_hf"] = agreement(hf["answers"], answers)
        out["tokens_per_s_ratio_vs_hf"] = out["tokens_per_s"] / hf["tokens_per_s"]
    del llm
    return out
