"""The live count table shared by triage's step 5 (PSI audit) and step 6 (root cause).

Step 5 counted every feature of live keyed by slice membership, and root cause counted every
feature of live again keyed by day: two full passes for the same counts with different keys.
Here one pass counts them keyed by ``(day, in_slice)`` and both steps read views of it by
coarsening or filtering keys (design §1: every view is a count table):

* step 5, all rows: ``coarsen(table, [])``;
* step 5, the chosen slice: ``table.filter(in_slice)`` (``dense`` sums over the day key);
* root cause, per day: ``coarsen(table, [DAY])`` on its feature set.

Counts are integers, so every view equals the table its own pass would have produced (the
values downstream are bit-identical). Without a usable timestamp the day key is left out and
root cause counts on its own, as before.

When the timeline already counted every feature per daily window (``--window 1d``, the
default: :class:`mlfail.report.timeline_model.DailyCounts`), that table *is* the per-day table,
and only the chosen slice's rows are counted again (:func:`from_timeline`: one pass that
reads the predicate's columns for every row and the others only where it holds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from mlfail.binning import BinSpec
from mlfail.config import Roles
from mlfail.counts import count_source
from mlfail.errors import UsageError
from mlfail.io import Source
from mlfail.reference import coarsen
from mlfail.report.timeline_model import DailyCounts
from mlfail.rootcause.common import DAY, _day_expr
from mlfail.timeline_passes import WIDX

IN_SLICE = "_mlfail_in_slice"


@dataclass
class WalkCounts:
    """Live counts of ``specs`` keyed by day (when there is a timestamp) and slice membership
    (when a slice is chosen)."""

    table: pl.DataFrame
    by_day: bool
    by_slice: bool
    inside_table: pl.DataFrame | None = None  # the chosen slice's rows, counted on their own

    def overall(self) -> pl.DataFrame:
        return coarsen(self.table, []) if (self.by_day or self.by_slice) else self.table

    def inside(self) -> pl.DataFrame:
        if self.inside_table is not None:
            return self.inside_table
        assert self.by_slice
        return self.table.filter(pl.col(IN_SLICE))

    def per_day(self, features: Sequence[str]) -> pl.DataFrame | None:
        """Root cause's ``(day, feature, bin)`` table, or None when not keyed by day."""
        if not self.by_day:
            return None
        wanted = set(features)
        return coarsen(self.table.filter(pl.col("feature").is_in(wanted)), [DAY])


def day_key(live: Source, roles: Roles) -> pl.Expr | None:
    """Root cause's day expression, or None when root cause will not count by day (it then
    reports the problem itself)."""
    if not roles.timestamp or roles.timestamp not in live.columns:
        return None
    try:
        return _day_expr(live.schema, roles.timestamp)
    except UsageError:
        return None


def count_walk(
    live: Source,
    specs: Sequence[BinSpec],
    roles: Roles,
    mask: pl.Expr | None = None,
    *,
    progress: bool | None = None,
) -> WalkCounts:
    """One pass over live: every feature of ``specs`` by (day, in_slice)."""
    day = day_key(live, roles)
    keys: list[pl.Expr] = []
    if day is not None:
        keys.append(day)
    if mask is not None:
        keys.append(mask.fill_null(False).alias(IN_SLICE))
    table = count_source(live, specs, keys, progress=progress)
    return WalkCounts(table, by_day=day is not None, by_slice=mask is not None)


def from_timeline(
    daily: DailyCounts | None,
    live: Source,
    specs: Sequence[BinSpec],
    roles: Roles,
    mask: pl.Expr | None = None,
    *,
    progress: bool | None = None,
) -> WalkCounts | None:
    """The walk's counts from the timeline's daily table (its window index → root cause's day:
    both are the naive timestamp's date), plus one pass over the chosen slice's rows; None when
    the timeline's table cannot stand in (other windows, a feature it did not count)."""
    if daily is None or day_key(live, roles) is None:
        return None
    dtype = live.schema[roles.timestamp or ""]
    if not (dtype == pl.Date or (isinstance(dtype, pl.Datetime) and dtype.time_zone is None)):
        return None
    wanted = [s.feature for s in specs]
    if not set(wanted) <= set(daily.features):
        return None
    epoch_day = (daily.first_day - dt.date(1970, 1, 1)).days
    day = (pl.col(WIDX) + epoch_day).cast(pl.Int32).cast(pl.Date).alias(DAY)
    table = daily.table.filter(pl.col("feature").is_in(wanted)).select(day, "feature", "bin", "n")
    inside = None
    if mask is not None:
        keep = mask.fill_null(False)
        rows = live.map_frames(lambda lf: lf.filter(keep))
        inside = count_source(rows, specs, [], progress=progress)
    return WalkCounts(table, by_day=True, by_slice=False, inside_table=inside)
