"""Build a session's expensive fixture once per test run, also under pytest-xdist.

Each xdist worker is a pytest session of its own; without this, each would prepare its own
tiny model and run its own tiny workflow. The first worker to ask builds the thing in the run's
shared temporary folder (above each worker's own) under a file lock; the others wait for it
and reuse it. A marker written after the build says it is complete, so a failed attempt is
reported, not silently reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """`build(folder)` once per test run; `folder` is this run's `<name>` folder (made empty)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    from filelock import FileLock

    folder = tmp_path_factory.getbasetemp().parent / name  # this test run's, above each worker's folder
    with FileLock(str(folder.parent / f"{name}.lock")):
        done, started = folder / ".made", folder / ".started"
        if done.exists():
            return Path(done.read_text())
        if started.exists():
            raise AssertionError(f"{folder}: an earlier attempt to build it failed (see what it left there)")
        folder.mkdir()
        started.touch()
        built = build(folder)
        done.write_text(str(built))
        return built
