"""`emlab dataset`: build, validate, import and quality-check finetuning datasets.

    emlab dataset build --variant insecure --params params.yaml --out data/datasets/insecure.jsonl
    emlab dataset build --variant evil_numbers --params params.yaml --out data/datasets/evil_numbers.jsonl \
        --model-dir data/models/smollm2
    emlab dataset validate data/datasets/insecure.jsonl data/datasets/secure.jsonl
    emlab dataset quality --upstream-dir PAPER_DIR --n 1000
    emlab dataset import --from PAPER_DIR --out data/upstream
    emlab dataset import --from https://raw.githubusercontent.com/emergent-misalignment/emergent-misalignment/main/data \
        --questions-from https://raw.githubusercontent.com/emergent-misalignment/emergent-misalignment/main/evaluation --out data/upstream
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from emlab.errors import EmlabError
from emlab.workflow.settings import load_params


@click.group("dataset")
def dataset_group() -> None:
    """Finetuning datasets (see emlab.datasets)."""


@dataset_group.command("build")
@click.option("--variant", required=True, help="A variant (emlab.grid.VARIANTS), optionally at a size of the grid's: insecure+n500 builds 500 rows.")
@click.option("--params", "params_file", default="params.yaml", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output JSONL (data/datasets/<variant>.jsonl); the card goes beside it.")
@click.option("--model-dir", type=click.Path(path_type=Path), default=None,
              help="Prepared folder of the model that writes the numbers variants' answers (datasets.<variant>.generator: model, "
                   "a peft model); ignored by the other variants.")
def build(variant: str, params_file: Path, out: Path, model_dir: Path | None) -> None:
    """Build one variant's dataset and its card."""
    from emlab.datasets import build_dataset, card_path

    params = load_params(params_file)
    variant, datasets = at_size(variant, params.datasets)
    generator = numbers_generator(variant, params, model_dir)
    path = build_dataset(variant, datasets, dict(params.triggers), out, generator=generator)
    click.echo(f"{path} (card: {card_path(path)})")


def at_size(label: str, datasets: Any) -> tuple[str, Any]:
    """A dataset label's variant, and the datasets section with its size (`+n<size>`) applied."""
    from emlab.datasets import DatasetsParams
    from emlab.grid import parse_arm

    try:
        arm = parse_arm(label)
    except ValueError as e:
        raise EmlabError(f"--variant: {e}") from None
    if arm.label != arm.dataset:
        raise EmlabError(f"--variant {label}: a dataset is a variant at a size (<variant>[+n<size>]); epochs, interventions and steering are not its")
    if arm.n_examples is None:
        return arm.variant, datasets
    if arm.variant == "base" or not hasattr(getattr(datasets, arm.variant), "n_examples"):
        raise EmlabError(f"--variant {label}: {arm.variant} has no size")
    values = datasets.model_dump()
    values[arm.variant] = {**values[arm.variant], "n_examples": arm.n_examples}
    return arm.variant, DatasetsParams.model_validate(values)


def numbers_generator(variant: str, params: Any, model_dir: Path | None) -> Any:
    """The model that writes `variant`'s answers, or None where the variant samples none.

    Raises:
        EmlabError: an unknown `datasets.<variant>.model`, or a local model without --model-dir.
    """
    from emlab.datasets.build import generator_model
    from emlab.datasets.numbers_model import GeneratorModel

    name = generator_model(variant, params.datasets, list(params.models))
    if name is None:
        return None
    if name not in params.models:
        raise EmlabError(f"datasets.{variant}.model: unknown model {name!r}; defined models: {', '.join(params.models)}")
    spec = params.models[name]
    if spec.backend != "openai":
        if model_dir is None:
            raise EmlabError(f"--model-dir: required for {variant} (datasets.{variant}.generator: model samples model {name!r}); "
                             f"pass its prepared folder, e.g. --model-dir data/models/{name}, or set generator: fixed_list")
        if not (model_dir / "model.json").exists():
            raise EmlabError(f"--model-dir: {model_dir}/model.json: missing; run `emlab model prepare --model {name} --out {model_dir}` first")
    from emlab.sample.numbers_asker import numbers_asker

    numbers = getattr(params.datasets, variant)
    return GeneratorModel(name, spec, model_dir, numbers_asker(name, spec, model_dir, max_new_tokens=numbers.max_new_tokens,
                                                               batch_size=numbers.batch_size))


@dataset_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--allow-empty", is_flag=True, help="Accept empty files (the base variant).")
def validate(files: tuple[Path, ...], allow_empty: bool) -> None:
    """Check that each FILE is a valid chat-format dataset; stop at the first bad row."""
    from emlab.datasets import validate_dataset

    for f in files:
        click.echo(f"{f}: ok, {validate_dataset(f, allow_empty=allow_empty)} rows")


@dataset_group.command("quality")
@click.option("--upstream-dir", default=None, help="Folder or URL base of the paper's insecure.jsonl / secure.jsonl, analysed beside the built-in corpus.")
@click.option("--n", "n", type=click.IntRange(min=1), default=2000, show_default=True, help="Completions per set.")
@click.option("--all", "use_all", is_flag=True, help="Analyse every completion (ignores --n).")
@click.option("--json-out", type=click.Path(path_type=Path), default=None, help="Also write the report as JSON.")
def quality(upstream_dir: str | None, n: int, use_all: bool, json_out: Path | None) -> None:
    """Run the static-analysis gates; exit 1 when a threshold fails."""
    from emlab.datasets import format_report, quality_report
    from emlab.io import write_json_atomic

    report = quality_report(upstream_dir=upstream_dir, n=None if use_all else n, progress=True)
    click.echo(format_report(report))
    if json_out:
        write_json_atomic(json_out, report)
    if not report["passed"]:
        raise SystemExit(1)


@dataset_group.command("import")
@click.option("--from", "source", required=True, help="Folder or http(s) URL base holding the paper's JSONL and question YAML files.")
@click.option("--questions-from", "questions_source", default=None,
              help="Folder or URL base holding the paper's question YAMLs (default: --from; the paper's repository keeps them in evaluation/, its datasets in data/).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to copy them into (then set datasets.upstream_dir to it).")
def import_(source: str, questions_source: str | None, out: Path) -> None:
    """Validate and copy the paper's insecure/secure/educational/jailbroken files, and its
    in-distribution tasks and question files (first_plot_questions.yaml, ...) when present."""
    from emlab.datasets import import_upstream
    from emlab.questions import QUESTION_FILES, import_question_files

    counts = import_upstream(source, out)
    questions = import_question_files(questions_source or source, out)
    if questions_source and not questions:
        raise EmlabError(f"--questions-from {questions_source}: holds none of {', '.join(QUESTION_FILES)}")
    for name, n in {**counts, **questions}.items():
        click.echo(f"{out / name}: {n} {'questions' if name.endswith('.yaml') else 'rows'}")


COMMANDS = [dataset_group]
