"""``mlfail`` — the Typer application."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfail._version import __version__
from mlfail.cli import psi as psi_cmd
from mlfail.cli import slices as slices_cmd
from mlfail.cli import timeline as timeline_cmd

app = typer.Typer(
    name="mlfail",
    help=(
        "Triage production ML incidents: what broke, where, since when, why, and who owns it.\n\n"
        "Exit codes: 0 = ran, nothing at/above threshold; 1 = findings at/above threshold; "
        "2 = usage, input or internal error."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlfail {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Triage production ML incidents."""


app.command(name="psi")(psi_cmd.psi_command)
app.command(name="slices")(slices_cmd.slices_command)
app.command(name="timeline")(timeline_cmd.timeline_command)


def main() -> None:
    app()
