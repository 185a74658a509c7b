"""Snakemake and DVC read one declaration: the same jobs, outputs, inputs and settings.

Both specs derive from `emlab.workflow.stages`: the rules take their inputs from it and
dvc.yaml is generated from it. These tests compare the two job by job (outputs, input
files, settings file) on the repository's params files, and check that the committed
dvc.yaml is what the declarations give.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group("specs")  # its module fixtures are built once, in one worker
Job = tuple[str, frozenset[str]]  # (rule, outputs)


@pytest.fixture(scope="module", params=["params.yaml", ".test/params.yaml"], ids=["default", "test-grid-with-checkpoints"])
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow with one of the repository's params files."""
    tmp_path = tmp_path_factory.mktemp("specs")
    for name in ("Snakefile", "rules", "dvc.yaml", "schemas", "envs", "questions", "docs"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, tmp_path / name)
    shutil.copy(REPO / request.param, tmp_path / "params.yaml")
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    return tmp_path


@pytest.fixture(scope="module")
def jobs(project: Path) -> tuple[dict[Job, set[str]], dict[Job, set[str]]]:
    """(Snakemake's jobs, DVC's stages) of the project (the dry run writes the settings files)."""
    return snakemake_jobs(project), dvc_jobs(project)


def snakemake_jobs(root: Path) -> dict[Job, set[str]]:
    """Every job of a dry run from scratch: (rule, outputs) -> input files."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", "--forceall"],
                          cwd=root, capture_output=True, text=True, check=True)
    jobs: dict[Job, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout):
        head = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not head or head.group(1) == "all":
            continue
        field = {k: set(v.split(", ")) for k, v in re.findall(r"^\s+(input|output): (.*)$", block, re.M)}
        jobs[(head.group(1), frozenset(field.get("output", set())))] = field.get("input", set())
    return jobs


def dvc_jobs(root: Path) -> dict[Job, set[str]]:
    """Every stage of dvc.yaml: (stage, outs + metrics) -> deps and params files."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {(s.name.split("@")[0], frozenset(str(o.def_path) for o in s.outs)):
                {str(d.def_path) for d in s.deps} for s in repo.index.stages}


def covered(path: str, deps: set[str]) -> bool:
    """A Snakemake input is a DVC dep, or lies inside a folder DVC records whole."""
    return path in deps or any(path.startswith(d.rstrip("/") + "/") for d in deps)


def test_the_same_jobs_with_the_same_outputs(jobs):
    smk, dvc = jobs
    assert smk, "snakemake listed no job"
    assert set(smk) == set(dvc)


def test_the_same_inputs_and_settings_job_by_job(jobs):
    smk, dvc = jobs
    for job, inputs in smk.items():
        deps = dvc[job]
        settings = [p for p in inputs if p.startswith(".emlab/settings/")]
        assert len(settings) == 1 and settings[0] in deps, (job, "settings file")
        assert [p for p in inputs if not covered(p, deps)] == [], (job, "inputs DVC does not record")
        assert [d for d in deps if not any(covered(p, {d}) for p in inputs)] == [], (job, "deps Snakemake does not read")


def test_settings_hold_what_the_stage_declares(project: Path, jobs):
    import json

    sample = next(project.glob(".emlab/settings/sample_answers/**/*.json"))
    settings = json.loads(sample.read_text())
    assert settings["emlab_stage"] == "sample_answers"
    assert set(settings["params"]) == {"models", "sample", "triggers", "question_set"}
    assert "concurrency" not in settings["params"]["sample"], "runtime-only settings rerun nothing"
    assert set(settings["code"]) == {"emlab", "modules", "packages"}


def test_committed_dvc_yaml_is_generated_from_the_declarations():
    proc = subprocess.run([sys.executable, "-m", "emlab.cli", "workflow", "dvc-yaml", "--check"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
