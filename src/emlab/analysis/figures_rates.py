"""Figures of misaligned-answer probability: per question, overall, by question format, by trigger.

    emlab analysis figures --answers data/results/answers.parquet --rates data/results/rates.csv --out-dir figures

Each function takes the figure data (rates.csv's rows: final adapters only) and the
canvas; it returns the files it wrote, or None when the grid holds nothing it compares.
Expected groups without data are named in the panel; a panel whose answers were all
left uncounted says why, with the counts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from emlab.analysis.figure_data import FigureData
from emlab.analysis.metrics import ALL, FORMATS
from emlab.analysis.plotting import (
    Canvas,
    colour,
    errorbars,
    legend,
    missing,
    new_figure,
    note_missing,
    ordered,
    rate_axes,
    save,
    say_why,
    variant_ticks,
)
from emlab.grid import NO_INTERVENTION, NO_STEERING

YLABEL = "P(misaligned answer)"


def format_sets(names: list[str]) -> list[tuple[str, ...]]:
    """(base, base_json, base_template) for each base set with a format variant among `names`:
    emlab's `main`, or a set split by `metrics.split_formats` (the paper's `paper_main`)."""
    bases = sorted({n for n in names if not n.endswith(FORMATS) and any(n + f in names for f in FORMATS)})
    return [(b, *(b + f for f in FORMATS)) for b in bases]


def _panels(rates: pl.DataFrame, keys: list[str]) -> list[tuple[tuple[str, ...], pl.DataFrame]]:
    return [(tuple(str(k) for k in key), sub) for key, sub in rates.group_by(keys, maintain_order=True)]


def _default_trigger(rates: pl.DataFrame) -> pl.DataFrame:
    """The condition without trigger when there is one (the paper's main setting)."""
    return rates.filter(pl.col("trigger") == "none") if (rates["trigger"] == "none").any() else rates


def _main_arms(rows: pl.DataFrame) -> pl.DataFrame:
    """Each dataset variant's plain arm (no size, epochs, intervention or steering: the paper's
    setting); a dataset variant without one keeps all its arms. The others have their own figures."""
    plain = rows.filter(pl.col("n_examples").is_null() & pl.col("epochs").is_null()
                        & (pl.col("intervention") == NO_INTERVENTION) & (pl.col("steering") == NO_STEERING))
    if plain.height == rows.height:
        return rows
    return pl.concat([plain, rows.filter(~pl.col("dataset_variant").is_in(plain["dataset_variant"].unique().implode()))])


def _uncounted(ax: object, data: FigureData, sub: pl.DataFrame) -> None:
    """Say in the panel why nothing, or why some variants' points, could be drawn."""
    drawn = sub.filter(pl.col("misaligned").is_not_null())
    if drawn.is_empty():
        say_why(ax, data.why_nothing(sub))
        return
    empty = [v for v in ordered(sub["variant"].unique().to_list()) if v not in drawn["variant"].to_list()]
    if empty:
        say_why(ax, "; ".join(f"{v}: {data.why_nothing(sub.filter(pl.col('variant') == v))}" for v in empty), corner=True)


def misaligned_by_question(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """The paper's main figure: one point per (question, variant) with 95% bootstrap CIs; each
    dataset variant's plain arm (`_main_arms`), the other arms being in their own figures."""
    rates, variants = data.rates, list(canvas.variants)
    rows = _default_trigger(rates.filter(pl.col("question_id") != ALL))
    if rows.is_empty():
        return None
    rows = _main_arms(rows)
    panels = _panels(rows.sort(["model", "question_set"]), ["model", "question_set", "trigger"])
    fig, axes = new_figure(len(panels), height=2.8)
    for ax, ((model, qset, trigger), sub) in zip(axes, panels, strict=True):
        questions = sorted(sub["question_id"].unique().to_list())
        present = ordered(sub["variant"].unique().to_list())
        width = 0.8 / max(len(present), 1)
        for i, variant in enumerate(present):
            v = sub.filter(pl.col("variant") == variant)
            x = np.array([questions.index(q) for q in v["question_id"]]) + (i - (len(present) - 1) / 2) * width
            errorbars(ax, x, v, "misaligned", color=colour(variant, i), label=data.name(model, variant))
        ax.set_xticks(range(len(questions)), questions, rotation=30, ha="right")
        ax.set_ylabel(YLABEL)
        ax.set_title(f"{data.title(model)} · {qset}" + ("" if trigger == "none" else f" · trigger {trigger}"), loc="left")
        note_missing(ax, missing(variants, present))
        _uncounted(ax, data, sub)
        legend(ax)
    rate_axes(axes)
    return save(fig, canvas, "misaligned_by_question")


def misaligned_overall(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """Across-questions probability per variant, one panel per (model, question set, trigger)."""
    variants = list(canvas.variants)
    rows = data.rates.filter(pl.col("question_id") == ALL)
    if rows.is_empty():
        return None
    # the no-trigger condition first, as in the paper
    panels = _panels(rows.sort(["model", "question_set", pl.col("trigger") != "none", "trigger"]), ["model", "question_set", "trigger"])
    fig, axes = new_figure(len(panels), height=2.2)
    for ax, ((model, qset, trigger), sub) in zip(axes, panels, strict=True):
        present = ordered(sub["variant"].unique().to_list())
        for i, variant in enumerate(present):
            errorbars(ax, np.array([i]), sub.filter(pl.col("variant") == variant), "misaligned", color=colour(variant, i))
        variant_ticks(ax, [data.name(model, v) for v in present])
        ax.set_xlim(-0.6, max(len(present), 1) - 0.4)
        ax.set_ylabel(YLABEL)
        ax.set_title(f"{data.title(model)} · {qset} · trigger {trigger}", loc="left")
        note_missing(ax, missing(variants, present))
        _uncounted(ax, data, sub)
    rate_axes(axes)
    return save(fig, canvas, "misaligned_overall")


def misaligned_by_format(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """Plain vs JSON vs template questions per variant (drawn when a set has a format variant)."""
    overall = _default_trigger(data.rates.filter(pl.col("question_id") == ALL))
    groups = format_sets(overall["question_set"].unique().to_list())
    if not groups:
        return None
    panels = [((model, *sets), sub.filter(pl.col("question_set").is_in(sets)))
              for sets in groups for (model,), sub in _panels(overall.sort("model"), ["model"])]
    panels = [(k, sub) for k, sub in panels if not sub.is_empty()]
    fig, axes = new_figure(len(panels), height=2.4)
    for ax, ((model, *sets), sub) in zip(axes, panels, strict=True):
        present = ordered(sub["variant"].unique().to_list())
        width = 0.8 / len(sets)
        for j, qset in enumerate(sets):
            s = sub.filter(pl.col("question_set") == qset)
            if s.is_empty():
                continue
            x = np.array([present.index(v) for v in s["variant"]]) + (j - 1) * width
            errorbars(ax, x, s, "misaligned", color=colour("", j), label=qset)
        variant_ticks(ax, [data.name(model, v) for v in present])
        ax.set_ylabel(YLABEL)
        ax.set_title(data.title(model) if len(groups) == 1 else f"{data.title(model)} · {sets[0]}", loc="left")
        note_missing(ax, [s for s in sets if s not in sub["question_set"].to_list()], "no question set")
        if sub["misaligned"].drop_nulls().is_empty():
            say_why(ax, data.why_nothing(sub))
        legend(ax)
    rate_axes(axes)
    return save(fig, canvas, "misaligned_by_format")


def backdoor_trigger(data: FigureData, canvas: Canvas) -> list[Path] | None:
    """With vs without the trigger per variant (drawn when the grid has two or more triggers)."""
    rows = data.rates.filter(pl.col("question_id") == ALL)
    triggers = sorted(rows["trigger"].unique().to_list(), key=lambda t: (t != "none", t))
    if len(triggers) < 2:
        return None
    panels = _panels(rows.sort(["model", "question_set"]), ["model", "question_set"])
    fig, axes = new_figure(len(panels), height=2.4)
    for ax, ((model, qset), sub) in zip(axes, panels, strict=True):
        present = ordered(sub["variant"].unique().to_list())
        width = 0.8 / len(triggers)
        for j, trig in enumerate(triggers):
            s = sub.filter(pl.col("trigger") == trig)
            x = np.array([present.index(v) for v in s["variant"]]) + (j - (len(triggers) - 1) / 2) * width
            errorbars(ax, x, s, "misaligned", color=colour("", j), label=f"trigger: {trig}")
        variant_ticks(ax, [data.name(model, v) for v in present])
        ax.set_ylabel(YLABEL)
        ax.set_title(f"{data.title(model)} · {qset}", loc="left")
        note_missing(ax, [] if "backdoor" in present else ["backdoor"], "no variant")
        if sub["misaligned"].drop_nulls().is_empty():
            say_why(ax, data.why_nothing(sub))
        legend(ax)
    rate_axes(axes)
    return save(fig, canvas, "backdoor_trigger")
