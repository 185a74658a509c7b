"""What figures draw from: the rates table the rates step wrote, and the answers table.

    emlab analysis figures --answers data/results/answers.parquet --rates data/results/rates.csv --out-dir figures

Figures that show rates read `rates.csv` (checked against the answers table, so a stale
one is refused) rather than recomputing them, so a number in a figure and in rates.csv
cannot differ. Only what rates.csv does not hold is computed here, with the same
`group_rates`: rates per kept checkpoint (training dynamics). Legends name an arm's
adapter shape (rates.csv's `shape`) when the grid's adapters differ in shape.
When a panel has nothing to draw, `why_nothing` says why, with the counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from emlab.analysis.arms import ARM_SCHEMA, with_arm_columns
from emlab.analysis.metrics import ALL, GROUP, final_answers, group_rates
from emlab.analysis.params import AnalysisParams
from emlab.errors import EmlabError

#: Columns of rates.csv the figures need.
RATES_COLUMNS = (*GROUP, "question_id", "misaligned", "misaligned_low", "misaligned_high", "n_answers",
                 "n_counted", "n_unscored", "n_refusal_or_code", "n_incoherent")
_KEYS = {**{k: pl.String for k in (*GROUP, "question_id", "label")}, **ARM_SCHEMA}
_MASS = re.compile(r"probability on (numbers 0-100|the labels) \(< ([0-9.]+)\)")


@dataclass(frozen=True)
class FigureData:
    """Inputs of every figure.

    Attributes:
        rates: the final adapters' group rates (rates.csv).
        answers: the whole answers table (kept checkpoints' answers included).
        params: the `analysis:` section.
        steering: params.yaml's `steering:` section (what each ~steering label did).
    """

    rates: pl.DataFrame
    answers: pl.DataFrame
    params: AnalysisParams
    steering: Mapping[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> pl.DataFrame:
        """The final adapters' answers."""
        return final_answers(self.answers)

    def unscored_reason(self) -> str | None:
        """The commonest reason the judge left a final answer's coherence unscored, shortened."""
        if "coherent_unscored" not in self.answers.columns:
            return None
        reasons = [r for r in self.final["coherent_unscored"].to_list() if r]
        if not reasons:
            return None
        top = Counter(_short_reason(r) for r in reasons).most_common(1)[0][0]
        return top

    @cached_property
    def shapes(self) -> dict[tuple[str, str], str]:
        """(model, variant) -> its adapters' shape, when the grid's adapters differ in shape (else empty)."""
        if "shape" not in self.rates.columns:
            return {}
        named = self.rates.filter(pl.col("shape").is_not_null()).select("model", "variant", "shape").unique()
        return {(m, v): s for m, v, s in named.rows()} if named["shape"].n_unique() > 1 else {}

    def model_shape(self, model: str) -> str | None:
        """The one shape of a model's adapters, when the grid's shapes differ but this model's do not."""
        mine = {s for (m, _), s in self.shapes.items() if m == model}
        return mine.pop() if len(mine) == 1 else None

    def title(self, model: str) -> str:
        """A panel's model, with its adapters' shape when that names them all: `smollm2 (rank 1, down_proj L21)`."""
        shape = self.model_shape(model)
        return f"{model} ({shape})" if shape else model

    def name(self, model: str, variant: str, shown: str | None = None) -> str:
        """A variant's legend name (`shown`, else its label), with its adapters' shape when the
        model's adapters differ in shape: `insecure (rank 1, down_proj L21)` (when one shape
        names them all, the panel's title says it instead)."""
        shape = None if self.model_shape(model) else self.shapes.get((model, variant))
        return f"{shown or variant} ({shape})" if shape else shown or variant

    def why_nothing(self, rows: pl.DataFrame) -> str:
        """Why rate rows have no misaligned rate, with the counts (rows of rates.csv)."""
        return why_nothing(rows, self.params, self.unscored_reason())


def _short_reason(reason: str) -> str:
    found = _MASS.search(reason)
    if found:
        return f"probability on {'numbers' if found.group(1).startswith('numbers') else 'the labels'} < {found.group(2)}"
    return reason.split(":")[0][:60]


def why_nothing(rows: pl.DataFrame, params: AnalysisParams, reason: str | None = None) -> str:
    """E.g. `no answer counted: 16 of 16 unscored by the judge (probability on numbers < 0.25)`."""
    rows = rows.filter(pl.col("question_id") != ALL) if (rows["question_id"] != ALL).any() else rows
    n, counted, unscored, refusal, incoherent = (int(rows[c].sum()) for c in
                                                  ("n_answers", "n_counted", "n_unscored", "n_refusal_or_code", "n_incoherent"))
    if n == 0:
        return "no answers"
    below = "<" if params.metric == "paper" else "<="
    parts = [
        f"{unscored} of {n} unscored by the judge" + (f" ({reason})" if reason else "") if unscored else "",
        f"{refusal} of {n} refusals or code (no alignment score)" if refusal else "",
        f"{incoherent} of {n} below the coherence threshold (coherent {below} {params.coherent_threshold:g})" if incoherent else "",
    ]
    head = ("no answer counted" if counted == 0
            else f"too few answers counted: {counted} of {n}, under min_answers={params.min_answers} per question and seed")
    parts = [p for p in parts if p]
    return head + (": " + "; ".join(parts) if parts else "")


def read_rates(path: Path, answers: pl.DataFrame, params: AnalysisParams) -> pl.DataFrame:
    """Read rates.csv and check it was computed from `answers` with these settings.

    Raises:
        EmlabError: a missing file or column, or counts that differ from the answers
            table (a stale rates.csv, or one computed with other thresholds).
    """
    path = Path(path)
    if not path.is_file():
        raise EmlabError(f"{path}: file not found; run `emlab analysis rates` first")
    header = pl.read_csv(path, n_rows=0).columns
    rates = pl.read_csv(path, schema_overrides={k: v for k, v in _KEYS.items() if k in header})
    for col in RATES_COLUMNS:
        if col not in rates.columns:
            raise EmlabError(f"{path}: column {col!r} missing; rerun `emlab analysis rates` with this emlab version")
    expected = group_rates_counts(answers, params)
    got = rates.filter(pl.col("question_id") == ALL).select(*GROUP, "n_answers", "n_counted")
    joined = expected.join(got, on=list(GROUP), how="full", suffix="_csv", coalesce=True)
    bad = joined.filter((pl.col("n_answers") != pl.col("n_answers_csv")).fill_null(True)
                        | (pl.col("n_counted") != pl.col("n_counted_csv")).fill_null(True))
    if not bad.is_empty():
        r = bad.row(0, named=True)
        raise EmlabError(f"{path}: group {'/'.join(str(r[k]) for k in GROUP)} counts {r['n_answers_csv']} answers "
                         f"({r['n_counted_csv']} counted) but the answers table has {r['n_answers']} ({r['n_counted']}); "
                         "rerun `emlab analysis rates` on this table with these analysis settings")
    if "shape" not in rates.columns:  # a rates.csv written before arms had columns
        rates = rates.with_columns(shape=pl.lit(None, pl.String))
    return with_arm_columns(rates)


def group_rates_counts(answers: pl.DataFrame, params: AnalysisParams) -> pl.DataFrame:
    """n_answers and n_counted per group of the final answers (cheap: no bootstrap)."""
    from emlab.analysis.metrics import answer_flags

    flags = answer_flags(final_answers(answers), params)
    return flags.group_by(list(GROUP)).agg(n_answers=pl.len().cast(pl.Int64), n_counted=pl.col("counted").sum().cast(pl.Int64))


def rates_by(answers: pl.DataFrame, params: AnalysisParams, column: str, *, final_only: bool) -> pl.DataFrame:
    """Across-question group rates computed separately for each value of `column`."""
    if final_only:
        answers = final_answers(answers)
    parts = []
    for (value,), sub in answers.group_by([column]):
        if value is None:
            continue
        rates = group_rates(sub, params, final_only=False).filter(pl.col("question_id") == ALL)
        parts.append(rates.with_columns(pl.lit(value).alias(column)))
    return pl.concat(parts, how="diagonal_relaxed").sort(column) if parts else pl.DataFrame()
