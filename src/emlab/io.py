"""Atomic, resumable file I/O shared by every stage.

Every output that a later stage trusts is written atomically (temp file + rename) so a
killed job never leaves a file that looks complete. Incremental outputs (samples, judge
replies) go to a `.partial` file that is appended row by row and renamed when done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from emlab.errors import EmlabError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_jsonl_atomic(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> Path:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Path(path)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file; a malformed line raises EmlabError naming `file:line`."""
    path = Path(path)
    if not path.exists():
        raise EmlabError(f"{path}: file not found")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise EmlabError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise EmlabError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


class JsonlAppender:
    """Append rows to `<path>.partial`, durable row by row; `finish()` renames it to `path`.

    Re-opening after a crash reads the rows already in the partial file (dropping a torn
    last line), so a resumed job skips the work it had done.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: list[dict[str, Any]] = self._recover()
        self._f = self.partial.open("a", encoding="utf-8")

    def _recover(self) -> list[dict[str, Any]]:
        if not self.partial.exists():
            return []
        good: list[dict[str, Any]] = []
        kept = 0  # bytes of complete, parseable lines
        data = self.partial.read_bytes()
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn write from a killed process
            try:
                good.append(json.loads(line))
            except json.JSONDecodeError:
                break
            kept += len(line)
        if kept < len(data):
            os.truncate(self.partial, kept)  # drop the torn tail so appends start on a clean line
        return good

    def append(self, row: dict[str, Any]) -> None:
        self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def finish(self) -> Path:
        self._f.close()
        os.replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def md5_file(path: str | os.PathLike[str]) -> str:
    """The MD5 DVC records for a file in dvc.lock."""
    h = hashlib.md5()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
