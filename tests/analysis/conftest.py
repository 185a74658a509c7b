"""Fixtures of the analysis tests (helpers live in analysis_synth.py, a unique module name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from analysis_synth import write_cell


@pytest.fixture
def cell_writer(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """write_cell into tmp_path/data."""
    def write(**kw):
        return write_cell(tmp_path / "data", **kw)
    return write
