"""Event time as a key: every command reads timestamps the same way."""

from __future__ import annotations

import re
from typing import Literal, cast

import polars as pl

from mlfail.errors import UsageError
from mlfail.io import Source

DAY = "_mlfail_day"  # the day column added by root cause and the cohort pass

_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def utc_naive(ts: str, dtype: pl.DataType) -> pl.Expr:
    """The timestamp as a naive UTC datetime (time zones converted), so that days and windows
    are the same in every command."""
    col = pl.col(ts)
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us"))
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return col.cast(pl.Datetime("us"))


# Epoch integers: the unit is read from the magnitude of the largest value (|t| < 1e11 is
# seconds up to the year 5138; then milliseconds, microseconds, nanoseconds).
_EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))


EpochUnit = Literal["s", "ms", "us", "ns"]


def epoch_unit(max_abs: float) -> str:
    for bound, unit in _EPOCH_UNITS:
        if max_abs < bound:
            return unit
    return "ns"


def normalize_timestamp(source: Source, ts: str | None, flag: str = "--timestamp") -> Source:
    """``source`` with ``ts`` as a naive UTC datetime, whatever it was stored as.

    * datetimes with a time zone are converted to UTC and the zone dropped, so a naive
      reference and a zoned live log compare instants;
    * ISO-8601 strings are parsed (offsets honoured); a value that does not parse is an error
      naming it — never a silent null;
    * integers (and floats) are epoch times, unit inferred from their magnitude;
    * dates and naive datetimes are kept as they are.

    Idempotent and lazy except for one scan of the column for strings and numbers (to find
    the unit or an unparseable value).
    """
    if not ts or ts not in source.schema:
        return source
    dtype = source.schema[ts]
    where = f"{source.role} {source.spec}"
    if dtype == pl.Date or (isinstance(dtype, pl.Datetime) and dtype.time_zone is None):
        return source
    if isinstance(dtype, pl.Datetime):
        expr = pl.col(ts).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    elif dtype == pl.String:
        expr = _parse_strings(source, ts, flag, where)
    elif dtype.is_integer() or dtype.is_float():
        expr = _from_epoch(source, ts, dtype)
    else:
        raise UsageError(
            f"{flag} {ts}: column has type {dtype} in {where}; it must be a date, a datetime, "
            "an ISO-8601 string or epoch seconds/milliseconds"
        )
    return source.map_frames(lambda lf: lf.with_columns(expr.alias(ts)))


def _parse_strings(source: Source, ts: str, flag: str, where: str) -> pl.Expr:
    raw = pl.col(ts)
    first = source.lf.select(raw.drop_nulls().first()).collect().item()
    if first is None:
        return raw.str.to_datetime(strict=False)
    aware = bool(_OFFSET.search(first))
    parsed = raw.str.to_datetime(strict=False, time_zone="UTC" if aware else None)
    if aware:
        parsed = parsed.dt.replace_time_zone(None)
    bad = source.lf.select(raw.filter(raw.is_not_null() & parsed.is_null()).first()).collect()
    value = bad.item()
    if value is not None:
        raise UsageError(
            f"{flag} {ts}: cannot parse {value!r} as a date/time in {where} (the first value "
            f"{first!r} sets the format; use one ISO-8601 format throughout)"
        )
    return parsed


def _from_epoch(source: Source, ts: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(ts)
    top = source.lf.select(col.cast(pl.Float64).abs().filter(col.is_finite()).max()).collect()
    unit = epoch_unit(float(top.item() or 0.0))
    if dtype.is_float():
        scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1e-3}[unit]
        finite = pl.when(col.is_finite()).then(col * scale)
        return pl.from_epoch(finite.round(0).cast(pl.Int64), "us")
    return pl.from_epoch(col.cast(pl.Int64), cast(EpochUnit, unit))
