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

from typing import TYPE_CHECKING, Any

from mlfail.engines.base import ENGINES, Day, Engine, EngineKey, TableSource
from mlfail.errors import UsageError

if TYPE_CHECKING:
    from mlfail.engines.polars import PolarsEngine
    from mlfail.engines.spark import SparkEngine

__all__ = ["ENGINES", "Day", "Engine", "EngineKey", "TableSource", "get_engine", "polars_only"]


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
