"""Sources: Parquet files, globs, hive-partitioned directories and object-store URLs.

Everything is a :class:`polars.LazyFrame`; nothing is read until a statistic needs it.

Object-store URLs (``s3://bucket/key.parquet``, ``s3://bucket/prefix/*.parquet``, a hive prefix
``s3://bucket/live/``; also gs:// and az:// through the same Polars reader) are scanned by
Polars' native object-store support. Storage options (endpoint, region, keys…) come from
``open_source(..., storage_options=)`` or, when not given, from :func:`storage_options_scope`
(the CLI's ``--storage-option`` flags and ``[storage_options]`` config table); credentials
otherwise come from the usual ``AWS_*`` environment variables, which Polars reads itself.
A ``where`` filter (a SQL condition) is applied to the lazy scan, so Polars pushes it down:
hive partitions outside it are never listed for reading, row groups are skipped by statistics.
"""

from __future__ import annotations

import contextlib
import glob as _glob
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from mlfail.errors import InputError, MlfailWarning, UsageError

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
    where: str | None = None
    storage_options: dict[str, Any] | None = field(default=None, repr=False)
    _per_file: list[pl.LazyFrame] = field(default_factory=list, repr=False)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names())

    @property
    def remote(self) -> bool:
        """Whether the data is in object storage (every extra read is a download)."""
        return is_url(self.spec)

    def file_frames(self) -> list[pl.LazyFrame]:
        """One LazyFrame per file (with hive columns), for file-by-file counting."""
        if not self._per_file:
            if len(self.files) <= 1 or is_url(self.spec):
                self._per_file = [self.lf]
            else:
                frames = [_scan(f, hive=self.hive) for f in self.files]
                if self.where:
                    frames = [_filter(lf, self.where) for lf in frames]
                self._per_file = [lf.select(self.columns) for lf in frames]
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


def _scan(
    path: str | list[str], *, hive: bool, storage_options: dict[str, Any] | None = None
) -> pl.LazyFrame:
    return pl.scan_parquet(
        path, hive_partitioning=hive, missing_columns="insert", storage_options=storage_options
    )


def is_url(spec: str) -> bool:
    """An object-store (or other remote) URL, not a local path; ``file://`` is local."""
    return bool(_URL.match(spec)) and not spec.startswith("file://")


# ---- storage options ---------------------------------------------------------------------

_STORAGE_OPTIONS: ContextVar[dict[str, Any] | None] = ContextVar(
    "mlfail_storage_options", default=None
)

# Options Polars itself interprets (not object_store's): it wants numbers, flags give strings.
_NUMERIC_OPTIONS = frozenset(
    {
        "file_cache_ttl",
        "max_retries",
        "retry_timeout_ms",
        "retry_init_backoff_ms",
        "retry_max_backoff_ms",
        "retry_base_multiplier",
    }
)
# Keys whose values are never echoed (errors, reports): anything that looks like a credential.
_SECRET_KEY = re.compile(r"secret|token|password|key|credential|sas|signature", re.IGNORECASE)
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")


def parse_storage_options(
    pairs: Iterable[str] | Mapping[str, object] | None, *, flag: str = "--storage-option"
) -> dict[str, Any]:
    """``["KEY=VALUE", …]`` (or a mapping, as in a config table) → storage options for Polars.

    Keys are lower-cased (object_store's keys are case-insensitive); later pairs win. Polars'
    own numeric options (``max_retries``, ``retry_timeout_ms``…) are converted to numbers.
    """
    items: list[tuple[str, object]]
    if pairs is None:
        items = []
    elif isinstance(pairs, Mapping):
        items = list(pairs.items())
    else:
        items = []
        for pair in pairs:
            key, sep, value = str(pair).partition("=")
            if not sep or not key.strip():
                # never echo the text: it may be a secret pasted without its key
                raise UsageError(
                    f"{flag}: expected KEY=VALUE ({'no =' if not sep else 'empty KEY'}), "
                    "e.g. aws_endpoint_url=http://127.0.0.1:9000"
                )
            items.append((key, value))
    out: dict[str, Any] = {}
    for raw_key, raw_value in items:
        k = str(raw_key).strip().lower()
        v: Any = raw_value
        if isinstance(v, bool):
            v = "true" if v else "false"
        if k in _NUMERIC_OPTIONS:
            try:
                v = float(v) if k == "retry_base_multiplier" else int(str(v))
            except ValueError:
                raise UsageError(f"{flag} {k}={raw_value}: {k} must be a number") from None
        elif not isinstance(v, str):
            v = str(v)
        out[k] = v
    return out


