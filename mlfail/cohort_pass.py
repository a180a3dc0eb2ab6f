"""Counts keyed by each of several columns in one streaming pass per source (design §7, issue 15):
root cause's per-cohort counts, and a baseline's per-segment reference tables.

Cohort attribution needs, for every cohort column ``c`` and every counted feature ``f``, the
(c value, f bin) counts, and on the live side the rows and labelled performance per (day,
c value). Counted with one Polars query per group of columns and one per (day, column), that
was a dozen full passes per source. Here each row is read once as small integers — each
cohort value's code in Polars' global categories, each feature's bin (:func:`bin_index`, the
count core's bins), the day's offset — a million rows at a time
(:func:`mlfail.counts.sliced`): memory is two chunks, whatever the rows. The columns whose
values present in a chunk multiply to at most :data:`CUBE_CELLS` are counted together: one
``np.bincount`` per (group, feature) gives the group's cube, summed over the other columns
for each one. The tables are the ones :func:`mlfail.counts.count_frame` (keys ``[c]``) and
:func:`mlfail.performance.performance_tables` (keys ``[day, c]``, no AUC) give, summed
from the per-row measures :func:`mlfail.performance.metric_rows` defines beside
``metric_aggs``; tests compare them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mlfail.binning import BinSpec
from mlfail.counts import bin_index, check_types, joint_groups, narrow, sliced
from mlfail.performance import SCORE_N, SCORE_SUM, TaskSpec, finish, metric_rows
from mlfail.timekeys import DAY

_EPOCH = dt.date(1970, 1, 1)
BATCH_ROWS = 1 << 20  # rows read and counted at a time
CUBE_CELLS = 4096  # joint values of the columns counted together in one bincount
DAY_CUBE_CELLS = 1 << 17  # (joint values × days) of one per-day bincount


def _code(name: str, dtype: pl.DataType) -> pl.Expr:
    """1 + the value's id in Polars' global categories (booleans: 1 + 0/1); 0 for null."""
    col = pl.col(name)
    if dtype == pl.Boolean:
        code = col.cast(pl.UInt32) + 1
    else:
        text = col if dtype == pl.String else col.cast(pl.String)
        code = text.cast(pl.Categorical).to_physical().cast(pl.UInt32) + 1
    return code.fill_null(0).alias(f"__c_{name}")


def _decode(codes: np.ndarray, dtype: pl.DataType, name: str) -> pl.Series:
    """The column's values for ``codes`` (0 → null), in its own dtype."""
    if dtype == pl.Boolean:
        return pl.Series(name, [None if k == 0 else bool(k - 1) for k in codes], dtype=pl.Boolean)
    words = pl.Categorical().categories.to_series()
    text = pl.Series(name, [None if k == 0 else words[int(k) - 1] for k in codes], pl.String)
    return text if dtype == pl.String else text.cast(dtype)


def _add(acc: dict[str, np.ndarray], key: str, counts: np.ndarray) -> None:
    """acc[key] += counts, padding whichever is shorter with zeros."""
    old = acc.get(key)
    if old is None:
        acc[key] = counts
        return
    if len(old) < len(counts):
        old, counts = counts, old
    old[: len(counts)] += counts
    acc[key] = old


class _Dense:
    """A chunk's codes of one column renumbered 0..k-1 over the codes present (``present``)."""

    def __init__(self, code: np.ndarray):
        self.present = np.flatnonzero(np.bincount(code))
        lut = np.zeros(int(self.present[-1]) + 1 if len(self.present) else 1, dtype=np.int64)
        lut[self.present] = np.arange(len(self.present))
        self.dense = lut[code]  # int64, whatever the codes' type


def _cubes(
    dense: dict[str, _Dense], limit: int
) -> Iterator[tuple[list[str], list[int], np.ndarray]]:
    """The columns grouped so that each group's joint values present in the chunk stay under
    ``limit`` (:func:`mlfail.counts.joint_groups`): per group its columns, their dimensions
    and each row's joint code."""
    groups = joint_groups({c: max(1, len(d.present)) for c, d in dense.items()}, limit)
    for group in groups:
        dims = [max(1, len(dense[c].present)) for c in group]
        joint = np.zeros(len(dense[group[0]].dense), dtype=np.int64)
        for c, k in zip(group, dims, strict=True):
            joint = joint * k + dense[c].dense
        yield group, dims, joint


