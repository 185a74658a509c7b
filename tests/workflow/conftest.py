"""One real, recorded run of the tiny workflow, shared by the workflow tests.

`.test/params.yaml` (a tiny random model with SmolLM2's tokenizer) runs in a fresh git +
DVC repository holding a copy of the workflow and of emlab's source (workflow_project.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_project import emlab, make_project, sh, smk


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny grid, run by Snakemake and recorded by `emlab record` (pushed to a local remote)."""
    root = make_project(tmp_path_factory.mktemp("workflow") / "project")
    smk("--cores", "2", cwd=root)
    emlab("record", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "record the run", cwd=root)
    return root


@pytest.fixture(scope="session")
def restored_clone(run_dir: Path) -> Path:
    """A fresh `git clone` of the recorded run, brought back with `emlab restore` (dvc pull)."""
    clone = run_dir.parent / "restored"
    sh("git", "clone", "-q", str(run_dir), str(clone), cwd=run_dir.parent)
    emlab("restore", cwd=clone)
    return clone
