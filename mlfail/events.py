"""The event files users bring (design §8): change events and monitoring metrics.

* changes (CSV, JSON or Parquet): ``id, ts, kind, component, description`` — kind is one of
  deploy, schema_migration, library_upgrade, firmware, policy, data_source, config, external
  (free text is accepted and kept).
* metrics (Parquet or CSV): ``ts, layer, metric, value`` (+ optional ``segment``) with layer in
  infra | pipeline | model | business.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from mlfail.errors import InputError
from mlfail.io import cloud_error, current_storage_options, is_url
from mlfail.owners import LAYERS

CHANGE_KINDS = (
    "deploy",
    "schema_migration",
    "library_upgrade",
    "firmware",
    "policy",
    "data_source",
    "config",
    "external",
)
CHANGE_COLUMNS = ("id", "ts", "kind", "component", "description")
METRIC_COLUMNS = ("ts", "layer", "metric", "value")


def _read_table(path: str | Path, flag: str, allowed: tuple[str, ...]) -> pl.DataFrame:
    if is_url(str(path)):
        return _read_url_table(str(path), flag, allowed)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{flag} {p}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet" and "parquet" in allowed:
            return pl.read_parquet(p)
        if suffix == ".csv" and "csv" in allowed:
            return pl.read_csv(p, try_parse_dates=False, infer_schema_length=10_000)
        if suffix in (".json", ".jsonl", ".ndjson") and "json" in allowed:
            text = p.read_text(encoding="utf-8").lstrip()
            return pl.read_json(p) if text.startswith("[") else pl.read_ndjson(p)
    except (pl.exceptions.PolarsError, OSError, ValueError, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{flag} {p}: cannot read as {suffix[1:].upper()} ({first})") from None
    raise InputError(
        f"{flag} {p}: unsupported file type {suffix or '(none)'}; use "
        + ", ".join(f".{a}" for a in allowed)
    )


def _read_url_table(url: str, flag: str, allowed: tuple[str, ...]) -> pl.DataFrame:
    """A Parquet table in object storage (``--metrics s3://…/metrics.parquet``), read by
    Polars with the current storage options."""
    if "parquet" not in allowed or not url.lower().endswith(".parquet"):
        raise InputError(
            f"{flag} {url}: only Parquet (.parquet) is read from object storage for this flag; "
            "copy the file locally"
        )
    opts = current_storage_options()
    try:
        return pl.read_parquet(url, storage_options=opts)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(cloud_error(flag, url, exc, opts)) from None


def _require(df: pl.DataFrame, cols: tuple[str, ...], flag: str, path: str | Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(
            f"{flag} {path}: missing column(s) {', '.join(missing)}; expected {', '.join(cols)}"
        )


def _parse_ts(df: pl.DataFrame, flag: str, path: str | Path) -> pl.DataFrame:
    ts = df["ts"]
    if ts.dtype == pl.Date:
        out = ts.cast(pl.Datetime("us"))
    elif isinstance(ts.dtype, pl.Datetime):
        out = ts.dt.replace_time_zone(None).cast(pl.Datetime("us"))
    else:
        values: list[dt.datetime | None] = []
        for raw in ts.cast(pl.String).to_list():
            if raw is None:
                values.append(None)
                continue
            try:
                v = dt.datetime.fromisoformat(raw.strip())
            except ValueError:
                raise InputError(
                    f"{flag} {path}: column ts: cannot parse {raw!r} as a date/time "
                    "(use ISO 8601, e.g. 2026-09-19 or 2026-09-19T14:00:00)"
                ) from None
            if v.tzinfo is not None:
                v = v.astimezone(dt.UTC).replace(tzinfo=None)
            values.append(v)
        out = pl.Series("ts", values, dtype=pl.Datetime("us"))
    return df.with_columns(out.alias("ts"))


def load_changes(path: str | Path) -> pl.DataFrame:
    """Change events sorted by time: id (str), ts (datetime), kind, component, description."""
    df = _read_table(path, "--changes", ("csv", "json", "parquet"))
    _require(df, ("id", "ts", "kind"), "--changes", path)
    for c in ("component", "description"):
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    df = _parse_ts(df, "--changes", path)
    df = df.with_columns(
        pl.col("id").cast(pl.String),
        pl.col("kind").cast(pl.String).str.strip_chars().str.to_lowercase(),
        pl.col("component").cast(pl.String),
        pl.col("description").cast(pl.String),
    )
    dup = df.filter(pl.col("id").is_duplicated())["id"]
    if dup.len():
        raise InputError(f"--changes {path}: duplicate event id {dup[0]!r}")
    return df.select(*CHANGE_COLUMNS, *[c for c in df.columns if c not in CHANGE_COLUMNS]).sort(
        "ts"
    )


def load_metrics(path: str | Path) -> pl.DataFrame:
    """Monitoring series: ts (datetime), layer, metric, value (float), segment (str or null)."""
    df = _read_table(path, "--metrics", ("csv", "parquet"))
    _require(df, METRIC_COLUMNS, "--metrics", path)
    df = _parse_ts(df, "--metrics", path)
    layers = df["layer"].cast(pl.String).str.to_lowercase()
    bad = layers.filter(~layers.is_in(list(LAYERS)))
    if bad.len():
        raise InputError(
            f"--metrics {path}: unknown layer {bad[0]!r}; use one of {', '.join(LAYERS)}"
        )
    value = df["value"].cast(pl.Float64, strict=False)
    if (value.is_null() & df["value"].is_not_null()).any():
        raise InputError(f"--metrics {path}: column value must be numeric")
    if "segment" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.String).alias("segment"))
    return (
        df.with_columns(
            layers.alias("layer"),
            value.alias("value"),
            pl.col("metric").cast(pl.String),
            pl.col("segment").cast(pl.String),
        )
        .select("ts", "layer", "metric", "value", "segment")
        .sort("ts")
    )
