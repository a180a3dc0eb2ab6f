"""Shared CLI plumbing: one-line errors with exit 2, output destinations, consoles."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import os
import signal
import sys
import warnings
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import typer
from rich.console import Console

from mlfail.errors import MlfailError, MlfailWarning, UsageError
from mlfail.io import (
    Source,
    current_storage_options,
    forget_opened,
    locate_damaged,
    open_source,
    parse_storage_options,
    redact,
    set_storage_options,
)
from mlfail.outputs import write_atomic

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class FailOn(StrEnum):
    drift = "drift"
    watch = "watch"
    never = "never"


class PsiFormat(StrEnum):
    human = "human"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def error_line(message: str) -> None:
    """Print one error line on stderr (no Rich markup interpretation, no wrapping)."""
    sys.stderr.write(f"mlfail: error: {message}\n")
    sys.stderr.flush()


def report_interrupt() -> None:
    """Print the one "interrupted" line — exactly once.

    One Ctrl-C can surface twice: Polars aborts the running query with a KeyboardInterrupt
    and Python's own handler, still pending, raises another as soon as Python code runs.
    SIGINT is ignored while the line is written (a pending signal is then dropped) and the
    previous handler restored afterwards.
    """
    previous: Any = signal.default_int_handler
    while True:
        try:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            break
        except KeyboardInterrupt:
            continue
        except ValueError:  # not the main thread: signals cannot be changed here
            break
    with contextlib.suppress(KeyboardInterrupt):
        error_line("interrupted")
    with contextlib.suppress(KeyboardInterrupt, ValueError, TypeError):
        signal.signal(signal.SIGINT, previous)


def warn(message: str) -> None:
    sys.stderr.write(f"mlfail: warning: {message}\n")


def _show_warning(
    fallback: Callable[..., None],
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    if issubclass(category, MlfailWarning):
        warn(str(message))
    else:
        fallback(message, category, filename, lineno, file, line)


def handle_errors(fn: F) -> F:
    """Turn every failure into one line on stderr and exit code 2; never a traceback
    (set MLFAIL_DEBUG=1 to see one)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        forget_opened()
        try:
            # a fresh context per command: settings such as the storage options never leak
            # from one command to the next in the same process (tests, the Python API)
            with warnings.catch_warnings():
                # library warnings (MlfailWarning) become "mlfail: warning:" lines
                warnings.simplefilter("always", MlfailWarning)
                previous = warnings.showwarning
                warnings.showwarning = functools.partial(_show_warning, previous)
                return contextvars.copy_context().run(fn, *args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except MlfailError as exc:
            error_line(str(exc))
            raise typer.Exit(EXIT_ERROR) from None
        except pl.exceptions.PolarsError as exc:
            if os.environ.get("MLFAIL_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            damaged = locate_damaged() if "parquet" in first.lower() else None
            if damaged is not None:
                src, path, why = damaged
                shown = path if path == src.spec else f"{path} (from {src.spec})"
                error_line(
                    f"{src.role} {shown}: cannot decode the Parquet data ({why}); the file is "
                    "damaged — re-export it or leave it out"
                )
            else:
                error_line(f"could not read or compute on the data: {first}")
            raise typer.Exit(EXIT_ERROR) from None
        except OSError as exc:  # an object store or file failing mid-read (after the open)
            if os.environ.get("MLFAIL_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            error_line(f"could not read the data: {redact(first, current_storage_options())}")
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            while True:  # the second interrupt of the same Ctrl-C can land on this very call
                try:
                    report_interrupt()
                    break
                except KeyboardInterrupt:
                    continue
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("MLFAIL_DEBUG"):
                raise
            error_line(
                f"internal error: {type(exc).__name__}: {exc} "
                "(set MLFAIL_DEBUG=1 for the traceback and please report it)"
            )
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper  # type: ignore[return-value]


def render_to_text(render: Callable[[Console], None], *, width: int = 120) -> str:
    """Render a Rich view to plain text (for --output files)."""
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, force_terminal=False, color_system=None, highlight=False
    )
    render(console)
    return buf.getvalue()


def emit(text: str, output: Path | None, *, force: bool) -> None:
    """Data to stdout, or atomically to ``--output``."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(output, text, force=force)
        err_console().print(f"[dim]wrote {output}[/dim]")


def deliver(
    fmt: str,
    output: Path | None,
    *,
    force: bool,
    human: Callable[[Console], None],
    text: dict[str, Callable[[], str]],
    width: int = 120,
) -> None:
    """Render a report in ``fmt``: ``human`` with Rich on stdout (plain text at ``width``
    columns into ``--output``); any other format through its text renderer in ``text``."""
    if fmt != "human":
        emit(text[fmt](), output, force=force)
    elif output is None:
        human(stdout_console())
    else:
        emit(render_to_text(human, width=width), output, force=force)


def stdout_console() -> Console:
    """Rich console for stdout; when piped (no terminal, no COLUMNS) use 120 columns, not 80."""
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return Console(highlight=False, width=120)
    return Console(highlight=False)


def use_storage_options(values: list[str] | None) -> None:
    """Set the object-store options for this command (``--storage-option`` already merged with
    the config file and environment by the option's callback, see ``options.StorageOption``)."""
    set_storage_options(parse_storage_options(values))


def open_for_engine(spec: str, engine: str, where: str | None, *, role: str) -> str | Source:
    """The source a command hands to its library call: the Polars engine opens it here (with
    ``--where`` pushed into the scan); the Spark engine opens its own sources, so it gets the
    spec — and ``--where``, which it does not apply yet, is refused in one line."""
    if engine == "polars":
        return open_source(spec, role=role, where=where)
    if where:
        raise UsageError(
            f"--where is not supported with --engine {engine} yet; filter in a view and pass "
            f"{role} table:db.view"
        )
    return spec
