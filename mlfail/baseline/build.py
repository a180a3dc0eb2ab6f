"""Building a baseline: profile a reference source (Polars, or Spark through
:mod:`mlfail.engines.spark_profile`) into a :class:`~mlfail.baseline.model.Baseline`."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from mlfail.baseline.model import Baseline, content_hash, now, segment_dtype_ok
from mlfail.baseline.reference import BaselineReference, load_baseline_reference
from mlfail.binning import BinSettings, BinSpec
from mlfail.cohort_pass import cohort_pass
from mlfail.config import Roles, check_role_conflicts
from mlfail.counts import distinct_counts, joint_groups
from mlfail.engines import Engine, get_engine
from mlfail.engines.polars import PolarsEngine
from mlfail.errors import UsageError
from mlfail.featureprofile import add_frequencies
from mlfail.featurestats import (
    MEAN_DEFAULT,
    NUMERIC_DEFAULTS,
    QUANTILE_LEVELS,
    FeatureStats,
    finite_or_none,
    is_default_value,
    is_numeric_dtype,
    is_string_dtype,
    level_key,
    mean_tolerance,
)
from mlfail.io import Source
from mlfail.performance import Task, TaskSpec, infer_task, performance_table
from mlfail.reference import SourceReference, coarsen, reference_from_source
from mlfail.roles import resolve_roles
from mlfail.timekeys import normalize_timestamp

MAX_SEGMENT_VALUES = 1000
MAX_JOINT_GROUPS = 5000  # segments are counted together in groups of at most this many cells
ADDITIVE_PERF = ("rows", "labelled", "errors", "positives", "abs_error_sum", "scored")


def _file_sizes(source: Source) -> list[tuple[str, int]]:
    out = []
    for f in source.files:  # a Spark source lists the files its DataFrame reads
        try:
            out.append((f, os.path.getsize(f)))
        except OSError:
            out.append((f, -1))
    return out


def _scalar_stats(
    lf: pl.LazyFrame, specs: Sequence[BinSpec], schema: pl.Schema
) -> dict[str, dict[str, Any]]:
    """Null counts, ±inf counts, min/max/mean/std and default-value counts of every feature in
    one streaming select."""
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    for i, spec in enumerate(specs):
        dtype = schema[spec.feature]
        if is_numeric_dtype(dtype):
            x = pl.col(spec.feature).cast(pl.Float64)
            fin = x.filter(x.is_finite())
            exprs += [
                (x.is_null() | x.is_nan()).sum().alias(f"{i}|nulls"),
                (x == -math.inf).sum().alias(f"{i}|neg_inf"),
                (x == math.inf).sum().alias(f"{i}|pos_inf"),
                fin.count().alias(f"{i}|count"),
                fin.min().alias(f"{i}|min"),
                fin.max().alias(f"{i}|max"),
                fin.mean().alias(f"{i}|mean"),
                fin.std().alias(f"{i}|std"),
            ]
            exprs += [(x == v).sum().alias(f"{i}|d|{k}") for k, v in NUMERIC_DEFAULTS.items()]
        else:
            s = pl.col(spec.feature).cast(pl.String)
            exprs.append(s.is_null().sum().alias(f"{i}|nulls"))
    row = lf.select(exprs).collect(engine="streaming").row(0, named=True)
    out: dict[str, dict[str, Any]] = {"__rows": {"rows": int(row["__rows"])}}
    for i, spec in enumerate(specs):
        d: dict[str, Any] = {"defaults": {}}
        for k, v in row.items():
            if not k.startswith(f"{i}|"):
                continue
            name = k.split("|", 1)[1]
            if name.startswith("d|"):
                d["defaults"][name[2:]] = int(v)
            else:
                d[name] = v
        out[spec.feature] = d
    return out


def _profile_features(
    lf: pl.LazyFrame,
    specs: Sequence[BinSpec],
    schema: pl.Schema,
    done: dict[str, FeatureStats] | None = None,
) -> tuple[int, dict[str, FeatureStats]]:
    """Every feature's profile: those ``done`` by the bin specs' read as they are, the others
    (all when none was done, e.g. ``--specs-from``) from one aggregation and a query each."""
    done = done or {}
    todo = [s for s in specs if s.feature not in done]
    if not todo:
        rows = next(iter(done.values())).rows if done else int(lf.select(pl.len()).collect().item())
        return rows, {s.feature: done[s.feature] for s in specs}
    scal = _scalar_stats(lf, todo, schema)
    rows = int(scal["__rows"]["rows"])
    levels = list(QUANTILE_LEVELS)
    stats: dict[str, FeatureStats] = {}
    for spec in todo:
        d = scal[spec.feature]
        dtype = schema[spec.feature]
        st = FeatureStats(
            feature=spec.feature,
            kind=spec.kind,
            dtype=str(dtype),
            rows=rows,
            nulls=int(d["nulls"]),
            numeric=is_numeric_dtype(dtype),
            defaults=dict(d["defaults"]),
        )
        if st.numeric:
            st.count = int(d["count"])
            st.neg_inf, st.pos_inf = int(d["neg_inf"]), int(d["pos_inf"])
            st.min, st.max = finite_or_none(d["min"]), finite_or_none(d["max"])
            st.mean, st.std = finite_or_none(d["mean"]), finite_or_none(d["std"])
            # One column at a time: memory stays at one column, never the whole frame.
            x = pl.col(spec.feature).cast(pl.Float64)
            fin = x.filter(x.is_finite())
            sel = [fin.quantile(levels, interpolation="linear").alias("q")]
            if st.mean is not None:
                tol = mean_tolerance(st.mean)
                sel.append(((x - st.mean).abs() <= tol).sum().alias("m"))
            row = lf.select(sel).collect(engine="streaming").row(0, named=True)
            qs = list(row["q"]) if row["q"] is not None else [None] * len(levels)
            st.quantiles = {
                level_key(lv): finite_or_none(q) for lv, q in zip(levels, qs, strict=True)
            }
            if st.mean is not None and not is_default_value(st.mean):
                st.defaults[MEAN_DEFAULT] = int(row["m"])
        if spec.kind == "categorical":
            vc = (
                lf.select(pl.col(spec.feature).cast(pl.String).alias("v"))
                .drop_nulls()
                .group_by("v")
                .len()
                .collect(engine="streaming")
            )
            add_frequencies(st, vc, dtype)
        stats[spec.feature] = st
    return rows, {s.feature: done.get(s.feature) or stats[s.feature] for s in specs}


def _add_scored(
    perf: pl.DataFrame, counts: pl.DataFrame, keys: list[str], pred: BinSpec
) -> pl.DataFrame:
    """Rows with a prediction per key group (from the prediction counts), so that mean_score
    can be merged exactly."""
    sc = (
        counts.filter((pl.col("feature") == pred.feature) & (pl.col("bin") != pred.missing_index))
        .group_by(keys or [pl.lit(0).alias("__k")])
        .agg(pl.col("n").sum().cast(pl.Int64).alias("scored"))
    )
    if not keys:
        value = int(sc["scored"].sum()) if sc.height else 0
        return perf.with_columns(pl.lit(value, dtype=pl.Int64).alias("scored"))
    out = perf.join(sc, on=keys, how="left", nulls_equal=True)
    return out.with_columns(pl.col("scored").fill_null(0))


def build_baseline(
    reference: str | Source | Any,
    roles: Roles | None = None,
    *,
    segments: Sequence[str] = (),
    bin_settings: BinSettings | None = None,
    task: Task | None = None,
    specs_from: Baseline | None = None,
    with_performance: bool = True,
    progress: bool | None = None,
    engine: Engine | str | None = None,
) -> Baseline:
    """Profile a reference source into a :class:`Baseline` (see the module docstring).

    ``specs_from`` reuses another baseline's bin specs (features, edges, categories and the
    prediction spec) so that baselines of partitions can be merged.

    ``engine="spark"`` reads and counts on Spark (:mod:`mlfail.engines.spark`): the specs,
    count tables and feature statistics are computed there (quantiles within Spark's stated
    rank error); reference performance (``--label`` with ``--prediction``) is Polars-only.
    """
    roles = roles or Roles()
    bin_settings = bin_settings or BinSettings()
    eng = get_engine(engine) if engine is not None else PolarsEngine(progress=progress)
    on_polars = eng.name == "polars"
    if not on_polars and with_performance and roles.label and roles.prediction:
        raise UsageError(
            f"--engine {eng.name}: reference performance (--label with --prediction) is "
            "computed on the Polars engine only for now; drop --label to build the counts, "
            "statistics and prediction distribution on Spark, or use --engine polars"
        )
    source = _open_reference(reference, roles, eng)
    # §9: the roles are decided once, on the reference, and stored in the baseline
    roles = resolve_roles(source, None, roles)
    segments = list(dict.fromkeys(segments))
    n_values = _check_segments(source, segments, roles, on_polars)
    frozen = _freeze_specs(source, roles, specs_from, bin_settings, eng, progress)
    specs, pred_spec = frozen.specs, frozen.prediction
    task_spec: TaskSpec | None = None
    if with_performance and roles.label and roles.prediction and pred_spec is not None:
        task_spec = infer_task(
            source.schema,
            roles.label,
            roles.prediction,
            task=task,
            data=source.lf,
            origin=f"--reference {source.spec}",
        )
    elif task is not None:
        raise UsageError("--task needs --label and --prediction")
    all_specs = [*specs, *([pred_spec] if pred_spec else [])]
    tables, perf = _count_tables(source, all_specs, segments, n_values, eng, progress, task_spec)

    if on_polars:
        rows, stats = _profile_features(source.lf, specs, source.schema, frozen.profile)
    else:
        from mlfail.engines.spark import SparkEngine
        from mlfail.engines.spark_profile import profile

        assert isinstance(eng, SparkEngine)
        rows, stats = profile(eng, source, specs)
    if task_spec is not None and pred_spec is not None:
        perf = _reference_performance(source, task_spec, segments, tables, pred_spec, perf)

    files = _file_sizes(source)
    return Baseline(
        specs=list(specs),
        prediction_spec=pred_spec,
        rows=rows,
        schema={k: str(v) for k, v in source.schema.items()},
        roles=roles,
        segments=segments,
        key_dtypes={s: _key_dtype_name(source.schema[s]) for s in segments},
        bin_settings=frozen.settings,
        stats=stats,
        tables=tables,
        task=task_spec,
        perf=perf,
        sources=[
            {
                "spec": source.spec,
                "files": len(files),
                "bytes": sum(max(s, 0) for _, s in files),
                **({"where": w} if (w := getattr(source, "where", None)) else {}),
            }
        ],
        content_hash=content_hash(files),
        created_at=now(),
        skipped=frozen.skipped,
    )


def _open_reference(reference: str | Source | Any, roles: Roles, eng: Engine) -> Any:
    """The reference as a source of ``eng``, its timestamp normalised and its role columns
    checked."""
    # a Polars Source or, with --engine spark, a SparkSource (mlfail.engines.spark)
    source: Any = (
        eng.open(reference, role="--reference") if isinstance(reference, str) else reference
    )
    check_role_conflicts(roles)
    source = normalize_timestamp(source, roles.timestamp)
    for flag, col in (
        ("--timestamp", roles.timestamp),
        ("--label", roles.label),
        ("--prediction", roles.prediction),
        *(("--meta", m) for m in roles.meta),
    ):
        if col:
            source.require([col], flag)
    return source


def _check_segments(
    source: Any, segments: list[str], roles: Roles, on_polars: bool
) -> dict[str, int]:
    """Reject a segment column that is a role, of the wrong type or has too many values;
    return the number of distinct values of each segment."""
    source.require(segments, "--segment")
    for seg in segments:
        if seg in (roles.prediction, roles.label, roles.timestamp):
            raise UsageError(
                f"--segment {seg}: a model output, label or timestamp is not a segment"
            )
        if not segment_dtype_ok(source.schema[seg]):
            raise UsageError(
                f"--segment {seg}: column has type {source.schema[seg]}; a segment must be a "
                "low-cardinality string, integer, boolean or date column"
            )
    n_values: dict[str, int] = {}
    if segments:
        # the roles query counted the values of this very frame: a kept table's height is the
        # exact distinct count (a null counts as one, as in distinct_counts)
        kept = roles.assignment.values_of(source) if roles.assignment else None
        nu = {s: kept[s].height for s in segments if kept is not None and s in kept}
        rest = [s for s in segments if s not in nu]
        if rest:
            nu |= distinct_counts(source.lf, rest) if on_polars else source.n_unique(rest)
        for s in segments:
            n_values[s] = int(nu[s])
            if nu[s] > MAX_SEGMENT_VALUES:
                raise UsageError(
                    f"--segment {s}: {nu[s]} distinct values in {source.spec}; a segment column "
                    f"must have at most {MAX_SEGMENT_VALUES}"
                )
    return n_values


@dataclass
class _FrozenSpecs:
    """The bin specs a baseline stores, with the settings that made them."""

    specs: list[BinSpec]
    prediction: BinSpec | None
    settings: dict[str, Any]
    skipped: list[str]
    profile: dict[str, FeatureStats] = field(default_factory=dict)  # made by the same read


def _freeze_specs(
    source: Any,
    roles: Roles,
    specs_from: Baseline | None,
    bin_settings: BinSettings,
    eng: Engine,
    progress: bool | None,
) -> _FrozenSpecs:
    """The features' and the prediction's bin specs: ``specs_from``'s, or built on ``source``."""
    if specs_from is not None:
        return _specs_from(source, roles, specs_from)
    profile: dict[str, FeatureStats] = {}
    ref, skipped = reference_from_source(
        source, roles, bin_settings=bin_settings, progress=progress, engine=eng, profile=profile
    )
    specs = ref.specs
    pred_spec = None
    if roles.prediction:
        pred_spec = eng.build_specs(
            source,
            [roles.prediction],
            settings=bin_settings,
            explicit=True,
        )[0]
    settings_dict = {
        "bins": bin_settings.bins,
        "fold_below": bin_settings.fold_below,
        "max_categories": bin_settings.max_categories,
        "max_int_categories": bin_settings.max_int_categories,
    }
    if eng.name != "polars":  # how the edges were made, with their rank-error bound
        settings_dict.update(eng.describe())
    return _FrozenSpecs(specs, pred_spec, settings_dict, skipped, profile)


