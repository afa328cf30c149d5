"""The ``baton`` command."""

from __future__ import annotations

import click

from baton.cli.client_cmds import run_cmd, runs, start_cmd, tasks_cmd
from baton.cli.durable_cmds import checkpoints_cmd, pause_cmd, pauses_cmd, resume_cmd, schedules
from baton.cli.server_cmds import dev, serve, token
from baton.cli.worker_cmds import deploy, worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="baton-workflows")
def cli() -> None:
    """Baton: durable task workflows for Python.

    Start with `baton dev examples/squares.py`, then `baton run squares/sum_squares '[3, 4]'`.
    """


for command in (dev, serve, token, run_cmd, start_cmd, runs, tasks_cmd, worker, deploy):
    cli.add_command(command)
for command in (schedules, pause_cmd, resume_cmd, pauses_cmd, checkpoints_cmd):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="baton")
