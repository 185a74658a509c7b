"""Helpers of the workflow tests: a project copy of the workflow, and its commands.

Every command runs that copy's own emlab (PYTHONPATH), so a test can edit the code a job runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
# what a clone holds that the workflow reads
WORKFLOW_FILES = ["Snakefile", "rules", "dvc.yaml", "schemas", "envs", "questions", "docs/report",
                  "src", "data/README.md", ".dvcignore", ".gitignore"]


def sh(*cmd: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if (cwd / "src" / "emlab").is_dir():
        env["PYTHONPATH"] = str(cwd / "src")  # the project's own copy of emlab runs
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if ok and proc.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((cwd / "logs").rglob("*.log"))) if (cwd / "logs").exists() else ""
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}\n{logs}")
    return proc


def smk(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(sys.executable, "-m", "snakemake", *args, cwd=cwd, ok=ok)


def emlab(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(sys.executable, "-m", "emlab.cli", *args, cwd=cwd, ok=ok)


def edit_params(root: Path, edit: Callable[[dict[str, Any]], None]) -> str:
    """Apply `edit` to params.yaml; return the original text to put back."""
    path = root / "params.yaml"
    original = path.read_text()
    raw = yaml.safe_load(original)
    edit(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return original


def make_project(root: Path, params: str = ".test/params.yaml") -> Path:
    """A git + DVC repository holding a copy of the workflow with `params` as its params.yaml."""
    root.mkdir(parents=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, root / name)
    shutil.copy(REPO / params, root / "params.yaml")
    sh("git", "init", "-q", cwd=root)
    sh("git", "config", "user.email", "ci@example.org", cwd=root)
    sh("git", "config", "user.name", "ci", cwd=root)
    sh(sys.executable, "-m", "dvc", "init", "-q", cwd=root)
    sh(sys.executable, "-m", "dvc", "remote", "add", "-q", "-d", "local", str(root.parent / "remote"), cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "workflow", cwd=root)
    return root


def pending(root: Path) -> list[str]:
    """`emlab.workflow.snakemake_pending`, run with the project's own emlab (as its jobs are)."""
    from emlab.workflow.record import parse_pending

    return parse_pending(smk("--dry-run", "--cores", "1", cwd=root).stdout)
