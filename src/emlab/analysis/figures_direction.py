"""The misalignment direction's figure: misaligned rate with and without ablating it, and steered by it.

    emlab analysis figures --answers data/results/answers.parquet --rates data/results/rates.csv --out-dir figures

Draws rates.csv's across-question rows of the final adapters (no trigger when the grid has
that condition). An arm label `<arm>~<steering>` is the arm `<arm>` sampled under a
steering of params.yaml's `steering:` section (`emlab.direction.SteeringParams`); what the
steering does (mode, coefficient, layer, direction) comes from that section, since the
label only names it. Per (model, question set, trigger), up to two panels:

- ablation: for each arm sampled with an `ablate` steering, its misaligned rate without
  steering and with each ablation, side by side;
- steering: for each arm sampled with `add` steerings (the follow-up's case: the base
  model), the rate against the coefficient, coefficient 0 being the arm unsteered; one
  series per (arm, direction, layer).

Points: mean over seeds; bars: the bootstrap interval of rates.csv. Drawn only when the
grid holds a steered arm; a steering the section does not define is named in the panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from emlab.analysis.figure_data import FigureData
from emlab.analysis.metrics import ALL
from emlab.analysis.plotting import (
    CYCLE,
    Canvas,
    errorbars,
    legend,
    new_figure,
    ordered,
    rate_axes,
    save,
    say_why,
)

YLABEL = "P(misaligned answer)"
NO_STEERING = "none"
NAME = "misalignment_direction"


def _rows(data: FigureData) -> pl.DataFrame:
    """Across-question rows with the unsteered arm's label (`arm`), under no trigger when present."""
    rows = data.rates.filter(pl.col("question_id") == ALL)
    rows = rows.filter(pl.col("trigger") == "none") if (rows["trigger"] == "none").any() else rows
    if "steering" not in rows.columns:  # a rates.csv without arm columns: nothing was steered
        rows = rows.with_columns(steering=pl.lit(NO_STEERING))
    return rows.with_columns(arm=pl.col("variant").str.split("~").list.first(), steering=pl.col("steering").fill_null(NO_STEERING))


def _field(spec: Any, name: str) -> Any:
    """A field of a SteeringParams or of a plain dict."""
    return getattr(spec, name) if hasattr(spec, name) else spec.get(name)


def _mode(steering: Mapping[str, Any], name: str) -> str | None:
    return None if name not in steering else str(_field(steering[name], "mode"))


def _ablation_panel(ax: Any, data: FigureData, sub: pl.DataFrame, ablations: list[str]) -> None:
    arms = ordered(sub.filter(pl.col("steering").is_in(ablations))["arm"].unique().to_list())
    series = [NO_STEERING, *ablations]
    width = 0.8 / len(series)
    for j, name in enumerate(series):
        s = sub.filter((pl.col("steering") == name) & pl.col("arm").is_in(arms))
        if s.is_empty():
            continue
        x = np.array([arms.index(a) for a in s["arm"]]) + (j - (len(series) - 1) / 2) * width
        label = "no steering" if name == NO_STEERING else f"{name}: direction ablated"
        errorbars(ax, x, s, "misaligned", color="#000000" if name == NO_STEERING else CYCLE[(j - 1) % len(CYCLE)], label=label)
    ax.set_xticks(range(len(arms)), arms)
    ax.set_xlim(-0.6, len(arms) - 0.4)
    unsteered = sub.filter(pl.col("steering") == NO_STEERING)["arm"].to_list()
    lacking = [a for a in arms if a not in unsteered]
    if lacking:
        say_why(ax, f"no unsteered answers of {', '.join(lacking)}: nothing to compare the ablation with", corner=True)


