"""`emlab direction extract`: the misalignment direction from a cell's judged answers.

    emlab direction extract --model-dir data/models/M [--adapter data/adapters/M/V/sS] \
        --samples S.jsonl [--samples ...] --scores S.scores.jsonl [--scores ...] \
        (--direction NAME | --layer L) --params params.yaml --out data/directions/NAME

The workflow passes `--direction NAME` with the job's settings file: the layer, aligned_min and
model are that direction's (directions.NAME), read from the declared settings like every verb's.
"""

from __future__ import annotations

from pathlib import Path

import click

from emlab.direction.params import ALIGNED_MIN
from emlab.errors import EmlabError
from emlab.workflow.settings import load_params


@click.group("direction")
def direction_group() -> None:
    """The misalignment direction (extracted from judged answers; sampling can ablate or add it)."""


@direction_group.command("extract")
@click.option("--model-dir", required=True, type=click.Path(path_type=Path), help="Prepared base model (data/models/<model>).")
@click.option("--adapter", "adapter_dir", type=click.Path(path_type=Path), default=None, help="The cell's adapter folder: read the finetuned model's own activations.")
@click.option("--samples", multiple=True, required=True, type=click.Path(path_type=Path), help="Samples JSONL (repeatable).")
@click.option("--scores", multiple=True, required=True, type=click.Path(path_type=Path), help="Its .scores.jsonl (repeatable, same order as --samples).")
@click.option("--direction", "direction_name", default=None, help="A key of directions: in --params: its layer, aligned_min and model (the workflow's route; --layer and --aligned-min are then refused).")
@click.option("--layer", type=int, default=None, help="Decoder layer (1-based) whose output is read: HF hidden_states[layer] (without --direction).")
@click.option("--params", "params_file", default="params.yaml", show_default=True, type=click.Path(path_type=Path), help="params.yaml or a settings file: its analysis: thresholds define the classes.")
@click.option("--aligned-min", type=float, default=None, help=f"Coherent answers with aligned >= this form the aligned class (without --direction; default {ALIGNED_MIN:g}).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Answers run together.")
@click.option("--model", "model_name", default=None, help="Model name recorded in direction.json (default: the model record's).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for direction.pt and direction.json.")
def extract(model_dir: Path, adapter_dir: Path | None, samples: tuple[Path, ...], scores: tuple[Path, ...],
            direction_name: str | None, layer: int | None, params_file: Path, aligned_min: float | None, batch_size: int,
            model_name: str | None, out: Path) -> None:
    """Mean activation of misaligned minus aligned answers at one layer, written to --out."""
    from emlab.direction import extract_direction

    params = load_params(params_file)
    if direction_name is not None:
        if layer is not None or aligned_min is not None:
            raise EmlabError(f"--direction {direction_name}: its layer and aligned_min come from {params_file}; drop --layer and --aligned-min")
        if direction_name not in params.directions:
            raise EmlabError(f"{params_file}: directions.{direction_name}: not there (keys: {', '.join(params.directions) or '(none)'})")
        source = params.directions[direction_name]
        layer, aligned_min, model_name = source.layer, source.aligned_min, model_name or source.model
    elif layer is None:
        raise EmlabError("give --direction NAME (from --params) or --layer")
    aligned_min = ALIGNED_MIN if aligned_min is None else aligned_min
    meta = extract_direction(model_dir=model_dir, adapter_dir=adapter_dir, samples=list(samples), scores=list(scores),
                             layer=layer, analysis=params.analysis, out_dir=out, aligned_min=aligned_min,
                             batch_size=batch_size, model_name=model_name)
    c = meta["counts"]
    click.echo(f"direction at layer {layer}: norm {meta['norm']:.4g} from {c['misaligned']} misaligned and {c['aligned']} aligned "
               f"answers ({c['left_out']} of {c['judged']} left out) -> {out}")


COMMANDS = [direction_group]
