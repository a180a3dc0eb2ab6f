"""Sources: Parquet files, globs, hive-partitioned directories and object-store URLs.

Everything is a :class:`polars.LazyFrame`; nothing is read until a statistic needs it.
"""

from __future__ import annotations

import contextlib
import glob as _glob
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from mlfail.errors import InputError

_GLOB_CHARS = re.compile(r"[*?\[]")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_PARQUET_MAGIC = b"PAR1"


@dataclass
class Source:
    """A resolved input: what the user typed, the files behind it and a lazy scan."""

    spec: str
    role: str
    files: list[str]
    lf: pl.LazyFrame
    schema: pl.Schema
    hive: bool = False
    _per_file: list[pl.LazyFrame] = field(default_factory=list, repr=False)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names())

    def file_frames(self) -> list[pl.LazyFrame]:
        """One LazyFrame per file (with hive columns), for file-by-file counting."""
        if not self._per_file:
            if len(self.files) <= 1 or _URL.match(self.spec):
                self._per_file = [self.lf]
            else:
                self._per_file = [_scan(f, hive=self.hive).select(self.columns) for f in self.files]
        return self._per_file

    def map_frames(self, fn: Callable[[pl.LazyFrame], pl.LazyFrame]) -> Source:
        """The same source with ``fn`` applied to its scan and to each per-file scan."""
        per_file = [fn(f) for f in self.file_frames()]
        lf = fn(self.lf)
        return replace(self, lf=lf, schema=lf.collect_schema(), _per_file=per_file)

    def require(self, columns: Iterable[str], flag: str) -> None:
        """Fail with one line if a column named in ``flag`` is absent."""
        have = set(self.columns)
        for col in columns:
            if col not in have:
                raise InputError(
                    f"{self.role} {self.spec}: column {col!r} (from {flag}) does not exist; "
                    f"available: {_preview(self.columns)}"
                )

    @property
    def size_bytes(self) -> int:
        total = 0
        for f in self.files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(f)
        return total


# Sources opened by the running command, so that a decode error raised later, deep inside a
# query, can be traced back to the file that caused it (see :func:`locate_damaged`).
_OPENED: list[Source] = []


def forget_opened() -> None:
    _OPENED.clear()


def locate_damaged(max_bytes: int = 4 << 30) -> tuple[Source, str, str] | None:
    """Find the first opened local file that Polars cannot decode: (source, file, error).

    Only called on the error path, after a query failed with a Parquet decode error; reads
    each file once, at most ``max_bytes`` in total (returns None beyond that)."""
    budget = max_bytes
    for src in list(_OPENED):
        for f in src.files:
            if _URL.match(f):
                continue
            try:
                budget -= os.path.getsize(f)
            except OSError:
                continue
            if budget < 0:
                return None
            try:
                pl.scan_parquet(f).collect(engine="streaming")
            except (pl.exceptions.PolarsError, OSError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                return src, f, first
    return None


def _preview(cols: Sequence[str], n: int = 12) -> str:
    shown = ", ".join(cols[:n])
    return shown + (f", … ({len(cols) - n} more)" if len(cols) > n else "")


def _scan(path: str | list[str], *, hive: bool) -> pl.LazyFrame:
    return pl.scan_parquet(path, hive_partitioning=hive, missing_columns="insert")


def _check_magic(path: str, role: str, spec: str) -> None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            size = fh.seek(0, os.SEEK_END)
            if size >= 8:
                fh.seek(-4, os.SEEK_END)
                tail = fh.read(4)
            else:
                tail = b""
    except IsADirectoryError:
        return
    except OSError as exc:
        raise InputError(f"{role} {path}: cannot read ({exc.strerror})") from None
    if head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        shown = path if path == spec else f"{path} (from {spec})"
        raise InputError(
            f"{role} {shown}: not a Parquet file; mlfail reads Parquet files, globs of them, "
            "or hive-partitioned directories"
        )


def open_source(spec: str, *, role: str = "--live") -> Source:
    """Resolve ``spec`` (file, glob, directory or URL) into a :class:`Source`.

    ``role`` is the flag the path came from; it is named in every error message.
    """
    spec = str(spec)
    if _URL.match(spec) and not spec.startswith("file://"):
        return _finish(spec, role, [spec], _scan(spec, hive=True), hive=True)
    if spec.startswith("file://"):
        spec = spec[len("file://") :]

    if _GLOB_CHARS.search(spec):
        files = sorted(f for f in _glob.glob(spec, recursive=True) if os.path.isfile(f))
        if not files:
            raise InputError(f"{role} {spec}: no files match this glob; check the pattern")
        hive = any("=" in part for f in files for part in Path(f).parts[:-1])
    elif os.path.isdir(spec):
        files = sorted(
            str(p)
            for p in Path(spec).rglob("*")
            if p.is_file() and not p.name.startswith((".", "_"))
        )
        if not files:
            raise InputError(f"{role} {spec}: directory holds no Parquet files")
        hive = True
    elif os.path.exists(spec):
        files = [spec]
        hive = False
    else:
        raise InputError(f"{role} {spec}: no such file or directory")

    for f in files:
        _check_magic(f, role, spec)

    if os.path.isdir(spec):
        lf = _scan(spec, hive=True)
    else:
        lf = _scan(files if len(files) > 1 else files[0], hive=hive)
    return _finish(spec, role, files, lf, hive=hive)


def _finish(spec: str, role: str, files: list[str], lf: pl.LazyFrame, *, hive: bool) -> Source:
    try:
        schema = lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{role} {spec}: cannot read the Parquet schema ({first})") from None
    if len(schema) == 0:
        raise InputError(f"{role} {spec}: the source has no columns")
    # An empty source would give confident "no drift" answers: refuse it. Parquet row counts
    # come from the footers, so this reads no data.
    try:
        rows = lf.select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{role} {spec}: cannot read the Parquet metadata ({first})") from None
    if rows == 0:
        raise InputError(
            f"{role} {spec}: has no rows (the schema is there, the data is not); "
            "check the job that wrote it"
        )
    source = Source(spec=spec, role=role, files=files, lf=lf, schema=schema, hive=hive)
    _OPENED.append(source)
    return source
