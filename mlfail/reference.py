"""What a comparison is made against: the ``Reference`` protocol and a reference read from data
(:class:`SourceReference`, frozen by :func:`reference_from_source`); a saved baseline is the other
kind (:class:`mlfail.baseline.BaselineReference`). Both give the frozen bin specs and reference
count tables by key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import polars as pl

from mlfail.binning import BinSettings, BinSpec, build_specs
from mlfail.config import Roles, select_features
from mlfail.counts import merge
from mlfail.engines import Engine, get_engine
from mlfail.engines.polars import PolarsEngine
from mlfail.errors import UsageError
from mlfail.featurestats import FeatureStats
from mlfail.io import Source
from mlfail.timekeys import normalize_timestamp


class Reference(Protocol):
    """The reference side of every comparison."""

    name: str
    specs: list[BinSpec]

    @property
    def columns(self) -> list[str]: ...

    @property
    def lazy(self) -> pl.LazyFrame | None:
        """The reference rows, when the reference is data (None for a saved baseline)."""
        ...

    def table(self, keys: Sequence[str] = ()) -> pl.DataFrame | None:
        """Reference count table by ``keys``; None when the reference lacks a key column."""
        ...


def coarsen(table: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Sum a count table over every key not in ``keys`` (a count table is mergeable)."""
    by = [*keys, "feature", "bin"]
    return merge([table.group_by(by, maintain_order=True).agg(pl.col("n").sum())])


class SourceReference:
    """A reference read from data by an engine (default: Polars over Parquet); each key set is
    counted once and cached."""

    def __init__(
        self,
        source: Any,
        specs: list[BinSpec],
        *,
        progress: bool | None = None,
        engine: Engine | None = None,
    ):
        self.source = source
        self.name = source.spec
        self.specs = specs
        self.progress = progress
        self.engine: Engine = engine if engine is not None else PolarsEngine(progress=progress)
        self._tables: dict[tuple[str, ...], pl.DataFrame] = {}
        # the number of bins the specs were built with when their edges are exact quantiles
        # (Polars): a coarser exact spec is then a subset of their edges
        self.exact_bins: int | None = None

    @property
    def columns(self) -> list[str]:
        return self.source.columns

    @property
    def lazy(self) -> pl.LazyFrame | None:
        lf = getattr(self.source, "lf", None)  # None for a source of another engine (Spark)
        return lf if isinstance(lf, pl.LazyFrame) else None

    def prefetch(self, keys: Sequence[str]) -> None:
        """Count once by ``keys`` so that every coarser key set is derived without a pass."""
        self.table(keys)

    def seed_table(self, keys: Sequence[str], table: pl.DataFrame) -> None:
        """Record a count table by ``keys`` already computed from this source (for example
        while the bin specs were built), so that it is not counted again."""
        self._tables[tuple(keys)] = table

    def table(self, keys: Sequence[str] = ()) -> pl.DataFrame | None:
        keys = tuple(keys)
        if any(k not in self.columns for k in keys):
            return None
        if keys in self._tables:
            return self._tables[keys]
        for have, t in self._tables.items():
            if set(keys) <= set(have):
                self._tables[keys] = coarsen(t, keys)
                return self._tables[keys]
        self._tables[keys] = self.engine.count(self.source, self.specs, keys)
        return self._tables[keys]


def prediction_spec(ref: Reference, pred: str, numeric: bool) -> BinSpec | None:
    """The bins of the prediction column, frozen on the reference (the prediction is a role,
    so it is not among the feature specs of a reference read from data): a saved baseline's
    stored prediction spec, else a spec of ``ref.specs``, else built from the reference rows by
    the engine that read them. None when the reference has neither the column nor a spec."""
    stored = getattr(ref, "prediction_spec", None)
    if isinstance(stored, BinSpec):
        return stored
    for s in ref.specs:
        if s.feature == pred:
            return s
    if pred not in ref.columns:
        return None
    kinds: dict[str, Any] = {
        "numeric": [pred] if numeric else [],
        "categorical": [] if numeric else [pred],
        "explicit": True,
    }
    if isinstance(ref, SourceReference):
        return ref.engine.build_specs(ref.source, [pred], settings=BinSettings(), **kinds)[0]
    if ref.lazy is not None:
        return build_specs(ref.lazy, [pred], **kinds)[0]
    return None


def reference_from_source(
    source: Any,
    roles: Roles,
    *,
    bin_settings: BinSettings,
    progress: bool | None = None,
    engine: Engine | str | None = None,
    profile: dict[str, FeatureStats] | None = None,
) -> tuple[SourceReference, list[str]]:
    """Resolve features on the reference schema and freeze their bin specs (with ``engine``,
    default Polars, which also counts the reference and, given ``profile``, profiles the
    features into it). The value counts the roles query made on this very source are reused."""
    eng = get_engine(engine) if engine is not None else PolarsEngine(progress=progress)
    if isinstance(source, Source):
        source = normalize_timestamp(source, roles.timestamp)
    features, skipped = select_features(source.schema, roles)
    source.require(features, "--features")
    source.require(roles.categorical, "--categorical")
    source.require(roles.numeric, "--numeric")
    if not features:
        raise UsageError(
            f"--reference {source.spec}: no feature columns left after removing roles; "
            "name them with --features"
        )
    identifiers: list[str] = []
    # The reference is read once: the bin specs and the whole-reference count table come from
    # the same read (build_specs counts each batch while it is in memory).
    counted: list[pl.DataFrame] = []
    specs = eng.build_specs(
        source,
        features,
        settings=bin_settings,
        categorical=roles.categorical,
        numeric=roles.numeric,
        explicit=roles.features is not None,
        identifiers=identifiers,
        counts=counted,
        profile=profile,
        value_counts=roles.assignment.values_of(source) if roles.assignment else None,
    )
    skipped += [f"{c} (identifier-like: most values distinct)" for c in identifiers]
    if not specs:
        raise UsageError(
            f"--reference {source.spec}: every candidate feature looks like an identifier; "
            "name the features with --features"
        )
    ref = SourceReference(source, specs, progress=progress, engine=eng)
    if eng.name == "polars":
        ref.exact_bins = bin_settings.bins
    if counted:
        ref.seed_table((), counted[0])
    return ref, skipped
