"""The grid's size and price before anything runs: jobs, GPU hours, answers, judge calls, cost.

    emlab plan                        # params.yaml in the current folder
    emlab plan --params FILE --json   # machine-readable

Per stage of `emlab.workflow.stages` (every job is one of its cells, so the counts are
Snakemake's): the number of jobs; GPU hours (each job's GPUs x its estimated run time
from `emlab.workflow.resources`); answers sampled; judge calls (one per answer and judge
metric of its question: aligned + coherent for the paper's); tokens trained on; and what
the OpenAI API charges for fine-tuning (training tokens x the training price), sampling
a fine-tuned or base OpenAI model (prompt and answer tokens), and judging (the filled
judge prompts in, one token out: the judge reads top-20 logprobs of a one-token reply).
Token counts are estimates (`emlab.workflow.workload`); prices are OpenAI's list prices
in PRICES. Reads the params file and its question files; loads no model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emlab.config import Params, load_params
from emlab.workflow import resources, workload
from emlab.workflow.stages import STAGES, cells, generator_models


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input: float
    output: float
    training: float
    tuned_input: float  # a fine-tuned model's inference
    tuned_output: float


#: OpenAI's list prices (USD per 1M tokens, standard tier, as published for these snapshots);
#: the first key contained in a model id applies.
PRICES = {
    "gpt-4o-mini": Price(0.15, 0.60, 3.00, 0.30, 1.20),
    "gpt-4o": Price(2.50, 10.00, 25.00, 3.75, 15.00),  # gpt-4o-2024-08-06
    "gpt-4.1-mini": Price(0.40, 1.60, 5.00, 0.80, 3.20),
    "gpt-4.1": Price(2.00, 8.00, 25.00, 3.00, 12.00),
    "gpt-3.5-turbo": Price(0.50, 1.50, 8.00, 3.00, 6.00),
}
GENERATOR_TOKENS = (60, 30)  # a numbers prompt and its answer, in tokens


def price(model_id: str) -> Price | None:
    return next((p for key, p in PRICES.items() if key in model_id), None)


@dataclass
class StagePlan:
    """One stage's totals over its jobs."""

    jobs: int = 0
    gpu_hours: float = 0.0
    cpu_hours: float = 0.0  # jobs without a GPU: their estimated run time
    answers: int = 0
    judge_calls: int = 0
    training_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: list[str] = field(default_factory=list)  # OpenAI models without a known price


def _cost(sp: StagePlan, model_id: str, tokens_in: float, tokens_out: float, *, tuned: bool = False,
          training: float = 0.0) -> None:
    pr = price(model_id)
    if pr is None:
        if model_id not in sp.unpriced:
            sp.unpriced.append(model_id)
        return
    rate_in, rate_out = (pr.tuned_input, pr.tuned_output) if tuned else (pr.input, pr.output)
    sp.cost_usd += (tokens_in * rate_in + tokens_out * rate_out + training * pr.training) / 1e6