@contextlib.contextmanager
def storage_options_scope(options: Mapping[str, Any] | None) -> Iterator[None]:
    """Use ``options`` for every source opened inside the block (unless given explicitly)."""
    token = _STORAGE_OPTIONS.set(dict(options) if options else None)
    try:
        yield
    finally:
        _STORAGE_OPTIONS.reset(token)


def set_storage_options(options: Mapping[str, Any] | None) -> None:
    """Set the storage options for the current context (the CLI runs each command in a copied
    context, so this never leaks from one command to the next)."""
    _STORAGE_OPTIONS.set(dict(options) if options else None)


def current_storage_options() -> dict[str, Any] | None:
    opts = _STORAGE_OPTIONS.get()
    return dict(opts) if opts else None


def redact(message: str, options: Mapping[str, Any] | None = None) -> str:
    """``message`` with every credential value (from ``options`` or the AWS environment)
    replaced by ``***``."""
    secrets = [str(v) for k, v in (options or {}).items() if _SECRET_KEY.search(k)]
    secrets += [os.environ[e] for e in _SECRET_ENV if os.environ.get(e)]
    for value in sorted(set(secrets), key=len, reverse=True):
        if len(value) >= 4:
            message = message.replace(value, "***")
    return message


def _endpoint(options: Mapping[str, Any] | None) -> str | None:
    for k in ("aws_endpoint_url", "aws_endpoint", "endpoint_url", "endpoint"):
        if options and options.get(k):
            return str(options[k])
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _endpoint_hint(options: Mapping[str, Any] | None) -> str:
    ep = _endpoint(options)
    shown = re.sub(r"//[^/@]*@", "//", ep) if ep else "the default AWS endpoint"
    return shown


def cloud_error(role: str, url: str, exc: BaseException, options: Mapping[str, Any] | None) -> str:
    """One line for an object-store failure: what went wrong and what to check."""
    text = str(exc)
    low = text.lower()
    bucket = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", url).split("/", 1)[0]
    cred_help = (
        "check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or "
        "--storage-option aws_access_key_id=… aws_secret_access_key=…)"
    )
    if "nosuchbucket" in low or "no_such_bucket" in low or "bucket does not exist" in low:
        return (
            f"{role} {url}: bucket {bucket!r} does not exist at {_endpoint_hint(options)}; "
            "check the bucket name, the endpoint and the region"
        )
    if any(
        m in low
        for m in (
            "invalidaccesskeyid",
            "signaturedoesnotmatch",
            "accessdenied",
            "access denied",
            "access_denied",
            "403 forbidden",
            "invalidtoken",
            "expiredtoken",
        )
    ):
        code = re.search(
            r"(InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|InvalidToken|ExpiredToken)",
            text,
        )
        why = f" ({code.group(1)})" if code else ""
        return f"{role} {url}: access denied by the object store{why}; {cred_help}"
    if (
        "latest/api/token" in low
        or "169.254.169.254" in low
        or "did not receive any credentials" in low
        or "no credentials" in low
        or "unable to locate credentials" in low
    ):
        return f"{role} {url}: no credentials found for the object store; {cred_help}"
    if any(
        m in low
        for m in (
            "nosuchkey",
            "no_such_key",
            "not found",
            "expanded paths were empty",
            "no such file",
        )
    ):
        return (
            f"{role} {url}: no Parquet files at this key or prefix; check the path (a prefix of "
            "hive partitions ends with '/', a glob like prefix/*.parquet must match objects)"
        )
    if any(
        m in low
        for m in (
            "connection refused",
            "error sending request",
            "tcp connect",
            "dns error",
            "failed to lookup address",
            "timed out",
            "network_connection",
            "connection reset",
        )
    ):
        return (
            f"{role} {url}: cannot reach the object store at {_endpoint_hint(options)}; check "
            "--storage-option aws_endpoint_url / AWS_ENDPOINT_URL (http:// endpoints also need "
            "aws_allow_http=true) and the network"
        )
    first = (text.strip().splitlines() or [type(exc).__name__])[0]
    return f"{role} {url}: cannot read from the object store ({redact(first, options)})"


# ---- the --where filter ------------------------------------------------------------------