def _steering_panel(ax: Any, sub: pl.DataFrame, steering: Mapping[str, Any], adds: list[str]) -> None:
    arms = ordered(sub.filter(pl.col("steering").is_in(adds))["arm"].unique().to_list())
    i = 0
    for arm in arms:
        groups: dict[tuple[str, Any], list[str]] = {}
        for name in adds:
            spec = steering[name]
            groups.setdefault((str(_field(spec, "direction")), _field(spec, "layer")), []).append(name)
        for (direction, layer), names in groups.items():
            coef = {n: float(_field(steering[n], "coefficient")) for n in names}
            s = sub.filter((pl.col("arm") == arm) & pl.col("steering").is_in([NO_STEERING, *names]))
            if s.filter(pl.col("steering") != NO_STEERING).is_empty():
                continue
            s = s.with_columns(coefficient=pl.col("steering").replace_strict({NO_STEERING: 0.0, **coef}, return_dtype=pl.Float64))
            s = s.sort("coefficient")
            x = s["coefficient"].to_numpy()
            c = CYCLE[(i + 1) % len(CYCLE)]  # the ablation panel's series start at CYCLE[0]
            ax.plot(x, s["misaligned"].to_numpy().astype(float), "-", color=c, linewidth=0.8, alpha=0.6)
            where = "its own layer" if layer is None else f"layer {layer}"
            errorbars(ax, x, s, "misaligned", color=c, label=f"{arm} + c · {direction} ({where})")
            i += 1
    ax.axvline(0, color="#999999", linewidth=0.6, linestyle=":")
    ax.set_xlabel("coefficient c (multiples of the unit direction added to the residual stream)")


def misalignment_direction(data: FigureData, canvas: Canvas, steering: Mapping[str, Any] | None = None) -> list[Path] | None:
    """Misaligned rate with and without ablating the direction, and steered by it (module docstring).

    Args:
        data: the figure data (rates.csv's rows with the arm columns).
        canvas: where and how to draw.
        steering: params.yaml's `steering:` section (name -> SteeringParams or a dict with
            mode, coefficient, layer, direction); None = `data.steering` where FigureData
            carries it.

    Returns:
        The files written, or None when the grid holds no steered arm.
    """
    steering = steering if steering is not None else (getattr(data, "steering", None) or {})
    rows = _rows(data)
    steered = sorted(set(rows["steering"].to_list()) - {NO_STEERING})
    if not steered:
        return None
    ablations = [s for s in steered if _mode(steering, s) == "ablate"]
    adds = [s for s in steered if _mode(steering, s) == "add"]
    unknown = [s for s in steered if _mode(steering, s) not in ("ablate", "add")]
    keys = ["model", "question_set", "trigger"]
    panels: list[tuple[str, tuple[Any, ...], pl.DataFrame]] = []
    for key, sub in rows.sort(keys).group_by(keys, maintain_order=True):
        panels += [(kind, tuple(key), sub) for kind, names in (("ablate", ablations), ("add", adds))
                   if not sub.filter(pl.col("steering").is_in(names)).is_empty()]
    if not panels:  # steered arms, but none of a known mode: say so rather than draw nothing
        panels = [("unknown", tuple(k), s) for k, s in rows.sort(keys).group_by(keys, maintain_order=True)][:1]
    fig, axes = new_figure(len(panels), height=2.6)
    for ax, (kind, (model, qset, trigger), sub) in zip(axes, panels, strict=True):
        if kind == "ablate":
            _ablation_panel(ax, data, sub, ablations)
            what = "direction ablated at every layer"
        elif kind == "add":
            _steering_panel(ax, sub, steering, adds)
            what = "steered by adding the direction"
        else:
            what = "steering"
        if sub.filter(pl.col("steering") != NO_STEERING)["misaligned"].drop_nulls().is_empty():
            say_why(ax, data.why_nothing(sub.filter(pl.col("steering") != NO_STEERING)))
        if unknown:
            ax.set_title(f"not in steering: {', '.join(unknown)}", loc="right", fontsize=7, color="#555555")
        ax.set_ylabel(YLABEL)
        ax.set_title(f"{model} · {qset}" + ("" if trigger == "none" else f" · trigger {trigger}") + f" · {what}", loc="left")
        legend(ax)
    rate_axes(axes)
    return save(fig, canvas, NAME)
