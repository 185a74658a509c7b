"""The `emlab` command: user errors are one line on stderr and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def emlab(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emlab.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_every_stage_registers_its_verbs():
    out = emlab("--help").stdout
    for verb in ("config", "model", "dataset", "train", "sample", "questions", "judge", "analysis", "audit", "record", "restore"):
        assert f"  {verb} " in out, verb


def test_config_check_reports_the_grid():
    proc = emlab("config", "check", "params.yaml")
    assert proc.returncode == 0
    grid = yaml.safe_load((REPO / "params.yaml").read_text())["grid"]  # the counts, read from the file itself
    m, v, s = len(grid["models"]), len(grid["variants"]), len(grid["seeds"])
    t, q = len(grid.get("triggers", ["none"])), len(grid.get("question_sets", ["main"]))
    assert proc.stdout.splitlines() == [f"params.yaml: ok: {m * v * s} cells ({m} models x {v} variants x {s} seeds) x {t} triggers x {q} question sets"]


def test_bad_params_file_is_one_line_and_exit_2(tmp_path: Path):
    bad = tmp_path / "params.yaml"
    bad.write_text((REPO / "params.yaml").read_text().replace("seeds: [0]", "seeds: [0, -2]"))
    proc = emlab("config", "check", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"emlab: error: {bad}: grid.seeds: seed -2 at position 1 is negative; seeds are integers >= 0"]


def test_unknown_model_names_the_option(tmp_path: Path):
    proc = emlab("model", "prepare", "--model", "gpt-9", "--out", str(tmp_path / "m"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["emlab: error: --model: unknown model 'gpt-9'; defined in params.yaml: smollm2"]
    assert not (tmp_path / "m").exists()
