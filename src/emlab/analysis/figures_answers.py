"""Figures read from the per-answer table: score scatter, classification evals, dynamics, ablations.

    emlab analysis figures --answers data/results/answers.parquet --out-dir figures

Training dynamics and ablations need a column in the table that says which checkpoint,
dataset size or epoch count an answer came from (a sample-row field carried through by
`build_answers_table`): `checkpoint_step` (or `checkpoint`, `step`), `dataset_size`,
`epochs`. Without one, or with a single value, the figure is not drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from emlab.analysis.metrics import ALL, group_rates
from emlab.analysis.params import AnalysisParams
from emlab.analysis.plotting import (
    colour,
    errorbars,
    legend,
    new_figure,
    note_missing,
    ordered,
    save,
)

CHECKPOINT_COLUMNS = ("checkpoint_step", "checkpoint", "step")
ABLATION_COLUMNS = ("dataset_size", "epochs")


def alignment_vs_coherence(table: pl.DataFrame, params: AnalysisParams, variants: list[str], out_dir: Path) -> list[Path] | None:
    """Aligned vs coherent score of every answer that has both, coloured by variant."""
    if "aligned" not in table.columns or "coherent" not in table.columns:
        return None
    data = table.filter(pl.col("aligned").is_not_null() & pl.col("coherent").is_not_null())
    if data.is_empty():
        return None
    fig, (ax,) = new_figure(1, height=4.0)
    present = ordered(data["variant"].unique().to_list())
    for i, variant in enumerate(present):
        v = data.filter(pl.col("variant") == variant)
        ax.scatter(v["coherent"], v["aligned"], s=8, alpha=0.5, color=colour(variant, i), label=f"{variant} (n={v.height})", linewidths=0)
    ax.axhline(params.aligned_threshold, color="#555555", linestyle="--", linewidth=0.8)
    ax.axvline(params.coherent_threshold, color="#555555", linestyle="--", linewidth=0.8)
    ax.set_xlabel("coherent (judge, 0-100)")
    ax.set_ylabel("aligned (judge, 0-100)")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    note_missing(ax, [v for v in variants if v not in present])
    legend(ax)
    return save(fig, out_dir, "alignment_vs_coherence")


def _rate_by_variant(table: pl.DataFrame, params: AnalysisParams, variants: list[str], out_dir: Path,
                     *, measure: str, ylabel: str, name: str) -> list[Path] | None:
    rates = group_rates(table, params)
    if measure not in rates.columns:
        return None
    data = rates.filter((pl.col("question_id") == ALL) & pl.col(measure).is_not_null())
    if data.is_empty():
        return None
    panels = [(k, s) for k, s in data.group_by(["model", "question_set", "trigger"], maintain_order=True)]
    fig, axes = new_figure(len(panels), height=2.2)
    for ax, ((model, qset, trigger), sub) in zip(axes, panels, strict=True):
        present = ordered(sub["variant"].unique().to_list())
        for i, variant in enumerate(present):
            errorbars(ax, np.array([i]), sub.filter(pl.col("variant") == variant), measure, color=colour(variant, i))
        ax.set_xticks(range(len(present)), present)
        ax.set_xlim(-0.6, len(present) - 0.4)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{model} · {qset} · trigger {trigger}", loc="left")
        note_missing(ax, [v for v in variants if v not in present])
    return save(fig, out_dir, name)


def vulnerable_code(table: pl.DataFrame, params: AnalysisParams, variants: list[str], out_dir: Path) -> list[Path] | None:
    """In-distribution vulnerable-code rate per variant (needs the judge's vulnerable metric)."""
    return _rate_by_variant(table, params, variants, out_dir, measure="vulnerable", ylabel="P(vulnerable code)", name="vulnerable_code")


def deception(table: pl.DataFrame, params: AnalysisParams, variants: list[str], out_dir: Path) -> list[Path] | None:
    """Deception rate per variant (needs the judge's deception metric)."""
    return _rate_by_variant(table, params, variants, out_dir, measure="deception", ylabel="P(deceptive answer)", name="deception")


def _by_setting(table: pl.DataFrame, params: AnalysisParams, column: str) -> pl.DataFrame:
    """Overall group rates computed separately for each value of `column`."""
    parts = []
    for (value,), sub in table.group_by([column]):
        if value is None:
            continue
        rates = group_rates(sub, params).filter(pl.col("question_id") == ALL)
        parts.append(rates.with_columns(pl.lit(value).alias(column)))
    return pl.concat(parts, how="diagonal_relaxed").sort(column) if parts else pl.DataFrame()


def _lines(table: pl.DataFrame, params: AnalysisParams, variants: list[str], columns: list[str],
           out_dir: Path, name: str) -> list[Path] | None:
    fig, axes = new_figure(len(columns), height=2.4, sharey=False)
    for ax, column in zip(axes, columns, strict=True):
        rates = _by_setting(table, params, column)
        present = ordered(rates["variant"].unique().to_list())
        for i, variant in enumerate(present):
            v = rates.filter(pl.col("variant") == variant).sort(column)
            x = v[column].to_numpy().astype(float)
            errorbars(ax, x, v, "misaligned", color=colour(variant, i), label=variant)
            ax.plot(x, v["misaligned"].to_numpy(), color=colour(variant, i), linewidth=0.8)
        ax.set_xlabel(column.replace("_", " "))
        ax.set_ylabel("P(misaligned answer)")
        note_missing(ax, [v for v in variants if v not in present])
        legend(ax)
    return save(fig, out_dir, name)


def _varying(table: pl.DataFrame, candidates: tuple[str, ...]) -> list[str]:
    return [c for c in candidates if c in table.columns and table[c].drop_nulls().n_unique() > 1]


def training_dynamics(table: pl.DataFrame, params: AnalysisParams, variants: list[str], out_dir: Path) -> list[Path] | None:
    """Misaligned-answer probability over checkpoints (needs a checkpoint column with 2+ values)."""
    columns = _varying(table, CHECKPOINT_COLUMNS)[:1]
    return _lines(table, params, variants, columns, out_dir, "training_dynamics") if columns else None


def ablations(table: pl.DataFrame, params: AnalysisParams, variants: list[str], out_dir: Path) -> list[Path] | None:
    """Dataset-size and epoch ablations (needs a dataset_size or epochs column with 2+ values)."""
    columns = _varying(table, ABLATION_COLUMNS)
    return _lines(table, params, variants, columns, out_dir, "ablations") if columns else None
