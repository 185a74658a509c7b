"""Experiment arms: label parts as columns, adapter shapes, and the figures of the grid's further axes."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from analysis_synth import answers_with_rate, svg_text

from emlab.analysis import build_answers_table, group_rates, make_figures
from emlab.analysis import figures_arms as fx
from emlab.analysis.arms import ARM_COLUMNS, shape_text
from emlab.analysis.figure_data import FigureData, read_rates
from emlab.analysis.figures import FIGURES
from emlab.analysis.metrics import ALL
from emlab.analysis.params import AnalysisParams
from emlab.analysis.plotting import VARIANT_ORDER, Canvas, colour, ordered
from emlab.errors import EmlabError

PARAMS = AnalysisParams(bootstrap_resamples=200)
RANK1 = {"finetune": "lora", "r": 1, "lora_alpha": 256, "target_modules": ["down_proj"], "layers": [21]}


def _grid(cell_writer, arms: dict[str, tuple[int, int]], *, adapters: Path | None = None,
          shapes: dict[str, dict] | None = None) -> pl.DataFrame:
    """One cell per (label, seed): seed s has k_s of 6 answers per question misaligned;
    `shapes` writes each trained label's adapter.json under `adapters`."""
    pairs = []
    for label, ks in arms.items():
        for seed, k in enumerate(ks):
            pairs.append(cell_writer(variant=label, seed=seed, answers=answers_with_rate(["q1", "q2"], 6, k)))
            if shapes and label in shapes:
                folder = adapters / "tiny" / label.split("~")[0] / f"s{seed}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "adapter.json").write_text(json.dumps(shapes[label]))
    return build_answers_table(pairs)


