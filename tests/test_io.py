"""Atomic and resumable writes: nothing half-written ever looks complete."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from emlab.errors import EmlabError
from emlab.io import JsonlAppender, atomic_path, read_jsonl, write_json_atomic


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_write_leaves_no_temp_file_and_usual_mode(tmp_path: Path):
    path = write_json_atomic(tmp_path / "x" / "record.json", {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]
    plain = tmp_path / "x" / "plain.txt"
    plain.write_text("")
    # exactly the mode of a file written the ordinary way (0666 less the umask), not mkstemp's 0600
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~_umask()


def test_failed_atomic_write_keeps_the_old_file_and_no_temp(tmp_path: Path):
    path = write_json_atomic(tmp_path / "record.json", {"old": True})
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text('{"new": tr')  # half-written when the job dies
        raise RuntimeError("killed")
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]