def _spread(
    acc: dict[str, np.ndarray], key: str, d: _Dense, marg: np.ndarray, dtype: type = np.int64
) -> None:
    """acc[key] += ``marg`` (the chunk's present codes × …) laid out by full code."""
    full = np.zeros((int(d.present[-1]) + 1 if len(d.present) else 0, *marg.shape[1:]), dtype)
    full[d.present] = marg
    _add(acc, key, full.ravel())


def _count_cubes(
    acc: dict[str, np.ndarray],
    dense: dict[str, _Dense],
    specs: Sequence[BinSpec],
    bins: list[np.ndarray],
) -> None:
    """acc[(c, i)] += the chunk's (code of c, bin of spec i) counts, for every column and spec.

    One ``bincount`` per (group of columns, spec) over the chunk's rows gives the group's
    cube (:func:`_cubes`), and each column's counts are the cube summed over the group's
    other columns — exact (integers), with a few bincounts over the rows instead of one per
    (column, spec)."""
    for group, dims, joint in _cubes(dense, CUBE_CELLS):
        cells = math.prod(dims)
        for i, s in enumerate(specs):
            nb = s.n_bins
            cube = np.bincount(joint * nb + bins[i], minlength=cells * nb).reshape(*dims, nb)
            for a, c in enumerate(group):
                other = tuple(x for x in range(len(group)) if x != a)
                _spread(acc, f"{c}\0{i}", dense[c], cube.sum(axis=other) if other else cube)


