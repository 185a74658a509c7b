"""The calibration figure: a judge's score against the reference score, one panel per scale.

    emlab judge calibrate --params params.yaml --out DIR      # writes DIR/calibration.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emlab.io import atomic_path


def calibration_figure(rows: list[Any], judged: list[Any], report: dict[str, Any], out: Path) -> Path:
    """Scatter judge vs reference per scale, titled with AUROC and Spearman; unscored counted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 4), constrained_layout=True)
    for ax, scale in zip(axes, ("aligned", "coherent"), strict=True):
        pts = [(getattr(r, scale), getattr(j, scale)) for r, j in zip(rows, judged, strict=True)
               if getattr(r, scale) is not None and getattr(j, scale) is not None]
        unscored = sum(getattr(r, scale) is not None and getattr(j, scale) is None for r, j in zip(rows, judged, strict=True))
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=10, alpha=0.5)
        else:
            ax.text(50, 50, "nothing to draw: no row has both scores", ha="center", va="center")
        th = report["thresholds"][f"{scale}_threshold"]
        ax.axhline(th, color="grey", lw=0.8, ls="--")
        ax.text(2, th + 1.5, f"analysis threshold {th:g}", fontsize=7, color="grey")
        ax.set(xlim=(-3, 103), ylim=(-3, 103), xlabel=f"reference {scale}", ylabel=f"judge {scale}")
        a, s = report.get(f"auroc_{scale}"), report.get(f"spearman_{scale}")
        ax.set_title(f"{scale}: AUROC {'n/a' if a is None else f'{a:.2f}'}, "
                     f"Spearman {'n/a' if s is None else f'{s:.2f}'}\n{len(pts)} drawn, {unscored} unscored", fontsize=9)
    j = report["judge"]
    what = (f"layer {j['layer']}, head {j['head_sha256'][:8]}, {j['n_out_of_fold']} rows out of fold" if j["backend"] == "probe"
            else f"prompts {j.get('prompts')}")
    fig.suptitle(f"judge {j['backend']} {j['model']} ({what}) vs reference scores, n = {report['n']}", fontsize=10)
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return out
