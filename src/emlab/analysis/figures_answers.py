"""Figures of scores and companion rates: score scatter, classification evals, training dynamics.

    emlab analysis figures --answers data/results/answers.parquet --rates data/results/rates.csv --out-dir figures

The scatter reads the final adapters' answers; vulnerable code and deception read
rates.csv. Training dynamics needs a column in the answers table that says which
checkpoint an answer came from (a sample-row field carried through by
`build_answers_table`): `checkpoint_step` (or `checkpoint`, `step`); its rates per step
are not in rates.csv and are computed with the same `group_rates`. It is the one figure
with kept checkpoints' answers; without such a column, or with a single value, it is not
drawn. The base model is evaluated once: its answers are drawn at every step.
(Dataset-size and epoch ablations are arms of the grid: `figures_arms`.)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

from emlab.analysis.figure_data import FigureData, rates_by
from emlab.analysis.metrics import ALL
from emlab.analysis.plotting import (
    Canvas,
    colour,
    errorbars,
    legend,
    missing,
    new_figure,
    note_missing,
    ordered,
    save,
    say_why,
    variant_ticks,
)

CHECKPOINT_COLUMNS = ("checkpoint_step", "checkpoint", "step")
LINESTYLES = ("-", "--", ":", "-.")


def alignment_vs_coherence(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """Aligned vs coherent score of every final answer that has both, coloured by variant."""
    table, params = data.final, data.params
    if "aligned" not in table.columns or "coherent" not in table.columns:
        return None
    scored = table.filter(pl.col("aligned").is_not_null() & pl.col("coherent").is_not_null())
    fig, (ax,) = new_figure(1, height=4.0)
    present = ordered(scored["variant"].unique().to_list())
    for i, variant in enumerate(present):
        v = scored.filter(pl.col("variant") == variant)
        ax.scatter(v["coherent"], v["aligned"], s=8, alpha=0.5, color=colour(variant, i), label=f"{variant} (n={v.height})", linewidths=0)
    ax.axhline(params.aligned_threshold, color="#555555", linestyle="--", linewidth=0.8)
    ax.axvline(params.coherent_threshold, color="#555555", linestyle="--", linewidth=0.8)
    ax.set_xlabel("coherent (judge, 0-100)")
    ax.set_ylabel("aligned (judge, 0-100)")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    if scored.is_empty():
        n = table.height
        unscored = table.filter(pl.col("coherent").is_null() | pl.col("aligned").is_null()).height
        reason = data.unscored_reason()
        say_why(ax, f"no answer with both scores: {unscored} of {n} unscored by the judge" + (f" ({reason})" if reason else ""))
    note_missing(ax, missing(canvas.variants, present))
    legend(ax)
    return save(fig, canvas, "alignment_vs_coherence")


def _nothing_scored(data: FigureData, canvas: Canvas, metric: str, ylabel: str, name: str) -> list[Path] | None:
    """A figure saying why, when the judge was asked for `metric` but scored no answer; else None."""
    final = data.final
    if metric not in final.columns or f"{metric}_unscored" not in final.columns:
        return None
    asked = final.filter(pl.col(f"{metric}_unscored").fill_null("") != "not judged")
    if asked.is_empty() or asked[metric].drop_nulls().len():
        return None
    reasons = asked[f"{metric}_unscored"].drop_nulls().value_counts(sort=True)
    top = f" ({reasons.row(0)[0]})" if reasons.height else ""
    fig, (ax,) = new_figure(1, height=2.2)
    ax.set_ylabel(ylabel)
    say_why(ax, f"no answer scored: {asked.height} of {asked.height} left unscored by the judge's {metric} metric{top}")
    return save(fig, canvas, name)


def _rate_by_variant(data: FigureData, canvas: Canvas, *, measure: str, metric: str, ylabel: str, name: str) -> list[Path] | None:
    rows = data.rates.filter((pl.col("question_id") == ALL) & pl.col(measure).is_not_null()) if measure in data.rates.columns else None
    if rows is None or rows.is_empty():
        return _nothing_scored(data, canvas, metric, ylabel, name)
    panels = [(k, s) for k, s in rows.group_by(["model", "question_set", "trigger"], maintain_order=True)]
    fig, axes = new_figure(len(panels), height=2.2)
    for ax, ((model, qset, trigger), sub) in zip(axes, panels, strict=True):
        present = ordered(sub["variant"].unique().to_list())
        for i, variant in enumerate(present):
            errorbars(ax, np.array([i]), sub.filter(pl.col("variant") == variant), measure, color=colour(variant, i))
        variant_ticks(ax, [data.name(model, v) for v in present])
        ax.set_xlim(-0.6, len(present) - 0.4)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{data.title(model)} · {qset} · trigger {trigger}", loc="left")
        note_missing(ax, missing(canvas.variants, present))
    return save(fig, canvas, name)


def vulnerable_code(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """In-distribution vulnerable-code rate per variant (needs the judge's vulnerable metric)."""
    return _rate_by_variant(data, canvas, measure="vulnerable", metric=data.params.vulnerable_metric,
                            ylabel="P(vulnerable code)", name="vulnerable_code")


def deception(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """Deception rate per variant (needs the judge's deception metric)."""
    return _rate_by_variant(data, canvas, measure="deception", metric=data.params.deception_metric,
                            ylabel="P(deceptive answer)", name="deception")


def _lines(data: FigureData, canvas: Canvas, columns: list[str], name: str, *, final_only: bool) -> list[Path] | None:
    fig, axes = new_figure(len(columns), height=2.4, sharey=False)
    for ax, column in zip(axes, columns, strict=True):
        rates = rates_by(data.answers, data.params, column, final_only=final_only)
        present = ordered(rates["variant"].unique().to_list())
        # one line per group: a variant's conditions (model, trigger, question set) are never joined
        conditions = rates.select("model", "trigger", "question_set").unique().sort(["model", "question_set", "trigger"]).rows()
        for i, variant in enumerate(present):
            for j, (model, trigger, qset) in enumerate(conditions):
                v = rates.filter((pl.col("variant") == variant) & (pl.col("model") == model) & (pl.col("trigger") == trigger)
                                 & (pl.col("question_set") == qset)).sort(column)
                if v.is_empty():
                    continue
                shown = data.name(model, variant)
                label = shown if len(conditions) == 1 else f"{shown} · {model} · {qset} · trigger {trigger}"
                x = v[column].to_numpy().astype(float)
                errorbars(ax, x, v, "misaligned", color=colour(variant, i), label=label)
                ax.plot(x, v["misaligned"].to_numpy(), color=colour(variant, i), linewidth=0.8, linestyle=LINESTYLES[j % len(LINESTYLES)])
        if rates["misaligned"].drop_nulls().is_empty():
            say_why(ax, data.why_nothing(rates))
        ax.set_xlabel(column.replace("_", " "))
        ax.set_ylabel("P(misaligned answer)")
        note_missing(ax, missing(canvas.variants, present))
        legend(ax)
    return save(fig, canvas, name)


def _varying(table: pl.DataFrame, candidates: tuple[str, ...]) -> list[str]:
    return [c for c in candidates if c in table.columns and table[c].drop_nulls().n_unique() > 1]


def base_at_every_step(answers: pl.DataFrame, column: str) -> pl.DataFrame:
    """The base model's answers at each step the table holds: the base is not trained, so
    the workflow evaluates it once (its final answers) and the figure draws it flat, as the
    reference the finetunes start from. A table that has base rows at some step keeps them."""
    is_base = pl.col("variant") == "base"
    base = answers.filter(is_base)
    steps = answers[column].drop_nulls().unique().sort()
    if base.is_empty() or base[column].drop_nulls().len() or steps.is_empty():
        return answers
    across = base.drop(column).join(pl.DataFrame({column: steps}), how="cross").select(answers.columns)
    return pl.concat([answers.filter(~is_base), across])


def training_dynamics(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """Misaligned-answer probability over checkpoints (kept ones and the final adapter's last step)."""
    columns = _varying(data.answers, CHECKPOINT_COLUMNS)[:1]
    if not columns:
        return None
    data = replace(data, answers=base_at_every_step(data.answers, columns[0]))
    return _lines(data, canvas, columns, "training_dynamics", final_only=False)
