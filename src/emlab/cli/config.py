"""`emlab config`: validate params.yaml, print the grid, write its JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from emlab.config import json_schema, load_params
from emlab.io import write_text_atomic


@click.group("config")
def config_group() -> None:
    """Validate params.yaml and write its schema."""


@config_group.command("check")
@click.argument("params_file", default="params.yaml", type=click.Path(path_type=Path))
def check(params_file: Path) -> None:
    """Validate PARAMS_FILE for the workflow and print the grid's size."""
    p = load_params(params_file, workflow=True)
    g = p.grid
    n = len(g.models) * len(g.variants) * len(g.seeds)
    click.echo(f"{params_file}: ok: {n} cells ({len(g.models)} models x {len(g.variants)} variants x "
               f"{len(g.seeds)} seeds) x {len(g.triggers)} triggers x {len(g.question_sets)} question sets")


@config_group.command("schema")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write here instead of stdout.")
def schema(out: Path | None) -> None:
    """Print (or write) the JSON schema of params.yaml."""
    text = json.dumps(json_schema(), indent=2) + "\n"
    if out:
        write_text_atomic(out, text)
    else:
        click.echo(text, nl=False)


COMMANDS = [config_group]
