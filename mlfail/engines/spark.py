"""The Spark engine (``--engine spark``; ``pip install 'mlfail[spark]'``).

Counting: given frozen bin specs, every feature's bin id is one Spark expression that reproduces
:mod:`mlfail.counts` exactly —

* numeric: the value cast to double; null or NaN → missing; else the first inner edge ``e_j``
  with ``x <= e_j`` gives bin ``j`` (right-closed ``(e_{j-1}, e_j]``), none → the last value
  bin (so ``-inf`` falls in bin 0 and ``+inf`` in the last one);
* categorical: the value cast to string; null → missing; else a literal map from the
  reference's kept categories to their bins and from the folded ones to ``__other__``; any
  other value → ``__unseen__``.

The (feature, bin) pairs of a row are exploded (``inline`` of an array of structs) next to the
key columns, and one ``groupBy(keys, feature, bin).count()`` counts them all: one aggregation,
one scan of the source, whatever the number of features and keys. Only the count table — rows
of (keys, feature, bin, n) — is collected to the driver and returned as a Polars DataFrame with
the dtypes of :func:`mlfail.counts.count_frame`. (With adaptive query execution, Spark's UI
lists the aggregation as two jobs: the partial aggregation and shuffle, then the final
merge; the data is read once.)

Bin specs from a Spark reference: categorical vocabularies and the kind of integer columns
(categorical with at most ``max_int_categories`` distinct values) come from exact value counts,
one ``groupBy`` over every such column, filtered on the executors so that an identifier or a
many-valued integer column never travels to the driver; numeric quantile edges
come from ``DataFrame.approxQuantile`` with relative error ``relative_error`` (default 1e-4):
for a level p over N finite values the edge returned is a value whose rank r satisfies
``floor((p - err)·N) <= r <= ceil((p + err)·N)`` (Spark's documented Greenwald–Khanna bound).
Spark edges are therefore values of the data near the k/B quantile, not Polars' linearly
interpolated quantiles; the bound is stated in every report and baseline built from them.
"""

from __future__ import annotations

import glob as _glob
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from mlfail.binning import (
    BinSettings,
    BinSpec,
    _categorical_spec,
    numeric_edges,
    plan_kinds,
    quantile_levels,
)
from mlfail.counts import empty_table, key_names
from mlfail.engines.base import Day, EngineKey
from mlfail.errors import InputError, UsageError
from mlfail.featurestats import FeatureStats

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from mlfail.performance import TaskSpec

TABLE_PREFIX = "table:"
DEFAULT_RELATIVE_ERROR = 1e-4
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_F = "__mlfail_f"
_B = "__mlfail_b"

INSTALL_HINT = "pip install 'mlfail[spark]'"


def _import_pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise UsageError(
            f"--engine spark needs PySpark, which is not installed: {INSTALL_HINT}"
        ) from None
    return pyspark


