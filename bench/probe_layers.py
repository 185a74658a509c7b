"""Which layer should the probe judge read? Grouped cross-validated AUROC per layer and ridge strength.

    python bench/probe_layers.py --model-dir data/models/smollm2 [--labelled FILE ...] \
        [--layers 2,4,6,8,10,12,14,16,18,20,24,28,30] [--l2 0.001,0.01,0.1,1] [--threads 1]

One forward pass per answer gives every layer at once (hooks on each requested layer; the
layers above the highest never run); the features are cached under
`.emlab-cache/probe-features/` keyed by the labelled data's sha256, the model and the
layers. For every (layer, l2) the heads are cross-validated exactly as `emlab judge
probe-train` does (folds of questions, `emlab.judge.probe_head.cross_validate`). Prints
JSON: per layer and l2 the mean-over-folds and pooled out-of-fold AUROC per scale, the
best setting by the lower of the two scales' mean AUROC, and the forward pass's
answers/s. The baseline is layer 0 in the same process: the mean of the answer's token
embeddings (no decoder layer), whose AUROC the chosen layer's is reported against.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emlab.io import sha256_text
from emlab.judge.labelled_sets import load_labelled
from emlab.judge.probe_head import SCALES, cross_validate


def _embedding_features(feats: object, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Layer 0: the mean input embedding of the answer's tokens (the no-context baseline)."""
    import torch

    emb = feats.body.embed_tokens  # type: ignore[attr-defined]
    out = np.zeros((len(pairs), emb.weight.shape[1]))
    with torch.inference_mode():
        for i, (q, a) in enumerate(pairs):
            enc = feats.encode(q, a)  # type: ignore[attr-defined]
            ids = torch.tensor([t for t, m in zip(enc.ids, enc.answer_mask, strict=True) if m] or [0])
            out[i] = emb(ids).mean(0).double().numpy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=Path("data/models/smollm2"))
    ap.add_argument("--labelled", type=Path, action="append", default=None)
    ap.add_argument("--layers", default="2,4,6,8,10,12,14,16,18,20,22,24,26,28,30")
    ap.add_argument("--l2", default="0.001,0.01,0.1,1")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=Path(".emlab-cache/probe-features"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from emlab.judge.probe import ProbeFeatures
    from emlab.models import read_record

    data = load_labelled(args.labelled)
    layers = [int(x) for x in args.layers.split(",")]
    l2s = [float(x) for x in args.l2.split(",")]
    pairs = [(r.question, r.answer) for r in data.rows]
    key = sha256_text(json.dumps([data.sha256, read_record(args.model_dir), layers]))[:16]
    cache = args.cache / f"{key}.npz"
    seconds = None
    if cache.exists():
        feats_by_layer = {int(k[1:]): v for k, v in np.load(cache).items()}
    else:
        feats = ProbeFeatures(args.model_dir, layers, batch_size=args.batch_size)
        t0 = time.perf_counter()
        got = feats.features(pairs)
        seconds = time.perf_counter() - t0
        got[0] = _embedding_features(feats, pairs)
        feats_by_layer = got
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **{f"L{k}": v for k, v in got.items()})
    keep = ~np.isnan(feats_by_layer[layers[0]]).any(axis=1)
    rows = [r for r, k in zip(data.rows, keep, strict=True) if k]
    results: dict[str, dict[str, dict[str, object]]] = {}
    for layer in [0, *layers]:
        x = feats_by_layer[layer][keep]
        for l2 in l2s:
            _, _, report = cross_validate(x, rows, l2, args.folds)
            results.setdefault(str(layer), {})[str(l2)] = {
                s: {"auroc_mean": report[s]["auroc_mean"], "auroc_pooled": report[s]["auroc_pooled"],
                    "per_fold": report[s]["per_fold"]} for s in SCALES}

    def worst(r: dict[str, dict[str, object]]) -> float:
        return min(float(r[s]["auroc_mean"] or 0) for s in SCALES)  # type: ignore[index, arg-type]

    best = max(((int(lay), float(l2)) for lay in results if lay != "0" for l2 in results[lay]),
               key=lambda t: (worst(results[str(t[0])][str(t[1])]), -t[0]))
    base = max(results["0"].values(), key=worst)
    chosen = results[str(best[0])][str(best[1])]
    print(json.dumps({
        "bench": "probe_layers", "model": read_record(args.model_dir).get("base"), "threads": args.threads,
        "labelled_sha256": data.sha256, "rows": len(rows), "n_questions": len({r.group for r in rows}), "folds": args.folds,
        "forward_answers_per_s": None if seconds is None else len(pairs) / seconds,
        "best": {"layer": best[0], "l2": best[1], **{s: chosen[s]["auroc_mean"] for s in SCALES}},  # type: ignore[index]
        "baseline_layer0": {s: base[s]["auroc_mean"] for s in SCALES},  # type: ignore[index]
        "ratio_min_auroc_best_vs_layer0": worst(chosen) / max(worst(base), 1e-9),
        "by_layer": results,
    }, indent=1))


if __name__ == "__main__":
    main()
