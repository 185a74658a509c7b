"""`emlab config`: validate params.yaml, print the grid, write its JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from emlab.config import json_schema, load_params
from emlab.errors import EmlabError
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
    arms = p.arms()
    n = len(g.models) * len(arms) * len(g.seeds)
    shown = "variants" if all(a.label == a.variant for a in arms) else "arms"
    click.echo(f"{params_file}: ok: {n} cells ({len(g.models)} models x {len(arms)} {shown} x "
               f"{len(g.seeds)} seeds) x {len(g.triggers)} triggers x {len(g.question_sets)} question sets")


@config_group.command("schema")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write here instead of stdout.")
@click.option("--check", "check_file", is_flag=True, help="Exit 1 when schemas/params.schema.json differs from the code's schema.")
def schema(out: Path | None, check_file: bool) -> None:
    """Print (or write) the JSON schema of params.yaml."""
    text = json.dumps(json_schema(), indent=2) + "\n"
    if check_file:
        committed = Path("schemas/params.schema.json")
        if not committed.exists() or committed.read_text(encoding="utf-8") != text:
            raise EmlabError(f"{committed} is out of date: run `emlab config schema --out {committed}`")
        click.echo(f"{committed} is up to date")
        return
    if out:
        write_text_atomic(out, text)
    else:
        click.echo(text, nl=False)


COMMANDS = [config_group]