def java_executable() -> str | None:
    """The java that PySpark will start: $JAVA_HOME/bin/java, else java on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        exe = os.path.join(home, "bin", "java")
        return exe if os.path.isfile(exe) and os.access(exe, os.X_OK) else None
    return shutil.which("java")


def spark_session() -> SparkSession:
    """The active SparkSession (spark-submit, Databricks, a notebook), else a new local one.

    A session started here runs in UTC with Spark's console progress bar off, so that stderr
    carries mlfail's own diagnostics. Missing PySpark or Java: one line naming the fix."""
    _import_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if java_executable() is None:
        where = "$JAVA_HOME/bin/java" if os.environ.get("JAVA_HOME") else "java on PATH"
        raise UsageError(
            f"--engine spark needs Java 17 or newer and found no {where}: install a JDK "
            "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    try:
        spark = (
            SparkSession.builder.appName("mlfail")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"--engine spark: could not start Spark ({first})") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(_quote(name))


def polars_dtype(spark_type: Any) -> pl.DataType:
    """The Polars dtype a Spark column's values are returned as."""
    from pyspark.sql import types as T

    simple: list[tuple[type, pl.DataType]] = [
        (T.StringType, pl.String()),
        (T.BooleanType, pl.Boolean()),
        (T.ByteType, pl.Int8()),
        (T.ShortType, pl.Int16()),
        (T.IntegerType, pl.Int32()),
        (T.LongType, pl.Int64()),
        (T.FloatType, pl.Float32()),
        (T.DoubleType, pl.Float64()),
        (T.DateType, pl.Date()),
        (T.TimestampNTZType, pl.Datetime("us")),
        (T.TimestampType, pl.Datetime("us", "UTC")),
        (T.BinaryType, pl.Binary()),
    ]
    for cls, dt in simple:
        if isinstance(spark_type, cls):
            return dt
    if isinstance(spark_type, T.DecimalType):
        return pl.Decimal(spark_type.precision, spark_type.scale)
    return pl.Object()


@dataclass
class SparkSource:
    """A Spark DataFrame read from Parquet paths or a table, with its schema as Polars dtypes."""

    spec: str
    role: str
    df: DataFrame
    _schema: pl.Schema | None = field(default=None, repr=False)

    @property
    def schema(self) -> pl.Schema:
        if self._schema is None:
            self._schema = pl.Schema(
                {f.name: polars_dtype(f.dataType) for f in self.df.schema.fields}
            )
        return self._schema

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names())

    @property
    def files(self) -> list[str]:
        """The files the DataFrame reads (local paths without their ``file:`` scheme)."""
        return [f[len("file:") :] if f.startswith("file:") else f for f in self.df.inputFiles()]

    def n_unique(self, columns: Sequence[str]) -> dict[str, int]:
        """Exact distinct counts (nulls count as one value, as in Polars), one aggregation."""
        from pyspark.sql import functions as F

        row = self.df.select(
            *[
                (F.count_distinct(_col(c)) + F.max(_col(c).isNull().cast("int"))).alias(f"c{i}")
                for i, c in enumerate(columns)
            ]
        ).first()
        assert row is not None
        return {c: int(row[f"c{i}"] or 0) for i, c in enumerate(columns)}

    def require(self, columns: Sequence[str], flag: str) -> None:
        from mlfail.io import _preview

        have = set(self.columns)
        for col in columns:
            if col not in have:
                raise InputError(
                    f"{self.role} {self.spec}: column {col!r} (from {flag}) does not exist; "
                    f"available: {_preview(self.columns)}"
                )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _base_path(spec: str) -> str | None:
    """For a glob inside a hive layout (``logs/day=*/*.parquet``), the directory above the
    partition directories, so that Spark keeps the partition columns as Polars does."""
    head = re.split(r"[*?\[]", spec, maxsplit=1)[0]
    parts = head.split("/")
    for i, part in enumerate(parts):
        if "=" in part:
            return "/".join(parts[:i]) or "/"
    if any("=" in p for f in _glob.glob(spec)[:1] for p in f.split("/")[:-1]):
        return os.path.dirname(head) or "."
    return None


