"""``mlfail`` — the Typer application."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlfail._version import __version__

# Each command's module, imported when the command runs (or when --help lists the commands):
# a command loads its own part of the library, not all of it (`baseline create` never imports
# the walk). In the order `mlfail --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "triage": ("mlfail.cli.triage", "triage_command"),
    "psi": ("mlfail.cli.psi", "psi_command"),
    "slices": ("mlfail.cli.slices", "slices_command"),
    "timeline": ("mlfail.cli.timeline", "timeline_command"),
    "explain": ("mlfail.cli.explain", "explain_command"),
    "shadow": ("mlfail.cli.shadow", "shadow_command"),
    "skew": ("mlfail.cli.skew", "skew_command"),
    "baseline": ("mlfail.cli.baseline", "baseline_app"),
    "check": ("mlfail.cli.check", "check_app"),
}


def _load(name: str) -> Any:
    """The click command ``name`` from its module: a Typer sub-app's group, or a function's
    command built as the app would build it."""
    module, attr = COMMANDS[name]
    obj = getattr(importlib.import_module(module), attr)
    if isinstance(obj, typer.Typer):
        return typer.main.get_group(obj)
    one = typer.Typer(rich_markup_mode=None, add_completion=False)
    one.command(name=name)(obj)
    return typer.main.get_command(one)


class _Commands(dict[str, Any]):
    """The subcommands by name, each loaded on first lookup (the names are known up front,
    so "No such command" and its did-you-mean still see them all)."""

    def __init__(self, names: Iterable[str]) -> None:
        super().__init__(dict.fromkeys(names))

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default  # noqa: SIM401 (this is get itself)

    def __getitem__(self, name: str) -> Any:
        cmd = super().__getitem__(name)
        if cmd is None:
            cmd = _load(name)
            self[name] = cmd
        return cmd

    def values(self) -> Any:  # a walk over every command (README, completion) loads them all
        return [self[n] for n in self]

    def items(self) -> Any:
        return [(n, self[n]) for n in self]


class _LazyGroup(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(COMMANDS)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)


app = typer.Typer(
    cls=_LazyGroup,
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


def command_tree(names: Iterable[str] | None = None) -> dict[str, object]:
    """{command: {flag_name: (param_name, is_multiple)} | {subcommand: …}} for the commands
    ``names`` (those of :data:`COMMANDS`; every one when None)."""

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

    group = typer.main.get_command(app)
    assert isinstance(group, _LazyGroup)
    asked = set(COMMANDS if names is None else names)
    wanted = [n for n in COMMANDS if n in asked]
    return {n: walk(group.commands.get(n)) for n in wanted}


def build_default_map(argv: list[str], env: dict[str, str], cwd: str) -> dict[str, object]:
    """Defaults from mlfail.toml / [tool.mlfail] / MLFAIL_* (flags still win)."""
    from mlfail.config import default_map_for, find_config, load_config_file

    path, explicit = find_config(argv, env, cwd)
    cfg = load_config_file(path, explicit=explicit) if path else {}
    # the tree of the command argv runs (a token naming another command at most loads it too)
    return default_map_for(command_tree(argv), cfg, env)


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
