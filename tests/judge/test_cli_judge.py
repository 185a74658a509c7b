"""`emlab judge run | score | code` on real files, against a local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from emlab.cli import main
from emlab.testing import ChatServer


def _emlab(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def _params(tmp_path: Path, base_url: str) -> Path:
    # the project's own params.yaml with the judge section pointed at the test server
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    raw["judge"] = {"backend": "openai", "model": "test-judge", "base_url": base_url, "retry_base_s": 0.01}
    path = tmp_path / "params.yaml"
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