class SparkEngine:
    """Count tables and bin specs computed by Spark; see the module docstring."""

    name = "spark"

    def __init__(
        self,
        session: SparkSession | None = None,
        *,
        relative_error: float = DEFAULT_RELATIVE_ERROR,
    ) -> None:
        if not 0 <= relative_error < 1:
            raise UsageError(f"Spark relative error must be in [0, 1) (got {relative_error})")
        self._session = session
        self.relative_error = relative_error

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            self._session = spark_session()
        return self._session

    # ---- sources -----------------------------------------------------------------------

    def open(self, spec: str, *, role: str) -> SparkSource:
        """``table:db.name`` reads a catalog table; anything else is Parquet (file, directory
        with hive partitions, glob, or a URL Spark can read such as ``s3a://``)."""
        spec = str(spec)
        spark = self.session
        from pyspark.errors import PySparkException

        try:
            if spec.startswith(TABLE_PREFIX):
                name = spec[len(TABLE_PREFIX) :].strip()
                if not name:
                    raise InputError(f"{role} {spec}: give a table name after 'table:'")
                df = spark.table(name)
            else:
                path = spec
                if not _URL.match(spec) or spec.startswith("file://"):
                    from mlfail.io import open_source

                    open_source(spec, role=role)  # the same one-line errors as the Polars engine
                    path = spec[len("file://") :] if spec.startswith("file://") else spec
                reader = spark.read
                base = _base_path(path) if re.search(r"[*?\[]", path) else None
                if base is not None:
                    reader = reader.option("basePath", base)
                df = reader.parquet(path)
        except PySparkException as exc:
            raise InputError(f"{role} {spec}: Spark cannot read it ({_first_line(exc)})") from None
        source = SparkSource(spec=spec, role=role, df=df)
        if len(source.schema) == 0:
            raise InputError(f"{role} {spec}: the source has no columns")
        return source

    # ---- counting ----------------------------------------------------------------------

    def _bin_column(self, spec: BinSpec, present: bool) -> Column:
        from pyspark.sql import functions as F

        missing = F.lit(spec.missing_index)
        if not present:  # the column is absent: every row is missing
            return missing
        if spec.kind == "numeric":
            x = _col(spec.feature).cast("double")
            expr = F.when(x.isNull() | F.isnan(x), missing)
            for j, edge in enumerate(spec.edges):
                expr = expr.when(x <= F.lit(float(edge)), F.lit(j))
            return expr.otherwise(F.lit(len(spec.edges)))
        s = _col(spec.feature).cast("string")
        c = len(spec.categories)
        unseen = F.lit(c + (1 if spec.other else 0))
        pairs: list[Column] = []
        for j, cat in enumerate(spec.categories):
            pairs += [F.lit(cat), F.lit(j)]
        for cat in spec.other:
            pairs += [F.lit(cat), F.lit(c)]
        known = F.coalesce(F.try_element_at(F.create_map(*pairs), s), unseen) if pairs else unseen
        return F.when(s.isNull(), missing).otherwise(known)

    def _key_column(self, key: EngineKey, source: SparkSource) -> tuple[Column, str, pl.DataType]:
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        if isinstance(key, Day):
            source.require([key.column], "a day key")
            col = _col(key.column)
            if isinstance(source.df.schema[key.column].dataType, T.TimestampType):
                # an instant: its UTC calendar day, whatever the session time zone
                tz = self.session.conf.get("spark.sql.session.timeZone") or "UTC"
                col = F.to_utc_timestamp(col, tz)
            return F.to_date(col).alias(key.name), key.name, pl.Date()
        if isinstance(key, str):
            source.require([key], "a key")
            return _col(key).alias(key), key, source.schema[key]
        raise UsageError(
            "the Spark engine takes column names or a day of a timestamp as keys, "
            f"not the Polars expression {key}"
        )

    def count_query(
        self, source: SparkSource, specs: Sequence[BinSpec], keys: Sequence[EngineKey] = ()
    ) -> tuple[DataFrame, list[str], dict[str, pl.DataType]]:
        """The (lazy) Spark aggregation behind :meth:`count`: one row per (keys, feature index,
        bin) with a count."""
        from pyspark.sql import functions as F

        names = key_names([k if isinstance(k, str) else _named(k) for k in keys])
        key_cols, key_schema = [], {}
        for k in keys:
            col, name, dtype = self._key_column(k, source)
            key_cols.append(col)
            key_schema[name] = dtype
        have = set(source.columns)
        # The bin ids are computed in a projection of their own (compiled by whole-stage
        # codegen; inside the generator they were evaluated row by row: 35% slower).
        bins = [
            self._bin_column(s, s.feature in have).alias(f"{_B}{i}") for i, s in enumerate(specs)
        ]
        pairs = [
            F.struct(F.lit(i).alias(_F), F.col(f"{_B}{i}").alias(_B)) for i in range(len(specs))
        ]
        q = (
            source.df.select(*key_cols, *bins)
            .select(*[_col(n) for n in names], F.inline(F.array(*pairs)))
            .groupBy(*[_col(n) for n in names], F.col(_F), F.col(_B))
            .count()
        )
        return q, names, key_schema

    def count(
        self, source: SparkSource, specs: Sequence[BinSpec], keys: Sequence[EngineKey] = ()
    ) -> pl.DataFrame:
        """The count table of ``source`` by ``keys`` — the same table (dtypes, bin ids, rows)
        as :func:`mlfail.counts.count_frame` — from one Spark aggregation; only the counts are
        collected."""
        if not specs:
            return empty_table(key_names([k if isinstance(k, str) else _named(k) for k in keys]))
        q, names, key_schema = self.count_query(source, specs, keys)
        from pyspark.errors import PySparkException

        try:
            rows = q.collect()
        except PySparkException as exc:
            raise InputError(
                f"{source.role} {source.spec}: Spark could not count it ({_first_line(exc)})"
            ) from None
        return to_count_table(rows, names, key_schema, specs)

    # ---- per-window aggregates (timeline) ----------------------------------------------

    def _collect_keyed(
        self, source: SparkSource, keys: Sequence[EngineKey], aggs: list[Column]
    ) -> tuple[list[Any], list[str], dict[str, pl.DataType]]:
        """One ``groupBy(keys).agg(aggs)`` collected (rows with a null key dropped)."""
        from pyspark.errors import PySparkException

        key_cols, key_schema = [], {}
        for k in keys:
            col, name, dtype = self._key_column(k, source)
            key_cols.append(col)
            key_schema[name] = dtype
        names = list(key_schema)
        q = source.df.groupBy(*key_cols).agg(*aggs)
        for n in names:
            q = q.where(_col(n).isNotNull())
        try:
            return q.collect(), names, key_schema
        except PySparkException as exc:
            raise InputError(
                f"{source.role} {source.spec}: Spark could not aggregate it ({_first_line(exc)})"
            ) from None

    def summary(
        self,
        source: SparkSource,
        keys: Sequence[EngineKey],
        *,
        nulls: Sequence[str] = (),
        mean: str | None = None,
    ) -> pl.DataFrame:
        """Rows, missing values per column and the mean of ``mean`` per key group: one Spark
        aggregation (see :meth:`mlfail.engines.polars.PolarsEngine.summary`)."""
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        types = {f.name: f.dataType for f in source.df.schema.fields}
        aggs = [F.count(F.lit(1)).alias("rows")]
        for i, f in enumerate(nulls):
            miss = _col(f).isNull()
            if isinstance(types[f], T.FloatType | T.DoubleType):
                miss = miss | F.isnan(_col(f))
            aggs.append(F.sum(F.when(miss, 1).otherwise(0)).alias(f"null{i}"))
        if mean is not None:
            x = _col(mean).cast("double")
            aggs.append(F.avg(F.when(~F.isnan(x), x)).alias("mean_score"))
        rows, names, key_schema = self._collect_keyed(source, keys, aggs)
        schema: dict[str, pl.DataType] = {
            **key_schema,
            "rows": pl.UInt32(),
            **{f"null{i}": pl.Int64() for i in range(len(nulls))},
        }
        if mean is not None:
            schema["mean_score"] = pl.Float64()
        return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row").sort(names)

    def task_data(self, source: SparkSource, label: str, prediction: str) -> pl.LazyFrame:
        """A few values standing in for the source in :func:`mlfail.performance.check_values`:
        up to 4 text labels, or the 5 smallest labels other than 0/1, and the smallest and
        largest finite prediction — what that check reads, from two small Spark queries."""
        from pyspark.sql import functions as F

        schema, df = source.schema, source.df
        ldt = schema[label]
        y = _col(label)
        if ldt == pl.String:
            labels = [r[0] for r in df.select(y).where(y.isNotNull()).distinct().limit(4).collect()]
        elif ldt == pl.Boolean:
            labels = []
        else:
            bad = df.select(y).where(y.isNotNull() & ~y.cast("double").isin(0.0, 1.0))
            labels = [r[0] for r in bad.distinct().orderBy(y).limit(5).collect()]
        preds: list[Any] = []
        if schema[prediction].is_numeric():
            x = _col(prediction).cast("double")
            fin = F.when(~F.isnan(x) & (F.abs(x) != F.lit(float("inf"))), x)
            got = df.select(F.min(fin), F.max(fin)).first()
            preds = [v for v in (got or ()) if v is not None]
        n = max(len(labels), len(preds), 1)
        return pl.LazyFrame(
            {
                label: pl.Series(labels + [None] * (n - len(labels)), dtype=ldt),
                prediction: pl.Series(preds + [None] * (n - len(preds)), dtype=pl.Float64),
            }
        )

    def performance(
        self, source: SparkSource, spec: TaskSpec, keys: Sequence[EngineKey]
    ) -> pl.DataFrame:
        """Rows, labelled rows, errors and positives (classification) or the absolute error
        sum (regression) per key group, in one Spark aggregation, finished into accuracy /
        error rate / MAE by :func:`mlfail.performance.finish` exactly as on Polars. No AUC
        (a rank per group): its column is absent."""
        from pyspark.sql import functions as F

        from mlfail.performance import finish

        y, p = _col(spec.label), _col(spec.prediction)
        labelled = y.isNotNull() & p.isNotNull()

        def total(x: Column) -> Column:
            return F.sum(F.when(labelled, x.cast("long")).otherwise(F.lit(0)))

        aggs = [F.count(F.lit(1)).alias("rows"), total(F.lit(1)).alias("labelled")]
        extra: dict[str, pl.DataType]
        if spec.task == "regression":
            err = F.abs(y.cast("double") - p.cast("double"))
            aggs.append(F.sum(F.when(labelled, err)).alias("abs_error_sum"))
            extra = {"abs_error_sum": pl.Float64()}
        else:
            if spec.is_score:
                truth = y.cast("double") >= F.lit(0.5)
                wrong = truth != (p >= F.lit(spec.threshold))
            else:
                truth = y.cast("string") == F.lit("1")
                wrong = p.cast("string") != y.cast("string")
            aggs += [total(wrong).alias("errors"), total(truth).alias("positives")]
            extra = {"errors": pl.Int64(), "positives": pl.Int64()}
        rows, names, key_schema = self._collect_keyed(source, keys, aggs)
        schema = {**key_schema, "rows": pl.UInt32(), "labelled": pl.Int64(), **extra}
        df = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row").sort(names)
        return finish(df, spec)

    # ---- bin specs ---------------------------------------------------------------------

    def build_specs(
        self,
        source: SparkSource,
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
        """Bin specs of the reference ``source`` on Spark: one aggregation for the value counts
        (categorical and integer columns), one ``approxQuantile`` over the numeric columns.
        Kinds and vocabularies are exactly those of the Polars engine; numeric edges are
        ``approxQuantile`` values within the stated rank error (module docstring). No
        ``profile`` (:mod:`mlfail.engines.spark_profile` makes it) and no reuse of Polars
        ``value_counts``: both are left as they are."""
        from pyspark.sql import functions as F

        schema = source.schema
        df = source.df
        planned = plan_kinds(schema, features, settings, categorical, numeric, source.role)
        cats = [f for f in features if planned[f] in ("categorical", "forced_categorical")]
        ints = [f for f in features if planned[f] == "integer"]

        # 1. exact value counts of the categorical and integer columns, in one aggregation;
        # only what a spec needs reaches the driver: an integer column's values when it has at
        # most max_int_categories of them (else it is numeric), a categorical column's unless
        # it is identifier-like (more than 50 distinct values, over half of its non-null rows
        # distinct: binning.looks_like_identifier) and was not named.
        counted = cats + ints
        vcs, distinct = _value_counts(df, counted, ints, cats, planned, settings, explicit)
        made: dict[str, BinSpec | None] = {}
        for f in cats:
            made[f] = _categorical_spec(
                f, vcs[f], planned[f], schema[f], settings, explicit=explicit
            )
            if made[f] is not None and distinct.get(f, 0) > vcs[f].height:
                made[f] = None  # identifier-like: only its first value was collected
        nums = [f for f in features if planned[f] == "numeric"]
        for f in ints:
            if distinct.get(f, 0) <= settings.max_int_categories:
                made[f] = _categorical_spec(
                    f, vcs[f], planned[f], schema[f], settings, explicit=explicit
                )
            else:
                nums.append(f)

        # 3. quantile edges of the numeric columns over their finite values
        if nums:
            finite = []
            for i, f in enumerate(nums):
                x = _col(f).cast("double")
                ok = ~F.isnan(x) & (F.abs(x) != F.lit(float("inf")))
                finite.append(F.when(ok, x).alias(f"q{i}"))
            qs = df.select(*finite).approxQuantile(
                [f"q{i}" for i in range(len(nums))],
                quantile_levels(settings.bins),
                self.relative_error,
            )
            for f, q in zip(nums, qs, strict=True):
                made[f] = BinSpec(
                    feature=f, kind="numeric", edges=numeric_edges(list(q)), dtype=str(schema[f])
                )

        specs: list[BinSpec] = []
        for f in features:
            spec = made[f]
            if spec is None:
                if identifiers is not None:
                    identifiers.append(f)
                continue
            specs.append(spec)
        return specs

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "quantiles": "spark approxQuantile",
            "quantile_relative_error": self.relative_error,
        }


