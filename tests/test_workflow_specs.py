"""The two DAG specs agree: Snakemake's outputs are exactly DVC's stage outputs.

params.yaml is the only place the grid is written; the Snakefile and dvc.yaml each expand
it. This guards against the two drifting apart (a rule renamed, a path changed, a stage
forgotten).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["params.yaml", ".test/params.yaml"], ids=["default", "test-grid-with-checkpoints"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The workflow with one of the repository's params files."""
    for name in ("Snakefile", "rules", "dvc.yaml", "schemas", "envs", "questions", "docs"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, tmp_path / name)
    shutil.copy(REPO / request.param, tmp_path / "params.yaml")
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def snakemake_outputs(root: Path) -> set[tuple[str, str]]:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--summary", "--cores", "1"],
        cwd=root, capture_output=True, text=True, check=True,
    )
    rows = [line.split("\t") for line in proc.stdout.splitlines()[1:] if "\t" in line]
    return {(row[2], row[0]) for row in rows}


def dvc_outputs(root: Path) -> set[tuple[str, str]]:
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {(stage.name.split("@")[0], str(out.def_path)) for stage in repo.index.stages for out in stage.outs}


def test_snakemake_and_dvc_declare_the_same_outputs_by_rule(project: Path):
    smk = snakemake_outputs(project)
    dvc = dvc_outputs(project)
    assert smk, "snakemake --summary listed nothing"
    assert smk - dvc == set(), "outputs only Snakemake knows"
    assert dvc - smk == set(), "outputs only DVC knows"


def test_every_rule_is_a_dvc_stage(project: Path):
    rules = {rule for rule, _ in snakemake_outputs(project)}
    assert rules == {stage for stage, _ in dvc_outputs(project)}
