"""Counts keyed by each of several columns in one streaming pass per source (design §7, issue 15):
root cause's per-cohort counts, and a baseline's per-segment reference tables.

Cohort attribution needs, for every cohort column ``c`` and every counted feature ``f``, the
(c value, f bin) counts, and on the live side the rows and labelled performance per (day,
c value). Counted with one Polars query per group of columns and one per (day, column), that
was a dozen full passes per source. Here each row is read once as small integers — each
cohort value's code in Polars' global categories (renumbered 0, 1, … per column in the
order the values are met, one or two bytes a row: :class:`_Codes`), each feature's bin
(the count core's bins; a numeric one read raw and binned with numpy by
:func:`mlfail.counts.chunk_bins`), the day's offset — a million rows at a time, fewer when many
numeric features are read raw (:func:`mlfail.counts.chunk_rows`; :func:`mlfail.counts.sliced`:
memory is two chunks, whatever the rows). The columns whose
values met so far multiply to at most :data:`CUBE_CELLS` are counted together: one
``np.bincount`` per (group, feature) gives the group's cube, summed over the other columns
for each one. The tables are the ones :func:`mlfail.counts.count_frame` (keys ``[c]``) and
:func:`mlfail.performance.performance_tables` (keys ``[day, c]``, no AUC) give, summed
from the per-row measures :func:`mlfail.performance.metric_rows` defines beside
``metric_aggs``; tests compare them.

A baseline's per-segment performance (``per_value``: keys ``[c]`` and none, AUC included)
comes from the same read: the labelled rows' scores, classes and value codes are kept (a few
bytes a row) and ranked once at the end (:func:`mlfail.ranks.rank_sums`) — it was one
Polars query per segment, each reading and ranking every row again.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import polars as pl

from mlfail.binning import BinSpec
from mlfail.counts import (
    BATCH_ROWS,
    bin_cells,
    bin_read,
    cell_table,
    check_types,
    chunk_bins,
    chunk_rows,
    empty_table,
    joint_groups,
    sliced,
)
from mlfail.performance import SCORE_N, SCORE_SUM, TaskSpec, finish, metric_rows
from mlfail.ranks import rank_sums
from mlfail.timekeys import DAY

_EPOCH = dt.date(1970, 1, 1)
CUBE_CELLS = 4096  # joint values of the columns counted together in one bincount
DAY_CUBE_CELLS = 1 << 17  # (joint values × days) of one per-day bincount
_FLOAT_SUMS = {SCORE_SUM, "abs_error_sum"}  # measures that are not counts


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


class _Codes:
    """One column's codes renumbered 0, 1, … in order of first sight, the same in every chunk
    (``present[j]``: the code numbered j). A chunk's numbers (``dense``, in the narrowest
    type) come from one lookup; only a chunk with codes not seen before looks at which."""

    def __init__(self) -> None:
        self.lut: np.ndarray = np.zeros(0, dtype=np.uint8)  # code → number (top value: unseen)
        self.present = np.zeros(0, dtype=np.int64)
        self.dense = np.zeros(0, dtype=np.uint8)

    def __call__(self, code: np.ndarray) -> _Codes:
        top = int(code.max()) + 1 if len(code) else 0
        unseen = np.iinfo(self.lut.dtype).max
        if top > len(self.lut):
            grown = np.full(top - len(self.lut), unseen, dtype=self.lut.dtype)
            self.lut = np.concatenate([self.lut, grown])
        dense = np.take(self.lut, code)
        miss = dense == unseen
        if miss.any():
            seen = np.zeros(top, dtype=bool)  # the new codes, ascending, without a sort
            seen[code[miss]] = True
            new = np.flatnonzero(seen).astype(np.int64)
            k = len(self.present) + len(new)
            if k >= unseen:  # a wider type, with room for the marker of codes not seen
                wide = np.uint16 if k < (1 << 16) - 1 else np.uint32
                lut = self.lut.astype(wide)
                lut[self.lut == unseen] = np.iinfo(wide).max
                self.lut = lut
            self.lut[new] = np.arange(len(self.present), k)
            self.present = np.concatenate([self.present, new])
            dense = np.take(self.lut, code)
        self.dense = dense
        return self


def _cubes(
    dense: dict[str, _Codes], limit: int
) -> Iterator[tuple[list[str], list[int], np.ndarray]]:
    """The columns grouped so that each group's joint values present in the chunk stay under
    ``limit`` (:func:`mlfail.counts.joint_groups`): per group its columns, their dimensions
    and each row's joint code."""
    groups = joint_groups({c: max(1, len(d.present)) for c, d in dense.items()}, limit)
    for group in groups:
        dims = [max(1, len(dense[c].present)) for c in group]
        joint = dense[group[0]].dense.astype(np.int64)
        for c, k in zip(group[1:], dims[1:], strict=True):
            joint *= k
            joint += dense[c].dense
        yield group, dims, joint


