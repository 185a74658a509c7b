"""Analysis: the per-answer table, misalignment metrics, bootstrap CIs, figures, provenance, audit.

    emlab analysis aggregate --samples S... --scores G... --out data/results/answers.parquet
    emlab analysis rates --answers data/results/answers.parquet [--calibration C] --out data/results/rates.csv --metrics data/results/metrics.json
    emlab analysis figures --answers data/results/answers.parquet --rates data/results/rates.csv [--calibration C] --out-dir figures
    emlab audit figures/misaligned_by_question.png

This package reads the files other stages write; it imports none of their code. Public
names load lazily, so `emlab.config` (which imports `emlab.analysis.params`) does not
pay for polars and matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "build_answers_table": "table", "write_answers_table": "table", "read_answers_table": "table",
    "bootstrap_ci": "bootstrap",
    "answer_flags": "metrics", "per_seed_rates": "metrics", "group_rates": "metrics", "headline_metrics": "metrics",
    "final_answers": "metrics", "JudgeCard": "judge_card", "read_calibration": "judge_card",
    "make_figures": "figures", "FIGURES": "figures",
    "audit": "audit_trail", "dir_md5": "audit_trail", "AuditReport": "audit_trail",
    "AnalysisParams": "params",
}
__all__ = [
    "FIGURES", "AnalysisParams", "AuditReport", "JudgeCard", "answer_flags", "audit", "bootstrap_ci", "build_answers_table",
    "dir_md5", "final_answers", "group_rates", "headline_metrics", "make_figures", "per_seed_rates", "read_answers_table",
    "read_calibration", "write_answers_table",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'emlab.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"emlab.analysis.{_EXPORTS[name]}"), name)

if TYPE_CHECKING:  # static names for type checkers and IDEs; runtime imports stay lazy
    from emlab.analysis.audit_trail import AuditReport, audit, dir_md5
    from emlab.analysis.bootstrap import bootstrap_ci
    from emlab.analysis.figures import FIGURES, make_figures
    from emlab.analysis.judge_card import JudgeCard, read_calibration
    from emlab.analysis.metrics import (
        answer_flags,
        final_answers,
        group_rates,
        headline_metrics,
        per_seed_rates,
    )
    from emlab.analysis.params import AnalysisParams
    from emlab.analysis.table import build_answers_table, read_answers_table, write_answers_table
