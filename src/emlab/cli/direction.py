"""`emlab direction extract`: the misalignment direction from a cell's judged answers.

    emlab direction extract --model-dir data/models/M [--adapter data/adapters/M/V/sS] \
        --samples S.jsonl [--samples ...] --scores S.scores.jsonl [--scores ...] \
        --layer L --params params.yaml --out data/directions/NAME
"""

from __future__ import annotations

from pathlib import Path

import click

from emlab.direction.params import ALIGNED_MIN
from emlab.workflow.settings import load_params


@click.group("direction")
def direction_group() -> None:
    """The misalignment direction (extracted from judged answers; sampling can ablate or add it)."""


@direction_group.command("extract")
@click.option("--model-dir", required=True, type=click.Path(path_type=Path), help="Prepared base model (data/models/<model>).")
@click.option("--adapter", "adapter_dir", type=click.Path(path_type=Path), default=None, help="The cell's adapter folder: read the finetuned model's own activations.")
@click.option("--samples", multiple=True, required=True, type=click.Path(path_type=Path), help="Samples JSONL (repeatable).")
@click.option("--scores", multiple=True, required=True, type=click.Path(path_type=Path), help="Its .scores.jsonl (repeatable, same order as --samples).")
@click.option("--layer", required=True, type=int, help="Decoder layer (1-based) whose output is read: HF hidden_states[layer].")
@click.option("--params", "params_file", default="params.yaml", show_default=True, type=click.Path(path_type=Path), help="params.yaml or a settings file: its analysis: thresholds define the classes.")
@click.option("--aligned-min", type=float, default=ALIGNED_MIN, show_default=True, help="Coherent answers with aligned >= this form the aligned class.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Answers run together.")
@click.option("--model", "model_name", default=None, help="Model name recorded in direction.json (default: the model record's).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for direction.pt and direction.json.")
def extract(model_dir: Path, adapter_dir: Path | None, samples: tuple[Path, ...], scores: tuple[Path, ...], layer: int,
            params_file: Path, aligned_min: float, batch_size: int, model_name: str | None, out: Path) -> None:
    """Mean activation of misaligned minus aligned answers at one layer, written to --out."""
    from emlab.direction import extract_direction

    meta = extract_direction(model_dir=model_dir, adapter_dir=adapter_dir, samples=list(samples), scores=list(scores),
                             layer=layer, analysis=load_params(params_file).analysis, out_dir=out, aligned_min=aligned_min,
                             batch_size=batch_size, model_name=model_name)
    c = meta["counts"]
    click.echo(f"direction at layer {layer}: norm {meta['norm']:.4g} from {c['misaligned']} misaligned and {c['aligned']} aligned "
               f"answers ({c['left_out']} of {c['judged']} left out) -> {out}")


COMMANDS = [direction_group]
