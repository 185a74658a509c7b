"""`emlab model prepare`: acquire a base model (see emlab.models)."""

from __future__ import annotations

from pathlib import Path

import click

from emlab.errors import EmlabError
from emlab.workflow.settings import load_params


@click.group("model")
def model_group() -> None:
    """Base models."""


@model_group.command("prepare")
@click.option("--model", "name", required=True, help="Key of models: in params.yaml.")
@click.option("--params", "params_file", default="params.yaml", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (data/models/<model>).")
def prepare(name: str, params_file: Path, out: Path) -> None:
    """Materialise or record a base model in --out."""
    from emlab.models import prepare_model

    params = load_params(params_file)
    if name not in params.models:
        raise EmlabError(f"--model: unknown model {name!r}; defined in {params_file}: {', '.join(params.models)}")
    click.echo(prepare_model(name, params.models[name], out))


COMMANDS = [model_group]
