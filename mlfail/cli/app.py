"""``mlfail`` — the Typer application."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlfail._version import __version__
from mlfail.cli import explain as explain_cmd
from mlfail.cli import psi as psi_cmd
from mlfail.cli import shadow as shadow_cmd
from mlfail.cli import skew as skew_cmd
from mlfail.cli import slices as slices_cmd
from mlfail.cli import timeline as timeline_cmd
from mlfail.cli import triage as triage_cmd
from mlfail.cli.baseline import baseline_app
from mlfail.cli.check import check_app

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
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Config file with defaults for every flag (default: ./mlfail.toml, or "
            "[tool.mlfail] in ./pyproject.toml). Precedence: flags > MLFAIL_* env > file.",
        ),
    ] = None,
) -> None:
    """Triage production ML incidents."""


app.command(name="triage")(triage_cmd.triage_command)
app.command(name="psi")(psi_cmd.psi_command)
app.add_typer(baseline_app, name="baseline")
app.add_typer(check_app, name="check")
app.command(name="slices")(slices_cmd.slices_command)
app.command(name="timeline")(timeline_cmd.timeline_command)
app.command(name="explain")(explain_cmd.explain_command)
app.command(name="shadow")(shadow_cmd.shadow_command)
app.command(name="skew")(skew_cmd.skew_command)


def command_tree() -> dict[str, object]:
    """{command: {flag_name: (param_name, is_multiple)} | {subcommand: …}}."""

    def walk(cmd: Any) -> dict[str, object]:
        subs = getattr(cmd, "commands", None)
        if isinstance(subs, dict):
            return {name: walk(sub) for name, sub in subs.items()}
        out: dict[str, object] = {}
        for p in cmd.params:
            if getattr(p, "param_type_name", "") != "option" or not p.name:
                continue
            if p.name in ("help", "config", "version"):
                continue
            for flag in p.opts:
                if flag.startswith("--"):
                    out[flag[2:].replace("-", "_")] = (p.name, bool(getattr(p, "multiple", False)))
        return out

    return walk(typer.main.get_command(app))


def build_default_map(argv: list[str], env: dict[str, str], cwd: str) -> dict[str, object]:
    """Defaults from mlfail.toml / [tool.mlfail] / MLFAIL_* (flags still win)."""
    from mlfail.config import default_map_for, find_config, load_config_file

    path, explicit = find_config(argv, env, cwd)
    cfg = load_config_file(path, explicit=explicit) if path else {}
    return default_map_for(command_tree(), cfg, env)


def main() -> None:
    import os
    import sys

    from mlfail.cli.common import error_line, report_interrupt
    from mlfail.errors import MlfailError

    # Ctrl-C: one "interrupted" line and exit 130 (128 + SIGINT), no traceback. Inside a
    # command handle_errors does this; here it covers the config lookup and argument parsing.
    # (An interrupt while Python is still importing mlfail, before main runs, is Python's.)
    try:
        dm = build_default_map(sys.argv[1:], dict(os.environ), os.getcwd())
        app(default_map=dm)
    except MlfailError as exc:
        error_line(str(exc))
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        while True:  # see report_interrupt: one Ctrl-C may surface twice
            try:
                report_interrupt()
                break
            except KeyboardInterrupt:
                continue
        raise SystemExit(130) from None