def _spread(
    acc: dict[str, np.ndarray], key: str, d: _Codes, marg: np.ndarray, dtype: type = np.int64
) -> None:
    """acc[key] += ``marg`` (the chunk's present codes × …) laid out by full code."""
    full = np.zeros((int(d.present.max()) + 1 if len(d.present) else 0, *marg.shape[1:]), dtype)
    full[d.present] = marg
    _add(acc, key, full.ravel())


def _count_cubes(
    acc: dict[str, np.ndarray],
    dense: dict[str, _Codes],
    specs: Sequence[BinSpec],
    bins: list[np.ndarray],
) -> None:
    """acc[(c, i)] += the chunk's (code of c, bin of spec i) counts, for every column and spec.

    One ``bincount`` per (group of columns, spec) over the chunk's rows gives the group's
    cube (:func:`_cubes`, :func:`mlfail.counts.bin_cells`), and each column's counts are the
    cube summed over the group's other columns — exact (integers), with a few bincounts over
    the rows instead of one per (column, spec)."""
    binned = list(zip(specs, bins, strict=True))
    for group, dims, joint in _cubes(dense, CUBE_CELLS):
        for i, counts in enumerate(bin_cells(joint, math.prod(dims), binned)):
            cube = counts.reshape(*dims, specs[i].n_bins)
            for a, c in enumerate(group):
                other = tuple(x for x in range(len(group)) if x != a)
                _spread(acc, f"{c}\0{i}", dense[c], cube.sum(axis=other) if other else cube)


