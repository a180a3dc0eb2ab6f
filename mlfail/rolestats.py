"""Per-column statistics for role inference (:mod:`mlfail.roles`): rows, nulls, distinct
values (for floats only "none / one / two or more"), min and max of every binnable or time
column of a source, from streaming queries whose memory does not follow the rows.

A source's non-float columns get one collection of value counts
(:func:`mlfail.counts.value_counts`: exact distinct counts, and the nulls, min and max of the
columns with few values, whose tables later steps reuse); the other columns a streaming
aggregation per dozen. A float's statistics are its plain min and max (Polars' skip NaN) unless
those are not finite; then the min, max and count of its finite values.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from mlfail.config import is_binnable
from mlfail.counts import VALUE_COUNT, value_counts


@dataclass(frozen=True)
class ColumnStats:
    rows: int
    nulls: int
    distinct: int
    lo: object
    hi: object

    @property
    def non_null(self) -> int:
        return self.rows - self.nulls

    @property
    def ratio(self) -> float:
        return self.distinct / self.non_null if self.non_null else 0.0


def _stat_exprs(i: int, name: str, dtype: pl.DataType, finite: bool = False) -> list[pl.Expr]:
    """Streaming-friendly aggregates only: a ``filter`` inside an aggregation (or an
    ``n_unique``) makes the streaming engine hold the whole column, which at 5M rows cost
    seconds and gigabytes; ``when/then`` streams, and the exact distinct counts come from
    :func:`mlfail.counts.value_counts` (a null counted as a value, corrected for in
    :func:`_stats_of`). A float's are its plain min and max (Polars' skip NaN) unless
    ``finite``: the min and max of its finite values and their count, which costs twice as
    much and is only needed where the plain ones are not finite (:func:`_finite_floats`)."""
    col = pl.col(name)
    out = [col.null_count().alias(f"{i}n")]
    if dtype.is_float():
        # floats are never identifiers: only "none / one / two or more" values is needed,
        # from the finite min and max and the finite count, sparing an exact distinct count
        if not finite:
            return [*out, col.min().alias(f"{i}lo"), col.max().alias(f"{i}hi")]
        kept = pl.when(col.is_finite()).then(col)
        out += [
            col.is_finite().sum().alias(f"{i}k"),
            kept.min().alias(f"{i}lo"),
            kept.max().alias(f"{i}hi"),
        ]
        return out
    if dtype.is_numeric() or dtype == pl.String:
        out += [col.min().alias(f"{i}lo"), col.max().alias(f"{i}hi")]
    return out


def _stats_of(row: dict[str, Any], i: int) -> ColumnStats:
    nulls = int(row[f"{i}n"])
    lo, hi = row.get(f"{i}lo"), row.get(f"{i}hi")
    if f"{i}k" in row:  # a float: none / one / two or more finite values
        distinct = 2 if lo is not None and hi is not None and hi > lo else min(row[f"{i}k"], 1)
    else:  # the distinct count takes a null as one value
        distinct = int(row[f"{i}u"]) - (1 if nulls else 0)
    return ColumnStats(int(row["rows"]), nulls, int(distinct), lo, hi)


_STATS_CHUNK = 12


def collect_stats(
    frames: Sequence[pl.LazyFrame],
    values: list[dict[str, pl.DataFrame]] | None = None,
    skip: Collection[str] = (),
    unread: Sequence[Collection[str]] = (),
) -> list[dict[str, ColumnStats]]:
    """Per source, per binnable (or time) column: rows, nulls, distinct (for floats capped at
    2: "two or more"), min, max. The sources one after the other: per source, a streaming
    value-count query of the non-float columns (their exact distinct counts, and the nulls,
    min and max of those with few values: :func:`mlfail.counts.value_counts`), then a
    streaming aggregation per dozen of the other columns. Every column of both sources in one
    ``collect_all`` with ``n_unique`` held them all at once (5M rows × 50 columns: 5.7 GB
    and 16 s; this way about 0.8 GB and 6 s). ``values`` receives, per source, the value-count
    tables of the columns with few values (:func:`mlfail.counts.value_counts`), which the
    slices' probe reuses instead of counting them again. Columns in ``skip`` (their role given
    by a flag that no inference reads, such as --timestamp: a distinct count over every row)
    are not counted. ``unread[k]``, when given, names the columns of source k whose statistics
    nothing reads: their value counts are still taken (later steps reuse them), but no other
    aggregation reads them, and they have no entry in the result."""
    out = []
    for k, lf in enumerate(frames):
        ignored = unread[k] if k < len(unread) else ()
        schema = lf.collect_schema()
        names = [
            n for n, dt in schema.items() if (is_binnable(dt) or dt.is_temporal()) and n not in skip
        ]
        exact = [i for i, n in enumerate(names) if not schema[n].is_float()]
        got, tables = value_counts(lf, [names[i] for i in exact])
        if values is not None:
            values.append(tables)
        row: dict[str, Any] = {"rows": 0, **{f"{i}u": got[names[i]] for i in exact}}
        # a kept value-count table already gives the column's nulls, min and max
        known = {i for i in exact if names[i] in tables}
        for i in known:
            row.update(_table_stats(i, tables[names[i]], schema[names[i]]))
        rest = [i for i in range(len(names)) if i not in known and names[i] not in ignored]
        # a dozen columns per query: one query of every column decoded them all at once
        for at in range(0, max(len(rest), 1), _STATS_CHUNK):
            exprs = [pl.len().alias("rows")]
            for i in rest[at : at + _STATS_CHUNK]:
                exprs += _stat_exprs(i, names[i], schema[names[i]])
            row.update(lf.select(exprs).collect(engine="streaming").row(0, named=True))
        _finite_floats(lf, row, [(i, names[i]) for i in rest if schema[names[i]].is_float()])
        out.append({n: _stats_of(row, i) for i, n in enumerate(names) if n not in ignored})
    return out


def _finite_floats(lf: pl.LazyFrame, row: dict[str, Any], floats: list[tuple[int, str]]) -> None:
    """A float's plain min and max are its finite values' when both are finite, and then it
    holds at least one finite value (its finite count, read only as "none or some"); all null,
    they say it has none. A NaN (every value NaN) or ±inf among them: the finite statistics
    are taken, for those columns only."""
    again = []
    for i, name in floats:
        lo, hi = row[f"{i}lo"], row[f"{i}hi"]
        if lo is None and hi is None:
            row[f"{i}k"] = 0
        elif lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            row[f"{i}k"] = 1
        else:
            again += _stat_exprs(i, name, pl.Float64(), finite=True)
    if again:
        row.update(lf.select(again).collect(engine="streaming").row(0, named=True))


def _table_stats(i: int, table: pl.DataFrame, dtype: pl.DataType) -> dict[str, Any]:
    """What :func:`_stat_exprs` gives for a non-float column, from its value-count table."""
    col, n = table[table.columns[0]], table[VALUE_COUNT]
    out: dict[str, Any] = {f"{i}n": int(n.filter(col.is_null()).sum())}
    if dtype.is_numeric() or dtype == pl.String:
        out[f"{i}lo"], out[f"{i}hi"] = col.min(), col.max()
    return out
