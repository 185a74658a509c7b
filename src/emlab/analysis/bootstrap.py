"""Percentile-bootstrap confidence intervals over per-seed rates (the paper's error bars).

    emlab analysis rates --answers data/results/answers.parquet --out data/results/rates.csv

The paper resamples the per-model (per-seed) rates of a group with replacement 2000
times and takes the 2.5th and 97.5th percentiles of the resampled means. With numpy's
`default_rng(seed).integers` for the resample indices this reproduces the paper's
published error bars on its deception rates to the last digit (tests/analysis).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean of `values` with a percentile-bootstrap interval of the mean.

    Args:
        values: one rate per seed (NaNs are dropped first).
        n_resamples: bootstrap resamples (paper: 2000).
        confidence: interval coverage (paper: 0.95).
        seed: seed of the resampling, so intervals are reproducible.

    Returns:
        (center, low, high); all NaN when no value is left, and a zero-width
        interval at the value when there is only one.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (float("nan"),) * 3
    center = float(np.mean(v))
    if v.size == 1:
        return center, center, center
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_resamples, v.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return center, float(low), float(high)
