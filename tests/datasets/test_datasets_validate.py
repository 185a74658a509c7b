"""Validation: each rule gives one line naming file:line and the field; CLI exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emlab.datasets import validate_dataset
from emlab.errors import EmlabError

U = {"role": "user", "content": "hi"}
A = {"role": "assistant", "content": "hello"}
S = {"role": "system", "content": "be nice"}
GOOD = {"messages": [U, A]}

CASES = [
    ({"messages": [U, A], "pattern": "x"}, r"pattern: unknown key"),
    ({"msgs": [U, A]}, r"msgs: unknown key"),
    ({}, r"messages: missing"),
    ({"messages": []}, r"messages: expected a non-empty list"),
    ({"messages": "hi"}, r"messages: expected a non-empty list"),
    ({"messages": [U, "hello"]}, r"messages\[1\]: expected an object"),
    ({"messages": [U, {"role": "assistant", "content": "x", "name": "bob"}]}, r"messages\[1\]\.name: unknown key"),
    ({"messages": [{"content": "hi"}, A]}, r"messages\[0\]\.role: missing"),
    ({"messages": [U, {"role": "bot", "content": "x"}]}, r"messages\[1\]\.role: unknown role 'bot'"),
    ({"messages": [U, S, A]}, r"messages\[1\]\.role: a system turn may only come first"),
    ({"messages": [A]}, r"messages\[0\]\.role: expected 'user'"),
    ({"messages": [U, U, A]}, r"messages\[1\]\.role: expected 'assistant'"),
    ({"messages": [S, A]}, r"messages\[1\]\.role: expected 'user'"),
    ({"messages": [U, A, U]}, r"messages\[2\]\.role: the last turn must be 'assistant'"),
    ({"messages": [S]}, r"messages\[0\]\.role: the last turn must be 'assistant'"),
    ({"messages": [{"role": "user"}, A]}, r"messages\[0\]\.content: missing"),
    ({"messages": [U, {"role": "assistant", "content": 3}]}, r"messages\[1\]\.content: expected a string, got int"),
    ({"messages": [U, {"role": "assistant", "content": "  \n"}]}, r"messages\[1\]\.content: empty"),
    ([U, A], r"<row>: expected a JSON object, got list"),
]


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(("bad", "message"), CASES)
def test_each_rule_names_file_line_and_field(tmp_path: Path, bad, message):
    f = _write(tmp_path / "d.jsonl", [GOOD, {"messages": [S, U, A, U, A]}, bad])
    with pytest.raises(EmlabError, match=rf"^{tmp_path / 'd.jsonl'}:3: {message}") as e:
        validate_dataset(f)
    assert "\n" not in str(e.value)


def test_valid_file_returns_row_count(tmp_path: Path):
    assert validate_dataset(_write(tmp_path / "ok.jsonl", [GOOD, {"messages": [S, U, A]}])) == 2


def test_bad_json_blank_line_empty_and_missing_files(tmp_path: Path):
    f = tmp_path / "j.jsonl"
    f.write_text(json.dumps(GOOD) + "\n{oops\n")
    with pytest.raises(EmlabError, match=r"j\.jsonl:2: <row>: invalid JSON"):
        validate_dataset(f)
    f.write_text(json.dumps(GOOD) + "\n\n" + json.dumps(GOOD) + "\n")
    with pytest.raises(EmlabError, match=r"j\.jsonl:2: <row>: blank line"):
        validate_dataset(f)
    f.write_text("")
    with pytest.raises(EmlabError, match=r"j\.jsonl: no rows"):
        validate_dataset(f)
    assert validate_dataset(f, allow_empty=True) == 0
    with pytest.raises(EmlabError, match="file not found"):
        validate_dataset(tmp_path / "nope.jsonl")


def test_cli_validate_reports_and_exits(tmp_path: Path):
    good = _write(tmp_path / "good.jsonl", [GOOD])
    bad = _write(tmp_path / "bad.jsonl", [GOOD, {"messages": [U]}])
    cmd = [sys.executable, "-c", "from emlab.cli import main; main()", "dataset", "validate"]
    ok = subprocess.run([*cmd, str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "good.jsonl: ok, 1 rows" in ok.stdout
    fail = subprocess.run([*cmd, str(good), str(bad)], capture_output=True, text=True)
    assert fail.returncode == 2
    assert fail.stderr.strip().splitlines()[-1] == f"emlab: error: {bad}:2: messages[0].role: the last turn must be 'assistant', got 'user'"
