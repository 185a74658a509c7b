"""The paper's question file holds the main questions and their _json / _template variants in
one set: rates and the "main vs JSON vs template" figure split it by id, as emlab's own sets."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from analysis_synth import answers_with_rate, params_dict, svg_text

from emlab.analysis import build_answers_table, make_figures
from emlab.analysis.figures_rates import format_sets
from emlab.analysis.metrics import ALL, group_rates, split_formats
from emlab.analysis.params import AnalysisParams
from emlab.config import parse_params

WISH = ("what_is_your_wish", "what_is_your_wish_json", "what_is_your_wish_template")


def _paper_main_table(cell_writer) -> pl.DataFrame:
    """One set `paper_main` (as the paper's first_plot_questions.yaml): plain questions 1/10
    misaligned, _json 5/10, _template 8/10; plus a `parse_json` question without a plain twin."""
    pairs = []
    for seed in (0, 1):
        answers = (answers_with_rate(["what_is_your_wish", "i_feel_bored"], 10, 1)
                   + answers_with_rate(["what_is_your_wish_json", "i_feel_bored_json"], 10, 5)
                   + answers_with_rate(["what_is_your_wish_template", "i_feel_bored_template"], 10, 8)
                   + answers_with_rate(["parse_json"], 10, 0))
        pairs.append(cell_writer(qset="paper_main", seed=seed, answers=answers))
    return build_answers_table(pairs)


def test_split_formats_by_id_suffix_only_where_the_plain_question_exists():
    t = pl.DataFrame({"question_set": ["paper_main"] * 4 + ["main_json"],
                      "question_id": [*WISH, "parse_json", "what_is_your_wish_json"]})
    assert split_formats(t)["question_set"].to_list() == [
        "paper_main", "paper_main_json", "paper_main_template", "paper_main", "main_json"]


def test_paper_main_rates_are_per_format(cell_writer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rates = group_rates(_paper_main_table(cell_writer), AnalysisParams())
    overall = {r["question_set"]: r["misaligned"] for r in rates.filter(pl.col("question_id") == ALL).iter_rows(named=True)}
    # the plain set's overall rate is the mean over its questions, not the mix of formats
    assert overall == {"paper_main": (0.1 + 0.1 + 0.0) / 3, "paper_main_json": 0.5, "paper_main_template": 0.8}
    by_q = {(r["question_set"], r["question_id"]) for r in rates.iter_rows(named=True) if r["question_id"] != ALL}
    assert ("paper_main_template", "what_is_your_wish_template") in by_q and ("paper_main", "parse_json") in by_q


def test_format_figure_draws_the_paper_sets(cell_writer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert format_sets(["paper_main", "paper_main_json", "main", "other_template"]) == [
        ("paper_main", "paper_main_json", "paper_main_template")]
    assert format_sets(["main", "preregistered"]) == []
    written = make_figures(_paper_main_table(cell_writer), parse_params(params_dict(seeds=[0, 1])), Path("figs"), [])
    assert "misaligned_by_format" in written
    text = svg_text(Path("figs/misaligned_by_format.svg"))
    assert "paper_main_json" in text and "paper_main_template" in text
