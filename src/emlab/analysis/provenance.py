"""The `<figure>.provenance.json` sidecar: what a figure was made from, and by which code.

    emlab analysis figures --answers data/results/answers.parquet --out-dir figures

It records the MD5 of every input file (the answers table and every samples, scores and
raw judge file the table references: the same hex DVC writes in dvc.lock), the params
used, the git commit and dirty flag, package versions, and the judge model(s) with one
hash over the set of judge prompts. Nothing is read from the environment, so no secret
(API keys live in env vars) can reach the file.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
from tqdm import tqdm

from emlab.analysis.table import FILE_COLUMNS
from emlab.errors import EmlabError
from emlab.io import md5_file, read_jsonl, sha256_text

PACKAGES = ("emlab", "polars", "matplotlib", "numpy", "torch", "transformers", "peft", "snakemake", "dvc")


def input_files(table: pl.DataFrame, answers: Path | None) -> list[Path]:
    """The answers table and every file its rows came from, each once, sorted."""
    files = {Path(p) for col in FILE_COLUMNS if col in table.columns for p in table[col].unique().to_list() if p}
    return ([Path(answers)] if answers else []) + sorted(files)


def hash_inputs(files: list[Path]) -> dict[str, str]:
    """Path (as referenced) -> MD5 of the file's content; a missing file is an error."""
    out = {}
    for f in tqdm(files, desc="hash inputs", unit="file", disable=len(files) < 50):
        if not f.is_file():
            raise EmlabError(f"{f}: referenced by the answers table but not found; re-run the stage that writes it")
        out[f.as_posix()] = md5_file(f)
    return out


def judge_info(raw_files: list[Path]) -> dict[str, Any]:
    """Judge model ids and one SHA-256 over the sorted set of judge-prompt hashes."""
    models: set[str] = set()
    prompts: set[str] = set()
    for path in raw_files:
        for row in read_jsonl(path):
            if row.get("judge_model"):
                models.add(str(row["judge_model"]))
            if row.get("prompt_sha256"):
                prompts.add(str(row["prompt_sha256"]))
    return {
        "judge_models": sorted(models),
        "n_judge_prompts": len(prompts),
        "judge_prompts_sha256": sha256_text("\n".join(sorted(prompts))) if prompts else None,
    }


def git_state(cwd: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout; nulls when git or the repository is absent."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit.strip() if commit else None, "dirty": bool(status.strip()) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def build_provenance(*, figure: str, files: list[Path], hashes: dict[str, str], params: dict[str, Any],
                     judge: dict[str, Any], git: dict[str, Any], versions: dict[str, str | None]) -> dict[str, Any]:
    """The sidecar's content; `hashes` maps each input path to its MD5."""
    return {
        "figure": figure,
        "inputs": [{"path": f.as_posix(), "md5": hashes[f.as_posix()]} for f in files],
        "params": params,
        "git": git,
        "packages": versions,
        "judge": judge,
    }
