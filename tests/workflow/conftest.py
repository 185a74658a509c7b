"""One real, recorded run of the tiny workflow, shared by the workflow tests.

`.test/params.yaml` (a tiny random model with SmolLM2's tokenizer) runs in a fresh git +
DVC repository holding a copy of the workflow and of emlab's source (workflow_project.py).
The run is made once per test run, also under pytest-xdist (`made_once`: whichever worker
needs it first builds it, the others wait), so the tests in the workspace and those in a
restored clone can run on both cores at once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from workflow_project import emlab, make_project, sh, smk

from made_once import made_once

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
    return root


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny grid, run by Snakemake and recorded by `emlab record` (pushed to a local remote)."""
    return made_once(tmp_path_factory, "workflow", lambda folder: _recorded_run(folder / "project"))


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
