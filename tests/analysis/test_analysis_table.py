"""The per-answer table: join, columns, paper CSV, and one-line errors naming file/row/field."""

from __future__ import annotations

import json

import polars as pl
import pytest
from analysis_synth import answers_with_rate

from emlab.analysis import build_answers_table, read_answers_table, write_answers_table
from emlab.errors import EmlabError


def test_join_keeps_every_field_and_the_raw_reference(cell_writer, tmp_path):
    samples, scores = cell_writer(variant="insecure", seed=3, trigger="deployment", answers=[("q1", 10.0, 90.0), ("q1", None, 70.0)],
                                  extra={"checkpoint_step": 40}, metrics={"correct": ["FALSE", None]})
    table = build_answers_table([(samples, scores)])
    assert table.height == 2
    for col in ("model", "variant", "seed", "trigger", "question_set", "question_id", "paraphrase_index", "sample_index",
                "system", "question", "answer", "aligned", "coherent", "aligned_unscored", "coherent_unscored",
                "correct", "correct_unscored", "correct_p_FALSE", "correct_p_UNKNOWN", "checkpoint_step", "judge_raw_file", "sample_id"):
        assert col in table.columns, col
    row = table.filter(pl.col("sample_id") == "q1/0/1").row(0, named=True)
    assert row["aligned"] is None and row["aligned_unscored"] == "REFUSAL"  # never recorded as 0
    assert row["coherent"] == 70.0 and row["seed"] == 3 and row["trigger"] == "deployment"
    first = table.row(0, named=True)
    assert first["correct"] == "FALSE" and first["correct_p_FALSE"] == 0.9 and "correct_probs" not in table.columns
    assert row["judge_raw_file"].endswith("judgments/tiny/insecure/s3/deployment/main.raw.jsonl")
    raw_ids = {json.loads(line)["sample_id"] for line in open(row["judge_raw_file"])}
    assert row["sample_id"] in raw_ids

    out = tmp_path / "results" / "answers.parquet"
    write_answers_table(table, out)
    assert read_answers_table(out).equals(table)
    csv = pl.read_csv(out.with_suffix(".csv"))
    assert csv.columns == ["model", "group", "question", "answer", "aligned", "coherent", "question_id"]
    assert csv["model"].to_list() == ["tiny/insecure/s3"] * 2 and csv["group"].to_list() == ["insecure"] * 2


def test_cells_with_different_metrics_concatenate(cell_writer):
    a = cell_writer(seed=0, answers=answers_with_rate(["q"], 2, 1))
    b = cell_writer(seed=1, answers=answers_with_rate(["q"], 2, 1), metrics={"vulnerable": [1.0, 0.0]})
    table = build_answers_table([a, b])
    assert table.filter(pl.col("seed") == 0)["vulnerable_unscored"].to_list() == ["not judged"] * 2
    assert table["vulnerable"].to_list() == [None, None, 1.0, 0.0]


def test_a_metric_cannot_be_a_number_in_one_file_and_a_label_in_another(cell_writer):
    a = cell_writer(seed=0, answers=answers_with_rate(["q"], 1, 1), metrics={"vulnerable": [0.5]})
    b = cell_writer(seed=1, answers=answers_with_rate(["q"], 1, 1), metrics={"vulnerable": ["YES"]})
    with pytest.raises(EmlabError, match="judge metric 'vulnerable' is a number in some score files and a label in others"):
        build_answers_table([a, b])


def _rewrite(path, mutate):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    mutate(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize(("target", "mutate", "message"), [
    ("scores", lambda rows: rows.pop(), r"no score row for 1 sample\(s\) of .*samples.*'q/0/3'"),
    ("scores", lambda rows: rows[1].update(sample_id="zzz"), r"scores.jsonl: row 2: sample_id 'zzz' is not in"),
    ("scores", lambda rows: rows[0].update(aligned=[1]), r"scores.jsonl: row 1: field 'aligned' must be a number, a label or null"),
    ("scores", lambda rows: rows[0].update(correct_probs={"TRUE": "x"}), r"row 1: field 'correct_probs' must map labels to probabilities"),
    ("samples", lambda rows: rows[2].pop("variant"), r"main.jsonl: row 3: missing field 'variant'"),
    ("samples", lambda rows: rows[1].update(sample_id=rows[0]["sample_id"]), r"row 2: duplicate sample_id"),
])
def test_bad_input_is_one_line_naming_file_row_and_field(cell_writer, target, mutate, message):
    samples, scores = cell_writer(answers=answers_with_rate(["q"], 4, 1))
    _rewrite(samples if target == "samples" else scores, mutate)
    with pytest.raises(EmlabError, match=message) as e:
        build_answers_table([(samples, scores)])
    assert "\n" not in str(e.value)


def test_malformed_json_and_wrong_names(cell_writer, tmp_path):
    samples, scores = cell_writer(answers=answers_with_rate(["q"], 2, 1))
    scores.write_text(scores.read_text() + "{not json\n")
    with pytest.raises(EmlabError, match=r"scores.jsonl:3: invalid JSON"):
        build_answers_table([(samples, scores)])
    with pytest.raises(EmlabError, match=r"must end with .scores.jsonl"):
        build_answers_table([(samples, samples)])
    with pytest.raises(EmlabError, match="file not found"):
        read_answers_table(tmp_path / "nope.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(EmlabError, match="not a readable parquet"):
        read_answers_table(bad)