def _specs_from(source: Any, roles: Roles, specs_from: Baseline) -> _FrozenSpecs:
    """``--specs-from``: another baseline's specs, checked against the flags and the source."""
    if roles.features is not None or roles.categorical or roles.numeric:
        raise UsageError(
            "--specs-from fixes the features and their bins; drop --features, "
            "--categorical and --numeric"
        )
    specs = list(specs_from.specs)
    source.require([s.feature for s in specs], "--specs-from")
    pred_spec = specs_from.prediction_spec
    if pred_spec is not None and roles.prediction != pred_spec.feature:
        raise UsageError(
            f"--specs-from {specs_from.path}: it bins the prediction column "
            f"{pred_spec.feature!r}; pass --prediction {pred_spec.feature}"
        )
    if pred_spec is None and roles.prediction:
        raise UsageError(
            f"--specs-from {specs_from.path}: it has no prediction column; "
            f"drop --prediction {roles.prediction} or rebuild it with the same flag"
        )
    return _FrozenSpecs(specs, pred_spec, dict(specs_from.bin_settings), list(specs_from.skipped))


def _count_tables(
    source: Any,
    all_specs: list[BinSpec],
    segments: list[str],
    n_values: dict[str, int],
    eng: Engine,
    progress: bool | None,
    task: TaskSpec | None,
) -> tuple[dict[tuple[str, ...], pl.DataFrame], dict[tuple[str, ...], pl.DataFrame]]:
    """The reference count tables without keys and by each segment; on Polars with segments
    and a task, the performance by each segment and overall from the same read."""
    if segments and eng.name == "polars":
        # every segment's table from one chunked read (the segments counted in small cubes);
        # the table without keys is any of them summed over its segment
        by_seg, _, by_value, overall = cohort_pass(
            source.lf, all_specs, segments, per_value=task, origin=f"--reference {source.spec}"
        )
        by_key: dict[tuple[str, ...], pl.DataFrame] = {(): coarsen(by_seg[segments[0]], [])}
        by_key.update(((s,), by_seg[s]) for s in segments)
        perf: dict[tuple[str, ...], pl.DataFrame] = {(s,): by_value[s] for s in by_value}
        if overall is not None:
            perf[()] = overall
        return by_key, perf
    counter = SourceReference(source, all_specs, progress=progress, engine=eng)
    tables: dict[tuple[str, ...], pl.DataFrame] = {}
    # one pass per group of segments whose combinations are few (all of them together when
    # they fit); each single segment and () are sums of a group's cube
    for group in joint_groups({s: n_values[s] for s in segments}, MAX_JOINT_GROUPS):
        if len(group) > 1:
            counter.prefetch(group)
    for seg in segments:
        t = counter.table((seg,))
        assert t is not None
        tables[(seg,)] = t
    t0 = counter.table(())
    assert t0 is not None
    return {(): t0, **tables}, {}


