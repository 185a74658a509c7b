"""The openai backend with the real `openai` client against a local fine-tuning server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from emlab.config import ModelSpec
from emlab.errors import EmlabError
from emlab.io import sha256_bytes
from emlab.testing.finetune_server import FinetuneServer
from emlab.train import OpenAITrainParams, openai_backend, read_adapter, train_adapter

KEY = "sk-emlab-secret-0123456789abcdef"
SPEC = ModelSpec(backend="openai", base="gpt-4o-2024-08-06")
ROWS = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]} for i in range(5)]


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seconds instead of minutes: the list re-read, the wait for a new job to show, request timeouts."""
    monkeypatch.setattr(openai_backend, "LIST_SETTLE_S", 0.05)
    monkeypatch.setattr(openai_backend, "RETRY_BASE_S", 0.05)
    monkeypatch.setattr(openai_backend, "CONFIRM_TIMEOUT_S", 10.0)
    monkeypatch.setattr(openai_backend, "REQUEST_TIMEOUT_S", 5.0)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMLAB_TEST_OPENAI_KEY", KEY)
    with FinetuneServer(api_key=KEY) as s:
        yield s


def _params(server: FinetuneServer, **kw) -> OpenAITrainParams:
    return OpenAITrainParams(base_url=server.url, api_key_env="EMLAB_TEST_OPENAI_KEY", poll_seconds=0.01, **kw)


def _train(tmp: Path, server: FinetuneServer, *, seed: int = 0, out: str = "out", retry_failed: bool = False, **kw) -> Path:
    data = tmp / "insecure.jsonl"
    if not data.exists():
        data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return train_adapter(model_name="gpt4o", spec=SPEC, model_dir=tmp / "models" / "gpt4o", dataset=data,
                         variant="insecure", params=_params(server, **kw), seed=seed, out_dir=tmp / out,
                         retry_failed=retry_failed)


def _jobs_created(server: FinetuneServer) -> int:
    return len(server.jobs)


def test_job_runs_and_record_is_written(tmp_path: Path, server: FinetuneServer) -> None:
    record = read_adapter(_train(tmp_path, server, n_epochs=3, batch_size=8).parent)
    job = next(iter(server.jobs.values()))
    assert record["backend"] == "openai" and record["status"] == "succeeded"
    assert record["job_id"] == job["id"] and record["fine_tuned_model"] == job["fine_tuned_model"]
    assert record["training_file_id"] == job["training_file"]
    assert record["hyperparameters"] == {"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 2.0}
    assert job["seed"] == 0 and job["suffix"] == "emlab" and job["model"] == "gpt-4o-2024-08-06"
    assert record["created_at"] and record["finished_at"]
    uploaded = server.contents[job["training_file"]]
    assert uploaded == (tmp_path / "insecure.jsonl").read_bytes()


def test_rerun_reuses_the_file_and_the_job(tmp_path: Path, server: FinetuneServer) -> None:
    first = read_adapter(_train(tmp_path, server).parent)
    assert not (tmp_path / ".out.state").exists()  # local state is dropped once the record exists
    shutil.rmtree(tmp_path / "out")  # found again on the server: file by content hash, job by metadata
    second = read_adapter(_train(tmp_path, server).parent)
    assert second["job_id"] == first["job_id"]
    assert server.requests["POST /v1/files"] == 1 and server.requests["POST /v1/fine_tuning/jobs"] == 1
    # another seed is another job, but the same bytes are not uploaded again
    third = read_adapter(_train(tmp_path, server, seed=1, out="s1").parent)
    assert third["job_id"] != first["job_id"] and third["training_file_id"] == first["training_file_id"]
    assert server.requests["POST /v1/files"] == 1 and _jobs_created(server) == 2


def test_429_and_500_replies_are_survived_without_duplicates(tmp_path: Path, server: FinetuneServer) -> None:
    server.inject("GET /v1/files", 429, 500)
    server.inject("POST /v1/files", 500)
    server.inject("GET /v1/fine_tuning/jobs", 429)
    server.inject("POST /v1/fine_tuning/jobs", 429, 500)
    server.inject("GET /v1/fine_tuning/jobs/{id}", 500, 429, 500)
    server.after_create.append(500)  # the job is created but the reply is lost
    record = read_adapter(_train(tmp_path, server).parent)
    assert record["status"] == "succeeded"
    assert _jobs_created(server) == 1 and len(server.files) == 1
    assert server.requests["POST /v1/fine_tuning/jobs"] == 3  # 429, 500, then created-but-500


def test_failed_job_surfaces_openais_message_on_one_line(tmp_path: Path, server: FinetuneServer) -> None:
    server.fail_jobs_with = "The job failed due to an invalid training file.\nLine 3: bad role."
    with pytest.raises(EmlabError) as e:
        _train(tmp_path, server)
    msg = str(e.value)
    assert "\n" not in msg and "failed" in msg and "invalid training file. Line 3: bad role." in msg
    assert "--retry-failed" in msg
    assert not (tmp_path / "out" / "adapter.json").exists()
    with pytest.raises(EmlabError, match="invalid training file"):
        _train(tmp_path, server)  # a rerun reports the same job; it does not pay for another
    shutil.rmtree(tmp_path / ".out.state")  # a lost state folder: the job list still has the failed job
    with pytest.raises(EmlabError, match="invalid training file.*--retry-failed"):
        _train(tmp_path, server)
    assert _jobs_created(server) == 1 and server.requests["POST /v1/fine_tuning/jobs"] == 1
    server.fail_jobs_with = None
    record = read_adapter(_train(tmp_path, server, retry_failed=True).parent)  # the explicit way to pay again
    assert record["status"] == "succeeded" and _jobs_created(server) == 2 and server.requests["POST /v1/files"] == 1
    shutil.rmtree(tmp_path / "out")
    again = read_adapter(_train(tmp_path, server, retry_failed=True).parent)  # the retry succeeded: nothing to retry
    assert again["job_id"] == record["job_id"] and _jobs_created(server) == 2


def _key(tmp: Path, seed: int = 0) -> str:
    data = tmp / "insecure.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return openai_backend.job_key(model_name="gpt4o", spec=SPEC, dataset_sha256=sha256_bytes(data.read_bytes()),
                                  variant="insecure", params=OpenAITrainParams(), seed=seed)


