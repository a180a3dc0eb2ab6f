"""The baseline profile on Spark: per-feature :class:`mlfail.featurestats.FeatureStats` of a
Spark reference, the fields :func:`mlfail.baseline.build_baseline` computes with Polars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from mlfail.binning import BinSpec
from mlfail.engines.spark import _F, SparkEngine, SparkSource, _col, value_counts
from mlfail.featurestats import (
    MAX_FREQUENCIES,
    MEAN_DEFAULT,
    NUMERIC_DEFAULTS,
    QUANTILE_LEVELS,
    STRING_DEFAULTS,
    FeatureStats,
    finite_or_none,
    is_default_value,
    is_numeric_dtype,
    is_string_dtype,
    level_key,
    mean_tolerance,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

Frequencies = dict[int, tuple[dict[str, int], int]]


def profile(
    engine: SparkEngine, source: SparkSource, specs: Sequence[BinSpec]
) -> tuple[int, dict[str, Any]]:
    """Row count and per-feature :class:`mlfail.featurestats.FeatureStats` of a Spark reference,
    in three aggregations: (1) nulls, ±inf, finite count, min/max/mean/std and the default-fill
    counts; (2) the quantiles ``QUANTILE_LEVELS`` (``percentile_approx``, the same rank-error
    bound as the bin edges; marked ``quantiles_exact: false``) and the count of values equal to
    the mean; (3) category frequencies, the top ``MAX_FREQUENCIES`` per feature. The fields are
    those :func:`mlfail.baseline.build_baseline` computes with Polars."""
    schema, df = source.schema, source.df
    numeric = [i for i, s in enumerate(specs) if is_numeric_dtype(schema[s.feature])]
    r = _moments(df, specs, schema, numeric)
    rows = int(r["rows"])
    r2 = _quantiles(engine, df, specs, numeric, r)
    freqs = _frequencies(df, specs)
    return rows, _feature_stats(specs, schema, rows, numeric, r, r2, freqs)


def _num(f: str) -> Column:
    return _col(f).cast("double")


def _finite(f: str) -> Column:
    from pyspark.sql import functions as F

    inf = F.lit(float("inf"))
    x = _num(f)
    return F.when(~F.isnan(x) & (F.abs(x) != inf), x)


def _total(cond: Column) -> Column:
    from pyspark.sql import functions as F

    return F.sum(F.when(cond, 1).otherwise(0))


def _moments(
    df: DataFrame, specs: Sequence[BinSpec], schema: pl.Schema, numeric: list[int]
) -> dict[str, Any]:
    """1. rows; per feature nulls, ±inf, finite count, min/max/mean/std, default-fill counts."""
    from pyspark.sql import functions as F

    inf = F.lit(float("inf"))
    aggs: list[Column] = [F.count(F.lit(1)).alias("rows")]
    for i, s in enumerate(specs):
        if i in numeric:
            x, fin = _num(s.feature), _finite(s.feature)
            aggs += [
                _total(x.isNull() | F.isnan(x)).alias(f"{i}|nulls"),
                _total(x == -inf).alias(f"{i}|neg_inf"),
                _total(x == inf).alias(f"{i}|pos_inf"),
                F.count(fin).alias(f"{i}|count"),
                F.min(fin).alias(f"{i}|min"),
                F.max(fin).alias(f"{i}|max"),
                F.avg(fin).alias(f"{i}|mean"),
                F.stddev_samp(fin).alias(f"{i}|std"),
            ]
            aggs += [_total(x == F.lit(v)).alias(f"{i}|d|{k}") for k, v in NUMERIC_DEFAULTS.items()]
        else:
            v = _col(s.feature).cast("string")
            aggs.append(_total(v.isNull()).alias(f"{i}|nulls"))
            if is_string_dtype(schema[s.feature]):
                norm = F.lower(F.trim(v))
                aggs += [_total(norm == F.lit(c)).alias(f"{i}|d|{c}") for c in STRING_DEFAULTS]
    row = df.select(*aggs).first()
    assert row is not None
    r: dict[str, Any] = row.asDict()
    return r


def _quantiles(
    engine: SparkEngine,
    df: DataFrame,
    specs: Sequence[BinSpec],
    numeric: list[int],
    r: Mapping[str, Any],
) -> dict[str, Any]:
    """2. quantiles and the count of values equal to the training mean."""
    from pyspark.sql import functions as F

    accuracy = max(1, round(1 / engine.relative_error)) if engine.relative_error else 1_000_000
    levels = list(QUANTILE_LEVELS)
    second: list[Column] = []
    for i in numeric:
        f = specs[i].feature
        second.append(F.percentile_approx(_finite(f), levels, accuracy).alias(f"{i}|q"))
        mean = r[f"{i}|mean"]
        if mean is not None:
            second.append(
                _total(F.abs(_num(f) - F.lit(mean)) <= mean_tolerance(mean)).alias(f"{i}|m")
            )
    r2: dict[str, Any] = {}
    if second:
        got2 = df.select(*second).first()
        r2 = got2.asDict() if got2 is not None else {}
    return r2


def _frequencies(df: DataFrame, specs: Sequence[BinSpec]) -> Frequencies:
    """3. category frequencies, the most frequent first (ties by value), capped per feature."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cats = [i for i, s in enumerate(specs) if s.kind == "categorical"]
    freqs: Frequencies = {i: ({}, 0) for i in cats}
    if cats:
        per = Window.partitionBy(_F)
        ranked = per.orderBy(F.col("count").desc(), F.col("v").asc())
        got = (
            value_counts(df, [(i, specs[i].feature) for i in cats])
            .select(
                _F,
                "v",
                "count",
                F.row_number().over(ranked).alias("rn"),
                F.sum("count").over(per).alias("nn"),
            )
            .where(F.col("rn") <= MAX_FREQUENCIES)
            .collect()
        )
        kept: dict[int, list[tuple[int, str, int]]] = {i: [] for i in cats}
        nn: dict[int, int] = {}
        for g in got:
            kept[g[_F]].append((int(g["rn"]), g["v"], int(g["count"])))
            nn[g[_F]] = int(g["nn"])
        for i in cats:
            top = sorted(kept[i])
            shown = {v: n for _, v, n in top}
            freqs[i] = (shown, nn.get(i, 0) - sum(shown.values()))
    return freqs