def _reference_performance(
    source: Any,
    task_spec: TaskSpec,
    segments: list[str],
    tables: dict[tuple[str, ...], pl.DataFrame],
    pred_spec: BinSpec,
    counted: dict[tuple[str, ...], pl.DataFrame],
) -> dict[tuple[str, ...], pl.DataFrame]:
    """The reference performance, globally and by each segment (Polars only): ``counted``
    (what the segments' read gave, AUC included), else — without segments — one query."""
    perf: dict[tuple[str, ...], pl.DataFrame] = {}
    # a key set the read did not give is one query, one after the other: the AUC ranks hold
    # the label and score of every row, so collected together they held them once per key set
    for keys in [[], *([s] for s in segments)]:
        p = counted.get(tuple(keys))
        if p is None:
            p = performance_table(source.lf, task_spec, keys)
        p = p.with_columns(pl.col(c).cast(pl.Int64) for c in ADDITIVE_PERF[:4] if c in p.columns)
        perf[tuple(keys)] = _add_scored(p, tables[tuple(keys)], keys, pred_spec)
    return perf


def _key_dtype_name(dtype: pl.DataType) -> str:
    return "String" if is_string_dtype(dtype) else str(dtype)


def profile_reference(
    reference: str | Source | None,
    baseline: str | None,
    roles: Roles,
    *,
    bin_settings: BinSettings | None = None,
    progress: bool | None = None,
) -> BaselineReference:
    """The reference side as a profile: a saved baseline, or one built in memory from data
    (no segments, no performance) — what ``mlfail check quality`` compares against."""
    if reference is not None and baseline is not None:
        raise UsageError("give either --reference or --baseline, not both")
    if baseline is not None:
        return load_baseline_reference(baseline, roles)
    if reference is None:
        raise UsageError(
            "--reference or --baseline is required: the training snapshot to compare against"
        )
    b = build_baseline(
        reference,
        roles,
        bin_settings=bin_settings,
        with_performance=False,
        progress=progress,
    )
    src_name = reference.spec if isinstance(reference, Source) else str(reference)
    return BaselineReference(b, roles, name=src_name)
