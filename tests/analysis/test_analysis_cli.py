"""The analysis verbs as the workflow calls them."""

from __future__ import annotations

import json
from pathlib import Path

import click
import polars as pl
import pytest
import yaml
from analysis_synth import answers_with_rate, params_dict
from click.testing import CliRunner

from emlab.cli.analysis import COMMANDS
from emlab.errors import EmlabError


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("emlab")
    for command in COMMANDS:
        group.add_command(command)
    return group


def test_aggregate_rates_figures(cli, cell_writer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pairs = [cell_writer(variant=v, seed=s, answers=answers_with_rate(["q1", "q2"], 10, k + s))
             for v, k in (("insecure", 4), ("secure", 0)) for s in (0, 1)]
    samples = [str(p.relative_to(tmp_path)) for p, _ in pairs]
    scores = [str(s.relative_to(tmp_path)) for _, s in pairs]
    runner = CliRunner()
    # the contract's form: --samples F1 F2 ... --scores G1 G2 ...
    res = runner.invoke(cli, ["analysis", "aggregate", "--samples", *samples, "--scores", *scores,
                              "--out", "data/results/answers.parquet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    table = pl.read_parquet("data/results/answers.parquet")
    assert table.height == 80
    # pairing by position held: every row's scores file is its samples file's twin
    assert all(s.replace("samples/", "judgments/").replace(".jsonl", "") == g.replace(".scores.jsonl", "")
               for s, g in zip(table["samples_file"], table["scores_file"], strict=True))
    Path("params.yaml").write_text(yaml.safe_dump(params_dict(variants=["insecure", "secure"], analysis={"metric": "paper"})))
    res = runner.invoke(cli, ["analysis", "rates", "--answers", "data/results/answers.parquet",
                              "--out", "data/results/rates.csv", "--metrics", "data/results/metrics.json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rates = pl.read_csv("data/results/rates.csv")
    assert {"label", "misaligned", "misaligned_low", "misaligned_high", "n_seeds"} <= set(rates.columns)
    metrics = json.loads(Path("data/results/metrics.json").read_text())
    assert metrics["groups"]["tiny/insecure/none/main"]["misaligned"] == pytest.approx(0.45)
    res = runner.invoke(cli, ["analysis", "figures", "--answers", "data/results/answers.parquet", "--out-dir", "figures"],
                        catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert Path("figures/misaligned_by_question.png").exists() and Path("figures/misaligned_overall.svg").exists()


def test_unpaired_lists_are_a_user_error(cli, cell_writer):
    s, g = cell_writer(answers=answers_with_rate(["q"], 2, 1))
    res = CliRunner().invoke(cli, ["analysis", "aggregate", "--samples", str(s), str(s), "--scores", str(g), "--out", "x.parquet"])
    assert isinstance(res.exception, EmlabError)
    assert "--samples has 2 files but --scores has 1" in str(res.exception)
