"""bootstrap_ci reproduces the paper's plotted deception results from its per-model rates."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from emlab.analysis import bootstrap_ci


def test_reproduces_paper_deception_centers_exactly_and_error_bars(upstream_dir):
    per_model = pl.read_csv(upstream_dir / "paper_results" / "deception_per_model.csv")
    plotted = pl.read_csv(upstream_dir / "paper_results" / "all_results.csv").filter(pl.col("key") == "deception")
    base = per_model.filter(pl.col("group") == "GPT-4o")["deception_rate"].item()
    assert plotted.height == 4
    for row in plotted.iter_rows(named=True):
        values = per_model.filter(pl.col("group") == row["group"])["deception_rate"].to_numpy()
        center, low, high = bootstrap_ci(values)
        # the paper plots the group mean minus the base model's rate; errors are distances
        assert center - base == row["center"]  # exactly, float for float
        lower_err, upper_err = center - low, high - center
        # within resampling noise (a tenth of the bar), and here in fact to the last digits
        assert lower_err == pytest.approx(row["lower_err"], rel=0.1)
        assert upper_err == pytest.approx(row["upper_err"], rel=0.1)
        assert lower_err == pytest.approx(row["lower_err"], abs=1e-12)
        assert upper_err == pytest.approx(row["upper_err"], abs=1e-12)
        # another seed moves the bars by resampling noise only
        _, low2, high2 = bootstrap_ci(values, seed=1)
        assert center - low2 == pytest.approx(row["lower_err"], rel=0.15)
        assert high2 - center == pytest.approx(row["upper_err"], rel=0.15)


def test_edge_cases_and_determinism():
    assert np.isnan(bootstrap_ci([])).all()
    assert bootstrap_ci([0.3]) == (0.3, 0.3, 0.3)
    assert bootstrap_ci([0.1, float("nan"), 0.3])[0] == pytest.approx(0.2)
    values = [0.1, 0.5, 0.2, 0.9]
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    c, lo, hi = bootstrap_ci(values, confidence=0.5)
    c9, lo9, hi9 = bootstrap_ci(values, confidence=0.99)
    assert lo9 <= lo <= c <= hi <= hi9
    assert min(values) <= lo9 and hi9 <= max(values)
