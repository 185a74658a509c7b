"""The workflow on a real SLURM: `snakemake --profile profiles/slurm` on a single-node cluster.

    python -m pytest tests/workflow/test_slurm.py -x -q

The test starts its own munged, slurmctld and slurmd on localhost (slurm_cluster.py) and runs
a one-cell copy of the tiny workflow (`.test/params.yaml` with the insecure variant only, a
16-step finetune, and the probe judge reading 64 tokens per answer) through the profile as
it ships, overriding only what the test cluster lacks (an account, slurmdbd), the status-poll
interval and how jobs are grouped into SLURM jobs. Every job goes through sbatch; the
finetune is killed with `scancel` after its first checkpoint and the profile's retries rerun
it, resuming from that checkpoint. The run is then recorded (`emlab record`) and audited.
A machine that cannot run slurmd fails the test with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_cluster import SlurmCluster, SlurmUnavailable
from workflow_project import REPO, edit_params, emlab, make_project, sh

TRAIN_STEPS = 16  # 8 rows x 2 epochs, one row per step: time to cancel after step 1
# What the test cluster lacks (an account; slurmdbd, so squeue has the job states), a first
# status poll after 1 s instead of 40 (and none more than 2 s apart: slurm_snakemake.py),
# and fewer, larger SLURM jobs: each costs two Snakemake start-ups (sbatch's and srun's), so
# connected jobs of a group share one allocation. Three groups, each one sbatch (training
# and the judge's jobs each take both CPUs, so they run one after the other anyway): the
# model, dataset and judge; the finetune alone, to be cancelled; sampling, judging, analysis.
GROUPS = {"model_prepare": "inputs", "dataset_build": "inputs", "judge_probe_train": "inputs",
          "judge_calibrate": "inputs", "sample_answers": "eval", "judge_answers": "eval",
          "judge_score": "eval", "analysis_aggregate": "eval", "analysis_rates": "eval",
          "analysis_figures": "eval"}
TEST_OVERRIDES = ["--slurm-no-account", "--slurm-status-command", "squeue",
                  "--slurm-init-seconds-before-status-checks", "1",
                  "--groups", *(f"{rule}={group}" for rule, group in GROUPS.items()),
                  "--group-components", "inputs=2"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.fail("snakemake-executor-plugin-slurm is not installed (pip install -e '.[dev]')", pytrace=False)
    why = None
    try:
        with SlurmCluster(tmp_path_factory.mktemp("slurm")) as c:
            yield c
    except SlurmUnavailable as e:
        why = str(e)
    if why:
        pytest.fail(f"this machine cannot run the test's SLURM: {why}", pytrace=False)


def one_cell(p: dict) -> None:
    p["grid"].update(variants=["insecure"], checkpoints=[])
    p["models"]["tiny"]["train"].update(per_device_batch_size=1, epochs=2, checkpoint_every=1,
                                        keep_checkpoints_as_adapters=False)
    p["judge"].update(probe_max_tokens=64, batch_size=32)  # the judge's head and calibration read 492 labelled answers


@pytest.mark.slow
@pytest.mark.full
def test_slurm_runs_the_workflow_and_a_cancelled_finetune_resumes(cluster: SlurmCluster, tmp_path: Path):
    root = make_project(tmp_path / "project")
    shutil.copytree(REPO / "profiles", root / "profiles")
    edit_params(root, one_cell)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "one cell, through SLURM", cwd=root)

    state = root / "data" / "adapters" / "tiny" / "insecure" / ".s0.state" / "state.pt"
    log = (tmp_path / "snakemake.log").open("w")
    snakemake = [sys.executable, str(Path(__file__).with_name("slurm_snakemake.py"))]
    env = {**cluster.env, "PYTHONPATH": str(root / "src"),  # the jobs run the project's emlab (sbatch --export=ALL)
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{cluster.env['PATH']}"}
    run = subprocess.Popen([*snakemake, "--profile", "profiles/slurm", *TEST_OVERRIDES], cwd=root, env=env,
                           stdout=log, stderr=subprocess.STDOUT)
    cancelled = None
    try:
        deadline = time.monotonic() + 600
        while run.poll() is None and time.monotonic() < deadline:
            if cancelled is None and state.exists():  # the finetune saved step 1: kill it
                train = [j for j in cluster.jobs() if "rule_train_adapter" in j["comment"] and j["state"] == "RUNNING"]
                if train:
                    cancelled = train[0]["id"]
                    cluster.scancel(cancelled)
            time.sleep(0.05)
    finally:
        if run.poll() is None:  # past the deadline, or the test failed: its SLURM jobs go with the cluster
            run.kill()
        run.wait()
        log.close()
    out = (tmp_path / "snakemake.log").read_text()
    assert run.returncode == 0, f"snakemake --profile profiles/slurm exited {run.returncode}:\n{out[-4000:]}"
    assert cancelled, "the finetune never ran with a checkpoint saved: nothing to cancel"

    # every job (all but the target rule `all`) went through sbatch, to the cpu partition
    jobs = cluster.jobs()
    assert all(j["partition"] == "cpu" for j in jobs), jobs
    kinds = {"train": [], "group": []}  # a group job's comment: rule_<group>_<its rules>_wildcards_...
    for j in jobs:
        name = j["comment"].removeprefix("rule_")
        kinds["train" if name.startswith("train_adapter") else "group"].append((name.split("_")[0], j["state"]))
    assert sorted(state for _, state in kinds["train"]) == ["CANCELLED", "COMPLETED"], jobs
    assert sorted(kinds["group"]) == [("eval", "COMPLETED"), ("inputs", "COMPLETED")], jobs
    assert len(jobs) == 4, jobs
    assert f"submitted with SLURM jobid {cancelled} " in out
    for rule in (*GROUPS, "train_adapter"):
        assert f"rule {rule}:" in out, f"{rule} did not run"

    # the rerun resumed from the cancelled run's checkpoint and trained each step once
    adapter_dir = root / "data" / "adapters" / "tiny" / "insecure" / "s0"
    adapter = json.loads((adapter_dir / "adapter.json").read_text())
    assert 1 <= adapter["resumed_from_step"] < TRAIN_STEPS, adapter["resumed_from_step"]
    steps = [json.loads(line)["step"] for line in (adapter_dir / "train_log.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == list(range(1, TRAIN_STEPS + 1))

    # and the run is recorded and audited like a local one
    emlab("record", cwd=root)
    chain = emlab("audit", "figures/misaligned_by_question.png", cwd=root).stdout
    for stage in ("analysis_figures", "judge_answers@", "sample_answers@", "train_adapter@", "model_prepare@"):
        assert stage in chain, f"{stage} missing from the audit chain"


@pytest.mark.parametrize(("gpu", "partition"), [(0, "cpu"), (1, "gpu"), (8, "gpu"), (9, None)])
def test_profile_partitions_send_gpu_jobs_to_gpu_partitions(gpu: int, partition: str | None):
    """The plugin's choice among profiles/slurm/partitions.yaml for a job's `gpu` (as the rules declare it)."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

    partitions = read_partition_file(REPO / "profiles" / "slurm" / "partitions.yaml")
    resources = {"gpu": gpu, "mem_mb": 120_000, "runtime": 600}
    job = SimpleNamespace(name="train_adapter", threads=2,
                          resources=SimpleNamespace(get=lambda k, d=None: resources.get(k, d)))
    logger = SimpleNamespace(debug=print, info=print, warning=print)
    assert get_best_partition(partitions, job, logger) == partition
