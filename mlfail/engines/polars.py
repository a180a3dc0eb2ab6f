"""The Polars engine (default): the counting core of :mod:`mlfail.counts` and the exact bin specs
of :mod:`mlfail.binning`, over the lazy scans of :mod:`mlfail.io`. This module only adapts them
to the :class:`mlfail.engines.Engine` interface; it computes nothing of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from mlfail.binning import BinSettings, BinSpec, build_specs
from mlfail.counts import Key, count_source, missing
from mlfail.engines.base import Day, EngineKey
from mlfail.featurestats import FeatureStats
from mlfail.io import Source, open_source
from mlfail.performance import TaskSpec, performance_table
from mlfail.timekeys import utc_naive


def polars_key(key: EngineKey, schema: pl.Schema) -> Key:
    """A portable key as the Polars counting core takes it."""
    if isinstance(key, Day):
        return utc_naive(key.column, schema[key.column]).dt.date().alias(key.name)
    return key


class PolarsEngine:
    name = "polars"

    def __init__(self, *, progress: bool | None = None) -> None:
        self.progress = progress

    def open(self, spec: str, *, role: str) -> Source:
        return open_source(spec, role=role)

    def count(
        self, source: Source, specs: Sequence[BinSpec], keys: Sequence[EngineKey] = ()
    ) -> pl.DataFrame:
        return count_source(
            source, specs, [polars_key(k, source.schema) for k in keys], progress=self.progress
        )

    def summary(
        self,
        source: Source,
        keys: Sequence[EngineKey],
        *,
        nulls: Sequence[str] = (),
        mean: str | None = None,
    ) -> pl.DataFrame:
        schema = source.schema
        pkeys = [polars_key(k, schema) for k in keys]
        aggs = [pl.len().alias("rows")] + [
            _null_expr(f, schema[f]).alias(f"null{i}") for i, f in enumerate(nulls)
        ]
        if mean is not None:
            aggs.append(pl.col(mean).cast(pl.Float64).fill_nan(None).mean().alias("mean_score"))
        out = source.lf.group_by(pkeys).agg(aggs)
        names = out.collect_schema().names()[: len(pkeys)]
        return out.drop_nulls(names).sort(names).collect(engine="streaming")

    def task_data(self, source: Source, label: str, prediction: str) -> pl.LazyFrame:
        """The rows :func:`mlfail.performance.check_values` inspects: the source itself."""
        return source.lf

    def performance(
        self, source: Source, spec: TaskSpec, keys: Sequence[EngineKey]
    ) -> pl.DataFrame:
        return performance_table(source.lf, spec, [polars_key(k, source.schema) for k in keys])

    def build_specs(
        self,
        source: Source,
        features: Sequence[str],
        *,
        settings: BinSettings,
        categorical: Sequence[str] = (),
        numeric: Sequence[str] = (),
        explicit: bool = False,
        identifiers: list[str] | None = None,
        counts: list[pl.DataFrame] | None = None,
        profile: dict[str, FeatureStats] | None = None,
        value_counts: Mapping[str, pl.DataFrame] | None = None,
    ) -> list[BinSpec]:
        return build_specs(
            source.lf,
            features,
            settings=settings,
            categorical=categorical,
            numeric=numeric,
            source_name=source.role,
            explicit=explicit,
            identifiers=identifiers,
            counts=counts,
            profile=profile,
            value_counts=value_counts,
        )

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "quantiles": "exact (linear interpolation)"}


def _null_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """Missing values of a column: null, and NaN for floats (the missing bin of counts)."""
    return missing(name, dtype).sum().cast(pl.Int64)
