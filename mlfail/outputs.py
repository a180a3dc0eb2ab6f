"""Writing outputs: atomically, and never over a user's file without ``force``."""

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


def write_atomic(
    path: str | Path, data: str | bytes, *, force: bool = False, flag: str = "--output"
) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename.

    An interrupted write leaves the old file (or nothing) in place, never a partial file.
    """
    require_local(path, flag)
    path = Path(path)
    if path.exists() and not force:
        raise UsageError(f"{flag} {path}: file exists; pass --force to overwrite it")
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; give a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: directory {parent} does not exist")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (or keep the
        # mode of the file being replaced).
        os.chmod(tmp, _mode_for(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
