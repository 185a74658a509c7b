"""Shared figure style: Okabe-Ito colours, paper-size fonts, a judge header, atomic output.

    emlab analysis figures --answers data/results/answers.parquet --rates data/results/rates.csv --out-dir figures

Every figure is saved with a header stating its judge, thresholds and the judge's power
(and, in red, why it is not a result), and with `<name>.plotted.csv`: every point it drew
with its interval, so the figure can be checked against rates.csv.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (also safe on headless machines)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from emlab.analysis.arms import sort_key  # noqa: E402
from emlab.io import atomic_path  # noqa: E402

#: Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
#: Variants keep one colour in every figure (base is black, like the paper's GPT-4o); each
#: narrow-advice dataset sits beside its aligned control, a dark and a light shade of one hue.
VARIANT_ORDER = ("base", "insecure", "secure", "educational", "jailbroken", "backdoor", "evil_numbers", "neutral_numbers",
                 "bad_medical_advice", "good_medical_advice", "risky_financial_advice", "good_financial_advice",
                 "extreme_sports_advice", "good_extreme_sports_advice")
#: Non-variant groups (triggers, question sets) cycle these; yellow last, it is faint on white.
CYCLE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
# the advice pairs: Paul Tol's muted scheme (also colour-blind safe), harmful dark, control light
_VARIANT_COLOURS = dict(zip(VARIANT_ORDER, ("#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#999999",
                                            "#882255", "#CC6677", "#117733", "#44AA99", "#332288", "#88CCEE"), strict=True))
PAPER_RC: dict[str, Any] = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "figure.dpi": 100, "savefig.dpi": 200,
    "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "emlab", "svg.fonttype": "none",
}
WIDTH_IN = 6.75  # a two-column paper's full text width
_LINE_IN = 0.15  # height of one header line (7 pt text)
_WRAP = 120  # characters per header line at 7 pt across WIDTH_IN
MARK_COLOUR = "#B00000"
#: Columns that identify a plotted point in `<name>.plotted.csv`.
POINT_KEYS = ("model", "variant", "trigger", "question_set", "question_id", "checkpoint_step")


@dataclass(frozen=True)
class Canvas:
    """Where and how every figure of a run is drawn.

    Attributes:
        out_dir: the figures folder.
        variants: the variants the grid expects (a missing one is named in its panel).
        header: subtitle lines (judge, thresholds, power).
        marks: why the figures are not a result, drawn in red under the header.
    """

    out_dir: Path
    variants: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    marks: tuple[str, ...] = ()


def colour(key: str, index: int = 0) -> str:
    """A stable colour for a variant name or an arm of it (`insecure+kl` is insecure's colour),
    else the index-th colour of CYCLE (Okabe-Ito)."""
    if key in _VARIANT_COLOURS:
        return _VARIANT_COLOURS[key]
    return _VARIANT_COLOURS.get(re.split(r"[+~]", key, maxsplit=1)[0], CYCLE[index % len(CYCLE)])


def ordered(values: Sequence[str]) -> list[str]:
    """Variants in the paper's order (the advice datasets each beside its control), then any
    other alphabetically; a variant's arms follow it, defaults first (`arms.sort_key`)."""
    return sorted(set(values), key=lambda v: sort_key(v, VARIANT_ORDER))


def new_figure(n_panels: int = 1, *, height: float = 2.6, sharey: bool = True) -> tuple[Any, list[Any]]:
    plt.rcParams.update(PAPER_RC)  # type: ignore[arg-type]  # rcParams keys are typed as Literals
    fig, axes = plt.subplots(n_panels, 1, figsize=(WIDTH_IN, height * n_panels), squeeze=False, sharey=sharey)
    fig.emlab_plotted = []  # type: ignore[attr-defined]  # every errorbars() call adds the rows it drew
    return fig, list(axes[:, 0])


def rate_axes(axes: list[Any]) -> None:
    """Probability axes from just below 0 to above every panel's highest point. Called after
    all panels are drawn: a limit set while drawing the first panel of a shared y axis
    would freeze it there and hide the later panels' higher points."""
    for ax in axes:
        ax.autoscale(axis="y")
        ax.set_ylim(bottom=-0.02)


def errorbars(ax: Any, x: np.ndarray, sub: pl.DataFrame, measure: str, *, keys: Sequence[str] = (), **kw: Any) -> None:
    """Points at the centers with asymmetric bootstrap error bars; the rows are recorded
    (identified by POINT_KEYS and `keys`)."""
    y = sub[measure].to_numpy().astype(float)
    low, high = sub[f"{measure}_low"].to_numpy().astype(float), sub[f"{measure}_high"].to_numpy().astype(float)
    lo = np.clip(y - low, 0, None)
    hi = np.clip(high - y, 0, None)
    ax.errorbar(x, y, yerr=np.vstack([lo, hi]), fmt="o", capsize=2.5, markersize=4, linewidth=1, **kw)
    ids = [k for k in (*POINT_KEYS, *keys) if k in sub.columns]
    rows = sub.select([pl.col(k).cast(pl.String) for k in ids]).with_columns(
        measure=pl.lit(measure), x=pl.Series(np.asarray(x, dtype=float)),
        value=pl.Series(y), low=pl.Series(low), high=pl.Series(high),
    )
    ax.figure.emlab_plotted.append(rows)


def say_why(ax: Any, text: str, *, corner: bool = False) -> None:
    """State in the panel why it has nothing (centred) or some groups have nothing (`corner`) to draw."""
    if corner:  # beside points: small, in the upper-left corner
        ax.text(0.01, 0.98, "\n".join(textwrap.wrap(text, 110)), transform=ax.transAxes, ha="left", va="top",
                fontsize=6.5, color=MARK_COLOUR)
    else:
        ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 90)), transform=ax.transAxes, ha="center", va="center",
                fontsize=8, color=MARK_COLOUR)


