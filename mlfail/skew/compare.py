"""Per-feature comparison of joined rows: mismatch counts as aggregations over the joined
lazy frame (streaming engine), segment breakdowns, and the bounded sample of mismatched rows
the patterns are read from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from mlfail.errors import InputError, UsageError
from mlfail.io import Source
from mlfail.skew.join import first_per_id, keyed
from mlfail.skew.model import SkewSettings

LEN = "__mlfail_len"


@dataclass(frozen=True)
class Column:
    """One compared feature: its name, kind, and the aliases of its two sides."""

    feature: str
    kind: str  # numeric | categorical | other
    serving_dtype: pl.DataType
    offline_dtype: pl.DataType
    s: str  # alias of the served value in the joined frame
    o: str  # alias of the offline value


def _kind(a: pl.DataType, b: pl.DataType) -> str:
    if a.is_numeric() and b.is_numeric():
        return "numeric"
    if all(isinstance(d, pl.String | pl.Categorical | pl.Enum | pl.Boolean) for d in (a, b)):
        return "categorical"
    if a == b and not a.is_nested():
        return "other"
    return "categorical"  # differing non-numeric dtypes: compared as text


def resolve_columns(
    serving: Source,
    offline: Source,
    ids: Sequence[str],
    *,
    features: Sequence[str] | None,
    exclude: Sequence[str],
    segments: Sequence[str],
) -> list[Column]:
    """The compared features: the columns both sides share, less ids, segment columns and
    excluded columns (or exactly ``features``)."""
    for col in segments:
        if col not in serving.schema and col not in offline.schema:
            raise InputError(f"--segment {col}: no such column on {serving.role} or {offline.role}")
    taken = set(ids) | set(segments) | set(exclude)
    if features:
        for f in features:
            for src in (serving, offline):
                src.require([f], "--features")
        names = [f for f in features if f not in taken]
    else:
        have = set(offline.columns)
        names = [c for c in serving.columns if c in have and c not in taken]
    if not names:
        raise InputError(
            f"no common feature columns: {serving.role} and {offline.role} share no column "
            f"besides the ids/segments/excluded ({', '.join(sorted(taken)) or 'none'}); "
            f"{serving.role} has {_preview(serving.columns)}, {offline.role} has "
            f"{_preview(offline.columns)}"
        )
    return [
        Column(
            f,
            _kind(serving.schema[f], offline.schema[f]),
            serving.schema[f],
            offline.schema[f],
            f"__s{i}",
            f"__o{i}",
        )
        for i, f in enumerate(names)
    ]


def _preview(cols: Sequence[str], n: int = 8) -> str:
    shown = ", ".join(cols[:n])
    return shown + (f", … ({len(cols)} columns)" if len(cols) > n else "")


def check_settings(s: SkewSettings) -> None:
    if s.rtol < 0 or s.atol < 0:
        raise UsageError("--rtol/--atol: tolerances must be ≥ 0")
    if not 0 <= s.max_mismatch <= 1:
        raise UsageError("--max-mismatch: a rate between 0 and 1, e.g. 0.001")
    if s.duplicates not in ("first", "all"):
        raise UsageError("duplicates: 'first' or 'all'")


def _nulls(c: Column) -> tuple[pl.Expr, pl.Expr]:
    a, b = pl.col(c.s), pl.col(c.o)
    if c.kind == "numeric":
        a, b = a.cast(pl.Float64), b.cast(pl.Float64)
        return a.is_null() | a.is_nan().fill_null(True), b.is_null() | b.is_nan().fill_null(True)
    return a.is_null(), b.is_null()


def mismatch_expr(c: Column, s: SkewSettings) -> pl.Expr:
    """True where the two sides differ: one null, or values not equal within tolerance
    (``|a − b| ≤ atol + rtol·|b|``, b = offline). Null (or NaN) on both sides is equal."""
    an, bn = _nulls(c)
    a, b = pl.col(c.s), pl.col(c.o)
    if c.kind == "numeric":
        a, b = a.cast(pl.Float64), b.cast(pl.Float64)
        differ = ~((a == b) | ((a - b).abs() <= s.atol + s.rtol * b.abs()))
    elif c.kind == "categorical":
        differ = a.cast(pl.String) != b.cast(pl.String)
    else:
        differ = a != b
    return (an != bn) | (~an & ~bn & differ.fill_null(True))


def joined_frame(
    serving: Source,
    offline: Source,
    casts: dict[str, pl.DataType],
    cols: Sequence[Column],
    segments: Sequence[str],
    *,
    dedupe_serving: pl.DataFrame | None,
    dedupe_offline: pl.DataFrame | None,
) -> pl.LazyFrame:
    """Served and offline values of ``cols`` side by side, one row per matched id (or per
    pair with duplicates="all"), plus the segment columns."""
    ids = list(casts)
    seg_s = [c for c in segments if c in serving.schema]
    seg_o = [c for c in segments if c not in serving.schema]
    s = keyed(serving, casts).select(*ids, *seg_s, *[pl.col(c.feature).alias(c.s) for c in cols])
    o = keyed(offline, casts).select(*ids, *seg_o, *[pl.col(c.feature).alias(c.o) for c in cols])
    s = first_per_id(s, ids, dedupe_serving)
    o = first_per_id(o, ids, dedupe_offline)
    return s.join(o, on=ids, how="inner")


def count_batch(
    joined: pl.LazyFrame, cols: Sequence[Column], segments: Sequence[str], s: SkewSettings
) -> pl.DataFrame:
    """Per combination of segment values: rows, and per feature the mismatches and the
    one-sided nulls — one streaming aggregation (sum over the groups gives the totals)."""
    aggs = [pl.len().alias(LEN)]
    for c in cols:
        an, bn = _nulls(c)
        aggs += [
            mismatch_expr(c, s).sum().alias(f"{c.s}_m"),
            (an & ~bn).sum().alias(f"{c.s}_sn"),
            (~an & bn).sum().alias(f"{c.s}_on"),
        ]
        if c.kind == "numeric":
            b = pl.col(c.o).cast(pl.Float64).fill_nan(None)
            aggs += [b.min().alias(f"{c.s}_lo"), b.max().alias(f"{c.s}_hi")]
    q = joined.group_by(list(segments)).agg(aggs) if segments else joined.select(aggs)
    return q.collect(engine="streaming")


def sample_mismatches(
    joined: pl.LazyFrame,
    cols: Sequence[Column],
    ids: Sequence[str],
    segments: Sequence[str],
    s: SkewSettings,
) -> pl.DataFrame:
    """Up to ``sample_rows`` joined rows where any of ``cols`` mismatches (the first ones
    in join order), with ids, segments and both sides of ``cols``."""
    cond = pl.any_horizontal([mismatch_expr(c, s) for c in cols])
    keep = [*ids, *segments, *[x for c in cols for x in (c.s, c.o)]]
    q = joined.filter(cond).select(keep).head(s.sample_rows)
    return q.collect(engine="streaming")
