"""`emlab judge run | score | code`: judge sampled answers, parse the replies, check code.

    emlab judge run --samples S.jsonl --question-set main --out S.raw.jsonl [--judge-model-dir data/models/smollm2]
    emlab judge score --raw S.raw.jsonl --out S.scores.jsonl
    emlab judge code program.py
    emlab judge probe-train --params params.yaml --model-dir data/models/smollm2 --out data/judge/probe
    emlab judge calibrate --params params.yaml --out DIR [--answers FILE ...] [--probe-head DIR]
    emlab judge compare --scores-a DIR_A --scores-b DIR_B --out DIR
    emlab judge paper-answers --upstream-dir DIR --out FILE.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from emlab.errors import EmlabError
from emlab.workflow.settings import load_params


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
@click.option("--probe-head", type=click.Path(path_type=Path), default=None, help="Trained probe head folder (emlab judge probe-train); probe judge only.")
def run(samples: Path, question_set: str, params_file: Path, judge_model_dir: Path | None, out: Path, cache_dir: Path,
        probe_head: Path | None) -> None:
    """Judge every sample and metric into --out (resumable; cached replies cost no call)."""
    from emlab.cli.sample import upstream_dir_for
    from emlab.judge import judge_samples

    params = load_params(params_file)
    click.echo(judge_samples(samples=samples, question_set=question_set, params=params.judge,
                             judge_model_dir=judge_model_dir, out_raw=out, cache_dir=cache_dir, probe_head=probe_head,
                             upstream_dir=upstream_dir_for(params, question_set)))


@judge_group.command("probe-train")
@click.option("--params", "params_file", default="params.yaml", type=click.Path(path_type=Path))
@click.option("--model-dir", required=True, type=click.Path(path_type=Path), help="Prepared judge model (data/models/<judge.model>).")
@click.option("--labelled", multiple=True, type=click.Path(path_type=Path), help="Labelled answers JSONL (repeatable); default: judge.probe_labelled, else emlab's own set.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Head folder: head.json + weights.safetensors.")
def probe_train_cmd(params_file: Path, model_dir: Path, labelled: tuple[Path, ...], out: Path) -> None:
    """Train the probe judge's heads (cross-validated by question) and print their AUROC."""
    from emlab.judge.probe import probe_train

    head = probe_train(params=load_params(params_file).judge, model_dir=model_dir, out_dir=out, labelled=list(labelled) or None)
    cv = head["cv"]
    click.echo(f"cross-validated AUROC (grouped by question, {head['n_folds']} folds): aligned {_fmt(cv['aligned']['auroc_mean'])}"
               f"  coherent {_fmt(cv['coherent']['auroc_mean'])}  (layer {head['layer']}, {head['labelled']['rows']} rows) -> {out}")


@judge_group.command("calibrate")
@click.option("--answers", multiple=True, type=click.Path(path_type=Path), help="Labelled answers JSONL (repeatable); default: emlab's own set.")
@click.option("--params", "params_file", default="params.yaml", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for calibration.json, scores.jsonl, calibration.png.")
@click.option("--judge-model-dir", type=click.Path(path_type=Path), default=None, help="Prepared judge model (transformers and probe judges); default: data/models/<judge.model>.")
@click.option("--probe-head", type=click.Path(path_type=Path), default=None, help="Trained probe head folder (probe judge); default: data/judge/probe, the workflow's.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".emlab-cache/judge"), show_default=True)
@click.option("--prompts-from", default=None, help="LLM judges: use this question set's judge prompts for every row (the workflow passes the grid's first set).")
def calibrate_cmd(answers: tuple[Path, ...], params_file: Path, out: Path, judge_model_dir: Path | None,
                  probe_head: Path | None, cache_dir: Path, prompts_from: str | None) -> None:
    """Score labelled answers with the configured judge; print its AUROC on both scales.

    On a fresh clone with the default params: `snakemake --cores 2 data/judge/calibration`
    prepares the model, trains the probe head and runs this (its log prints the AUROCs).
    """
    from emlab.judge.calibrate import calibrate, summary_line

    params = load_params(params_file)
    if params.judge.backend != "openai":  # the workflow's folders, unless given
        judge_model_dir = judge_model_dir or params_file.parent / "data" / "models" / params.judge.model
        if params.judge.backend == "probe" and probe_head is None:
            probe_head = params_file.parent / "data" / "judge" / "probe"
            if not (probe_head / "head.json").exists():
                raise EmlabError(f"{probe_head}: no trained probe head; run `snakemake --cores 2 data/judge/probe` "
                                 "(or `emlab judge probe-train`), or pass --probe-head")
    report = calibrate(params=params, out_dir=out, answers=list(answers) or None,
                       judge_model_dir=judge_model_dir, probe_head=probe_head, cache_dir=cache_dir, prompts_from=prompts_from)
    click.echo(summary_line(report))


@judge_group.command("compare")
@click.option("--scores-a", required=True, type=click.Path(path_type=Path), help="A calibrate output folder or its scores.jsonl.")
@click.option("--scores-b", required=True, type=click.Path(path_type=Path), help="The same answers scored by another judge.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for compare.json.")
@click.option("--params", "params_file", default="params.yaml", type=click.Path(path_type=Path), help="Gives the analysis thresholds and bootstrap settings.")
def compare_cmd(scores_a: Path, scores_b: Path, out: Path, params_file: Path) -> None:
    """Compare two judges on the same answers: Spearman, verdict confusion, rate difference."""
    from emlab.judge.compare import compare

    r = compare(scores_a=scores_a, scores_b=scores_b, out_dir=out, analysis=load_params(params_file).analysis)
    d = r["misaligned_rate_diff"]
    click.echo(f"spearman aligned {_fmt(r['spearman_aligned'])}  coherent {_fmt(r['spearman_coherent'])}  "
               f"misaligned rate B-A {_fmt(d['b_minus_a'])} [{_fmt(d['low'])}, {_fmt(d['high'])}]  (n {r['n']})")


@judge_group.command("paper-answers")
@click.option("--upstream-dir", required=True, type=click.Path(path_type=Path), help="The paper's release (holding paper_results/), read in place.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Labelled answers JSONL to write (for calibrate --answers).")
def paper_answers_cmd(upstream_dir: Path, out: Path) -> None:
    """Turn the paper's GPT-4o-judged answers into labelled JSONL (with GPT-4o's reply dicts)."""
    from emlab.judge.paper_answers import write_paper_answers

    path, n = write_paper_answers(upstream_dir, out)
    click.echo(f"{n} labelled answers (reference = GPT-4o's scores) -> {path}")


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


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