def note_missing(ax: Any, missing: Sequence[str], what: str = "no data") -> None:
    """Say inside the panel which expected groups have no data, rather than hide them."""
    if missing:  # as the panel's right-hand title, where it cannot cover a point
        ax.set_title(f"{what}: {', '.join(missing)}", loc="right", fontsize=7, color="#555555")


def missing(expected: Sequence[str], present: Sequence[str]) -> list[str]:
    """Expected variants with no arm among the `present` labels (`insecure+kl` is insecure's)."""
    have = {re.split(r"[+~]", v, maxsplit=1)[0] for v in present}
    return [v for v in expected if v not in have]


def variant_ticks(ax: Any, names: Sequence[str]) -> None:
    """Variant names under the x axis, one per position; slanted when an arm's label or an
    adapter shape makes them long (plain variant names stay level, as they always were)."""
    slant = any(not re.fullmatch(r"\w+", n) for n in names)
    ax.set_xticks(range(len(names)), list(names), **({"rotation": 30, "ha": "right"} if slant else {}))


def legend(ax: Any) -> None:
    """Legend outside the axes on the right, so it never hides a point."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))


def _stamp(fig: Any, canvas: Canvas) -> None:
    """Grow the figure at the top and write the header (grey) and the marks (red, bold) there."""
    lines = [(t, False) for h in canvas.header for t in textwrap.wrap(h, _WRAP)]
    lines += [(t, True) for m in canvas.marks for t in textwrap.wrap(m, _WRAP - 20)]
    width, height = fig.get_size_inches()
    extra = _LINE_IN * len(lines) + (0.08 if lines else 0)
    fig.set_size_inches(width, height + extra)
    total = height + extra
    fig.tight_layout(rect=(0, 0, 1, 1 - extra / total))
    for i, (text, mark) in enumerate(lines):
        y = 1 - (0.04 + _LINE_IN * (i + 0.75)) / total
        fig.text(0.01, y, text, ha="left", va="baseline", fontsize=8 if mark else 7,
                 color=MARK_COLOUR if mark else "#444444", fontweight="bold" if mark else "normal")


def save(fig: Any, canvas: Canvas, name: str) -> list[Path]:
    """Write `<name>.png`, `<name>.svg` (with the header) and `<name>.plotted.csv`; return their paths."""
    out_dir = canvas.out_dir
    paths = []
    _stamp(fig, canvas)
    for ext in ("png", "svg"):
        path = Path(out_dir) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            # svg metadata Date=None keeps the SVG byte-identical across runs (stable DVC hashes)
            fig.savefig(tmp, format=ext, metadata={"Date": None} if ext == "svg" else {"Software": None})
        paths.append(path)
    plotted = getattr(fig, "emlab_plotted", None)
    if plotted:
        path = Path(out_dir) / f"{name}.plotted.csv"
        with atomic_path(path) as tmp:
            pl.concat(plotted, how="diagonal_relaxed").write_csv(tmp, float_precision=6)
        paths.append(path)
    plt.close(fig)
    return paths
