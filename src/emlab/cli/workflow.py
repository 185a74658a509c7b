"""`emlab record` / `emlab restore` / `emlab workflow ...`: the glue between Snakemake and DVC.

    emlab workflow settings            # write every job's settings file
    emlab workflow dvc-yaml [--check]  # generate dvc.yaml from the stage declarations
    emlab record                       # after `snakemake`: dvc commit, check, push
    emlab restore                      # after a checkout or clone: dvc pull, date the outputs
    emlab plan [--params F] [--json]   # jobs, GPU hours, judge calls and cost, before anything runs
"""

from __future__ import annotations

from pathlib import Path

import click

from emlab import workflow
from emlab.config import load_params
from emlab.errors import EmlabError


@click.command("record")
@click.option("--no-push", is_flag=True, help="Do not push artifacts to the DVC remote.")
def record(no_push: bool) -> None:
    """After a complete `snakemake` run: dvc commit, check dvc status, dvc push."""
    click.echo(workflow.record(Path("."), push=not no_push))


@click.command("restore")
@click.option("--no-pull", is_flag=True, help="Restore from the local DVC cache only (dvc checkout).")
def restore(no_pull: bool) -> None:
    """After a checkout or clone: dvc pull, require dvc status clean, date every output now (settings before)."""
    click.echo(workflow.restore(Path("."), pull=not no_pull))


@click.group("workflow")
def workflow_group() -> None:
    """Files derived from the stage declarations (emlab.workflow.stages)."""


@workflow_group.command("settings")
@click.option("--params", "params_file", default="params.yaml", type=click.Path(path_type=Path))
def settings(params_file: Path) -> None:
    """Write each job's settings file (.emlab/settings/**) and .emlab/grid.yaml."""
    from emlab.workflow.settings import write_settings

    changed = write_settings(load_params(params_file, workflow=True), params_file.parent)
    click.echo(f"{changed} settings files changed")


@workflow_group.command("dvc-yaml")
@click.option("--params", "params_file", default="params.yaml", type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Do not write: exit 1 when dvc.yaml differs from what the declarations give.")
def dvc_yaml(params_file: Path, check: bool) -> None:
    """Generate dvc.yaml from the stage declarations."""
    from emlab.workflow import dvc_yaml as gen

    params = load_params(params_file, workflow=True)
    root = params_file.parent
    if check:
        if not gen.is_current(params, root):
            raise EmlabError(f"{root / 'dvc.yaml'} is out of date: run `emlab workflow dvc-yaml`")
        click.echo("dvc.yaml is up to date")
        return
    click.echo("dvc.yaml written" if gen.write(params, root) else "dvc.yaml already up to date")


@click.command("plan")
@click.option("--params", "params_file", default="params.yaml", type=click.Path(path_type=Path))
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Project folder where question_files: are looked up (default: the params file's folder).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(params_file: Path, root: Path | None, as_json: bool) -> None:
    """Before anything runs: per stage the jobs, GPU hours, answers, judge calls and OpenAI cost."""
    import json

    from emlab.workflow.plan import format_plan, plan_file

    found = plan_file(params_file, root)
    click.echo(json.dumps(found, indent=2) if as_json else format_plan(found))


COMMANDS = [record, restore, workflow_group, plan]
