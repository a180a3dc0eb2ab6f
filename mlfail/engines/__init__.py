"""Engines: what computes the count tables (design §1) and the reference's bin specs.

Every statistic in mlfail is computed from count tables, and a count table is mergeable, so an
engine only has to do two things over a source of rows:

* ``build_specs`` — freeze the bin specs of the reference (numeric quantile edges, categorical
  vocabularies; design §2);
* ``count`` — given frozen specs and keys, return the long count table
  ``keys…, feature: String, bin: UInt32, n: UInt64`` that :func:`mlfail.counts.count_frame`
  defines (same bin ids, same missing / ``__other__`` / ``__unseen__`` bins).

Two engines exist: ``polars`` (the default; :mod:`mlfail.engines.polars`, exact quantiles) and
``spark`` (:mod:`mlfail.engines.spark`, ``pip install 'mlfail[spark]'``: one aggregation per
source on a Spark DataFrame, only the counts travel to the driver; quantile edges from Spark's
``approxQuantile`` with a stated rank-error bound). PySpark is imported only when the Spark
engine is asked for.

Keys are column names or a :class:`Day` (the UTC calendar day of a timestamp column), which
every engine can express; the Polars engine also takes any ``pl.Expr`` with an alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from mlfail.binning import BinSettings, BinSpec
from mlfail.errors import UsageError

if TYPE_CHECKING:
    from mlfail.engines.polars import PolarsEngine
    from mlfail.engines.spark import SparkEngine
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
    ) -> list[BinSpec]:
        """Bin specs from the reference ``source`` (see :func:`mlfail.binning.build_specs`);
        ``counts``, when the engine can, receives the reference count table of the same read."""
        ...

    def describe(self) -> dict[str, Any]:
        """What a report should state about this engine (e.g. the quantile rank-error bound)."""
        ...


def get_engine(
    name: str | Engine | None = None, **options: Any
) -> PolarsEngine | SparkEngine | Any:
    """The engine called ``name`` (``polars`` or ``spark``); an engine object is returned as is."""
    if name is None:
        name = "polars"
    if not isinstance(name, str):
        return name
    if name == "polars":
        from mlfail.engines.polars import PolarsEngine

        return PolarsEngine()
    if name == "spark":
        from mlfail.engines.spark import SparkEngine

        return SparkEngine(**options)
    raise UsageError(f"--engine {name}: unknown engine; choose one of {', '.join(ENGINES)}")


def polars_only(engine: str | None, command: str) -> None:
    """Reject ``--engine spark`` (or any engine but polars) for a command that counts on Polars
    only, with one line naming what works today."""
    if engine is None or engine == "polars":
        return
    raise UsageError(
        f"--engine {engine}: `mlfail {command}` runs on the Polars engine only for now; "
        "the Spark engine serves `mlfail psi`, `mlfail baseline create` and `mlfail timeline` "
        "(a baseline built on the cluster serves as --baseline where a command takes one)"
    )
