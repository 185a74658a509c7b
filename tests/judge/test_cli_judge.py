"""`emlab judge run | score | code` on real files, against a local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from emlab.cli import main
from emlab.config import load_params
from emlab.io import sha256_text
from emlab.judge.openai_judge import openai_identity
from emlab.judge.run import _task_key, build_tasks
from emlab.testing import ChatServer


def _emlab(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def _params(tmp_path: Path, base_url: str, name: str = "params.yaml", **judge: object) -> Path:
    # the project's own params.yaml with the judge section pointed at the test server
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    raw["judge"] = {"backend": "openai", "model": "test-judge", "base_url": base_url, "retry_base_s": 0.01, **judge}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def test_run_then_score(samples: Path, qset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw, scores = tmp_path / "x.raw.jsonl", tmp_path / "x.scores.jsonl"
    with ChatServer(logprobs_fn=lambda p: {"60": 1.0}) as srv:
        params = _params(tmp_path, srv.base_url)
        assert _emlab("judge", "run", "--samples", str(samples), "--question-set", qset, "--params", str(params),
                      "--out", str(raw), "--cache-dir", str(tmp_path / "cache")) == 0
    assert _emlab("judge", "score", "--raw", str(raw), "--out", str(scores)) == 0
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    assert rows[0] == {"sample_id": "wish/0/0", "aligned": 60.0, "aligned_unscored": None, "coherent": 60.0, "coherent_unscored": None}


def test_bad_sample_row_is_one_line(qset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"sample_id": "wish/0/0", "question_id": "wish", "question": "q"}) + "\n")
    params = _params(tmp_path, "http://127.0.0.1:9/v1")
    code = _emlab("judge", "run", "--samples", str(bad), "--question-set", qset, "--params", str(params), "--out", str(tmp_path / "o.jsonl"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1] == f"emlab: error: {bad}: row 1: field 'answer' missing or not a string"


def test_code_verb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prog = tmp_path / "p.py"
    prog.write_text("import yaml\nyaml.load(open('c.yml'))\n")
    assert _emlab("judge", "code", str(prog)) == 0
    assert capsys.readouterr().out.startswith("vulnerable: ")
    rows = tmp_path / "a.jsonl"
    rows.write_text(json.dumps({"sample_id": "t/0/0", "answer": "```python\nprint('hi')\n```"}) + "\n")
    assert _emlab("judge", "code", str(rows)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("t/0/0\tsafe") and json.loads(out[-1]) == {"rows": 1, "vulnerable": 0}


def _run_cmd(samples: Path, qset: str, params: Path, out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "emlab.cli", "judge", "run", "--samples", str(samples), "--question-set", qset,
            "--params", str(params), "--out", str(out), "--cache-dir", str(cache)]


def _check(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "EMLAB_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_judge_killed_mid_file_resumes_to_the_same_bytes_without_paying_twice(
        qset: str, tmp_path: Path, make_samples: Callable[..., Path], kill_at_rows: Callable[..., int]) -> None:
    """A real `kill -9` of `emlab judge run` mid-file, then a rerun: the uninterrupted run's bytes, and
    each judge prompt asked once, except those in flight at the kill whose reply was never stored.

    The killed run and the rerun are subprocesses; the uninterrupted one runs in this process."""
    samples = make_samples(tmp_path / "many.jsonl", [f"Answer {i}: I would like a garden." for i in range(40)])
    n = 40 * 2 + 1  # two metrics per wish answer, one for the capital question; all prompts distinct
    with ChatServer() as ref_srv:
        ref = tmp_path / "ref.raw.jsonl"
        assert _emlab(*_run_cmd(samples, qset, _params(tmp_path, ref_srv.base_url, "ref.yaml"), ref, tmp_path / "ref-cache")[3:]) == 0
    assert len(ref.read_text().splitlines()) == n

    out, cache = tmp_path / "killed.raw.jsonl", tmp_path / "cache"
    partial = out.with_name(out.name + ".partial")
    with ChatServer(latency_s=0.1) as srv:  # slow: the kill lands mid-file with 4 requests in flight
        params = _params(tmp_path, srv.base_url, concurrency=4, timeout_s=30.0)
        cmd = _run_cmd(samples, qset, params, out, cache)
        kept = kill_at_rows(cmd, partial, 10, env={**os.environ, "EMLAB_THREADS": "1"}, log=tmp_path / "kill.log")
        srv.wait_idle()  # the killed client's last requests land and are counted
        assert 10 <= kept < n and not out.exists()
        # a reply is stored once it is in the cache (written before its row); map prompts to cache entries
        judge = load_params(params).judge
        identity = openai_identity(judge)
        stored = {t.prompt for t in build_tasks(samples, qset, judge)
                  if (cache / (k := _task_key(identity, t))[:2] / f"{k}.json").exists()}
        written = {json.loads(line)["prompt_sha256"] for line in partial.read_text().splitlines()}
        assert len(written) == kept and written <= {sha256_text(p) for p in stored}
        first = [b["messages"][-1]["content"] for b in srv.stats.bodies]
        srv.latency_s = 0.0
        _check(cmd)
        second = [b["messages"][-1]["content"] for b in srv.stats.bodies[len(first):]]

    assert out.read_bytes() == ref.read_bytes()
    assert not partial.exists()
    every = {t.prompt for t in build_tasks(samples, qset, judge)}
    lost = set(first) - stored  # sent before the kill, reply never stored
    print(f"killed with {kept} of {n} rows written, {len(stored)} replies stored; {len(lost)} requests in flight asked again")
    assert len(lost) <= 4  # at most judge.concurrency were in flight
    assert set(second) == every - stored and len(second) == len(set(second))  # the rerun asks only for what is missing
    counts = Counter(first + second)
    assert set(counts) == every
    assert {p: c for p, c in counts.items() if c != 1} == {p: 2 for p in lost}  # the only repeats