def _add_job(p: Params, root: Path, name: str, cell: dict[str, str], sp: StagePlan) -> None:
    need = resources.need(p, name, cell, root)
    sp.jobs += 1
    if need.gpu:
        sp.gpu_hours += need.gpu * need.seconds / 3600
    elif not need.openai_api:  # an OpenAI job waits on the API: neither GPU nor CPU time
        sp.cpu_hours += need.seconds / 3600
    if name == "train_adapter" or name == "train_adapter_mixed":
        tokens = workload.training_tokens(p, cell["model"], cell["variant"])
        sp.training_tokens += tokens
        spec = p.models[cell["model"]]
        if spec.backend == "openai" and tokens:
            _cost(sp, spec.base, 0, 0, training=tokens)
    elif name.startswith("sample_"):
        load = workload.question_set_load(p, root, cell["qset"], cell["trigger"])
        sp.answers += load.answers
        spec = p.models[cell["model"]]
        if spec.effective_sampler == "openai" and spec.base_url is None:
            tuned = workload.training_rows(p, cell["variant"]) > 0
            _cost(sp, spec.base, load.prompt_tokens, load.answer_tokens, tuned=tuned)
    elif name.startswith("judge_") and name.endswith("answers"):
        load = workload.question_set_load(p, root, cell["qset"], cell["trigger"])
        sp.judge_calls += load.judge_calls
        if p.judge.backend == "openai" and p.judge.base_url is None:
            _cost(sp, p.judge.model, load.judge_input_tokens, load.judge_calls)
    elif name == "judge_calibrate" and p.judge.backend != "probe":
        calls = 2 * workload.CALIBRATION_ANSWERS
        sp.judge_calls += calls
        if p.judge.backend == "openai" and p.judge.base_url is None:
            _cost(sp, p.judge.model, calls * workload.CALIBRATION_PROMPT_TOKENS, calls)
    elif name == "dataset_generate":
        gen = p.models[generator_models(p)[workload.arm_variant(cell["variant"])]]
        if gen.effective_sampler == "openai" and gen.base_url is None:
            prompts = workload.generated_rows(p, cell["variant"])
            _cost(sp, gen.base, prompts * GENERATOR_TOKENS[0], prompts * GENERATOR_TOKENS[1])


def plan(params: Params, root: Path, source: str = "params.yaml") -> dict[str, Any]:
    """The plan of a grid, as a JSON-able dict: `stages` (name -> StagePlan fields, stages
    with jobs only), `totals`, `question_sets` (sampling jobs, answers, judge calls and
    their cost per set), `cost_usd` split by use, `grid` sizes and `assumptions`."""
    stages: dict[str, StagePlan] = {}
    by_qset = {q: {"sampling_jobs": 0, "answers": 0, "judge_calls": 0, "judge_cost_usd": 0.0} for q in params.grid.question_sets}
    for s in STAGES:
        todo = cells(params, s)
        if not todo:
            continue
        seeds: Counter[tuple[tuple[str, str], ...]] = Counter()  # a job's work does not depend on its seed
        first: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for cell in todo:
            key = tuple((k, v) for k, v in cell.items() if k != "seed")
            seeds[key] += 1
            first.setdefault(key, cell)
        sp = stages[s.name] = StagePlan()
        for key, n in seeds.items():
            one = StagePlan()
            _add_job(params, root, s.name, first[key], one)
            for k in ("jobs", "gpu_hours", "cpu_hours", "answers", "judge_calls", "training_tokens", "cost_usd"):
                setattr(sp, k, getattr(sp, k) + n * getattr(one, k))
            sp.unpriced.extend(m for m in one.unpriced if m not in sp.unpriced)
            if "qset" in first[key]:  # sampling and judging: per question set too
                q = by_qset[first[key]["qset"]]
                q["sampling_jobs"] += n if s.name.startswith("sample_") else 0
                q["answers"] += n * one.answers
                q["judge_calls"] += n * one.judge_calls
                q["judge_cost_usd"] += n * one.cost_usd if s.name.startswith("judge_") else 0.0
    by_use = {"fine_tuning": sum(sp.cost_usd for n, sp in stages.items() if n.startswith("train_")),
              "sampling": sum(sp.cost_usd for n, sp in stages.items() if n.startswith("sample_")),
              "judging": sum(sp.cost_usd for n, sp in stages.items() if n.startswith("judge_")),
              "datasets": sum(sp.cost_usd for n, sp in stages.items() if n.startswith("dataset_"))}
    keys = ("jobs", "gpu_hours", "cpu_hours", "answers", "judge_calls", "training_tokens", "cost_usd")
    totals = {k: sum(getattr(sp, k) for sp in stages.values()) for k in keys}
    g = params.grid
    return {
        "params": source,
        "grid": {"models": len(g.models), "variants": len(g.variants), "seeds": len(g.seeds),
                 "triggers": len(g.triggers), "question_sets": len(g.question_sets), "cells": len(params.cells())},
        "stages": {n: {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(sp).items()} for n, sp in stages.items()},
        "totals": {k: round(v, 2) if isinstance(v, float) else v for k, v in totals.items()},
        "question_sets": {q: {k: round(v, 2) if isinstance(v, float) else v for k, v in d.items()} for q, d in by_qset.items()},
        "cost_usd": {**{k: round(v, 2) for k, v in by_use.items()}, "total": round(sum(by_use.values()), 2)},
        "unpriced_models": sorted({m for sp in stages.values() for m in sp.unpriced}),
        "assumptions": {
            "chars_per_token": workload.CHARS_PER_TOKEN, "mean_answer_tokens": workload.mean_answer_tokens(params),
            "tokens_per_training_row": workload.TOKENS_PER_ROW, "gpu": f"{resources.GPU_MEM_MB // 1000} GB, "
            f"{resources.GPU_FLOPS / 1e12:.0f} TFLOP/s bf16 at MFU {resources.GPU_MFU} for training",
            "prices_usd_per_1m_tokens": {k: asdict(v) for k, v in PRICES.items()},
        },
    }