def _filter(lf: pl.LazyFrame, where: str) -> pl.LazyFrame:
    """``lf`` restricted to the rows where the SQL condition ``where`` holds.

    Polars' SQL engine types a string literal compared with a date/datetime column as that
    type (``day >= '2026-09-19'``), which :func:`polars.sql_expr` alone does not; the result
    is a plain lazy filter on the scan, so it is pushed down like any other predicate.
    """
    ctx = pl.SQLContext(frames={"__mlfail_source": lf})
    return ctx.execute(f"SELECT * FROM __mlfail_source WHERE {where}", eager=False)


def apply_where(
    lf: pl.LazyFrame, where: str, *, role: str, spec: str, schema: pl.Schema | None = None
) -> pl.LazyFrame:
    """Validate ``--where`` (one boolean SQL expression over the source's columns) and apply
    it; anything wrong is one :class:`UsageError` line naming --where."""
    expr = where.strip()
    schema = schema if schema is not None else lf.collect_schema()
    names = schema.names()
    if not expr:
        raise UsageError("--where: empty condition; e.g. --where \"day >= '2026-09-19'\"")
    try:
        pl.sql_expr(expr)  # exactly one expression: no LIMIT/ORDER BY/second statement
        # evaluated once on an empty frame of the same schema: type errors (a string column
        # compared with a number) surface here, as a --where error, without reading any data
        out_schema = _filter(pl.DataFrame(schema=schema).lazy(), expr).collect().schema
        out = _filter(lf, expr)
    except pl.exceptions.ColumnNotFoundError as exc:
        m = re.search(r'unable to find column "([^"]+)"', str(exc))
        col = m.group(1) if m else "?"
        raise UsageError(
            f"--where {expr}: no column {col!r} in {role} {spec}; available: {_preview(names)}"
        ) from None
    except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(
            f"--where {expr}: not a valid SQL condition on {role} ({first}); "
            "e.g. --where \"day >= '2026-09-19' AND geo = 'BR'\""
        ) from None
    if out_schema.names() != names:
        raise UsageError(f"--where {expr}: must be a condition, not a query")
    return out


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


def open_source(
    spec: str,
    *,
    role: str = "--live",
    storage_options: Mapping[str, Any] | None = None,
    where: str | None = None,
) -> Source:
    """Resolve ``spec`` (file, glob, directory or URL) into a :class:`Source`.

    ``role`` is the flag the path came from; it is named in every error message.
    ``storage_options`` apply to URLs (default: the current :func:`storage_options_scope`);
    ``where`` is a SQL condition kept on the lazy scan (``--where``).
    """
    spec = str(spec)
    if is_url(spec):
        opts = dict(storage_options) if storage_options else current_storage_options()
        return _open_url(spec, role, opts, where)
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
    if hive:
        hive = _hive_keys_usable(spec, role, files)

    if os.path.isdir(spec) and hive:
        lf = _scan(spec, hive=True)
    else:
        lf = _scan(files if len(files) > 1 else files[0], hive=hive)
    return _finish(spec, role, files, lf, hive=hive, where=where)


def _hive_keys_usable(spec: str, role: str, files: list[str]) -> bool:
    """Whether to read ``key=value`` directories as columns. When a partition key is also a
    column inside the files, Polars would silently replace the files' values with the
    directory's: the files' own column is the record, so the directories are ignored (with a
    warning) when every key is in the files; a partial overlap is an error."""
    base = Path(spec) if os.path.isdir(spec) else None
    keys: set[str] = set()
    for f in files:
        parts = Path(f).relative_to(base).parts[:-1] if base else Path(f).parts[:-1]
        keys.update(p.split("=", 1)[0] for p in parts if "=" in p)
    if not keys:
        return os.path.isdir(spec)
    try:
        inside = set(pl.read_parquet_schema(files[0]))
    except (pl.exceptions.PolarsError, OSError):
        return True  # _finish reports an unreadable file
    both = sorted(keys & inside)
    if not both:
        return True
    if keys <= inside:
        warnings.warn(
            f"{role} {spec}: the partition key(s) {', '.join(both)} are also columns inside "
            "the files; using the files' values and ignoring the directory names",
            MlfailWarning,
            stacklevel=3,
        )
        return False
    raise InputError(
        f"{role} {spec}: the partition key(s) {', '.join(both)} are also columns inside the "
        "files, while other keys are not; rename the column or the partition directories"
    )


