"""Bin specs (design §2): frozen from the reference, never re-derived from live data.

* Numeric: inner edges are the reference quantiles at k/B (k = 1..B-1) with **linear**
  interpolation over the finite, non-missing values, deduplicated; the outer edges are -inf and
  +inf; bins are right-closed ``(a, b]``. NaN and null go to the missing bin; ±inf fall in the
  outer bins.
* Categorical (string, categorical, boolean, and integer columns with at most
  ``max_int_categories`` distinct reference values): one bin per reference category (compared
  as strings); categories under ``fold_below`` of the reference, and any past
  ``max_categories``, are folded into ``__other__``; live values never seen in the reference go
  to ``__unseen__``; null to the missing bin.

Bin order (and so bin index) is: numeric — the B' value bins from low to high, then missing;
categorical — the kept categories by reference frequency, ``__other__`` (when anything was
folded), ``__unseen__``, missing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mlfail.binspec import MISSING as MISSING  # re-exported: binning is the public path
from mlfail.binspec import OTHER as OTHER
from mlfail.binspec import SPEC_VERSION as SPEC_VERSION
from mlfail.binspec import UNSEEN as UNSEEN
from mlfail.binspec import BinSpec as BinSpec
from mlfail.binspec import Kind as Kind
from mlfail.counts import VALUE, VALUE_COUNT, _categorical_table, collect_each, count_frame
from mlfail.errors import UsageError
from mlfail.featureprofile import profile_column, profile_values
from mlfail.featurestats import FeatureStats
from mlfail.quantiles import Ordered, Span
from mlfail.quantiles import exact_quantiles as exact_quantiles  # re-exported: the public path


@dataclass(frozen=True)
class BinSettings:
    bins: int = 10
    fold_below: float = 0.005
    max_categories: int = 200
    max_int_categories: int = 20

    def __post_init__(self) -> None:
        if self.bins < 2:
            raise UsageError(f"--bins must be at least 2 (got {self.bins})")
        if not 0 <= self.fold_below < 1:
            raise UsageError(f"fold threshold must be in [0, 1) (got {self.fold_below})")


def infer_kind(dtype: pl.DataType, n_unique: int | None, settings: BinSettings) -> Kind:
    if dtype == pl.String or dtype == pl.Boolean or isinstance(dtype, pl.Categorical | pl.Enum):
        return "categorical"
    if dtype.is_integer() and n_unique is not None and n_unique <= settings.max_int_categories:
        return "categorical"
    return "numeric"


def numeric_edges(quantiles: Sequence[float | None]) -> tuple[float, ...]:
    """Deduplicated, sorted, finite inner edges from the reference quantiles."""
    vals = [float(q) for q in quantiles if q is not None and math.isfinite(float(q))]
    return tuple(float(v) for v in np.unique(np.asarray(vals, dtype=float)))


def quantile_levels(bins: int) -> list[float]:
    return [k / bins for k in range(1, bins)]


def categorical_vocabulary(
    value_counts: Mapping[str, int], settings: BinSettings
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split reference categories into kept (by frequency, ties by value) and folded."""
    total = sum(value_counts.values())
    ordered = sorted(value_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept: list[str] = []
    folded: list[str] = []
    for value, n in ordered:
        if len(kept) < settings.max_categories and (total == 0 or n / total >= settings.fold_below):
            kept.append(value)
        else:
            folded.append(value)
    if len(folded) == 1 and len(kept) < settings.max_categories:
        # Folding a single category changes nothing but its name; keep it as itself.
        kept.append(folded.pop())
    return tuple(kept), tuple(sorted(folded))


def looks_like_identifier(value_counts: Mapping[str, int]) -> bool:
    """More than 50 distinct values and over half of the non-null rows distinct."""
    distinct = len(value_counts)
    return distinct > 50 and distinct > 0.5 * sum(value_counts.values())


def _numeric_expr(name: str) -> pl.Expr:
    col = pl.col(name)
    return col.filter(col.is_finite())


# Reading the reference for the bin specs: numeric columns are read in batches whose estimated
# size in memory stays under BATCH_BYTES (at least one column per batch; two batches in flight),
# never the whole frame. 192 MB, not 384: the same time, and `triage --reference` at 5M peaks
# at 0.73–0.77 GB before the timeline instead of 0.88–0.96 GB (4 columns a batch, not 8).
BATCH_BYTES = 192 * 1024 * 1024
_BYTES_PER_VALUE = 9  # a float64 and its validity bit, rounded up


def _batches(features: Sequence[str], rows: int) -> list[list[str]]:
    """Consecutive numeric columns grouped so that a batch stays under BATCH_BYTES in memory."""
    per_column = max(rows, 1) * _BYTES_PER_VALUE
    size = max(1, BATCH_BYTES // per_column)
    return [list(features[i : i + size]) for i in range(0, len(features), size)]


def plan_kinds(
    schema: Mapping[str, pl.DataType],
    features: Sequence[str],
    settings: BinSettings,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    source_name: str = "--reference",
) -> dict[str, str]:
    """How each feature will be binned, before reading any value: ``forced_categorical``
    (``--categorical``), ``numeric``, ``categorical``, or ``integer`` (decided on its distinct
    count: categorical with at most ``max_int_categories`` values). Every engine plans the
    same way."""
    forced_cat, forced_num = set(categorical), set(numeric)
    planned: dict[str, str] = {}
    for f in features:
        dtype = schema[f]
        if f in forced_cat:
            planned[f] = "forced_categorical"
        elif f in forced_num:
            if not (dtype.is_numeric() or dtype == pl.Boolean):
                raise UsageError(
                    f"--numeric {f}: column has type {dtype} in {source_name}; "
                    "only numeric columns can be binned by quantiles"
                )
            planned[f] = "numeric"
        elif dtype.is_integer():
            planned[f] = "integer"  # decided on its distinct count
        else:
            planned[f] = infer_kind(dtype, None, settings)
    return planned


def build_specs(
    lf: pl.LazyFrame,
    features: Sequence[str],
    *,
    settings: BinSettings | None = None,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    source_name: str = "--reference",
    explicit: bool = False,
    identifiers: list[str] | None = None,
    counts: list[pl.DataFrame] | None = None,
    profile: dict[str, FeatureStats] | None = None,
    value_counts: Mapping[str, pl.DataFrame] | None = None,
) -> list[BinSpec]:
    """Compute a bin spec for each feature from the reference ``lf``.

    The reference is read once. Numeric (and integer) columns are read in batches whose size in
    memory stays under :data:`BATCH_BYTES` — never the whole frame — and their quantiles are
    exact (Polars' linear interpolation, to the bit) but found by selection rather than by
    sorting (:func:`exact_quantiles`), the columns of a batch on parallel threads. Categorical
    columns are counted by value in one streaming collection, never loaded.

    Unless ``explicit`` (the user named the features) a string column that looks like an
    identifier (more than 50 distinct values, over half of its non-null rows distinct) is left
    out and its name appended to ``identifiers``.

    ``counts``, when given, receives the reference count table (no keys; see
    :mod:`mlfail.counts`) of the specs built, counted from the same read; ``profile`` the
    feature profiles (:mod:`mlfail.featureprofile`) the same read holds: every feature's but a
    numeric-typed column counted by value (``--categorical``). ``value_counts`` are value-count
    tables of ``lf`` already made (``col``, ``__count``, the null row included: the roles
    query's, :func:`mlfail.counts.value_counts`): categorical columns found there are not
    counted again.
    """
    settings = settings or BinSettings()
    schema = lf.collect_schema()
    planned = plan_kinds(schema, features, settings, categorical, numeric, source_name)
    build = _Build(schema, planned, settings, explicit, counting=counts is not None)
    build.profile = profile

    cats = [f for f in features if planned[f] in ("categorical", "forced_categorical")]
    given = value_counts or {}
    known = {f: _as_value_counts(given[f], f) for f in cats if f in given}
    todo = [f for f in cats if f not in known]
    # The categorical value counts (a streaming collection) run on their own thread while the
    # numeric batches are read and their quantiles computed.
    side = ThreadPoolExecutor(max_workers=1)
    cat_counts = side.submit(
        collect_each, [lf.group_by(pl.col(f).cast(pl.String).alias(VALUE)).len() for f in todo]
    )

    nums = [f for f in features if planned[f] in ("numeric", "integer")]
    if nums:
        _numeric_specs(lf, nums, build)
    counted = dict(zip(todo, cat_counts.result(), strict=True))
    _categorical_specs(cats, [known[f] if f in known else counted[f] for f in cats], build)
    side.shutdown()
    return _gather(features, build, identifiers, counts)


def _as_value_counts(table: pl.DataFrame, f: str) -> pl.DataFrame:
    """A roles value-count table (``f``, ``__count``) as build_specs counts them: the value as
    text (``__mlfail_value``) and ``len``."""
    return table.select(
        pl.col(f).cast(pl.String).alias(VALUE), pl.col(VALUE_COUNT).cast(pl.UInt32).alias("len")
    )


_Made = Future[tuple[BinSpec | None, pl.DataFrame | None]]


@dataclass
class _Build:
    """What the steps of :func:`build_specs` share: the plan, and the specs and reference count
    tables made so far (a spec of None: the column was left out as an identifier)."""

    schema: pl.Schema
    planned: dict[str, str]
    settings: BinSettings
    explicit: bool
    counting: bool
    made: dict[str, BinSpec | None] = field(default_factory=dict)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    profile: dict[str, FeatureStats] | None = None  # filled when the caller asks for it


def _numeric_specs(lf: pl.LazyFrame, nums: Sequence[str], build: _Build) -> None:
    """Numeric and integer columns, read in batches and binned (and counted) on a thread pool."""
    levels = quantile_levels(build.settings.bins)
    rows = int(lf.select(pl.len()).collect().item())
    workers = max(1, min(os.cpu_count() or 1, 8))

    def column(col: pl.Series) -> tuple[BinSpec | None, pl.DataFrame | None]:
        spans: list[Span] = []
        # a profile asks for a second set of quantiles: one sort serves both (Ordered)
        order: list[Ordered] | None = [] if build.profile is not None else None
        spec = _numeric_or_int_spec(
            col, build.planned[col.name], build.schema[col.name], build.settings, levels,
            explicit=build.explicit, spans_out=spans, order_out=order,
        )  # fmt: skip
        ordered = order[0] if order else None
        if spec is not None and build.profile is not None:
            build.profile[col.name] = profile_column(col, spec, ordered)  # one key per worker
        if spec is None or not build.counting:
            return spec, None
        # counted on the worker too, while the column is in memory: from the sorted values or
        # the quantile brackets when every edge lies in one, else with the counting core
        table: pl.DataFrame | None
        if ordered is not None:  # only a numeric spec sorts its values
            table = _counts_table(col, spec, ordered.at_most(spec.edges))
        else:
            table = _counts_from_spans(col, spec, spans) if spans else None
        if table is None:
            table = count_frame(col.to_frame().lazy(), [spec])
        return spec, table

    def settle(pending: list[tuple[str, _Made]]) -> None:
        for name, fut in pending:
            build.made[name], table = fut.result()
            if table is not None:
                build.tables[name] = table

    # Pipelined: batch k's columns are binned and counted on the pool while batch k+1 is
    # read, so at most two batches are in memory.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[tuple[str, _Made]] = []
        for batch in _batches(nums, rows):
            frame = lf.select(batch).collect()
            settle(pending)
            pending = [(c.name, pool.submit(column, c)) for c in frame.get_columns()]
            del frame
        settle(pending)


def _categorical_specs(
    cats: Sequence[str], value_counts: Sequence[pl.DataFrame], build: _Build
) -> None:
    """Categorical columns from their value counts ``__mlfail_value, len``."""
    for f, vc in zip(cats, value_counts, strict=True):
        build.made[f] = spec = _categorical_spec(
            f, vc.rename({VALUE: "v"}), build.planned[f], build.schema[f], build.settings,
            explicit=build.explicit,
        )  # fmt: skip
        if spec is not None and build.counting:
            build.tables[f] = _count_values(vc.rename({"len": "n"}), spec)
        if spec is not None and build.profile is not None:
            st = profile_values(vc.rename({VALUE: "v"}), spec, build.schema[f])
            if st is not None:
                build.profile[f] = st


def _gather(
    features: Sequence[str],
    build: _Build,
    identifiers: list[str] | None,
    counts: list[pl.DataFrame] | None,
) -> list[BinSpec]:
    """The specs in feature order; identifiers left out are named, the count tables joined."""
    specs: list[BinSpec] = []
    for f in features:
        spec = build.made[f]
        if spec is None:
            if identifiers is not None:
                identifiers.append(f)
            continue
        specs.append(spec)
    if counts is not None and specs:
        counts.append(pl.concat([build.tables[sp.feature] for sp in specs], how="vertical"))
    return specs


def _count_values(vc: pl.DataFrame, spec: BinSpec) -> pl.DataFrame:
    """The reference count table of a categorical column from its value counts ``VALUE, n``."""
    return _categorical_table(vc, spec, [])


def _categorical_spec(
    f: str,
    vc: pl.DataFrame,
    planned: str,
    dtype: pl.DataType,
    settings: BinSettings,
    *,
    explicit: bool,
) -> BinSpec | None:
    """The spec of a categorical column from its value counts ``v, len`` (nulls included)."""
    vc = vc.filter(pl.col("v").is_not_null())
    counts = dict(zip(vc["v"].to_list(), vc["len"].to_list(), strict=True))
    if not explicit and planned != "forced_categorical" and looks_like_identifier(counts):
        return None
    kept, folded = categorical_vocabulary(counts, settings)
    return BinSpec(feature=f, kind="categorical", categories=kept, other=folded, dtype=str(dtype))


def _finite_sum(col: pl.Series) -> bool:
    """Whether the column's sum is finite — proof that it holds no NaN or ±inf. Values near the
    dtype's max overflow the sum to inf (then the values are filtered, as for ±inf): that is
    not worth numpy's RuntimeWarning on the operator's terminal."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(col.to_numpy().sum()))


def _numeric_or_int_spec(
    col: pl.Series,
    planned: str,
    dtype: pl.DataType,
    settings: BinSettings,
    levels: Sequence[float],
    *,
    explicit: bool,
    spans_out: list[Span] | None = None,
    order_out: list[Ordered] | None = None,
) -> BinSpec | None:
    """A numeric column's spec (an integer column with few values: a categorical one); with
    ``order_out``, its finite values sorted (:class:`Ordered`), from which the quantiles come,
    are appended there, else the quantiles come by selection (its brackets in ``spans_out``)."""
    f = col.name
    if planned == "integer":
        probe = col.head(100_000).drop_nulls()
        few = probe.n_unique() <= settings.max_int_categories
        if few and infer_kind(dtype, col.drop_nulls().n_unique(), settings) == "categorical":
            vc = col.cast(pl.String).alias("v").to_frame().group_by("v").len()
            return _categorical_spec(f, vc, planned, dtype, settings, explicit=explicit)
    if dtype.is_float():
        # A finite sum proves there is no NaN or ±inf (either would propagate): skip the filter.
        clean = col.null_count() == 0 and _finite_sum(col)
        values = col if clean else col.filter(col.is_finite())
    else:
        values = col.cast(pl.Float64)
    if order_out is not None:
        order_out.append(Ordered.of(values.drop_nulls()))
        q = order_out[-1].quantiles(levels)
    else:
        q = exact_quantiles(values.drop_nulls(), levels, spans_out)
    edges = numeric_edges(list(q) if q is not None else [])
    return BinSpec(feature=f, kind="numeric", edges=edges, dtype=str(dtype))


def _counts_from_spans(col: pl.Series, spec: BinSpec, spans: Sequence[Span]) -> pl.DataFrame | None:
    """The count table of ``col`` for ``spec`` — what :func:`mlfail.counts.count_frame` gives —
    from the selection's brackets: #(x ≤ e) = #(x = -inf) + #(finite < a) + #(bracket ≤ e) for an
    edge e inside bracket [a, b]. None when an edge lies in no bracket."""
    cum: list[int] = []
    for e in spec.edges:
        hit = next((sp for sp in spans if sp[0] <= e <= sp[1]), None)
        if hit is None:
            return None
        cum.append(hit[2] + int(np.count_nonzero(hit[3] <= e)))
    return _counts_table(col, spec, cum)


def _counts_table(col: pl.Series, spec: BinSpec, cum: Sequence[int]) -> pl.DataFrame:
    """The count table of ``col`` for ``spec`` from #(finite values ≤ e) per inner edge e."""
    x = col.cast(pl.Float64)
    nan = neg_inf = 0
    if col.dtype.is_float() and not (
        col.null_count() == 0 and _finite_sum(col)  # finite sum: no NaN/±inf
    ):
        nan = int(x.is_nan().sum())
        neg_inf = int((x == -math.inf).sum())
    missing = col.null_count() + nan
    cum = [c + neg_inf for c in cum]
    total = len(col)
    k = len(cum)
    n = np.zeros(spec.n_bins, dtype=np.int64)
    n[:k] = np.diff(np.asarray([0, *cum], dtype=np.int64))
    n[k] = total - missing - (cum[-1] if cum else 0)
    n[k + 1] = missing
    out = pl.DataFrame(
        {
            "feature": pl.Series([spec.feature] * spec.n_bins, dtype=pl.String),
            "bin": pl.Series(np.arange(spec.n_bins, dtype=np.uint32), dtype=pl.UInt32),
            "n": pl.Series(n.astype(np.uint64), dtype=pl.UInt64),
        }
    )
    return out.filter(pl.col("n") > 0)


def specs_to_json(specs: Sequence[BinSpec]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in specs]


def specs_from_json(items: Sequence[Mapping[str, Any]]) -> list[BinSpec]:
    return [BinSpec.from_dict(d) for d in items]
