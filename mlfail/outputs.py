"""Writing outputs: atomically, and never over a user's file without ``force``.

Every file mlfail writes (``--output`` reports in any format, ``baseline create/merge --out``,
the report the interactive triage saves) goes through :func:`write_atomic`; commands call
:func:`check_output` before any work so that a bad destination fails in a second, not after
the scan. ``$GITHUB_STEP_SUMMARY`` is append-by-contract: :func:`append_once` adds to it in a
single ``write`` on an ``O_APPEND`` descriptor.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from mlfail.errors import UsageError


def require_local(path: str | Path, flag: str = "--output") -> None:
    """Outputs are local files: a URL (``s3://…``) is one clear error, not a file named 's3:'."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+:/", str(path)):  # Path() turns s3:// into s3:/
        shown = re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]+):/+", r"\1://", str(path))
        raise UsageError(
            f"{flag} {shown}: mlfail writes outputs to local files only, not to object "
            "storage; write a local file and upload it (e.g. aws s3 cp)"
        )


def check_output(path: str | Path | None, *, force: bool, flag: str = "--output") -> None:
    """Fail early, with one line naming ``flag``, when ``path`` cannot be (over)written: it
    exists and ``force`` is off, it is a directory, or its directory does not exist."""
    if path is None:
        return
    require_local(path, flag)
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; give a file path")
    if path.exists() and not force:
        raise UsageError(f"{flag} {path}: file exists; pass --force to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise UsageError(f"{flag} {path}: directory {parent} {what}")


def write_atomic(
    path: str | Path, data: str | bytes, *, force: bool = False, flag: str = "--output"
) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same directory, ``fsync`` and a
    rename (``os.replace``); then ``fsync`` the directory.

    An interrupted or failed write (an exception, Ctrl-C, a full disk) leaves the old file (or
    nothing) in place and no temporary file, never a partial file. Any OS error becomes one
    line naming ``flag`` (exit 2).
    """
    require_local(path, flag)
    path = Path(path)
    check_output(path, force=force, flag=flag)
    parent = path.parent if str(path.parent) else Path(".")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
        # mkstemp creates the file 0600; give it the mode a plain open() would (or keep the
        # mode of the file being replaced).
        os.chmod(tmp, _mode_for(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"{flag} {path}: cannot write ({reason})") from None
    finally:
        if tmp is not None:  # failed or interrupted before the rename
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _fsync_dir(parent)
    return path


def append_once(path: str | Path, text: str, *, what: str) -> None:
    """Append ``text`` to ``path`` in one ``write`` on an ``O_APPEND`` descriptor (files such
    as ``$GITHUB_STEP_SUMMARY`` are appended to by contract, by several steps)."""
    raw = text.encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            done = os.write(fd, raw)
            while done < len(raw):  # a short write (rare: signals, pipes): finish it
                done += os.write(fd, raw[done:])
        finally:
            os.close(fd)
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot append ({exc.strerror})") from None


def _fsync_dir(parent: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        dfd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