def _open_url(spec: str, role: str, options: dict[str, Any] | None, where: str | None) -> Source:
    """An object-store URL: one object, a glob, or a prefix of (hive-partitioned) objects.

    A URL ending in '/' or whose last segment has no extension is a prefix; hive columns
    (``day=2026-09-19/``) are read from prefixes and globs, never from a single object.
    """
    path = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", spec)
    if "/" not in path.rstrip("/") and not _GLOB_CHARS.search(path):
        target, hive = spec.rstrip("/") + "/", True  # a whole bucket
    elif _GLOB_CHARS.search(path):
        target, hive = spec, True
    elif spec.endswith("/") or "." not in path.rsplit("/", 1)[-1]:
        target, hive = spec.rstrip("/") + "/", True
    else:
        target, hive = spec, False
    try:
        lf = _scan(target, hive=hive, storage_options=options)
        schema = lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(cloud_error(role, spec, exc, options)) from None
    return _finish(
        spec, role, [target], lf, hive=hive, where=where, storage_options=options, schema=schema
    )


def _finish(
    spec: str,
    role: str,
    files: list[str],
    lf: pl.LazyFrame,
    *,
    hive: bool,
    where: str | None = None,
    storage_options: dict[str, Any] | None = None,
    schema: pl.Schema | None = None,
) -> Source:
    if schema is None:
        try:
            schema = lf.collect_schema()
        except (pl.exceptions.PolarsError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{role} {spec}: cannot read the Parquet schema ({first})") from None
    if len(schema) == 0:
        raise InputError(f"{role} {spec}: the source has no columns")
    if where is not None:
        lf = apply_where(lf, where, role=role, spec=spec, schema=schema)
    # An empty source would give confident "no drift" answers: refuse it. Parquet row counts
    # come from the footers, so without --where this reads no data.
    try:
        rows = lf.select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        if is_url(spec):
            raise InputError(cloud_error(role, spec, exc, storage_options)) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{role} {spec}: cannot read the Parquet metadata ({first})") from None
    if rows == 0:
        raise InputError(
            f"{role} {spec}: has no rows"
            + (f" where {where}" if where else " (the schema is there, the data is not)")
            + ("; check the --where filter" if where else "; check the job that wrote it")
        )
    source = Source(
        spec=spec,
        role=role,
        files=files,
        lf=lf,
        schema=schema,
        hive=hive,
        where=where,
        storage_options=storage_options,
    )
    _OPENED.append(source)
    return source


# ---- other files that may live in object storage (baseline JSON, metrics) ----------------


def read_url_bytes(url: str, *, flag: str) -> bytes:
    """The bytes of one ``s3://bucket/key`` object (e.g. ``--baseline s3://…/baseline.json``)
    through pyarrow's S3 filesystem, with the same storage options and AWS environment as the
    Parquet sources. Problems are one :class:`InputError` line."""
    import pyarrow.fs as pafs

    options = current_storage_options() or {}
    m = re.match(r"^(s3|s3a)://([^/]+)/(.+)$", url)
    if not m:
        raise InputError(
            f"{flag} {url}: only s3://bucket/key URLs (or local paths) are read for this flag"
        )

    def opt(*keys: str) -> str | None:
        for k in keys:
            if options.get(k) not in (None, ""):
                return str(options[k])
        return None

    endpoint = _endpoint(options)
    kwargs: dict[str, Any] = {}
    if endpoint:
        scheme, _, rest = endpoint.partition("://")
        kwargs["endpoint_override"] = rest or endpoint
        if rest:
            kwargs["scheme"] = scheme
    region = opt("aws_region", "region", "aws_default_region", "default_region")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    access = opt("aws_access_key_id", "access_key_id")
    secret = opt("aws_secret_access_key", "secret_access_key")
    if access and secret:
        kwargs["access_key"], kwargs["secret_key"] = access, secret
        token = opt("aws_session_token", "session_token", "aws_token", "token")
        if token:
            kwargs["session_token"] = token
    retries = options.get("max_retries")
    if isinstance(retries, int):
        kwargs["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=retries + 1)
    try:
        fs = pafs.S3FileSystem(**kwargs)
        with fs.open_input_stream(f"{m.group(2)}/{m.group(3)}") as fh:
            data: bytes = fh.read()
    except (OSError, ValueError) as exc:
        raise InputError(cloud_error(flag, url, exc, options)) from None
    return data
