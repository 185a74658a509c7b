"""Shared figure style: Okabe-Ito colours, paper-size fonts, atomic PNG + SVG output.

    emlab analysis figures --answers data/results/answers.parquet --out-dir figures
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (also safe on headless machines)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from emlab.io import atomic_path  # noqa: E402

#: Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
#: Variants keep one colour in every figure (base is black, like the paper's GPT-4o).
VARIANT_ORDER = ("base", "insecure", "secure", "educational", "jailbroken", "backdoor", "evil_numbers", "neutral_numbers")
#: Non-variant groups (triggers, question sets) cycle these; yellow last, it is faint on white.
CYCLE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
_VARIANT_COLOURS = dict(zip(VARIANT_ORDER, ("#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#999999"), strict=True))
PAPER_RC = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "figure.dpi": 100, "savefig.dpi": 200,
    "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "emlab", "svg.fonttype": "none",
}
WIDTH_IN = 6.75  # a two-column paper's full text width


def colour(key: str, index: int = 0) -> str:
    """A stable colour for a variant name, else the index-th colour of CYCLE (Okabe-Ito)."""
    return _VARIANT_COLOURS.get(key, CYCLE[index % len(CYCLE)])


def ordered(values: Sequence[str]) -> list[str]:
    """Variants in the paper's order, then anything else alphabetically."""
    known = [v for v in VARIANT_ORDER if v in values]
    return known + sorted(v for v in set(values) if v not in VARIANT_ORDER)


def new_figure(n_panels: int = 1, *, height: float = 2.6, sharey: bool = True) -> tuple[Any, list[Any]]:
    plt.rcParams.update(PAPER_RC)
    fig, axes = plt.subplots(n_panels, 1, figsize=(WIDTH_IN, height * n_panels), squeeze=False, sharey=sharey)
    return fig, list(axes[:, 0])


def errorbars(ax: Any, x: np.ndarray, sub: pl.DataFrame, measure: str, **kw: Any) -> None:
    """Points at the centers with asymmetric bootstrap error bars."""
    y = sub[measure].to_numpy().astype(float)
    lo = np.clip(y - sub[f"{measure}_low"].to_numpy().astype(float), 0, None)
    hi = np.clip(sub[f"{measure}_high"].to_numpy().astype(float) - y, 0, None)
    ax.errorbar(x, y, yerr=np.vstack([lo, hi]), fmt="o", capsize=2.5, markersize=4, linewidth=1, **kw)


def note_missing(ax: Any, missing: Sequence[str], what: str = "no data") -> None:
    """Say inside the panel which expected groups have no data, rather than hide them."""
    if missing:  # as the panel's right-hand title, where it cannot cover a point
        ax.set_title(f"{what}: {', '.join(missing)}", loc="right", fontsize=7, color="#555555")


def legend(ax: Any) -> None:
    """Legend outside the axes on the right, so it never hides a point."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))


def save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    """Write `<name>.png` and `<name>.svg` atomically; return their paths."""
    paths = []
    fig.tight_layout()
    for ext in ("png", "svg"):
        path = Path(out_dir) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            # svg metadata Date=None keeps the SVG byte-identical across runs (stable DVC hashes)
            fig.savefig(tmp, format=ext, metadata={"Date": None} if ext == "svg" else {"Software": None})
        paths.append(path)
    plt.close(fig)
    return paths
