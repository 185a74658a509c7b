"""bench/grid_scale.py --smoke: the grid-scale bench on a 2-variant grid, its JSON keys.

The bench exits non-zero when its placeholders are not a complete run in Snakemake's eyes
before or after `emlab record` (which puts back the mtimes `dvc commit` changes), or when
the restored clone has work to do; the times themselves are not checked (a shared machine).
It runs the real Snakemake and DVC a dozen times: ~25 s of CPU.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.full]

TIMED = {"emlab_workflow_settings", "snakemake_n", "dvc_status_unrecorded", "emlab_record", "dvc_status",
         "snakemake_n_recorded", "emlab_restore", "snakemake_n_restored_clone"}


def test_grid_scale_bench_smoke() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "grid_scale.py"), "--smoke"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert set(out) == {"machine", "targets_s", "baseline", "configs", "pass"}
    assert set(out["targets_s"]) == {"snakemake_n", "dvc_status", "emlab_record", "emlab_restore"}
    smoke = out["configs"]["smoke"]
    assert smoke["jobs"] == sum(smoke["jobs_by_rule"].values()) == smoke["dvc_stages"] > 0  # a DVC stage per job
    assert set(smoke["times_s"]) == set(smoke["cpu_s"]) == TIMED
    assert all(math.isfinite(t) and t > 0 for t in smoke["times_s"].values())
    assert set(smoke["pass"]) == set(smoke["ratio_to_target"]) == set(out["targets_s"])
    assert out["pass"] == all(smoke["pass"].values())
    assert len(out["machine"]["load_avg_before"]) == 3
