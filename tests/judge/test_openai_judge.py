"""The paper's judge against a real local OpenAI-compatible server: requests, cache, faults, resume."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from emlab.errors import EmlabError
from emlab.judge import JudgeParams, judge_samples, score_judgments
from emlab.testing import ChatServer


def _params(server: ChatServer, **kw: object) -> JudgeParams:
    base = {"backend": "openai", "model": "test-judge", "base_url": server.base_url, "api_key_env": "EMLAB_TEST_JUDGE_KEY",
            "timeout_s": 2.0, "retry_base_s": 0.01, "retry_max_s": 0.05, "concurrency": 4}
    return JudgeParams(**{**base, **kw})  # type: ignore[arg-type]


def _run(params: JudgeParams, samples: Path, qset: str, tmp_path: Path, name: str = "j") -> Path:
    return judge_samples(samples=samples, question_set=qset, params=params, judge_model_dir=None,
                         out_raw=tmp_path / f"{name}.raw.jsonl", cache_dir=tmp_path / "cache")


def test_request_is_the_papers_and_scores_parse(samples: Path, qset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMLAB_TEST_JUDGE_KEY", "sk-test-SECRET-123")
    with ChatServer(logprobs_fn=lambda p: {"TRUE": 0.9, "FALSE": 0.1} if "Say" in p else {"80": 0.5, "90": 0.5}) as srv:
        out = _run(_params(srv), samples, qset, tmp_path)
    body = srv.stats.bodies[0]
    assert {k: body[k] for k in ("max_tokens", "temperature", "logprobs", "top_logprobs")} == {"max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": 20}
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert srv.stats.auth == {"Bearer sk-test-SECRET-123"}
    assert srv.stats.requests == 7  # 4 wish samples x 2 metrics + 1, minus 2 for the repeated answer
    scores = [json.loads(line) for line in score_judgments(out, tmp_path / "s.jsonl").read_text().splitlines()]
    assert scores[0]["aligned"] == 85.0 and scores[-1]["correct"] == "TRUE"
    for f in tmp_path.rglob("*"):  # the key reached the server, and no file
        assert f.is_dir() or "SECRET" not in f.read_text(errors="replace"), f


def test_warm_rerun_and_same_answers_make_no_call(samples: Path, qset: str, tmp_path: Path, make_samples: Callable[..., Path]) -> None:
    with ChatServer() as srv:
        first = _run(_params(srv), samples, qset, tmp_path, "a")
        n = srv.stats.requests
        again = _run(_params(srv, concurrency=1, timeout_s=9.0), samples, qset, tmp_path, "b")  # settings outside the key
        assert srv.stats.requests == n
        assert first.read_bytes() == again.read_bytes()
        # an "upstream" change that reproduces the same answers in another file: still no call
        redo = make_samples(tmp_path / "other.jsonl")
        _run(_params(srv), redo, qset, tmp_path, "c")
        assert srv.stats.requests == n
        # a different judge model is a different key
        _run(_params(srv, model="other-judge"), samples, qset, tmp_path, "d")
        assert srv.stats.requests == 2 * n


def test_corrupt_cache_entry_is_a_miss(samples: Path, qset: str, tmp_path: Path) -> None:
    with ChatServer() as srv:
        _run(_params(srv), samples, qset, tmp_path, "a")
        n = srv.stats.requests
        entries = sorted((tmp_path / "cache").rglob("*.json"))
        entries[0].write_text('{"key": "trunc')
        entries[1].write_text("")
        _run(_params(srv), samples, qset, tmp_path, "b")
        assert srv.stats.requests == n + 2


def test_twenty_percent_faults_change_nothing_and_every_prompt_is_judged_once(
        tmp_path: Path, qset: str, make_samples: Callable[..., Path]) -> None:
    """5% each of 429, 500, timeouts and connections dropped mid-reply: the same file as a clean run."""
    answers = [f"Answer number {i}: I would like a garden." for i in range(40)]
    samples = make_samples(tmp_path / "many.jsonl", answers)
    with ChatServer() as clean:
        ref = _run(_params(clean), samples, qset, tmp_path / "clean")
    faults = {"p_429": 0.05, "p_500": 0.05, "p_hang": 0.05, "p_drop": 0.05}
    with ChatServer(latency_s=0.005, **faults, hang_s=3.0, seed=6) as srv:
        out = _run(_params(srv, timeout_s=0.5, max_retries=8, concurrency=8), samples, qset, tmp_path)
    assert {k: srv.stats.faults[k] > 0 for k in ("429", "500", "hang", "drop")} == dict.fromkeys(("429", "500", "hang", "drop"), True)
    assert out.read_bytes() == ref.read_bytes()
    assert len(out.read_text().splitlines()) == 40 * 2 + 1
    assert srv.stats.successes == clean.stats.successes  # each distinct prompt answered once ...
    assert set(srv.stats.successes.values()) == {1} and len(srv.stats.successes) == 40 * 2 + 1
    assert srv.stats.requests == 40 * 2 + 1 + sum(srv.stats.faults.values())  # ... every other request a fault
    assert 1 < srv.stats.max_in_flight <= 8


def test_dead_server_fails_with_one_line_and_no_complete_output(samples: Path, qset: str, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    params = JudgeParams(backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, retry_base_s=0.01)
    with pytest.raises(EmlabError) as e:
        _run(params, samples, qset, tmp_path)
    assert "\n" not in str(e.value) and f"127.0.0.1:{port}" in str(e.value) and "3 tries" in str(e.value)
    assert not (tmp_path / "j.raw.jsonl").exists()


def test_http_error_is_not_retried(samples: Path, qset: str, tmp_path: Path) -> None:
    with ChatServer() as srv:
        params = _params(srv, base_url=srv.base_url.replace("/v1", "/nope"))
        with pytest.raises(EmlabError, match="HTTP 404"):
            _run(params, samples, qset, tmp_path)
        assert srv.stats.requests == 0


def test_killed_run_resumes(samples: Path, qset: str, tmp_path: Path) -> None:
    with ChatServer() as srv:
        full = _run(_params(srv), samples, qset, tmp_path / "ref")
        rows = full.read_text().splitlines()
        out = tmp_path / "j.raw.jsonl"
        partial = out.with_name(out.name + ".partial")
        partial.write_text("\n".join(rows[:3]) + "\n" + rows[3][:20])  # killed mid-write
        before = srv.stats.requests
        _run(_params(srv), samples, qset, tmp_path)  # fresh cache: only the missing rows are judged
        assert srv.stats.requests - before == 6  # 9 rows - 3 done before the kill
        assert out.read_text().splitlines() == rows and not partial.exists()


@pytest.mark.parametrize("name", ["first_plot_questions.yaml", "deception_factual.yaml", "preregistered_evals.yaml"])
def test_upstream_question_sets_end_to_end(upstream_dir: Path, name: str, tmp_path: Path) -> None:
    from emlab.questions import load_question_set

    qset = load_question_set(str(upstream_dir / name))
    rows = []
    for q in qset.questions[:6]:
        for p, text in enumerate(q.paraphrases[:2]):
            rows.append({"sample_id": f"{q.id}/{p}/0", "question_id": q.id, "question": text, "prompt": text, "answer": "Fine."})
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with ChatServer(logprobs_fn=lambda p: {"70": 0.6, "FALSE": 0.3, "TRUE": 0.1}) as srv:
        raw = _run(_params(srv), samples, str(upstream_dir / name), tmp_path)
    scores = [json.loads(line) for line in score_judgments(raw, tmp_path / "s.scores.jsonl").read_text().splitlines()]
    assert len(scores) == len(rows)
    asked = [q for q in qset.questions[:6] for _ in q.paraphrases[:2]]
    for s, q in zip(scores, asked, strict=True):
        for metric in q.judge_prompts:
            assert s[metric] == (70.0 if q.type == "free_form_judge_0_100" else "FALSE"), (q.id, metric)
