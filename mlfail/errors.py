"""Errors that reach the operator as one line and exit code 2."""

from __future__ import annotations


class MlfailError(Exception):
    """A problem with the user's input, flags or files.

    The CLI prints ``str(err)`` as a single line on stderr and exits with code 2; the
    message must name the file, column or flag and say what to do.
    """

    exit_code = 2


class MlfailWarning(UserWarning):
    """Something the operator should know that does not stop the run (the CLI prints it as
    one ``mlfail: warning:`` line on stderr)."""


class InputError(MlfailError):
    """A source (file, glob, directory, URL) cannot be read as asked."""


class UsageError(MlfailError):
    """A flag or combination of flags is invalid."""
