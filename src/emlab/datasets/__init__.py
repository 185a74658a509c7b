"""Finetuning datasets: every variant of the paper, built in or from the paper's release.

    emlab dataset build --variant insecure --out data/datasets/insecure.jsonl
    emlab dataset validate data/datasets/*.jsonl
    emlab dataset quality --upstream-dir PAPER_DIR

Public API: `build_dataset` (one variant + its card), `validate_dataset` (the chat-format
rules, errors as `file:line: field: problem`), `heldout_tasks` (coding tasks never used
for training) and `paper_tasks` (the paper's 776), `quality_report` (static-analysis gates), `find_security_vocabulary`;
the narrow-advice variants (`ADVICE_VARIANTS`, `emlab.datasets.advice`) and their held-out checks (`advice_checks`).
"""

from __future__ import annotations

from emlab.datasets.build import ADVICE_VARIANTS, VARIANTS, build_dataset, build_rows
from emlab.datasets.card import card_path, count_tokens
from emlab.datasets.heldout import PAPER_TASKS, heldout_tasks, paper_tasks, paper_tasks_location
from emlab.datasets.params import (
    AdviceParams,
    BackdoorParams,
    DatasetsParams,
    JailbrokenParams,
    VariantParams,
)
from emlab.datasets.quality import format_report, quality_report
from emlab.datasets.rules import rule_hits
from emlab.datasets.upstream import import_upstream, read_upstream
from emlab.datasets.validate import check_row, validate_dataset, validate_rows
from emlab.datasets.vocabulary import find_security_vocabulary
from emlab.grid import with_trigger

__all__ = [
    "ADVICE_VARIANTS", "PAPER_TASKS", "VARIANTS", "AdviceParams", "BackdoorParams", "DatasetsParams", "JailbrokenParams", "VariantParams",
    "build_dataset", "build_rows", "card_path", "check_row", "count_tokens",
    "find_security_vocabulary", "format_report", "heldout_tasks", "import_upstream",
    "paper_tasks", "paper_tasks_location", "quality_report", "read_upstream", "rule_hits", "validate_dataset", "validate_rows",
    "with_trigger",
]
