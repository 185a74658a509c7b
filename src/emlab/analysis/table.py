"""The per-answer table: every sampled answer joined with its judge scores.

    emlab analysis aggregate --samples S1 [S2 ...] --scores G1 [G2 ...] --out data/results/answers.parquet

Sample files and score files pair by position and join on `sample_id` (formats in
docs/architecture.md). Each row keeps a reference to the raw judge replies behind its
scores (`judge_raw_file` + `sample_id`), and the files it came from, so provenance and
audit can hash every input. The table is written as parquet, plus `answers.csv` in the
paper's results layout (model, group, question, answer, aligned, coherent, question_id).
Each row's variant label is spelled out in the arm columns (`emlab.analysis.arms`):
dataset_variant, n_examples, epochs, intervention, steering, and the adapter's `shape`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
from tqdm import tqdm

from emlab.analysis.arms import (
    ARM_COLUMNS,
    ARM_SCHEMA,
    adapter_record_path,
    arm_fields,
    read_shape,
    row_shape,
)
from emlab.errors import EmlabError
from emlab.io import atomic_path, read_jsonl

#: Sample-row fields every table row carries, in the table's column order.
SAMPLE_FIELDS = (
    "model", "variant", "seed", "trigger", "question_set", "question_id",
    "paraphrase_index", "sample_index", "system", "question", "prompt", "answer", "temperature",
)
#: Columns naming the files behind a row (hashed by provenance).
FILE_COLUMNS = ("samples_file", "scores_file", "judge_raw_file")
_REQUIRED = ("sample_id", "model", "variant", "seed", "trigger", "question_set", "question_id", "answer")
_SCHEMA: dict[str, Any] = {
    "seed": pl.Int64, "paraphrase_index": pl.Int64, "sample_index": pl.Int64,
    "temperature": pl.Float64, "system": pl.String, "question": pl.String, "prompt": pl.String,
    "is_final": pl.Boolean, **ARM_SCHEMA,
}
#: A kept checkpoint's samples: `<model>/<variant>/s<seed>/step<N>/<trigger>/<set>.jsonl`
#: (the final adapter's: `<model>/<variant>/s<seed>/<trigger>/<set>.jsonl`).
_CHECKPOINT_PATH = re.compile(r"(^|/)s\d+/step\d+/[^/]+/[^/]+$")


def is_checkpoint_path(samples: str | Path) -> bool:
    """Whether a samples file holds a kept checkpoint's answers (by the workflow's layout)."""
    return bool(_CHECKPOINT_PATH.search(Path(samples).as_posix()))


def raw_path_for(scores: Path) -> Path:
    """The raw judge replies beside a score file (`.scores.jsonl` -> `.raw.jsonl`)."""
    name = scores.name
    if not name.endswith(".scores.jsonl"):
        raise EmlabError(f"{scores}: a score file's name must end with .scores.jsonl (its raw replies are <name>.raw.jsonl)")
    return scores.with_name(name.removesuffix(".scores.jsonl") + ".raw.jsonl")


def _read_samples(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for lineno, row in enumerate(read_jsonl(path), start=1):
        for field in _REQUIRED:
            if field not in row:
                raise EmlabError(f"{path}: row {lineno}: missing field {field!r}")
        sid = row["sample_id"]
        if sid in out:
            raise EmlabError(f"{path}: row {lineno}: duplicate sample_id {sid!r}")
        out[sid] = row
    return out


def _read_scores(path: Path, samples: dict[str, dict[str, Any]], samples_path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for lineno, row in enumerate(read_jsonl(path), start=1):
        sid = row.get("sample_id")
        if sid is None:
            raise EmlabError(f"{path}: row {lineno}: missing field 'sample_id'")
        if sid not in samples:
            raise EmlabError(f"{path}: row {lineno}: sample_id {sid!r} is not in {samples_path} (are --samples and --scores paired in the same order?)")
        if sid in out:
            raise EmlabError(f"{path}: row {lineno}: duplicate sample_id {sid!r}")
        out[sid] = _flatten_scores(row, path, lineno)
    missing = [sid for sid in samples if sid not in out]
    if missing:
        raise EmlabError(f"{path}: no score row for {len(missing)} sample(s) of {samples_path}, e.g. sample_id {missing[0]!r}")
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _flatten_scores(row: dict[str, Any], path: Path, lineno: int) -> dict[str, Any]:
    """Check a score row's values; spread `<metric>_probs` into `<metric>_p_<LABEL>` floats.

    A metric is a 0-100 score (number), a classification label (string), or null.
    """
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if key == "sample_id" or key.endswith("_unscored"):
            flat[key] = value
        elif key.endswith("_probs"):
            if value is None:
                continue
            if not isinstance(value, dict) or not all(_number(p) for p in value.values()):
                raise EmlabError(f"{path}: row {lineno}: field {key!r} must map labels to probabilities, got {value!r}")
            metric = key.removesuffix("_probs")
            flat.update({f"{metric}_p_{label}": float(p) for label, p in value.items()})
        elif value is None or _number(value) or isinstance(value, str):
            flat[key] = value
        else:
            raise EmlabError(f"{path}: row {lineno}: field {key!r} must be a number, a label or null, got {value!r}")
    return flat


def _pair_rows(samples_path: Path, scores_path: Path) -> list[dict[str, Any]]:
    raw = raw_path_for(scores_path)  # checks the score file's name before reading anything
    samples = _read_samples(samples_path)
    scores = _read_scores(scores_path, samples, samples_path)
    checkpoint = is_checkpoint_path(samples_path)
    arms: dict[str, dict[str, Any]] = {}
    shapes: dict[tuple[str, str, int], str | None] = {}
    rows = []
    for lineno, (sid, sample) in enumerate(samples.items(), start=1):
        row: dict[str, Any] = {"sample_id": sid}
        row.update({k: sample.get(k) for k in SAMPLE_FIELDS})
        # extra sample fields (e.g. a checkpoint step or dataset size) become columns too
        row.update({k: v for k, v in sample.items() if k not in row})
        row.update({k: v for k, v in scores[sid].items() if k != "sample_id"})
        # a final adapter's answer, not a kept checkpoint's: rates use final adapters only
        row["is_final"] = bool(sample.get("is_final", not checkpoint))
        # the label's parts, and the adapter's shape (the row's own, else its adapter.json)
        variant = str(sample["variant"])
        if variant not in arms:
            try:
                arms[variant] = arm_fields(variant)
            except EmlabError as e:
                raise EmlabError(f"{samples_path}: row {lineno}: field 'variant': {e}") from None
        row.update(arms[variant])
        key = (str(sample["model"]), variant, int(sample["seed"]))
        if key not in shapes:
            shapes[key] = read_shape(adapter_record_path(samples_path, model=key[0], variant=variant, seed=key[2],
                                                         checkpoint=checkpoint))
        row["shape"] = row_shape(sample["shape"]) if "shape" in sample else shapes[key]
        row.update(samples_file=str(samples_path), scores_file=str(scores_path), judge_raw_file=str(raw))
        rows.append(row)
    return rows


def build_answers_table(pairs: list[tuple[Path, Path]]) -> pl.DataFrame:
    """Join each samples file with its scores file into one per-answer table.

    Args:
        pairs: (samples JSONL, scores JSONL) per grid cell; the raw judge replies are
            expected beside each score file as `<name>.raw.jsonl`.

    Returns:
        One row per answer: the sample fields, one float column per judge metric,
        `<metric>_unscored` reasons, `is_final` (false for a kept checkpoint's answer:
        a row's own `is_final` field, else its samples path `.../s<seed>/step<N>/...`),
        and `samples_file` / `scores_file` / `judge_raw_file` naming where it came from.

    Raises:
        EmlabError: a missing file, a malformed row, or a sample without a score row.
    """
    if not pairs:
        raise EmlabError("no (samples, scores) pairs given")
    rows: list[dict[str, Any]] = []
    for samples_path, scores_path in tqdm(pairs, desc="aggregate", unit="cell", disable=len(pairs) < 20):
        rows.extend(_pair_rows(Path(samples_path), Path(scores_path)))
    metrics = sorted({k.removesuffix("_unscored") for r in rows for k in r if k.endswith("_unscored")})
    schema = dict(_SCHEMA)
    for m in metrics:
        kinds = {type(r[m]) is str for r in rows if r.get(m) is not None}
        if len(kinds) > 1:
            raise EmlabError(f"judge metric {m!r} is a number in some score files and a label in others; re-score them with one judge version")
        schema[m] = pl.String if kinds == {True} else pl.Float64
        schema[f"{m}_unscored"] = pl.String
    for col in {k for r in rows for k in r if "_p_" in k and k.split("_p_")[0] in metrics}:
        schema[col] = pl.Float64
    for r in rows:  # every metric column exists in every row, null where a cell lacks it
        for m in metrics:
            r.setdefault(m, None)
            r.setdefault(f"{m}_unscored", None if r[m] is not None else "not judged")
    table = pl.DataFrame(rows, schema_overrides=schema, infer_schema_length=None)
    front = ["sample_id", *SAMPLE_FIELDS, *ARM_COLUMNS, "shape"]
    metric_cols = [c for m in metrics for c in (m, f"{m}_unscored")]
    rest = [c for c in table.columns if c not in front and c not in metric_cols and c not in FILE_COLUMNS]
    return table.select([*front, *metric_cols, *rest, *FILE_COLUMNS])


def judge_metrics(table: pl.DataFrame) -> list[str]:
    """The judge metric columns of a table (those with a `<metric>_unscored` partner)."""
    return [c.removesuffix("_unscored") for c in table.columns if c.endswith("_unscored")]


def paper_csv(table: pl.DataFrame) -> pl.DataFrame:
    """The paper's results CSV layout: model (one per seed), group (= variant), question, ...

    Final adapters only: a kept checkpoint's answers (training dynamics) would read as
    a second model of the same name.
    """
    if "is_final" in table.columns:
        table = table.filter(pl.col("is_final"))
    cols = [
        pl.concat_str([pl.col("model"), pl.col("variant"), pl.lit("s") + pl.col("seed").cast(pl.String)], separator="/").alias("model"),
        pl.col("variant").alias("group"),
        pl.col("question"),
        pl.col("answer"),
        pl.col("aligned") if "aligned" in table.columns else pl.lit(None, pl.Float64).alias("aligned"),
        pl.col("coherent") if "coherent" in table.columns else pl.lit(None, pl.Float64).alias("coherent"),
        pl.col("question_id"),
    ]
    return table.select(cols)


def write_answers_table(table: pl.DataFrame, out: Path) -> tuple[Path, Path]:
    """Write `out` (parquet) and `answers.csv` beside it, each atomically."""
    out = Path(out)
    with atomic_path(out) as tmp:
        table.write_parquet(tmp)
    csv = out.with_suffix(".csv")
    with atomic_path(csv) as tmp:
        paper_csv(table).write_csv(tmp)
    return out, csv


def read_answers_table(path: Path) -> pl.DataFrame:
    """Read an answers table, with a one-line error when it is missing or not parquet."""
    path = Path(path)
    if not path.exists():
        raise EmlabError(f"{path}: file not found; run `emlab analysis aggregate` first")
    try:
        table = pl.read_parquet(path)
    except Exception as e:  # polars raises several types for a corrupt file
        raise EmlabError(f"{path}: not a readable parquet file ({str(e).splitlines()[0]})") from None
    for col in ("model", "variant", "seed", "trigger", "question_set", "question_id"):
        if col not in table.columns:
            raise EmlabError(f"{path}: column {col!r} missing; is this an answers table?")
    return table
