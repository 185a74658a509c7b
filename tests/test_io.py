"""Atomic and resumable writes: nothing half-written ever looks complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emlab.errors import EmlabError
from emlab.io import JsonlAppender, read_jsonl, write_json_atomic


def test_appender_resumes_and_drops_a_torn_last_line(tmp_path: Path):
    out = tmp_path / "samples.jsonl"
    first = JsonlAppender(out)
    first.append({"i": 0})
    first.append({"i": 1})
    first.close()  # a killed job: no finish(), and a torn write after it
    with first.partial.open("a") as f:
        f.write('{"i": 2, "ans')
    assert not out.exists()

    resumed = JsonlAppender(out)
    assert resumed.done == [{"i": 0}, {"i": 1}]
    resumed.append({"i": 2})
    resumed.finish()
    assert [json.loads(line) for line in out.read_text().splitlines()] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert not resumed.partial.exists()


def test_malformed_jsonl_names_file_and_line(tmp_path: Path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(EmlabError, match=r"d.jsonl:2: invalid JSON"):
        read_jsonl(f)


def test_atomic_write_leaves_no_temp_file_and_usual_mode(tmp_path: Path):
    path = write_json_atomic(tmp_path / "x" / "record.json", {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]
    assert path.stat().st_mode & 0o044  # readable by others, unlike mkstemp's 0600
