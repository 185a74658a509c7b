"""The two DAG specs agree: Snakemake's outputs are exactly DVC's stage outputs.

params.yaml is the only place the grid is written; the Snakefile and dvc.yaml each expand
it. This guards against the two drifting apart (a rule renamed, a path changed, a stage
forgotten).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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


def test_snakemake_and_dvc_declare_the_same_outputs_by_rule():
    smk = snakemake_outputs(REPO)
    dvc = dvc_outputs(REPO)
    assert smk, "snakemake --summary listed nothing"
    assert smk - dvc == set(), "outputs only Snakemake knows"
    assert dvc - smk == set(), "outputs only DVC knows"


def test_every_rule_is_a_dvc_stage():
    rules = {rule for rule, _ in snakemake_outputs(REPO)}
    assert rules == {stage for stage, _ in dvc_outputs(REPO)}