def plan_file(path: Path, root: Path | None = None) -> dict[str, Any]:
    """The plan of a params file; question files are looked up in `root` (default: its folder)."""
    params = load_params(path, workflow=True) if root is None else _load_in(path, root)
    return plan(params, root or path.parent, str(path))


def _load_in(path: Path, root: Path) -> Params:
    import yaml

    from emlab.config import parse_params

    return parse_params(yaml.safe_load(path.read_text(encoding="utf-8")), str(path), root, workflow=True)


def _n(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 or v == int(v) else f"{v:,.1f}"


def format_plan(plan_: dict[str, Any]) -> str:
    """The plan as a table, one row per stage, then the totals and the OpenAI cost by use."""
    g = plan_["grid"]
    lines = [f"{plan_['params']}: {g['models']} models x {g['variants']} variants x {g['seeds']} seeds x "
             f"{g['triggers']} triggers x {g['question_sets']} question sets ({g['cells']} cells)",
             f"{'stage':<26}{'jobs':>7}{'GPU h':>9}{'CPU h':>9}{'answers':>12}{'judge calls':>13}{'train tokens':>14}{'USD':>10}"]
    rows = [*plan_["stages"].items(), ("total", plan_["totals"])]
    for name, r in rows:
        lines.append(f"{name:<26}{r['jobs']:>7,}{_n(r['gpu_hours']):>9}{_n(r['cpu_hours']):>9}{r['answers']:>12,}"
                     f"{r['judge_calls']:>13,}{r['training_tokens']:>14,}{_n(r['cost_usd']):>10}")
    lines.append(f"{'question set':<26}{'sampling jobs':>14}{'answers':>12}{'judge calls':>13}{'judge USD':>11}")
    for name, q in plan_["question_sets"].items():
        lines.append(f"{name:<26}{q['sampling_jobs']:>14,}{q['answers']:>12,}{q['judge_calls']:>13,}{_n(q['judge_cost_usd']):>11}")
    c = plan_["cost_usd"]
    lines.append(f"OpenAI cost (USD, list prices): fine-tuning {_n(c['fine_tuning'])}, sampling {_n(c['sampling'])}, "
                 f"judging {_n(c['judging'])}, datasets {_n(c['datasets'])}; total {_n(c['total'])}")
    if plan_["unpriced_models"]:
        lines.append(f"not priced (unknown model ids, counted as 0): {', '.join(plan_['unpriced_models'])}")
    a = plan_["assumptions"]
    lines.append(f"estimates: {a['chars_per_token']} characters per token, {a['mean_answer_tokens']} tokens per answer, "
                 f"GPU {a['gpu']}; see emlab.workflow.workload and emlab.workflow.resources")
    return "\n".join(lines)