def _count_day_cubes(
    acc: dict[str, np.ndarray],
    dense: dict[str, _Codes],
    day: np.ndarray | None,
    span: int,
    weights: dict[str, np.ndarray],
) -> None:
    """acc[(c, rows)] and acc[(c, measure)] += the chunk's rows and measure sums per (code of
    c, day) — per code alone when ``day`` is None (``span`` 1) — the same way: one bincount
    per (group, measure), summed over the other columns — for the counts (0/1 measures:
    exact in any order). A float measure (the score's sum, the
    absolute errors') is summed per column in row order: a sum of the cube's sums would add
    in the order of the other columns' codes, which hang on what else the process has seen
    (Polars' global categories), so its last bits would too."""

    def keyed(code: np.ndarray) -> np.ndarray:
        if day is None:
            return code
        key = code.astype(np.int64)
        key *= span
        key += day
        return key

    for c, d in dense.items():
        key = keyed(d.dense)
        for m in _FLOAT_SUMS & weights.keys():
            sums = np.bincount(key, weights=weights[m], minlength=len(d.present) * span)
            _spread(acc, f"{c}\0{m}", d, sums.reshape(-1, span), np.float64)
    counted = {m: w for m, w in weights.items() if m not in _FLOAT_SUMS}
    for group, dims, joint in _cubes(dense, max(1, DAY_CUBE_CELLS // span)):
        cells = math.prod(dims) * span
        key = keyed(joint)
        cubes = {"rows": np.bincount(key, minlength=cells)}
        cubes.update({m: np.bincount(key, weights=w, minlength=cells) for m, w in counted.items()})
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


class CohortCounts(NamedTuple):
    """What one :func:`cohort_pass` gives."""

    by_col: dict[str, pl.DataFrame]  # col → (col, feature, bin, n)
    by_day: dict[str, pl.DataFrame]  # per_day: col → the (day, col) performance (or len)
    by_value: dict[str, pl.DataFrame]  # per_value: col → the (col) performance, with AUC
    overall: pl.DataFrame | None  # per_value: the same over every row


@dataclass
class _Ranked:
    """The labelled rows' scores, classes and codes, gathered chunk by chunk for the AUC."""

    cols: Sequence[str]
    score: list[np.ndarray] = field(default_factory=list)
    positive: list[np.ndarray] = field(default_factory=list)
    codes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    present: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, batch: pl.DataFrame, weights: dict[str, np.ndarray], dense: dict) -> None:
        lab = weights["labelled"] > 0
        self.score.append(batch["__score"].to_numpy()[lab])
        self.positive.append(weights["positives"][lab] > 0)
        for c in self.cols:
            self.codes.setdefault(c, []).append(dense[c].dense[lab])
            self.present[c] = dense[c].present

    def rank_pos(self) -> tuple[dict[str, np.ndarray], float]:
        """Per column, the positives' rank sum by (full) code; and over every row. The
        chunks are let go as they are joined."""
        score = np.concatenate(self.score) if self.score else np.zeros(0)
        positive = np.concatenate(self.positive) if self.positive else np.zeros(0, bool)
        self.score, self.positive = [], []
        cols = list(self.codes)

        def groupings() -> Iterator[tuple[np.ndarray, int]]:
            for c in cols:
                yield np.concatenate(self.codes.pop(c)), len(self.present[c])
            yield np.zeros(len(score), np.uint8), 1

        sums = rank_sums(score, positive, groupings())
        by_code = {}
        for c, s in zip(cols, sums, strict=False):
            codes = self.present[c]
            by_code[c] = np.zeros(int(codes.max()) + 1 if len(codes) else 0)
            by_code[c][codes] = s
        return by_code, float(sums[-1][0])


def cohort_pass(
    lf: pl.LazyFrame,
    specs: Sequence[BinSpec],
    cols: Sequence[str],
    *,
    per_day: DayPerf | None = None,
    per_value: TaskSpec | None = None,
    origin: str = "",
) -> CohortCounts:
    """(col → (col, feature, bin, n)) for every column of ``cols`` and spec of ``specs``;
    with ``per_day``, col → the (day, col) performance table (or (day, col, len) without a
    task); with ``per_value``, col → the (col) performance table, AUC included, and the
    table over every row — one streaming read of ``lf``."""
    if per_day is not None and per_value is not None:
        raise ValueError("cohort_pass: per_day or per_value, not both")
    schema = lf.collect_schema()
    check_types(schema, specs, origin)
    cols = [c for c in cols if c in schema]
    if not cols:
        return CohortCounts({}, {}, {}, None)
    # a categorical bin is a byte a row, a numeric column comes raw (eight): the chunks read
    # ahead are most of the memory, so chunk_rows shortens them when many columns come raw
    bins = [bin_read(s, schema, f"__b{i}") for i, s in enumerate(specs)]
    rows_at = chunk_rows(specs, schema, BATCH_ROWS)
    exprs = [*(_code(c, schema[c]) for c in cols), *bins]
    task = per_day.task if per_day is not None else per_value
    measures = [e.meta.output_name() for e in metric_rows(task)] if task is not None else []
    if per_day is not None:
        exprs += per_day.exprs()
    elif per_value is not None:
        exprs += metric_rows(per_value)
    ranked = _Ranked(cols) if per_value is not None and per_value.has_auc else None
    if ranked is not None and per_value is not None:
        exprs.append(pl.col(per_value.prediction).cast(pl.Float64).alias("__score"))
    acc: dict[str, np.ndarray] = {}
    total = dict.fromkeys(["rows", *measures], 0.0)
    mapper = {c: _Codes() for c in cols}
    for batch in sliced(lf.select(exprs), rows_at):
        b = [chunk_bins(batch, f"__b{i}", s) for i, s in enumerate(specs)]
        weights = {m: batch[m].to_numpy() for m in measures}
        dense = {c: mapper[c](batch[f"__c_{c}"].to_numpy()) for c in cols}
        _count_cubes(acc, dense, specs, b)
        if per_day is not None:
            day = batch["__day"].to_numpy().astype(np.int64)
            _count_day_cubes(acc, dense, day, per_day.span, weights)
        elif per_value is not None:
            _count_day_cubes(acc, dense, None, 1, weights)
            total["rows"] += batch.height
            for m, w in weights.items():
                total[m] += float(np.sum(w))
            if ranked is not None:
                ranked.add(batch, weights, dense)
    by_col = {c: _feature_table(c, schema[c], specs, acc) for c in cols}
    if per_day is not None:
        by_day = {c: _day_table(c, schema[c], per_day, acc) for c in cols}
        return CohortCounts(by_col, by_day, {}, None)
    if per_value is None:
        return CohortCounts(by_col, {}, {}, None)
    rank_pos, whole = ranked.rank_pos() if ranked is not None else ({}, 0.0)
    by_value = {c: _value_table(c, schema[c], per_value, acc, rank_pos.get(c)) for c in cols}
    return CohortCounts(by_col, {}, by_value, _overall(per_value, total, whole, ranked))


def _feature_table(
    c: str, dtype: pl.DataType, specs: Sequence[BinSpec], acc: dict[str, np.ndarray]
) -> pl.DataFrame:
    empty = np.zeros(0, dtype=np.int64)
    cells = [acc.get(f"{c}\0{i}", empty) for i in range(len(specs))]
    table = cell_table(lambda codes: _decode(codes, dtype, c), specs, cells)
    return table if table is not None else empty_table([c], pl.Schema({c: dtype}))


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
    if per_day.task is None:
        return frame.with_columns(n.alias("len"))
    return _measured(frame.with_columns(n), per_day.task, lambda m: _cells(acc, c, m, cell))


def _value_table(
    c: str,
    dtype: pl.DataType,
    task: TaskSpec,
    acc: dict[str, np.ndarray],
    rank_pos: np.ndarray | None,
) -> pl.DataFrame:
    """(c, …): the columns of :func:`mlfail.performance.performance_tables` keyed by ``c``,
    the AUC from ``rank_pos`` (the positives' rank sum by code)."""
    rows = acc.get(f"{c}\0rows", np.zeros(0, dtype=np.int64))
    cell = np.flatnonzero(rows)
    frame = pl.DataFrame([_decode(cell, dtype, c), pl.Series("rows", rows[cell], pl.UInt32)])
    ranks = None
    if rank_pos is not None:
        ranks = np.pad(rank_pos, (0, max(0, len(rows) - len(rank_pos))))[cell]
    return _measured(frame, task, lambda m: _cells(acc, c, m, cell), ranks)


def _overall(
    task: TaskSpec, total: dict[str, float], rank_pos: float, ranked: _Ranked | None
) -> pl.DataFrame:
    """The performance over every row (one row), from the chunks' sums."""
    frame = pl.DataFrame([pl.Series("rows", [int(total["rows"])], pl.UInt32)])
    ranks = np.array([rank_pos]) if ranked is not None else None
    return _measured(frame, task, lambda m: np.array([total.get(m, 0.0)]), ranks)


def _cells(acc: dict[str, np.ndarray], c: str, m: str, cell: np.ndarray) -> np.ndarray:
    """Column ``c``'s sums of measure ``m`` at ``cell`` (zero where nothing was added)."""
    v = acc.get(f"{c}\0{m}", np.zeros(0))
    top = int(cell.max()) + 1 if len(cell) else 0
    return np.pad(v, (0, max(0, top - len(v))))[cell]


def _measured(
    frame: pl.DataFrame,
    t: TaskSpec,
    total: Callable[[str], np.ndarray],
    rank_pos: np.ndarray | None = None,
) -> pl.DataFrame:
    """``frame`` (its keys and rows) with the measures of :func:`mlfail.performance.metric_aggs`
    from their sums, then :func:`mlfail.performance.finish`'s metrics."""

    def whole(m: str) -> pl.Series:
        return pl.Series(m, np.rint(total(m)).astype(np.int64), dtype=pl.Int64)

    mean = pl.Series("mean_score", [None] * frame.height, dtype=pl.Float64)
    if t.is_score or t.task == "regression":
        sn = total(SCORE_N)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = total(SCORE_SUM) / sn
        mean = pl.Series(
            "mean_score",
            [float(r) if k > 0 else None for r, k in zip(ratio, sn, strict=True)],
            dtype=pl.Float64,
        )
    frame = frame.with_columns(whole("labelled"), mean)
    if t.task == "regression":
        return finish(frame.with_columns(pl.Series("abs_error_sum", total("abs_error_sum"))), t)
    frame = frame.with_columns(whole("errors"), whole("positives"))
    if rank_pos is not None:
        frame = frame.with_columns(pl.Series("_rank_pos", rank_pos, dtype=pl.Float64))
    return finish(frame, t)
