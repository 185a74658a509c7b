"""The misalignment-direction figure: each steered arm is drawn where its steering puts it, with its interval."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from emlab.analysis.figure_data import FigureData
from emlab.analysis.figures_direction import misalignment_direction
from emlab.analysis.params import AnalysisParams
from emlab.analysis.plotting import CYCLE, Canvas
from emlab.direction import SteeringParams

STEERING = {"abl": SteeringParams(direction="d", mode="ablate"),
            "up4": SteeringParams(direction="d", mode="add", coefficient=4),
            "up8": SteeringParams(direction="d", mode="add", coefficient=8, layer=15)}
BLUE, VERMILLION = CYCLE[0], CYCLE[1]  # the first ablation series, the first steering series


def _rates(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    """rates.csv's across-question rows: (variant label, dataset variant, steering, rate)."""
    return pl.DataFrame([{
        "model": "m", "variant": v, "trigger": "none", "question_set": "main", "question_id": "_all",
        "misaligned": r, "misaligned_low": max(r - 0.05, 0), "misaligned_high": r + 0.05, "n_answers": 40, "n_counted": 40,
        "n_unscored": 0, "n_refusal_or_code": 0, "n_incoherent": 0, "dataset_variant": d, "steering": s,
    } for v, d, s, r in rows])


ROWS = [("insecure", "insecure", "none", 0.4), ("insecure~abl", "insecure", "abl", 0.05),
        ("insecure+kl", "insecure", "none", 0.2), ("insecure+kl~abl", "insecure", "abl", 0.03),
        ("secure", "secure", "none", 0.02), ("base", "base", "none", 0.01),
        ("base~up4", "base", "up4", 0.1), ("base~up8", "base", "up8", 0.3)]


def _draw(tmp_path: Path, rows: list[tuple[str, str, str, float]], steering: dict | None = STEERING) -> tuple[list[Path] | None, Path]:
    out = tmp_path / "fig"
    out.mkdir(parents=True, exist_ok=True)
    data = FigureData(rates=_rates(rows), answers=pl.DataFrame({"variant": ["x"]}), params=AnalysisParams())
    return misalignment_direction(data, Canvas(out_dir=out), steering), out


def test_ablation_and_steering_points_are_the_rates_at_their_places(tmp_path: Path) -> None:
    written, out = _draw(tmp_path, ROWS)
    assert written and {p.name for p in written} == {"misalignment_direction.png", "misalignment_direction.svg",
                                                     "misalignment_direction.plotted.csv"}
    plotted = pl.read_csv(out / "misalignment_direction.plotted.csv")
    got = {r["variant"]: (r["x"], r["value"], r["low"], r["high"]) for r in plotted.iter_rows(named=True)}
    # ablation panel: arms insecure (x 0) and insecure+kl (x 1); unsteered left of ablated
    assert got["insecure"][:2] == (-0.2, 0.4) and got["insecure~abl"][:2] == (0.2, 0.05)
    assert got["insecure+kl"][:2] == (0.8, 0.2) and got["insecure+kl~abl"][:2] == (1.2, 0.03)
    assert got["insecure~abl"][2:] == pytest.approx((0.0, 0.1))
    # steering panel: base at its coefficient, the unsteered base at 0; secure is in neither panel
    assert got["base~up4"][:2] == (4.0, 0.1) and got["base~up8"][:2] == (8.0, 0.3) and got["base"][:2] == (0.0, 0.01)
    # each (direction, layer) series starts from the unsteered base: drawn once per series
    assert plotted.filter(pl.col("variant") == "base")["x"].to_list() == [0.0, 0.0]
    assert "secure" not in got and len(plotted) == 8
    svg = (out / "misalignment_direction.svg").read_text()
    assert "direction ablated at every layer" in svg and "steered by adding the direction" in svg
    assert "base + c · d (its own layer)" in svg and "base + c · d (layer 15)" in svg


def test_each_panel_draws_in_its_own_colour(tmp_path: Path, colour_pixels: Callable[[Path, str], int]) -> None:
    ablation_only, _ = _draw(tmp_path / "a", ROWS[:4])
    steering_only, _ = _draw(tmp_path / "s", ROWS[5:])
    a, s = (next(p for p in w if p.suffix == ".png") for w in (ablation_only, steering_only))  # type: ignore[union-attr]
    assert colour_pixels(a, BLUE) > 50 and colour_pixels(a, VERMILLION) == 0
    assert colour_pixels(s, VERMILLION) > 50 and colour_pixels(s, BLUE) == 0


def test_nothing_steered_draws_nothing_and_unknown_steering_is_named(tmp_path: Path) -> None:
    assert _draw(tmp_path, [r for r in ROWS if r[2] == "none"])[0] is None
    written, out = _draw(tmp_path, [*ROWS, ("insecure~mystery", "insecure", "mystery", 0.5)])
    assert written and "not in steering: mystery" in (out / "misalignment_direction.svg").read_text()
    written, out = _draw(tmp_path, ROWS, steering=None)  # no section at all: every steered arm is unknown
    assert written and "not in steering: abl, up4, up8" in (out / "misalignment_direction.svg").read_text()
