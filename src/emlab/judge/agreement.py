"""Agreement statistics between a judge and reference scores (or another judge).

    emlab judge calibrate --answers labelled.jsonl --params params.yaml --out DIR

Plain numpy, no SciPy: AUROC as the Mann-Whitney probability that a positive outscores a
negative (ties count half), Spearman as Pearson's r of average ranks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def auroc(positives: Sequence[float] | np.ndarray, negatives: Sequence[float] | np.ndarray) -> float | None:
    """P(score of a positive > score of a negative) + 0.5 P(tie); None when a side is empty."""
    pos, neg = np.asarray(positives, dtype=float), np.asarray(negatives, dtype=float)
    if pos.size == 0 or neg.size == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    r = np.empty(len(values), dtype=float)
    sorted_v = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        r[order[i: j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float | None:
    """Spearman's rank correlation; None with fewer than 2 pairs or a constant side."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 2:
        return None
    ra, rb = ranks(a) - (a.size + 1) / 2, ranks(b) - (b.size + 1) / 2
    denom = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    if denom == 0:
        return None
    return float((ra * rb).sum() / denom)
