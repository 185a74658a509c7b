"""`emlab sample` and `emlab questions`: sample a cell's answers; list and show question sets.

    emlab sample --model M --variant V --seed S --trigger T --question-set Q \
        --model-dir data/models/M --adapter data/adapters/M/V/sS [--steering NAME --direction DIR] --out FILE
    emlab questions list
    emlab questions show main
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from emlab.config import NO_TRIGGER
from emlab.errors import EmlabError
from emlab.workflow.settings import load_params

if TYPE_CHECKING:
    from emlab.sample.steering import Steering


@click.command("sample")
@click.option("--model", "model_name", required=True, help="Key of models: in params.yaml.")
@click.option("--variant", required=True, help="Finetuning variant of the cell (base = no finetuning).")
@click.option("--seed", required=True, type=int, help="Cell seed; also seeds sampling.")
@click.option("--trigger", default=NO_TRIGGER, show_default=True, help="'none' or a key of triggers: in params.yaml.")
@click.option("--question-set", "question_set", required=True, help="Built-in set name (emlab questions list) or a YAML path.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, type=click.Path(path_type=Path))
@click.option("--model-dir", required=True, type=click.Path(path_type=Path), help="Prepared base model (data/models/<model>).")
@click.option("--adapter", "adapter_dir", required=True, type=click.Path(path_type=Path), help="The cell's adapter folder (holds adapter.json).")
@click.option("--checkpoint-step", type=int, default=None, help="Sample the adapter's kept checkpoint of this training step instead of the final adapter.")
@click.option("--steering", "steering_name", default=None, help="Key of steering: in params.yaml: ablate or add a direction while sampling (needs --direction).")
@click.option("--direction", "direction_dir", type=click.Path(path_type=Path), default=None, help="The steering's direction folder (emlab direction extract).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Sample JSONL to write.")
def sample(model_name: str, variant: str, seed: int, trigger: str, question_set: str, params_file: Path,
           model_dir: Path, adapter_dir: Path, checkpoint_step: int | None, steering_name: str | None,
           direction_dir: Path | None, out: Path) -> None:
    """Sample answers of one cell to one question set under one trigger condition."""
    from emlab.sample import sample_answers

    params = load_params(params_file)
    if model_name not in params.models:
        raise EmlabError(f"--model: unknown model {model_name!r}; defined in {params_file}: {', '.join(params.models)}")
    if trigger != NO_TRIGGER and trigger not in params.triggers:
        raise EmlabError(f"--trigger: unknown trigger {trigger!r}; use 'none' or a key of triggers: in {params_file} ({', '.join(params.triggers)})")
    if checkpoint_step is not None:
        adapter_dir = checkpoint_adapter(adapter_dir, checkpoint_step)
    cell = cell_of(adapter_dir, model_name, variant, seed)
    steering = steering_of(params, steering_name, direction_dir, model_dir)
    if checkpoint_step is not None:
        cell["checkpoint_step"] = checkpoint_step  # by hand also for base, which is itself at every step
    path = sample_answers(
        model_name=model_name, spec=params.models[model_name], model_dir=model_dir, adapter_dir=adapter_dir,
        question_set=question_set, trigger_name=trigger, trigger_text=params.trigger_text(trigger), seed=seed,
        params=params.sample, out=out, cell=cell, upstream_dir=upstream_dir_for(params, question_set), steering=steering,
    )
    click.echo(path)


@click.group("questions")
def questions_group() -> None:
    """Question sets."""


@questions_group.command("list")
def list_sets() -> None:
    """Print the built-in question sets with their number of questions."""
    from emlab.questions import list_question_sets, load_question_set

    for name in list_question_sets():
        try:
            n = f"{len(load_question_set(name).questions)} questions"
        except EmlabError as e:  # in_distribution needs emlab.datasets
            n = f"unavailable: {e}"
        click.echo(f"{name}\t{n}")


@questions_group.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print a question set (built-in NAME or YAML path): ids, settings and first paraphrase."""
    from emlab.questions import load_question_set

    qset = load_question_set(name)
    click.echo(f"{qset.name} ({qset.source}): {len(qset.questions)} questions")
    for q in qset.questions:
        system = f" system={q.system!r}" if q.system else ""
        click.echo(f"- {q.id} [{q.type}] x{len(q.paraphrases)} paraphrases x{q.samples_per_paraphrase} samples, "
                   f"T={q.temperature:g}, metrics={','.join(q.judge_prompts) or '-'}{system}")
        first = q.paraphrases[0].strip().splitlines()[0]
        click.echo(f"    {first[:100]}{'...' if len(first) > 100 else ''}")


def steering_of(params: object, name: str | None, direction_dir: Path | None, model_dir: Path) -> Steering | None:
    """The `Steering` of `--steering NAME --direction DIR` (None without them)."""
    if name is None and direction_dir is None:
        return None
    if name is None or direction_dir is None:
        raise EmlabError("--steering and --direction go together: a steering name and the folder of its direction")
    from emlab.direction import steering_for
    from emlab.models import read_record

    section = getattr(params, "steering", None)
    if section is None:
        raise EmlabError(f"--steering {name}: the params have no steering: section")
    return steering_for(name, section, direction_dir, base=read_record(model_dir).get("base"))


def upstream_dir_for(params: object, question_set: str) -> str | None:
    """The paper's release for the one set that reads it (`in_distribution`: its 776 tasks)."""
    return params.datasets.upstream_dir if question_set == "in_distribution" else None  # type: ignore[attr-defined]


def checkpoint_adapter(adapter_dir: Path, step: int) -> Path:
    """The kept checkpoint of `step` inside a cell's adapter folder (base: the folder itself)."""
    from emlab.sample import read_adapter_record

    if read_adapter_record(adapter_dir)["backend"] == "none":
        return adapter_dir
    folder = adapter_dir / "checkpoints" / f"step-{step:06d}"
    if not (folder / "adapter.json").exists():
        raise EmlabError(f"{folder}: no checkpoint kept at step {step}; set train.peft.keep_checkpoints_as_adapters: true "
                         "and a checkpoint_every dividing it (the last step is the final adapter, not a checkpoint)")
    return folder


def cell_of(adapter_dir: Path, model: str, variant: str, seed: int) -> dict[str, object]:
    """The cell's fields for each row, with the training step of the adapter where known
    (`step` of a kept checkpoint, `steps` of a final peft adapter) for training dynamics."""
    from emlab.sample import read_adapter_record

    cell: dict[str, object] = {"model": model, "variant": variant, "seed": seed}
    record = read_adapter_record(adapter_dir)
    step = record.get("step", record.get("steps"))
    if step is not None:
        cell["checkpoint_step"] = int(step)
    if record.get("shape"):
        cell["shape"] = record["shape"]  # the adapter's shape (rank, targets, layers; full): figure legends
    return cell


COMMANDS = [sample, questions_group]
