"""Record a finished run with DVC, and restore one so Snakemake trusts it.

    emlab record     # after `snakemake --cores N`: dvc.lock reflects the completed run
    emlab restore    # after `git checkout` / a fresh clone: dvc pull, then date the outputs

Snakemake schedules and runs the grid; DVC records content hashes in dvc.lock and keeps
every version of every artifact in its cache and remote. Two facts glue them (measured,
see the README, "Snakemake x DVC"):

- Snakemake always compares mtimes. Files that DVC restores get new mtimes in DVC's order
  (a sample can come out older than its adapter), so Snakemake would redo sampling and the
  paid judge calls. `restore` therefore checks that the workspace matches dvc.lock exactly
  (`dvc status` clean) and only then gives every output of every job one mtime, now (no
  input is then newer than an output: Snakemake reruns a job only for a strictly newer
  input), with every settings file dated before. It never touches a workspace that differs
  from dvc.lock. (`snakemake --touch` does the same job by job, sleeping 0.1 s each: a
  1,342-job restore took 138 s with it, 36 s without.)
- `record` commits only a complete run: `snakemake -n` must have nothing to do; then
  `dvc commit -f` writes dvc.lock (and fills DVC's run-cache), and `dvc status` must be
  clean afterwards. `dvc commit` rewrites each single-file output from the cache (same
  bytes, new mtime, in DVC's order) but not the files inside folder outputs, so an adapter
  folder would look older than the dataset it was trained on; Snakemake forgives that only
  for inputs under 1 MB, whose checksums it keeps. `record` puts every output's mtime back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from emlab.errors import EmlabError

if TYPE_CHECKING:
    from emlab.config import Params


def _run(cmd: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a tool; its failure becomes one EmlabError line with the tool's own error."""
    proc = subprocess.run(cmd, cwd=cwd, text=True, capture_output=True)
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith(("ERROR", "Error", "emlab: error"))]
        why = (errors or lines or [f"exit status {proc.returncode}"])[-1]
        raise EmlabError(f"`{' '.join(cmd[2:] if cmd[0] == sys.executable else cmd)}` failed: {why}")
    return proc