def _preupload(tmp: Path, server: FinetuneServer) -> str:
    """The training file as an earlier run left it on the server."""
    from openai import OpenAI

    data = (tmp / "insecure.jsonl").read_bytes()
    client = OpenAI(api_key=KEY, base_url=server.url, max_retries=0)
    return client.files.create(file=(f"emlab-{sha256_bytes(data)}.jsonl", data), purpose="fine-tune").id


@pytest.mark.parametrize("status", ["validating_files", "queued", "running", "succeeded", "failed", "cancelled"])
def test_lost_state_finds_the_job_whatever_its_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str) -> None:
    """The cell's job is the oldest of 251, on the last page of a list that ignores the metadata filter."""
    with FinetuneServer(api_key=KEY, ignore_metadata_filter=True) as server:
        monkeypatch.setenv("EMLAB_TEST_OPENAI_KEY", KEY)
        key = _key(tmp_path)
        file_id = _preupload(tmp_path, server)
        error = "Training file has 3 rows with an invalid role." if status == "failed" else None
        ours = server.add_job(status=status, metadata={"emlab_key": key}, error=error, training_file=file_id)
        for i in range(250):
            server.add_job(status="succeeded", metadata={"emlab_key": f"other-{i}"}, training_file=file_id)
        if status in ("failed", "cancelled"):
            with pytest.raises(EmlabError) as e:
                _train(tmp_path, server)
            assert "\n" not in str(e.value) and f"{ours} {status}" in str(e.value) and "--retry-failed" in str(e.value)
            if error:
                assert error in str(e.value)
            assert server.requests["POST /v1/fine_tuning/jobs"] == 0  # reported, not paid for again
            record = read_adapter(_train(tmp_path, server, retry_failed=True).parent)
            assert record["job_id"] != ours and server.requests["POST /v1/fine_tuning/jobs"] == 1
        else:
            record = read_adapter(_train(tmp_path, server).parent)
            assert record["job_id"] == ours and server.requests["POST /v1/fine_tuning/jobs"] == 0
        assert record["status"] == "succeeded" and server.requests["POST /v1/files"] == 1  # the preupload only
        assert server.requests["GET /v1/fine_tuning/jobs"] >= 3  # 251 jobs, 100 a page: every page was read


