"""`emlab record` / `emlab restore`: the glue between Snakemake runs and DVC versions."""

from __future__ import annotations

from pathlib import Path

import click

from emlab import workflow


@click.command("record")
@click.option("--no-push", is_flag=True, help="Do not push artifacts to the DVC remote.")
def record(no_push: bool) -> None:
    """After a complete `snakemake` run: dvc commit, check dvc status, dvc push."""
    click.echo(workflow.record(Path("."), push=not no_push))


@click.command("restore")
@click.option("--no-pull", is_flag=True, help="Restore from the local DVC cache only (dvc checkout).")
def restore(no_pull: bool) -> None:
    """After a checkout or clone: dvc pull, require dvc status clean, snakemake --touch."""
    click.echo(workflow.restore(Path("."), pull=not no_pull))


COMMANDS = [record, restore]
