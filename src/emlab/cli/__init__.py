"""The `emlab` command: every workflow rule calls one of its verbs.

    emlab --help

Each verb is a thin wrapper over a typed function of its stage's module; the verbs of a
stage live in `emlab/cli/<stage>.py`. Errors meant for the user (`EmlabError`) print as
one line, `emlab: error: ...`, and exit with status 2.
"""

from __future__ import annotations

import logging
import sys

import click

from emlab.errors import EmlabError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="emlab")
def cli() -> None:
    """Emergent-misalignment experiments as a reproducible grid."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")


STAGE_MODULES = ("config", "model", "datasets", "train", "sample", "judge", "direction", "analysis", "workflow")


def _register() -> None:
    # Imported here so `emlab --help` stays fast: the stage modules import torch lazily.
    import importlib

    for name in STAGE_MODULES:
        module = importlib.import_module(f"emlab.cli.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    _register()
    try:
        cli.main(args=argv, prog_name="emlab", standalone_mode=False)
    except EmlabError as e:
        click.echo(f"emlab: error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("emlab: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("emlab: interrupted", err=True)
        sys.exit(130)