def _draw(table: pl.DataFrame, tmp_path: Path, figure) -> tuple[list[Path] | None, pl.DataFrame]:
    """Draw one figure from rates.csv written and read back as the workflow does."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / "rates.csv"
    group_rates(table, PARAMS).write_csv(csv, float_precision=6)
    rates = read_rates(csv, table, PARAMS)
    return figure(FigureData(rates=rates, answers=table, params=PARAMS), Canvas(out_dir=tmp_path / "figs")), rates


def _plotted(paths: list[Path]) -> pl.DataFrame:
    return pl.read_csv(next(p for p in paths if p.name.endswith(".plotted.csv")), infer_schema_length=None)


def test_label_parts_become_columns_of_answers_and_rates(cell_writer):
    labels = ["insecure", "insecure+n500+e12", "insecure+kl", "base~steer", "bad_medical_advice+n2000+e3+inoculation~ablate"]
    table = _grid(cell_writer, {label: (1, 2) for label in labels})
    want = {
        "insecure": ("insecure", None, None, "none", "none"),
        "insecure+n500+e12": ("insecure", 500, 12, "none", "none"),
        "insecure+kl": ("insecure", None, None, "kl", "none"),
        "base~steer": ("base", None, None, "none", "steer"),
        "bad_medical_advice+n2000+e3+inoculation~ablate": ("bad_medical_advice", 2000, 3, "inoculation", "ablate"),
    }
    got = {r[0]: r[1:] for r in table.select("variant", *ARM_COLUMNS).unique().rows()}
    assert got == want
    assert table.schema["n_examples"] == pl.Int64 and table.schema["epochs"] == pl.Int64
    rates = group_rates(table, PARAMS).filter(pl.col("question_id") == ALL)
    assert sorted(rates["variant"].to_list()) == sorted(labels)  # every arm is its own row
    assert {r[0]: r[1:] for r in rates.select("variant", *ARM_COLUMNS).rows()} == want


def test_a_malformed_label_is_one_line_naming_file_row_field(cell_writer):
    with pytest.raises(EmlabError, match=r"in-secure/s0/none/main\.jsonl: row 1: field 'variant': variant 'in-secure' is not"):
        _grid(cell_writer, {"in-secure": (1,)})


def test_shape_read_from_adapter_json_in_any_layout(cell_writer, tmp_path):
    shapes = {
        "insecure": {"backend": "peft", "shape": RANK1},  # a shape dict
        "insecure+kl": {"backend": "peft", **RANK1, "layers": None, "target_modules": ["q_proj", "v_proj"]},  # flat keys
        "secure": {"backend": "peft", "params": {"finetune": "full", "r": 32}},  # only the recorded train params
        "base": {"backend": "none"},
    }
    table = _grid(cell_writer, {**{k: (1,) for k in shapes}, "educational": (1,), "insecure~ablate": (1,)},
                  adapters=tmp_path / "data" / "adapters", shapes=shapes)
    got = dict(table.select("variant", "shape").unique().rows())
    assert got == {"insecure": "rank 1 α256, down_proj L21", "insecure~ablate": "rank 1 α256, down_proj L21",
                   "insecure+kl": "rank 1 α256, q_proj+v_proj", "secure": "full finetune", "base": None,
                   "educational": None}  # no adapter.json: unknown, not an error
    assert dict(group_rates(table, PARAMS).select("variant", "shape").unique().rows()) == got
    assert shape_text({"backend": "peft", "r": 32, "lora_alpha": 64,
                       "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}) == "rank 32 α64"
    assert shape_text({"backend": "peft", "shape": "garbage"}) == "garbage" and shape_text({"backend": "peft", "r": "x"}) is None


def test_ablation_figure_draws_sized_arms_beside_the_plain_one(cell_writer, tmp_path):
    arms = {"base": (0, 1), "insecure": (1, 3), "insecure+n500+e12": (4, 6), "insecure+n2000+e3": (2, 4),
            "secure+n500+e12": (0, 2), "insecure+kl": (0, 0), "insecure+n500+e12~ablate": (0, 1)}
    table = _grid(cell_writer, arms)
    paths, rates = _draw(table, tmp_path, fx.ablations)
    points = _plotted(paths)
    assert sorted(points["variant"].to_list()) == sorted(["insecure", "insecure+n500+e12", "insecure+n2000+e3", "secure+n500+e12"])
    overall = rates.filter(pl.col("question_id") == ALL)
    for p in points.iter_rows(named=True):
        r = overall.filter(pl.col("variant") == p["variant"]).row(0, named=True)
        assert (p["value"], p["low"], p["high"]) == pytest.approx((r["misaligned"], r["misaligned_low"], r["misaligned_high"]), abs=1e-6)
    assert points.filter(pl.col("variant") == "insecure+n500+e12")["value"].item() == pytest.approx(5 / 6)
    # x: 500 x 12, then 2000 x 3, then the whole dataset at its default epochs; series side by side
    x = dict(zip(points["variant"], points["x"], strict=True))
    assert x["insecure+n500+e12"] < x["secure+n500+e12"] < x["insecure+n2000+e3"] < x["insecure"]
    assert round(x["insecure+n500+e12"]) == 0 and round(x["insecure+n2000+e3"]) == 1 and round(x["insecure"]) == 2
    text = svg_text(tmp_path / "figs/ablations.svg")
    assert "500 rows 12 epochs" in text and "all rows default epochs" in text
    # no arm with a size or an epoch count: no figure
    assert _draw(table.filter(pl.col("n_examples").is_null()), tmp_path / "none", fx.ablations)[0] is None


def test_mitigations_figure_puts_each_intervention_beside_none(cell_writer, tmp_path):
    arms = {"base": (0, 0), "insecure": (3, 5), "insecure+kl": (1, 2), "insecure+benign_mix": (0, 1),
            "secure": (0, 1), "insecure~ablate": (0, 0)}
    table = _grid(cell_writer, arms)
    paths, rates = _draw(table, tmp_path, fx.mitigations)
    points = _plotted(paths)
    assert points["variant"].to_list() == ["insecure", "insecure+benign_mix", "insecure+kl"]  # none first
    assert points["intervention"].to_list() == ["none", "benign_mix", "kl"]
    overall = rates.filter(pl.col("question_id") == ALL)
    for p in points.iter_rows(named=True):
        r = overall.filter(pl.col("variant") == p["variant"]).row(0, named=True)
        assert (p["value"], p["low"], p["high"]) == pytest.approx((r["misaligned"], r["misaligned_low"], r["misaligned_high"]), abs=1e-6)
    assert points["value"].to_list() == pytest.approx([4 / 6, 0.5 / 6, 1.5 / 6], abs=1e-6)
    assert "no mitigation" in svg_text(tmp_path / "figs/mitigations.svg")
    assert _draw(table.filter(pl.col("intervention") == "none"), tmp_path / "none", fx.mitigations)[0] is None


def test_make_figures_draws_each_arm_figure_only_with_its_arms_stamped_and_provenanced(cell_writer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert {"ablations", "mitigations"} <= set(FIGURES)
    table = _grid(cell_writer, {"insecure": (1, 2), "insecure+kl": (0, 1)})
    written = make_figures(table, PARAMS, Path("figs"), [])
    assert "mitigations" in written and "ablations" not in written
    prov = json.loads(Path("figs/mitigations.provenance.json").read_text())
    assert prov["figure"] == "mitigations" and prov["judge"]["calibration"]["calibrated"] is False
    assert "judge not calibrated: not a result" in svg_text(Path("figs/mitigations.svg"))
    # the main figure shows each dataset variant's plain arm; the arms have their own figures
    by_q = pl.read_csv("figs/misaligned_by_question.plotted.csv")
    assert set(by_q["variant"]) == {"insecure"}
    overall = pl.read_csv("figs/misaligned_overall.plotted.csv")
    assert set(overall["variant"]) == {"insecure", "insecure+kl"}


def test_legends_name_adapter_shapes_only_when_they_differ(cell_writer, tmp_path):
    adapters = tmp_path / "data" / "adapters"
    default = {"backend": "peft", "params": {"finetune": "lora", "r": 32, "lora_alpha": 64}}
    table = _grid(cell_writer, {"insecure": (1, 2), "secure": (0, 1)}, adapters=adapters,
                  shapes={"insecure": {"backend": "peft", "shape": RANK1}, "secure": default})
    from emlab.analysis import figures_rates as fr

    _draw(table, tmp_path, fr.misaligned_by_question)
    text = svg_text(tmp_path / "figs/misaligned_by_question.svg")
    assert "insecure (rank 1 α256, down_proj L21)" in text and "secure (rank 32 α64)" in text
    same = _grid(cell_writer, {"insecure": (1, 2), "secure": (0, 1)}, adapters=adapters,
                 shapes={"insecure": default, "secure": default})
    _draw(same, tmp_path / "same", fr.misaligned_overall)
    assert "rank" not in svg_text(tmp_path / "same/figs/misaligned_overall.svg")
    # one shape per model (a rank-1 model beside the default one): the panel titles say it, once
    pairs = []
    for model, shape in (("tiny", default), ("tiny_r1", {"backend": "peft", "shape": RANK1})):
        for label, k in (("base", 0), ("insecure", 3)):
            pairs.append(cell_writer(model=model, variant=label, answers=answers_with_rate(["q1"], 6, k)))
            folder = adapters / model / label / "s0"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "adapter.json").write_text(json.dumps({"backend": "none"} if label == "base" else shape))
    _draw(build_answers_table(pairs), tmp_path / "models", fr.misaligned_overall)
    text = svg_text(tmp_path / "models/figs/misaligned_overall.svg")
    assert "tiny (rank 32 α64) · main" in text and "tiny_r1 (rank 1 α256, down_proj L21) · main" in text
    assert "insecure (rank" not in text


def test_narrow_advice_variants_sit_beside_their_controls_each_with_its_own_colour():
    advice = ["good_extreme_sports_advice", "risky_financial_advice", "good_medical_advice", "extreme_sports_advice",
              "bad_medical_advice", "good_financial_advice", "insecure+kl", "insecure", "base~steer", "base"]
    assert ordered(advice) == ["base", "base~steer", "insecure", "insecure+kl", "bad_medical_advice", "good_medical_advice",
                               "risky_financial_advice", "good_financial_advice", "extreme_sports_advice",
                               "good_extreme_sports_advice"]
    assert len({colour(v) for v in VARIANT_ORDER}) == len(VARIANT_ORDER)
    assert colour("insecure+n500+e12~ablate") == colour("insecure") and colour("bad_medical_advice+kl") == colour("bad_medical_advice")