def value_counts(df: DataFrame, columns: Sequence[tuple[int, str]]) -> DataFrame:
    """The value counts of every ``(index, column)`` in one aggregation: rows of (``_F`` = the
    index, ``v`` = the non-null value cast to string, ``count``). The (index, value) pairs of a
    row are exploded (``inline``) and grouped once."""
    from pyspark.sql import functions as F

    pairs = [F.struct(F.lit(i).alias(_F), _col(f).cast("string").alias("v")) for i, f in columns]
    return (
        df.select(F.inline(F.array(*pairs))).where(F.col("v").isNotNull()).groupBy(_F, "v").count()
    )


def _value_counts(
    df: DataFrame,
    counted: list[str],
    ints: list[str],
    cats: list[str],
    planned: dict[str, str],
    settings: BinSettings,
    explicit: bool,
) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
    """Step 1 of :meth:`SparkEngine.build_specs`: exact value counts of the ``counted``
    (categorical and integer) columns in one aggregation, and their distinct counts."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    vcs: dict[str, pl.DataFrame] = {}
    distinct: dict[str, int] = {}
    if counted:
        per = Window.partitionBy(_F)
        nd, nn = F.count(F.lit(1)).over(per), F.sum("count").over(per)
        int_idx = [counted.index(f) for f in ints]
        ident_idx = [counted.index(f) for f in cats if planned[f] == "categorical"]
        keep = (
            F.when(F.col(_F).isin(int_idx), F.col("nd") <= settings.max_int_categories)
            .when(
                F.col(_F).isin(ident_idx) & F.lit(not explicit),
                ~((F.col("nd") > 50) & (F.col("nd") > F.col("nn") * 0.5)),
            )
            .otherwise(F.lit(True))
        )
        rows = (
            value_counts(df, list(enumerate(counted)))
            .select(
                _F,
                "v",
                "count",
                nd.alias("nd"),
                nn.alias("nn"),
                F.row_number().over(per.orderBy("v")).alias("rn"),
            )
            .where(keep | (F.col("rn") == 1))
            .collect()
        )
        by: dict[int, tuple[list[str], list[int]]] = {i: ([], []) for i in range(len(counted))}
        for r in rows:
            distinct[counted[r[_F]]] = int(r["nd"])
            by[r[_F]][0].append(r["v"])
            by[r[_F]][1].append(int(r["count"]))
        for i, f in enumerate(counted):
            v, n = by[i]
            vcs[f] = pl.DataFrame(
                {"v": pl.Series(v, dtype=pl.String), "len": pl.Series(n, dtype=pl.UInt32)}
            )
    return vcs, distinct


def _named(key: EngineKey) -> str:
    if isinstance(key, Day):
        return key.name
    assert isinstance(key, pl.Expr)
    return key.meta.output_name()


def to_count_table(
    rows: Sequence[Any],
    names: list[str],
    key_schema: dict[str, pl.DataType],
    specs: Sequence[BinSpec],
) -> pl.DataFrame:
    """Collected ``(keys…, feature index, bin, count)`` rows as a count table: the dtypes of
    :func:`mlfail.counts.count_frame`, ordered by feature (spec order), keys and bin."""
    if not rows:
        return empty_table(names, pl.Schema(key_schema))
    schema = {
        **{n: key_schema[n] for n in names},
        _F: pl.Int64(),
        _B: pl.Int64(),
        "count": pl.Int64(),
    }
    raw = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
    feature = pl.col(_F).replace_strict(
        list(range(len(specs))), [s.feature for s in specs], return_dtype=pl.String
    )
    return raw.sort([_F, *names, _B], nulls_last=True).select(
        *names,
        feature.alias("feature"),
        pl.col(_B).cast(pl.UInt32).alias("bin"),
        pl.col("count").cast(pl.UInt64).alias("n"),
    )
