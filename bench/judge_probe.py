"""Probe judge vs prompted local judge on the same answers: judgments per second, and AUROC.

    python bench/judge_probe.py --model-dir data/models/smollm2 --probe-head data/judge/probe \
        [--labelled FILE ...] [--n 64] [--threads 1]

Takes `--n` labelled answers (every k-th row of the set, so both classes and many
questions come in) and judges both scales of each twice in one process, models loaded
beforehand: the prompted transformers judge as the default params configure it (short
prompts, "Score: " prefix, non-digit end, batch 8) through `LocalBackend`, and the probe
judge through `ProbeBackend` (one forward pass per answer for both scales). Prints JSON:
judgments/s of each, their ratio (probe / prompted), and each judge's AUROC on these rows
against the reference scores; the probe scores rows whose question its head was trained
on with the fold head that never saw that question (`emlab judge calibrate` does the same).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from emlab.analysis.params import AnalysisParams
from emlab.judge.calibrate import Judged, agreement_metrics
from emlab.judge.labelled_sets import load_labelled
from emlab.judge.params import JudgeParams
from emlab.judge.prompts import SHORT_PROMPTS, JudgeTask, tasks_for_sample


def _timed(backend: Any, tasks: list[JudgeTask]) -> tuple[float, dict[tuple[str, str], dict[str, Any]]]:
    replies: dict[tuple[str, str], dict[str, Any]] = {}
    t0 = time.perf_counter()
    backend.judge(tasks, lambda t, r: replies.__setitem__((t.sample_id, t.metric), r))
    return time.perf_counter() - t0, replies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=Path("data/models/smollm2"))
    ap.add_argument("--probe-head", type=Path, required=True)
    ap.add_argument("--labelled", type=Path, action="append", default=None)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from emlab.judge.aggregate import score_raw_row
    from emlab.judge.probe import ProbeBackend
    from emlab.judge.probe_head import load_head
    from emlab.judge.run import LocalBackend, probe_tasks

    data = load_labelled(args.labelled)
    step = max(1, len(data.rows) // args.n)
    rows = data.rows[::step][: args.n]
    tasks = [t for r in rows for t in tasks_for_sample(sample_id=r.id, question_text=r.question, answer=r.answer,
                                                        qtype="free_form_judge_0_100", judge_prompts=dict(SHORT_PROMPTS),
                                                        choices=None, prompts="question")]
    head = load_head(args.probe_head)
    prompted_params = JudgeParams(backend="transformers", model="smollm2", prompts="short", reply_prefix="Score: ",
                                  number_end="non_digit", batch_size=8)
    probe_params = JudgeParams(backend="probe", model=head.meta["model"], probe_layer=head.layer, batch_size=8)
    prompted = LocalBackend(prompted_params, args.model_dir)
    probe = ProbeBackend(probe_params, args.model_dir, args.probe_head)
    t_prompted, r_prompted = _timed(prompted, tasks)
    t_probe, _ = _timed(probe, probe_tasks(tasks))

    prompted_judged = [Judged(*(score_raw_row({"kind": "logprobs_0_100", **r_prompted[(r.id, m)]}).value for m in ("aligned", "coherent")))  # type: ignore[arg-type]
                       for r in rows]
    x = probe.features.features([(r.question, r.answer) for r in rows])[head.layer]
    probe_judged = [Judged(*(float(head.score(xi[None, :], s, head.fold_of(r))[0]) for s in ("aligned", "coherent")))  # type: ignore[arg-type]
                    for r, xi in zip(rows, x, strict=True) if not np.isnan(xi).any()]
    analysis = AnalysisParams()
    m_prompted = agreement_metrics(rows, prompted_judged, analysis)
    m_probe = agreement_metrics([r for r, xi in zip(rows, x, strict=True) if not np.isnan(xi).any()], probe_judged, analysis)
    n = len(tasks)
    print(json.dumps({
        "bench": "judge_probe", "threads": args.threads, "answers": len(rows), "judgments": n,
        "prompted_judgments_per_s": n / t_prompted, "probe_judgments_per_s": n / t_probe,
        "ratio_probe_vs_prompted": t_prompted / t_probe,
        "probe_layer": head.layer, "probe_head_sha256": head.sha256,
        "probe_rows_out_of_fold": sum(head.fold_of(r) is not None for r in rows),
        "auroc": {"prompted": {s: m_prompted[f"auroc_{s}"] for s in ("aligned", "coherent")},
                  "probe": {s: m_probe[f"auroc_{s}"] for s in ("aligned", "coherent")}},
        "paper_thresholds": {"prompted": {k: m_prompted[k] for k in ("recall_misaligned", "false_positive_rate")},
                             "probe": {k: m_probe[k] for k in ("recall_misaligned", "false_positive_rate")}},
    }, indent=1))


if __name__ == "__main__":
    main()
