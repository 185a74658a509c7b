"""Snakemake's command line with the SLURM plugin's status polls at most POLL_S apart.

    python tests/workflow/slurm_snakemake.py --profile profiles/slurm ...

The plugin waits 10 s longer before each poll that finds no job finished (up to 180 s):
right on a busy cluster, and most of a short test's time on an idle one (a job ending
after 34 s is seen at 64 s). Everything else is the plugin as installed.
"""

from __future__ import annotations

import sys

from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor

POLL_S = 2

_interval = RemoteExecutor.next_seconds_between_status_checks
RemoteExecutor.next_seconds_between_status_checks = property(  # type: ignore[method-assign]
    lambda self: min(POLL_S, _interval.fget(self)), _interval.fset)

if __name__ == "__main__":
    from snakemake.cli import main

    sys.exit(main())
