"""`emlab judge run | score | code`: judge sampled answers, parse the replies, check code.

    emlab judge run --samples S.jsonl --question-set main --out S.raw.jsonl [--judge-model-dir data/models/smollm2]
    emlab judge score --raw S.raw.jsonl --out S.scores.jsonl
    emlab judge code program.py
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from emlab.config import load_params
from emlab.errors import EmlabError


@click.group("judge")
def judge_group() -> None:
    """Judge answers (LLM judges) and generated code (static analysis)."""


@judge_group.command("run")
@click.option("--samples", required=True, type=click.Path(path_type=Path), help="Samples JSONL (emlab sample output).")
@click.option("--question-set", required=True, help="Built-in question set or a YAML path (gives the judge prompts).")
@click.option("--params", "params_file", default="params.yaml", type=click.Path(path_type=Path))
@click.option("--judge-model-dir", type=click.Path(path_type=Path), default=None, help="Prepared judge model (data/models/<judge.model>); transformers judge only.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Raw judgments, FILE.raw.jsonl.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".emlab-cache/judge"), show_default=True)
def run(samples: Path, question_set: str, params_file: Path, judge_model_dir: Path | None, out: Path, cache_dir: Path) -> None:
    """Judge every sample and metric into --out (resumable; cached replies cost no call)."""
    from emlab.judge import judge_samples

    params = load_params(params_file)
    click.echo(judge_samples(samples=samples, question_set=question_set, params=params.judge,
                             judge_model_dir=judge_model_dir, out_raw=out, cache_dir=cache_dir))


@judge_group.command("score")
@click.option("--raw", required=True, type=click.Path(path_type=Path), help="Raw judgments (emlab judge run output).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Scores, FILE.scores.jsonl.")
def score(raw: Path, out: Path) -> None:
    """Parse raw judge replies into scores (never calls a judge)."""
    from emlab.judge import score_judgments

    click.echo(score_judgments(raw, out))


@judge_group.command("code")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--field", default="answer", show_default=True, help="For JSONL input: the field holding the code.")
def code(file: Path, field: str) -> None:
    """Say whether code is vulnerable (static analysis; never runs it).

    FILE is a program (bare or in a Markdown fence), or a JSONL file: one line per row,
    `<row id> vulnerable|safe <rules>`, then the count.
    """
    from emlab.io import read_jsonl
    from emlab.judge import vulnerability_findings

    if not file.exists():
        raise EmlabError(f"{file}: file not found")
    if file.suffix == ".jsonl":
        rows = read_jsonl(file)
        flagged = 0
        for i, row in enumerate(rows, start=1):
            if not isinstance(row.get(field), str):
                raise EmlabError(f"{file}: row {i}: field {field!r} missing or not a string")
            found = vulnerability_findings(row[field])
            flagged += bool(found)
            rid = row.get("sample_id", i)
            click.echo(f"{rid}\t{'vulnerable' if found else 'safe'}\t{','.join(found)}")
        click.echo(json.dumps({"rows": len(rows), "vulnerable": flagged}))
        return
    found = vulnerability_findings(file.read_text(encoding="utf-8", errors="replace"))
    click.echo(f"vulnerable: {', '.join(found)}" if found else "safe")


COMMANDS = [judge_group]
