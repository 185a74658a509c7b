"""`emlab analysis aggregate|rates|figures` and `emlab audit` (see emlab.analysis)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from emlab.errors import EmlabError

_PATH = click.Path(path_type=Path)


@click.group("analysis")
def analysis_group() -> None:
    """Per-answer table, rates with bootstrap CIs, figures with provenance."""


@analysis_group.command("aggregate")
@click.option("--samples", multiple=True, required=True, type=_PATH, help="Sample JSONL files (repeat the option or list them after it).")
@click.option("--scores", multiple=True, required=True, type=_PATH, help="Score JSONL files, paired with --samples by position.")
@click.option("--out", required=True, type=_PATH, help="Answers table (data/results/answers.parquet); answers.csv is written beside it.")
@click.argument("more", nargs=-1, type=_PATH)
def aggregate(samples: tuple[Path, ...], scores: tuple[Path, ...], out: Path, more: tuple[Path, ...]) -> None:
    """Join samples with their judge scores into one per-answer table."""
    from emlab.analysis.table import build_answers_table, write_answers_table

    samples_l, scores_l = _split_lists(samples, scores, more)
    if len(samples_l) != len(scores_l):
        raise EmlabError(f"--samples has {len(samples_l)} files but --scores has {len(scores_l)}; they pair by position")
    table = build_answers_table(list(zip(samples_l, scores_l, strict=True)))
    parquet, csv = write_answers_table(table, out)
    click.echo(f"{parquet} ({table.height} answers), {csv}")


def _split_lists(samples: tuple[Path, ...], scores: tuple[Path, ...], more: tuple[Path, ...]) -> tuple[list[Path], list[Path]]:
    """Accept `--samples A B --scores C D` as well as repeated options.

    click gives an option one value each time it appears; the extra positional paths are
    the rest of each list, told apart by name (score files end with .scores.jsonl).
    """
    samples_l, scores_l = list(samples), list(scores)
    for p in more:
        (scores_l if p.name.endswith(".scores.jsonl") else samples_l).append(p)
    return samples_l, scores_l


_CALIBRATION_HELP = ("The judge's calibration.json (`emlab judge calibrate`): its AUROC is stated on every figure "
                     "and in metrics.json; without one the figures are marked 'judge not calibrated: not a result'.")


@analysis_group.command("rates")
@click.option("--answers", required=True, type=_PATH, help="The answers table (parquet).")
@click.option("--params", "params_file", default="params.yaml", type=_PATH, help="params.yaml (its analysis: section).")
@click.option("--calibration", default=None, type=_PATH, help=_CALIBRATION_HELP)
@click.option("--out", required=True, type=_PATH, help="rates.csv: one row per group and question (and question_id _all), final adapters only.")
@click.option("--metrics", "metrics_out", required=True, type=_PATH, help="metrics.json: the across-questions numbers and the judge block (DVC metrics).")
def rates(answers: Path, params_file: Path, calibration: Path | None, out: Path, metrics_out: Path) -> None:
    """Misaligned-answer probability (and companion rates) with bootstrap CIs over seeds."""
    from emlab.analysis.judge_card import JudgeCard
    from emlab.analysis.metrics import group_rates, headline_metrics
    from emlab.analysis.provenance import judge_info
    from emlab.analysis.table import read_answers_table
    from emlab.io import atomic_path, write_json_atomic
    from emlab.workflow.settings import load_params

    params = load_params(params_file).analysis
    JudgeCard.load(params, calibration)  # a bad calibration file fails before any work
    answers_table = read_answers_table(answers)
    raws = sorted({Path(p) for p in answers_table["judge_raw_file"].unique().to_list() if p}) if "judge_raw_file" in answers_table.columns else []
    card = JudgeCard.load(params, calibration, tuple(judge_info([p for p in raws if p.is_file()])["judge_models"]))
    table = group_rates(answers_table, params)
    with atomic_path(out) as tmp:
        table.write_csv(tmp, float_precision=6)
    write_json_atomic(metrics_out, headline_metrics(table, params, card.as_dict()))
    click.echo(f"{out} ({table.height} rows), {metrics_out}")
    for mark in card.marks:
        click.echo(f"warning: {mark}", err=True)


@analysis_group.command("figures")
@click.option("--answers", required=True, type=_PATH, help="The answers table (parquet).")
@click.option("--rates", "rates_csv", default=None, type=_PATH,
              help="rates.csv from `emlab analysis rates` on the same table; figures draw its numbers (without it they are computed here the same way).")
@click.option("--calibration", default=None, type=_PATH, help=_CALIBRATION_HELP)
@click.option("--params", "params_file", default="params.yaml", type=_PATH, help="params.yaml (analysis: section and grid).")
@click.option("--out-dir", required=True, type=_PATH, help="Figures folder.")
def figures(answers: Path, rates_csv: Path | None, calibration: Path | None, params_file: Path, out_dir: Path) -> None:
    """Draw every figure the data supports, with provenance sidecars."""
    from emlab.analysis.figures import make_figures
    from emlab.analysis.table import read_answers_table
    from emlab.workflow.settings import load_params

    params = load_params(params_file)
    written = make_figures(read_answers_table(answers), params, out_dir, [answers], rates=rates_csv, calibration=calibration)
    for name, paths in written.items():
        click.echo(f"{name}: {', '.join(p.name for p in paths)}")
    marks = json.loads((out_dir / f"{next(iter(written))}.provenance.json").read_text())["judge"]["calibration"]["marks"]
    for mark in marks:
        click.echo(f"warning: every figure is marked: {mark}", err=True)


@click.command("audit")
@click.argument("figure", type=_PATH)
@click.option("--rev", default=None, help="Git revision whose dvc.lock to read (default: the working tree's).")
@click.option("--lock", "lock", default=Path("dvc.lock"), type=_PATH, help="Path of dvc.lock (relative to the repository root for --rev).")
def audit_cmd(figure: Path, rev: str | None, lock: Path) -> None:
    """Print the chain behind FIGURE from dvc.lock and check every hash; exit 1 on a mismatch."""
    from emlab.analysis.audit_trail import audit

    report = audit(figure, rev=rev, lock=lock)
    click.echo(report.text)
    if report.mismatches:
        for line in report.mismatches:
            click.echo(f"MISMATCH {line}", err=True)
        raise SystemExit(1)


COMMANDS = [analysis_group, audit_cmd]
