"""The engine interface (design §1): the :class:`Engine` and :class:`TableSource` protocols and
the key types every engine takes. The engines (:mod:`mlfail.engines.polars`,
:mod:`mlfail.engines.spark`) import this module, never the package, whose registry
(:func:`mlfail.engines.get_engine`) imports them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from mlfail.binning import BinSettings, BinSpec
from mlfail.featurestats import FeatureStats

if TYPE_CHECKING:
    from mlfail.performance import TaskSpec

ENGINES = ("polars", "spark")


@dataclass(frozen=True)
class Day:
    """Key: the calendar day (UTC) of the timestamp ``column``, named ``name``."""

    column: str
    name: str = "day"


EngineKey = str | Day | pl.Expr


class TableSource(Protocol):
    """What an engine reads: a named source with a schema (as Polars dtypes)."""

    spec: str
    role: str

    @property
    def schema(self) -> pl.Schema: ...

    @property
    def columns(self) -> list[str]: ...

    def require(self, columns: Sequence[str], flag: str) -> None: ...


class Engine(Protocol):
    """An engine computes bin specs and count tables over its sources."""

    name: str

    def open(self, spec: str, *, role: str) -> Any:
        """Resolve a user's ``--reference``/``--live`` string into this engine's source."""
        ...

    def count(
        self, source: Any, specs: Sequence[BinSpec], keys: Sequence[EngineKey] = ()
    ) -> pl.DataFrame:
        """The count table of ``source`` for the frozen ``specs`` by ``keys``."""
        ...

    def summary(
        self,
        source: Any,
        keys: Sequence[EngineKey],
        *,
        nulls: Sequence[str] = (),
        mean: str | None = None,
    ) -> pl.DataFrame:
        """Per key group: ``rows``, ``null{i}`` (null — or NaN for floats — values of
        ``nulls[i]``) and, with ``mean``, ``mean_score`` (mean of that column as Float64, NaN
        ignored). Rows whose key is null are dropped."""
        ...

    def task_data(self, source: Any, label: str, prediction: str) -> pl.LazyFrame:
        """A Polars frame on which :func:`mlfail.performance.check_values` (through
        ``infer_task(data=...)``) gives the verdict it gives on the whole source."""
        ...

    def performance(self, source: Any, spec: TaskSpec, keys: Sequence[EngineKey]) -> pl.DataFrame:
        """:func:`mlfail.performance.performance_table` by ``keys`` (rows with a null key
        dropped by the caller); an engine that cannot rank cheaply leaves out ``auc``."""
        ...

    def build_specs(
        self,
        source: Any,
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
        """Bin specs from the reference ``source`` (see :func:`mlfail.binning.build_specs`);
        ``counts`` and ``profile``, when the engine can, receive the reference count table and
        the feature profiles of the same read; ``value_counts`` are value-count tables of the
        source already made, which an engine may use instead of counting them again."""
        ...

    def describe(self) -> dict[str, Any]:
        """What a report should state about this engine (e.g. the quantile rank-error bound)."""
        ...
