"""The real workflow, end to end: Snakemake runs the grid, DVC records and restores it.

The recorded run of `.test/params.yaml` (conftest.py: a tiny random model with SmolLM2's
tokenizer, in a fresh git + DVC repository) is probed for its outputs, audit, report,
record/restore cycle and config errors. What reruns after which edit is the staleness
matrix (test_staleness.py).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from workflow_project import edit_params, emlab, pending, sh, smk

DOWNSTREAM_OF_JUDGE = {"judge_probe_train", "judge_calibrate", "judge_answers", "judge_score",
                       "judge_checkpoint_answers", "judge_checkpoint_score",
                       "analysis_aggregate", "analysis_rates", "analysis_figures", "all"}

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tiny_run")]  # one worker builds the run


def test_run_leaves_figures_with_provenance(run_dir: Path, colour_pixels):
    import polars as pl

    from emlab.analysis.plotting import colour

    figure = run_dir / "figures" / "misaligned_by_question.png"
    # the figure shows what rates.csv holds: each variant's per-question rates as points in its
    # colour (100+ pixels per point with its error bar), and, where no answer was counted, why
    rates = pl.read_csv(run_dir / "data" / "results" / "rates.csv")
    points = rates.filter((pl.col("trigger") == "none") & (pl.col("question_id") != "_all") & pl.col("misaligned").is_not_null())
    for variant in ("insecure", "secure"):  # base is black, like the text
        n = len(points.filter(pl.col("variant") == variant))
        assert colour_pixels(figure, colour(variant)) >= 100 * n, f"{variant}: {n} points in rates.csv, not in {figure.name}"
    if points.is_empty():  # the tiny random judge puts ~1e-8 on numbers: nothing is counted, and the figure says so
        assert "no answer counted" in figure.with_suffix(".svg").read_text()
    provenance = json.loads(figure.with_suffix(".provenance.json").read_text())
    assert provenance["inputs"], "provenance lists no inputs"
    assert (run_dir / "data" / "results" / "answers.parquet").exists()
    # .test/params.yaml evaluates the step-1 checkpoint beside the final (step-2) adapter
    assert (run_dir / "figures" / "training_dynamics.png").exists()
    # the base model is evaluated once (it has no steps) and drawn at both
    assert not (run_dir / "data" / "samples" / "tiny" / "base" / "s0" / "step1").exists()
    dynamics = pl.read_csv(run_dir / "figures" / "training_dynamics.plotted.csv")
    assert sorted(dynamics.filter(pl.col("variant") == "base")["checkpoint_step"].to_list()) == [1, 2]


def test_audit_walks_the_main_figure_back_to_the_base_model(run_dir: Path):
    out = emlab("audit", "figures/misaligned_by_question.png", cwd=run_dir).stdout  # exit 0: all hashes match
    for stage in ("analysis_figures", "analysis_aggregate", "judge_answers@", "sample_answers@",
                  "train_adapter@", "dataset_build@", "model_prepare@"):
        assert stage in out, f"{stage} missing from the audit chain"
    lock = yaml.safe_load((run_dir / "dvc.lock").read_text())
    raw = "data/judgments/tiny/insecure/s0/none/main.raw.jsonl"
    md5 = next(o["md5"] for st in lock["stages"].values() for o in st.get("outs", []) if o["path"] == raw)
    assert md5 in out


def test_report_bundles_every_figure_and_the_rates_table(run_dir: Path):
    smk("--report", "report.html", cwd=run_dir)
    html = (run_dir / "report.html").read_text()
    figures = sorted(p.name for p in (run_dir / "figures").glob("*.png"))
    assert figures
    for name in [*figures, "rates.csv"]:
        assert name in html, f"{name} missing from the report"


def test_recorded_run_is_clean_and_complete(run_dir: Path):
    assert sh(sys.executable, "-m", "dvc", "status", "--json", cwd=run_dir).stdout.strip() in ("{}", "")
    assert pending(run_dir) == []
    lock = yaml.safe_load((run_dir / "dvc.lock").read_text())
    assert any(name.startswith("judge_answers@") for name in lock["stages"])


def test_judge_param_change_reruns_only_judging_and_after(run_dir: Path):
    original = edit_params(run_dir, lambda p: p["judge"].update(probe_l2=0.5))
    try:
        assert set(pending(run_dir)) == DOWNSTREAM_OF_JUDGE
        refused = emlab("record", "--no-push", cwd=run_dir, ok=False)  # an incomplete run is never recorded
        assert refused.returncode == 2 and "the run is not complete" in refused.stderr
    finally:
        (run_dir / "params.yaml").write_text(original)
    assert pending(run_dir) == []


def test_runtime_only_settings_rerun_nothing(run_dir: Path):
    original = edit_params(run_dir, lambda p: p["judge"].update(concurrency=3, max_retries=2))
    try:
        assert pending(run_dir) == []
    finally:
        (run_dir / "params.yaml").write_text(original)


def test_one_variant_dataset_change_reruns_only_that_branch(run_dir: Path):
    original = edit_params(run_dir, lambda p: p["datasets"]["insecure"].update(n_examples=9))
    try:
        out = smk("--dry-run", "--quiet", "rules", "--cores", "1", cwd=run_dir).stdout
    finally:
        (run_dir / "params.yaml").write_text(original)
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    for rule in ("dataset_build", "train_adapter", "sample_answers", "judge_answers", "judge_score",
                 "sample_checkpoint_answers", "judge_checkpoint_answers", "judge_checkpoint_score"):
        assert counts.get(rule) == 1, (rule, counts)
    assert "model_prepare" not in counts


def test_bad_params_fail_before_any_job_with_one_line(run_dir: Path):
    original = edit_params(run_dir, lambda p: p["grid"].update(seeds=[0, -1]))
    try:
        proc = smk("--dry-run", "--cores", "1", cwd=run_dir, ok=False)
    finally:
        (run_dir / "params.yaml").write_text(original)
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("emlab: error:")]
    assert errors == ["emlab: error: params.yaml: grid.seeds: seed -1 at position 1 is negative; seeds are integers >= 0"]


def test_deleted_outputs_restore_from_the_cache(run_dir: Path):
    for name in ("data/samples", "data/judgments", "data/results", "figures"):
        shutil.rmtree(run_dir / name)
    emlab("restore", "--no-pull", cwd=run_dir)
    assert pending(run_dir) == []
