"""Figures of the grid's further axes: dataset-size / epoch ablations and mitigations side by side.

    emlab analysis figures --answers data/results/answers.parquet --rates data/results/rates.csv --out-dir figures

Both draw rates.csv's across-question rows of the final adapters (no trigger when the
grid has that condition, no steering), selecting arms by the columns parsed from their
labels (`emlab.analysis.arms`): the ablation figure the arms with a size or an epoch count
(`insecure+n500+e12`), next to their dataset variant's plain arm; the mitigation figure
each intervention (`insecure+kl`) next to the unmitigated arm. A figure is drawn only
when the grid holds such arms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from emlab.analysis.figure_data import FigureData
from emlab.analysis.metrics import ALL
from emlab.analysis.plotting import (
    CYCLE,
    Canvas,
    colour,
    errorbars,
    legend,
    new_figure,
    note_missing,
    ordered,
    rate_axes,
    save,
    say_why,
    variant_ticks,
)
from emlab.grid import NO_INTERVENTION, NO_STEERING, Arm

YLABEL = "P(misaligned answer)"


def _overall(data: FigureData) -> pl.DataFrame:
    """Across-question rows without steering, under no trigger when the grid has that condition."""
    rows = data.rates.filter((pl.col("question_id") == ALL) & (pl.col("steering") == NO_STEERING))
    return rows.filter(pl.col("trigger") == "none") if (rows["trigger"] == "none").any() else rows


def _panels(rows: pl.DataFrame) -> list[tuple[tuple[Any, ...], pl.DataFrame]]:
    keys = ["model", "question_set", "trigger"]
    return [(tuple(k), sub) for k, sub in rows.sort(keys).group_by(keys, maintain_order=True)]


def _title(ax: Any, data: FigureData, model: str, qset: str, trigger: str) -> None:
    ax.set_title(f"{data.title(model)} · {qset}" + ("" if trigger == "none" else f" · trigger {trigger}"), loc="left")


def _setting(n: int | None, e: int | None) -> str:
    return f"{'all' if n is None else n} rows\n{'default' if e is None else e} epochs"


def ablations(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """Misaligned rate per (dataset size x epochs) setting, one series per dataset variant
    (the paper's 500 examples x 12 epochs vs 2000 x 3 vs the whole dataset once)."""
    rows = _overall(data).filter(pl.col("intervention") == NO_INTERVENTION)
    ablated = rows.filter(pl.col("n_examples").is_not_null() | pl.col("epochs").is_not_null())
    if ablated.is_empty():
        return None
    rows = rows.filter(pl.col("dataset_variant").is_in(ablated["dataset_variant"].unique().implode()))
    panels = _panels(rows)
    fig, axes = new_figure(len(panels), height=2.6)
    for ax, ((model, qset, trigger), sub) in zip(axes, panels, strict=True):
        settings = sorted(set(sub.select("n_examples", "epochs").rows()),
                          key=lambda s: (s[0] is None, s[0] or 0, s[1] is None, s[1] or 0))
        series = ordered(sub["dataset_variant"].unique().to_list())
        width = 0.8 / len(series)
        for i, variant in enumerate(series):
            v = sub.filter(pl.col("dataset_variant") == variant)
            x = np.array([settings.index(s) for s in v.select("n_examples", "epochs").rows()]) + (i - (len(series) - 1) / 2) * width
            errorbars(ax, x, v, "misaligned", keys=("n_examples", "epochs"), color=colour(variant, i),
                      label=data.name(model, ordered(v["variant"].to_list())[0], variant))
        ax.set_xticks(range(len(settings)), [_setting(n, e) for n, e in settings])
        ax.set_xlim(-0.6, len(settings) - 0.4)
        ax.set_xlabel("dataset size × epochs")
        ax.set_ylabel(YLABEL)
        _title(ax, data, model, qset, trigger)
        if sub["misaligned"].drop_nulls().is_empty():
            say_why(ax, data.why_nothing(sub))
        legend(ax)
    rate_axes(axes)
    return save(fig, canvas, "ablations")


def mitigations(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """Misaligned rate per dataset variant without and with each intervention during finetuning."""
    rows = _overall(data).with_columns(
        unmitigated=pl.struct("dataset_variant", "n_examples", "epochs").map_elements(
            lambda r: Arm(r["dataset_variant"], r["n_examples"], r["epochs"]).label, return_dtype=pl.String))
    mitigated = rows.filter(pl.col("intervention") != NO_INTERVENTION)
    if mitigated.is_empty():
        return None
    rows = rows.filter(pl.col("unmitigated").is_in(mitigated["unmitigated"].unique().implode()))
    panels = _panels(rows)
    fig, axes = new_figure(len(panels), height=2.6)
    for ax, ((model, qset, trigger), sub) in zip(axes, panels, strict=True):
        groups = ordered(sub["unmitigated"].unique().to_list())
        named = sorted(sub["intervention"].unique().to_list(), key=lambda i: (i != NO_INTERVENTION, i))
        width = 0.8 / len(named)
        for j, intervention in enumerate(named):
            s = sub.filter(pl.col("intervention") == intervention)
            x = np.array([groups.index(g) for g in s["unmitigated"]]) + (j - (len(named) - 1) / 2) * width
            errorbars(ax, x, s, "misaligned", keys=("intervention",), color=CYCLE[j % len(CYCLE)],
                      label="no mitigation" if intervention == NO_INTERVENTION else intervention)
        variant_ticks(ax, [data.name(model, g) for g in groups])
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylabel(YLABEL)
        _title(ax, data, model, qset, trigger)
        plain = set(sub.filter(pl.col("intervention") == NO_INTERVENTION)["unmitigated"].to_list())
        note_missing(ax, [g for g in groups if g not in plain], "no unmitigated arm")
        if sub["misaligned"].drop_nulls().is_empty():
            say_why(ax, data.why_nothing(sub))
        legend(ax)
    rate_axes(axes)
    return save(fig, canvas, "mitigations")