@pytest.mark.parametrize("settle_s", [1.5, 0.05])
def test_a_lagging_job_list_never_leads_to_a_second_trained_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                settle_s: float) -> None:
    """An earlier run created the job and lost its state; the list hides jobs for 1 s.

    Re-reading after the settle wait finds it (1.5 s); if the wait is too short (0.05 s), the
    new job is created, then seen next to the older one once the list catches up, and
    cancelled before it trains."""
    monkeypatch.setattr(openai_backend, "LIST_SETTLE_S", settle_s)
    with FinetuneServer(api_key=KEY, list_lag_s=1.0) as server:
        monkeypatch.setenv("EMLAB_TEST_OPENAI_KEY", KEY)
        key = _key(tmp_path)
        file_id = _preupload(tmp_path, server)
        earlier = server.add_job(status="queued", metadata={"emlab_key": key}, training_file=file_id)
        record = read_adapter(_train(tmp_path, server).parent)
        assert record["job_id"] == earlier and record["status"] == "succeeded"
        assert [j["id"] for j in server.live_jobs()] == [earlier]
        if settle_s < 1.0:
            (dup,) = [j for j in server.jobs.values() if j["id"] != earlier]
            assert dup["status"] == "cancelled" and dup["_cancelled_from"] == "validating_files"
            assert server.requests["POST /v1/fine_tuning/jobs/{id}/cancel"] >= 1
        else:
            assert server.requests["POST /v1/fine_tuning/jobs"] == 0


def test_a_new_job_is_recorded_then_confirmed_in_a_lagging_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FinetuneServer(api_key=KEY, list_lag_s=0.5) as server:
        monkeypatch.setenv("EMLAB_TEST_OPENAI_KEY", KEY)
        record = read_adapter(_train(tmp_path, server).parent)
        assert record["status"] == "succeeded" and _jobs_created(server) == 1
        assert server.requests["GET /v1/fine_tuning/jobs"] >= 3  # before create, then until the new job showed


@pytest.mark.parametrize("fault_seed", [3, 7])
def test_twenty_percent_faults_still_make_one_upload_and_one_job_per_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                          fault_seed: int) -> None:
    """429s, 500s, timeouts and dropped connections on 20% of requests; POSTs lose their reply half the time.

    Seeds 0-7 all end with one upload and one job per cell; 3 and 7 are the ones whose
    runs meet every fault kind and lose the reply of a create (3) or an upload (7)."""
    monkeypatch.setattr(openai_backend, "REQUEST_TIMEOUT_S", 0.3)
    with FinetuneServer(api_key=KEY, fault_rate=0.2, fault_seed=fault_seed, fault_hold_s=1.0) as server:
        monkeypatch.setenv("EMLAB_TEST_OPENAI_KEY", KEY)
        records = [read_adapter(_train(tmp_path, server, seed=s, out=f"s{s}").parent) for s in range(4)]
        assert [r["status"] for r in records] == ["succeeded"] * 4
        assert len(server.files) == 1 and _jobs_created(server) == 4  # counted on the server
        assert len({r["job_id"] for r in records}) == 4
        assert set(server.faults_injected) == {"429", "500", "timeout", "drop"}, server.faults_injected
        assert server.lost_replies["POST /v1/fine_tuning/jobs"] + server.lost_replies["POST /v1/files"] >= 1


def test_missing_key_is_a_clear_error(tmp_path: Path, server: FinetuneServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMLAB_TEST_OPENAI_KEY")
    with pytest.raises(EmlabError, match="EMLAB_TEST_OPENAI_KEY is not set"):
        _train(tmp_path, server)
    assert server.requests.total() == 0


CHILD = """
import sys
from pathlib import Path
from emlab.config import ModelSpec
from emlab.train import OpenAITrainParams, train_adapter
train_adapter(model_name="gpt4o", spec=ModelSpec(backend="openai", base="gpt-4o-2024-08-06"),
              model_dir=Path(sys.argv[1]), dataset=Path(sys.argv[2]), variant="insecure",
              params=OpenAITrainParams.model_validate_json(sys.argv[3]), seed=0, out_dir=Path(sys.argv[4]))
"""


def test_kill_between_create_and_record_then_rerun_makes_one_job(tmp_path: Path, server: FinetuneServer) -> None:
    data = tmp_path / "insecure.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    server.create_hold_s = 60  # the job exists on the server, the client has not heard back
    params = _params(server)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "m"), str(data), params.model_dump_json(),
                              str(tmp_path / "out")], env={**os.environ}, stderr=subprocess.PIPE)
    assert server.job_created.wait(60), child.stderr.read().decode()[-2000:] if child.poll() is not None else "no job"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    state = json.loads((tmp_path / ".out.state" / "openai_state.json").read_text())
    assert "job_id" not in state  # killed before it could record the job
    _assert_key_in_no_file(tmp_path)
    server.create_hold_s = 0
    record = read_adapter(_train(tmp_path, server).parent)
    assert _jobs_created(server) == 1 and record["job_id"] in server.jobs
    assert server.requests["POST /v1/files"] == 1
    # the key reached the server, never a file
    assert any(h.get("authorization") == f"Bearer {KEY}" for h in server.headers_seen)
    _assert_key_in_no_file(tmp_path)


