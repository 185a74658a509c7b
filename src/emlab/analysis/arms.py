"""Experiment arms in the tables: the parts of each variant label, and each adapter's shape.

    emlab analysis aggregate --samples S... --scores G... --out data/results/answers.parquet

A grid cell's `variant` is an arm label, `<dataset variant>[+n<size>][+e<epochs>][+<intervention>][~<steering>]`
(`emlab.grid.parse_arm`). The answers table and rates.csv keep the full label in `variant`
(every arm is its own group) and spell its parts out in `dataset_variant`, `n_examples`,
`epochs` (null: the dataset's or the train settings' own), `intervention` and `steering`
(`none` when absent), so a figure can select arms by part without parsing labels.

`shape` names the adapter an answer was sampled from (`rank 1 α256, down_proj L21`,
`full finetune`; null for `base` or when unknown): the sample row's own `shape` field if
it has one, else `adapter.json` of `data/adapters/<model>/<trained arm>/s<seed>`, found
beside the samples folder and read defensively (a `shape` dict, flat keys, or the
recorded `params`). Figures name it in legends only when the grid's adapters differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from emlab.errors import EmlabError
from emlab.grid import NO_INTERVENTION, NO_STEERING, Arm, parse_arm

#: Columns parsed from the variant label, in table order.
ARM_COLUMNS = ("dataset_variant", "n_examples", "epochs", "intervention", "steering")
ARM_SCHEMA: dict[str, Any] = {"dataset_variant": pl.String, "n_examples": pl.Int64, "epochs": pl.Int64,
                              "intervention": pl.String, "steering": pl.String, "shape": pl.String}
#: The projections the paper's adapters target (a shape on all of them names none).
ALL_PROJECTIONS = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})


@lru_cache(maxsize=4096)
def arm(label: str) -> Arm:
    """The parts of an arm label; EmlabError naming the label when it is malformed."""
    try:
        return parse_arm(label)
    except ValueError as e:
        raise EmlabError(str(e)) from None


def arm_fields(label: str) -> dict[str, Any]:
    """`{dataset_variant, n_examples, epochs, intervention, steering}` of a label."""
    a = arm(label)
    return {"dataset_variant": a.variant, "n_examples": a.n_examples, "epochs": a.epochs,
            "intervention": a.intervention, "steering": a.steering}


def with_arm_columns(table: pl.DataFrame) -> pl.DataFrame:
    """`table` with the arm columns parsed from `variant` (replacing any of the same name)."""
    labels = table["variant"].unique().to_list()
    parts = pl.DataFrame([{"variant": v, **arm_fields(v)} for v in labels],
                         schema={"variant": pl.String, **{c: ARM_SCHEMA[c] for c in ARM_COLUMNS}})
    return table.drop([c for c in ARM_COLUMNS if c in table.columns]).join(parts, on="variant", how="left", coalesce=True)


def is_plain(label: str) -> bool:
    """A dataset variant trained and sampled as the paper did: no size, epochs, intervention or steering."""
    return arm(label).label == arm(label).variant


def sort_key(label: str, order: tuple[str, ...]) -> tuple[Any, ...]:
    """Arms by dataset variant (in `order`, then alphabetically), then size, epochs,
    intervention and steering, each default first."""
    try:
        a = arm(label)
    except EmlabError:
        return (len(order), label)
    rank = order.index(a.variant) if a.variant in order else len(order)
    return (rank, a.variant, a.n_examples is not None, a.n_examples or 0, a.epochs is not None, a.epochs or 0,
            a.intervention != NO_INTERVENTION, a.intervention, a.steering != NO_STEERING, a.steering)


# --- adapter shapes ------------------------------------------------------------------------

def shape_text(record: dict[str, Any]) -> str | None:
    """A legend name for an adapter record's shape; None when it has none (base, OpenAI, unknown).

    Reads `record["shape"]` (a dict, or a ready string), else flat keys `finetune`, `r`,
    `lora_alpha`, `target_modules`, `layers`, else the recorded train `params`.
    """
    if record.get("backend") in ("none", "openai"):
        return None
    shape = record.get("shape")
    if isinstance(shape, str):
        return shape or None
    if not isinstance(shape, dict):
        keys = ("finetune", "r", "lora_alpha", "target_modules", "layers")
        flat = {k: record[k] for k in keys if k in record}
        shape = flat if flat else record.get("params") if isinstance(record.get("params"), dict) else None
    if not shape:
        return None
    if shape.get("finetune") == "full":
        return "full finetune"
    if not isinstance(shape.get("r"), int):
        return None
    text = f"rank {shape['r']}" + (f" α{shape['lora_alpha']}" if isinstance(shape.get("lora_alpha"), int | float) else "")
    modules = shape.get("target_modules")
    layers = shape.get("layers")
    where = "" if not modules or set(modules) == ALL_PROJECTIONS else "+".join(str(m) for m in modules)
    if isinstance(layers, list) and layers:
        where = (where + " " if where else "") + "L" + ",".join(str(x) for x in layers)
    return f"{text}, {where}" if where else text


def adapter_record_path(samples: Path, *, model: str, variant: str, seed: int, checkpoint: bool) -> Path:
    """`data/adapters/<model>/<trained arm>/s<seed>/adapter.json` beside the samples folder of
    `data/samples/<model>/<variant>/s<seed>/[step<N>/]<trigger>/<set>.jsonl`."""
    data_dir = samples.parents[5 + int(checkpoint)] if len(samples.parents) > 5 + int(checkpoint) else Path()
    return data_dir / "adapters" / model / arm(variant).trained / f"s{seed}" / "adapter.json"


def read_shape(path: Path) -> str | None:
    """The shape in an adapter.json, or None when the file is missing or unreadable (never an error:
    a shape names a legend, it does not change a number)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return shape_text(record) if isinstance(record, dict) else None


def row_shape(value: Any) -> str | None:
    """A sample row's own `shape` field (a dict or a string) as legend text."""
    if isinstance(value, dict):
        return shape_text({"shape": value})
    return value if isinstance(value, str) and value else None


def group_shapes(answers: pl.DataFrame, keys: Iterable[str]) -> pl.DataFrame:
    """One `shape` per group of `keys`: its answers' distinct shapes joined by ' | ' (null if none)."""
    keys = list(keys)
    if "shape" not in answers.columns:
        return answers.select(keys).unique().with_columns(shape=pl.lit(None, pl.String))
    return answers.group_by(keys).agg(
        shape=pl.col("shape").drop_nulls().unique().sort().str.join(" | ")
    ).with_columns(shape=pl.when(pl.col("shape") != "").then(pl.col("shape")))
