"""One real, recorded run of the tiny workflow, shared by the workflow tests.

`.test/params.yaml` (a tiny random model with SmolLM2's tokenizer) runs in a fresh git +
DVC repository holding a copy of the workflow and of emlab's source (workflow_project.py).
Under pytest-xdist the run is made once per test run, by whichever worker needs it first
(a file lock; the others wait), so the tests in the workspace and those in a restored
clone can run on both cores at once.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from workflow_project import emlab, make_project, sh, smk

#: every file a reader of the results looks at (kept as recorded: other tests edit the workspace)
RESULTS = ("figures", "data/results")


def _recorded_run(root: Path) -> Path:
    make_project(root)
    smk("--cores", "2", cwd=root)
    emlab("record", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "record the run", cwd=root)
    for name in RESULTS:
        shutil.copytree(root / name, root.parent / "as-recorded" / name)
    (root.parent / "recorded").write_text("ok")
    return root


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny grid, run by Snakemake and recorded by `emlab record` (pushed to a local remote)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _recorded_run(tmp_path_factory.mktemp("workflow") / "project")
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "workflow"  # this test run's, above each worker's folder
    shared.mkdir(exist_ok=True)
    with FileLock(str(shared / "run.lock")):
        root = shared / "project"
        if (shared / "recorded").exists():
            return root
        if root.exists():
            raise AssertionError(f"{root}: an earlier attempt at the tiny run failed (see its logs/)")
        return _recorded_run(root)


@pytest.fixture(scope="session")
def recorded_results(run_dir: Path) -> Path:
    """A copy of the run's figures/ and data/ as recorded (the workspace's own may be mid-edit)."""
    return run_dir.parent / "as-recorded"


@pytest.fixture(scope="session")
def restored_clone(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh `git clone` of the recorded run, brought back with `emlab restore` (dvc pull)."""
    clone = tmp_path_factory.mktemp("restored") / "project"
    sh("git", "clone", "-q", str(run_dir), str(clone), cwd=clone.parent)
    emlab("restore", cwd=clone)
    return clone