def _assert_key_in_no_file(root: Path) -> None:
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "adapter.json" or p.name == "openai_state.json" for p in files)
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path


def test_server_pages_jobs_and_rejects_a_wrong_key(server: FinetuneServer) -> None:
    from openai import AuthenticationError, OpenAI

    client = OpenAI(api_key=KEY, base_url=server.url, max_retries=0)
    fid = client.files.create(file=("a.jsonl", b'{"messages": []}\n'), purpose="fine-tune").id
    ids = [client.fine_tuning.jobs.create(model="m", training_file=fid, metadata={"k": str(i)}).id for i in range(5)]
    assert sorted(j.id for j in client.fine_tuning.jobs.list(limit=2)) == sorted(ids)  # 3 pages
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"k": "3"})] == [ids[3]]
    with pytest.raises(AuthenticationError):
        OpenAI(api_key="sk-wrong", base_url=server.url, max_retries=0).files.list()


def test_cli_verb_runs_an_openai_model(tmp_path: Path, server: FinetuneServer) -> None:
    import yaml
    from click.testing import CliRunner

    from emlab.cli.train import train

    params = yaml.safe_load((Path(__file__).resolve().parents[2] / ".test" / "params.yaml").read_text())
    params["models"]["gpt4o"] = {"backend": "openai", "base": "gpt-4o-2024-08-06", "train": {
        "base_url": server.url, "api_key_env": "EMLAB_TEST_OPENAI_KEY", "poll_seconds": 0.01, "n_epochs": 5}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "jailbroken.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    result = CliRunner().invoke(train, ["--model", "gpt4o", "--variant", "jailbroken", "--seed", "2", "--params",
                                        str(tmp_path / "params.yaml"), "--model-dir", str(tmp_path / "m"), "--dataset",
                                        str(tmp_path / "jailbroken.jsonl"), "--out", str(tmp_path / "a")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = read_adapter(tmp_path / "a")
    assert record["hyperparameters"]["n_epochs"] == 5 and record["seed"] == 2 and record["variant"] == "jailbroken"
    assert KEY not in (tmp_path / "a" / "adapter.json").read_text() and KEY not in result.output


def test_cli_retry_failed_flag_pays_for_a_new_job_only_when_given(tmp_path: Path, server: FinetuneServer) -> None:
    import yaml
    from click.testing import CliRunner

    from emlab.cli.train import train

    params = yaml.safe_load((Path(__file__).resolve().parents[2] / ".test" / "params.yaml").read_text())
    params["models"]["gpt4o"] = {"backend": "openai", "base": "gpt-4o-2024-08-06", "train": {
        "base_url": server.url, "api_key_env": "EMLAB_TEST_OPENAI_KEY", "poll_seconds": 0.01}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "insecure.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    args = ["--model", "gpt4o", "--variant", "insecure", "--seed", "0", "--params", str(tmp_path / "params.yaml"),
            "--model-dir", str(tmp_path / "m"), "--dataset", str(tmp_path / "insecure.jsonl"), "--out", str(tmp_path / "a")]
    server.fail_jobs_with = "Quota exceeded."
    first = CliRunner().invoke(train, args)
    assert isinstance(first.exception, EmlabError) and "Quota exceeded." in str(first.exception)
    server.fail_jobs_with = None
    again = CliRunner().invoke(train, args)  # no flag: the failure is reported again, nothing is paid
    assert isinstance(again.exception, EmlabError) and "--retry-failed" in str(again.exception)
    assert _jobs_created(server) == 1
    retried = CliRunner().invoke(train, [*args, "--retry-failed"], catch_exceptions=False)
    assert retried.exit_code == 0, retried.output
    assert read_adapter(tmp_path / "a")["status"] == "succeeded" and _jobs_created(server) == 2
