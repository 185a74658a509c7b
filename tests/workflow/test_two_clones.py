"""Two clones and one DVC remote: what clone A ran and recorded, clone B gets back whole.

Clone A is the recorded run (conftest.py `run_dir`: `snakemake`, then `emlab record`, which
pushes to a local remote beside it). Clone B is `restored_clone`: a `git clone` of A with its
own, empty DVC cache, brought back by `emlab restore` (`dvc pull` from that remote, then
every output dated now). Both fixtures are the session's own, shared with test_e2e.py and
test_staleness.py, so this module adds no run of the workflow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from workflow_project import pending, sh

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tiny_run")]  # with the other tests of the run

#: every file a reader of the results looks at
RESULTS = ("figures", "data/results")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for name in RESULTS for p in sorted((root / name).rglob("*"))
            if p.is_file() and p.name != ".snakemake_timestamp"}


def test_a_clone_pulled_from_the_remote_has_nothing_to_do_and_the_same_figures(run_dir: Path, recorded_results: Path,
                                                                                restored_clone: Path):
    # B's artifacts came through the remote: it has its own cache, and the remote holds all of dvc.lock
    assert (restored_clone / ".dvc" / "cache").resolve() != (run_dir / ".dvc" / "cache").resolve()
    cloud = sh(sys.executable, "-m", "dvc", "status", "--cloud", "--json", cwd=restored_clone).stdout.strip()
    assert json.loads(cloud or "{}") == {}, f"the remote lacks some of dvc.lock's outputs: {cloud[:500]}"
    assert pending(restored_clone) == [], "snakemake -n in the restored clone has work to do"
    a, b = _files(recorded_results), _files(restored_clone)  # A's files as recorded
    assert any(name.endswith(".png") for name in a) and "data/results/rates.csv" in a
    assert sorted(a) == sorted(b), f"only in A: {sorted(set(a) - set(b))}; only in B: {sorted(set(b) - set(a))}"
    differ = [name for name in a if a[name] != b[name]]
    assert differ == [], f"not byte-identical in the restored clone: {differ}"