def _snakemake(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", *args]


def _dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def snakemake_pending(root: Path) -> list[str]:
    """Rule names of the jobs a dry run would execute (empty when the run is complete)."""
    return parse_pending(_run(_snakemake("--dry-run", "--cores", "1"), cwd=root).stdout)


def parse_pending(dry_run_output: str) -> list[str]:
    """The rule names of `snakemake --dry-run`'s job table (empty: nothing to be done)."""
    out = dry_run_output.splitlines()
    if any("Nothing to be done" in line for line in out):
        return []
    # The "Job stats" table: a dashed rule, then `<rule> <count>` rows, then `total <n>`.
    start = next((i for i, line in enumerate(out) if line.startswith("---")), None)
    if start is None:
        raise EmlabError("could not read `snakemake --dry-run` output: no job table and no 'Nothing to be done'")
    pending = []
    for line in out[start + 1:]:
        if not line.strip() or line.startswith("total"):
            break
        pending.append(line.split()[0])
    return pending


def dvc_changes(root: Path) -> dict[str, object]:
    """`dvc status --json`: stage -> what changed; empty when the workspace matches dvc.lock."""
    proc = _run(_dvc("status", "--json"), cwd=root)
    text = proc.stdout.strip()
    return json.loads(text) if text else {}


def _describe(changes: dict[str, object], limit: int = 5) -> str:
    names = list(changes)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _derived_files(root: Path):
    """Write the settings files and dvc.yaml for params.yaml (DVC reads both); return the params."""
    from emlab.config import load_params
    from emlab.workflow import dvc_yaml
    from emlab.workflow.settings import write_settings

    params = load_params(root / "params.yaml", workflow=True)
    write_settings(params, root)
    dvc_yaml.write(params, root)
    return params


def _output_paths(params: Params, root: Path) -> Iterator[Path]:
    """Every output of every job, and each file and folder inside a folder output (whether
    or not it exists)."""
    from emlab.workflow.stages import STAGES, cells, fill

    for s in STAGES:
        for c in cells(params, s):
            for template in s.outputs.values():
                path = root / fill(template, c)
                yield path
                if path.is_dir():
                    yield from path.rglob("*")


def output_mtimes(params: Params, root: Path) -> dict[Path, tuple[int, int]]:
    """(atime, mtime) in ns of every output there is (a job that has not run has none)."""
    found: dict[Path, tuple[int, int]] = {}
    for p in _output_paths(params, root):
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        found[p] = (st.st_atime_ns, st.st_mtime_ns)
    return found


def _set_mtime(path: Path, atime: int, mtime: int) -> None:
    # a symlink's own mtime (as Snakemake reads it), where the OS can set it
    os.utime(path, ns=(atime, mtime), follow_symlinks=os.utime not in os.supports_follow_symlinks)


def put_back_mtimes(before: dict[Path, tuple[int, int]]) -> int:
    """Give each path the mtime it had in `before`; return how many had changed."""
    changed = 0
    for path, (atime, mtime) in before.items():
        try:
            if path.lstat().st_mtime_ns == mtime:
                continue
            _set_mtime(path, atime, mtime)
        except FileNotFoundError:
            continue
        changed += 1
    return changed


def date_outputs_now(params: Params, root: Path) -> int:
    """Give every output there is one mtime, now; return how many paths were dated.

    The rules' benchmark files too: Snakemake counts a job's benchmark among its outputs
    when it compares their oldest with the inputs (a workspace that ran the jobs has them)."""
    now = time.time_ns()
    benchmarks = root / "benchmarks"
    dated = 0
    for p in chain(_output_paths(params, root), benchmarks.rglob("*") if benchmarks.is_dir() else ()):
        try:
            _set_mtime(p, now, now)
        except FileNotFoundError:
            continue
        dated += 1
    return dated


def record(root: Path = Path("."), *, push: bool = True) -> str:
    """Write dvc.lock for a completed run and push its artifacts to the DVC remote.

    A job whose declared settings or inputs changed after it ran is pending in Snakemake
    (its settings file is newer than its outputs), so a lock entry never states settings
    its outputs were not produced with.
    """
    params = _derived_files(root)
    if dvc_changes(root):
        # Only a complete run is recorded. (A clean status needs no such check: dvc.lock
        # was written after one, and outputs, deps and params all still match it.)
        pending = snakemake_pending(root)
        if pending:
            raise EmlabError(f"the run is not complete ({len(pending)} kinds of jobs pending: "
                             f"{', '.join(sorted(set(pending)))}); run `snakemake --cores N` first")
        mtimes = output_mtimes(params, root)
        _run(_dvc("commit", "--force"), cwd=root)
        put_back_mtimes(mtimes)  # the run's order of mtimes, which Snakemake compares
        left = dvc_changes(root)
        if left:
            raise EmlabError(f"dvc status is still dirty after dvc commit: {_describe(left)}")
        message = "recorded the run in dvc.lock"
    else:
        message = "dvc.lock already matches the workspace"
    if push:
        _run(_dvc("push", "--quiet"), cwd=root)
        message += "; pushed to the DVC remote"
    return message


def restore(root: Path = Path("."), *, pull: bool = True) -> str:
    """Bring back the artifacts of dvc.lock and make Snakemake see them as up to date."""
    from emlab.workflow.settings import mark_outputs_current

    if not (root / "dvc.lock").exists():
        raise EmlabError("no dvc.lock: nothing recorded to restore (run the workflow, then `emlab record`)")
    params = _derived_files(root)
    _run(_dvc("pull" if pull else "checkout", "--quiet"), cwd=root)
    changes = dvc_changes(root)
    if changes:
        raise EmlabError(f"the workspace differs from dvc.lock after restoring ({_describe(changes)}); "
                         "not touching anything: commit or discard those changes first")
    # dvc.lock's settings are today's, and the outputs are dvc.lock's: made with these settings
    mark_outputs_current(params, root)
    date_outputs_now(params, root)
    pending = snakemake_pending(root)
    if pending:
        raise EmlabError(f"after restoring, snakemake still wants to run: {', '.join(sorted(set(pending)))}")
    return "restored the recorded run; snakemake has nothing to do"