def _count_day_cubes(
    acc: dict[str, np.ndarray],
    dense: dict[str, _Dense],
    day: np.ndarray,
    span: int,
    weights: dict[str, np.ndarray],
) -> None:
    """acc[(c, rows)] and acc[(c, measure)] += the chunk's rows and measure sums per (code of
    c, day), the same way: one bincount per (group, measure), summed over the other columns
    (float measures: sums of sums, equal to a direct sum up to the order of additions)."""
    for group, dims, joint in _cubes(dense, max(1, DAY_CUBE_CELLS // span)):
        cells = math.prod(dims) * span
        key = joint * span + day
        cubes = {"rows": np.bincount(key, minlength=cells)}
        cubes.update({m: np.bincount(key, weights=w, minlength=cells) for m, w in weights.items()})
        for m, flat in cubes.items():
            cube = flat.reshape(*dims, span)
            for a, c in enumerate(group):
                other = tuple(x for x in range(len(group)) if x != a)
                marg = cube.sum(axis=other) if other else cube
                _spread(acc, f"{c}\0{m}", dense[c], marg, flat.dtype.type)


@dataclass
class DayPerf:
    """What the live side also counts per (day, cohort value)."""

    day: pl.Expr
    dates: list[dt.date]
    task: TaskSpec | None
    span: int = field(init=False)
    first: int = field(init=False)

    def __post_init__(self) -> None:
        self.first = (self.dates[0] - _EPOCH).days if self.dates else 0
        self.span = ((self.dates[-1] - self.dates[0]).days + 1 if self.dates else 0) + 1

    def exprs(self) -> list[pl.Expr]:
        """The day code (0 for null) and the per-row measures of ``metric_rows``."""
        day = (self.day.cast(pl.Int32) - self.first + 1).fill_null(0).cast(pl.UInt32)
        return [day.alias("__day"), *(metric_rows(self.task) if self.task is not None else [])]

    def measures(self) -> list[str]:
        t = self.task
        return [e.meta.output_name() for e in metric_rows(t)] if t is not None else []


def cohort_pass(
    lf: pl.LazyFrame,
    specs: Sequence[BinSpec],
    cols: Sequence[str],
    *,
    per_day: DayPerf | None = None,
    origin: str = "",
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """(col → (col, feature, bin, n)) for every column of ``cols`` and spec of ``specs``, and
    with ``per_day`` (col → the (day, col) performance table, or (day, col, len) without a
    task) — one streaming read of ``lf``."""
    schema = lf.collect_schema()
    check_types(schema, specs, origin)
    cols = [c for c in cols if c in schema]
    if not cols:
        return {}, {}
    bins = [  # one byte a row for most specs: the chunk read ahead is most of the memory
        narrow(bin_index(s) if s.feature in schema else pl.lit(s.missing_index), s.n_bins).alias(
            f"__b{i}"
        )
        for i, s in enumerate(specs)
    ]
    exprs = [*(_code(c, schema[c]) for c in cols), *bins]
    measures = per_day.measures() if per_day is not None else []
    if per_day is not None:
        exprs += per_day.exprs()
    acc: dict[str, np.ndarray] = {}
    for batch in sliced(lf.select(exprs), BATCH_ROWS):
        b = [batch[f"__b{i}"].to_numpy() for i in range(len(specs))]
        day = batch["__day"].to_numpy().astype(np.int64) if per_day is not None else None
        weights = {m: batch[m].to_numpy() for m in measures}
        dense = {c: _Dense(batch[f"__c_{c}"].to_numpy()) for c in cols}
        _count_cubes(acc, dense, specs, b)
        if per_day is not None and day is not None:
            _count_day_cubes(acc, dense, day, per_day.span, weights)
    by_col = {c: _feature_table(c, schema[c], specs, acc) for c in cols}
    by_day = {} if per_day is None else {c: _day_table(c, schema[c], per_day, acc) for c in cols}
    return by_col, by_day


def _feature_table(
    c: str, dtype: pl.DataType, specs: Sequence[BinSpec], acc: dict[str, np.ndarray]
) -> pl.DataFrame:
    parts = []
    for i, s in enumerate(specs):
        counts = acc.get(f"{c}\0{i}", np.zeros(0, dtype=np.int64))
        cell = np.flatnonzero(counts)
        parts.append(
            pl.DataFrame(
                [
                    _decode(cell // s.n_bins, dtype, c),
                    pl.Series("feature", [s.feature] * len(cell), dtype=pl.String),
                    pl.Series("bin", cell % s.n_bins, dtype=pl.UInt32),
                    pl.Series("n", counts[cell], dtype=pl.UInt64),
                ]
            )
        )
    return pl.concat(parts)


def _day_table(
    c: str, dtype: pl.DataType, per_day: DayPerf, acc: dict[str, np.ndarray]
) -> pl.DataFrame:
    """(day, c, …): the rows per (day, value) — ``len`` without a task, else the columns of
    :func:`mlfail.performance.performance_tables` without the AUC."""
    rows = acc.get(f"{c}\0rows", np.zeros(0, dtype=np.int64))
    cell = np.flatnonzero(rows)
    d = cell % per_day.span
    days = [None if k == 0 else int(k) - 1 + per_day.first for k in d]
    frame = pl.DataFrame(
        [
            pl.Series(DAY, days, dtype=pl.Int32).cast(pl.Date),
            _decode(cell // per_day.span, dtype, c),
        ]
    )
    n = pl.Series("rows", rows[cell], dtype=pl.UInt32)
    t = per_day.task
    if t is None:
        return frame.with_columns(n.alias("len"))

    def total(m: str) -> np.ndarray:
        v = acc.get(f"{c}\0{m}", np.zeros(0))
        return np.pad(v, (0, max(0, len(rows) - len(v))))[cell]

    def whole(m: str) -> pl.Series:
        return pl.Series(m, np.rint(total(m)).astype(np.int64), dtype=pl.Int64)

    mean = pl.Series("mean_score", [None] * len(cell), dtype=pl.Float64)
    if t.is_score or t.task == "regression":
        sn = total(SCORE_N)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = total(SCORE_SUM) / sn
        mean = pl.Series(
            "mean_score",
            [float(r) if k > 0 else None for r, k in zip(ratio, sn, strict=True)],
            dtype=pl.Float64,
        )
    frame = frame.with_columns(n, whole("labelled"), mean)
    if t.task == "regression":
        frame = frame.with_columns(pl.Series("abs_error_sum", total("abs_error_sum")))
    else:
        frame = frame.with_columns(whole("errors"), whole("positives"))
    return finish(frame, t)