def _feature_stats(
    specs: Sequence[BinSpec],
    schema: pl.Schema,
    rows: int,
    numeric: list[int],
    r: Mapping[str, Any],
    r2: Mapping[str, Any],
    freqs: Frequencies,
) -> dict[str, Any]:
    """The three aggregations' results as one FeatureStats per feature."""
    levels = list(QUANTILE_LEVELS)
    stats: dict[str, Any] = {}
    for i, s in enumerate(specs):
        st = FeatureStats(
            feature=s.feature,
            kind=s.kind,
            dtype=str(schema[s.feature]),
            rows=rows,
            nulls=int(r[f"{i}|nulls"]),
            numeric=i in numeric,
            defaults={k.split("|", 2)[2]: int(v) for k, v in r.items() if k.startswith(f"{i}|d|")},
        )
        if st.numeric:
            st.count = int(r[f"{i}|count"])
            st.neg_inf, st.pos_inf = int(r[f"{i}|neg_inf"]), int(r[f"{i}|pos_inf"])
            st.min, st.max = finite_or_none(r[f"{i}|min"]), finite_or_none(r[f"{i}|max"])
            st.mean, st.std = finite_or_none(r[f"{i}|mean"]), finite_or_none(r[f"{i}|std"])
            qs = r2.get(f"{i}|q") or [None] * len(levels)
            st.quantiles = {
                level_key(lv): finite_or_none(q) for lv, q in zip(levels, qs, strict=True)
            }
            st.quantiles_exact = False  # percentile_approx: within the stated rank error
            if st.mean is not None and not is_default_value(st.mean):
                st.defaults[MEAN_DEFAULT] = int(r2.get(f"{i}|m") or 0)
        if s.kind == "categorical":
            st.frequencies, st.frequencies_rest = freqs[i]
        stats[s.feature] = st
    return stats
