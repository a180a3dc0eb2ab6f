"""Data quality and schema checks (design §4), live vs a reference profile.

The reference side is a :class:`mlfail.baseline.BaselineReference` (a saved baseline, or one
profiled in memory from ``--reference``). The live side is read in two streaming passes: the
count table over the frozen bin specs (null counts from the missing bin, unseen-category counts
from the ``__unseen__`` bin) and one ``select`` of plain aggregations (values outside the
reference [min, max], default-fill candidates, live min/max for frozen columns). Only features
that have unseen categories get one more small pass to name their top unseen values.

Rules, severities and thresholds are documented in ``docs/quality-rules.md``; rule names are
the JSON contract. Each rule is one function in :mod:`mlfail.quality_rules`, registered in its
list there; the model (settings, findings, report, statistics) is :mod:`mlfail.quality_model`,
re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import polars as pl

from mlfail.baseline import (
    MEAN_DEFAULT,
    NUMERIC_DEFAULTS,
    STRING_DEFAULTS,
    BaselineReference,
    FeatureStats,
    is_numeric_dtype,
    is_string_dtype,
    mean_tolerance,
)
from mlfail.binning import BinSpec
from mlfail.config import Roles
from mlfail.counts import count_source, dense
from mlfail.io import Source
from mlfail.quality_model import NORM as NORM
from mlfail.quality_model import QUALITY_SCHEMA_VERSION as QUALITY_SCHEMA_VERSION
from mlfail.quality_model import RULES as RULES
from mlfail.quality_model import SEVERITY_ORDER as SEVERITY_ORDER
from mlfail.quality_model import QualityFinding as QualityFinding
from mlfail.quality_model import QualityReport as QualityReport
from mlfail.quality_model import QualitySettings as QualitySettings
from mlfail.quality_model import Severity as Severity
from mlfail.quality_model import countable as countable
from mlfail.quality_model import dtype_change_severity as dtype_change_severity
from mlfail.quality_model import dtype_family as dtype_family
from mlfail.quality_model import outside_range_p_value as outside_range_p_value
from mlfail.quality_model import pct as pct
from mlfail.quality_model import two_proportion_test as two_proportion_test
from mlfail.quality_rules import (
    FEATURE_RULES,
    REFERENCE_COLUMN_RULES,
    _Feature,
    _Run,
    _schema_new_column,
    _significant,
)
from mlfail.roles import resolve_roles


def _defaults_for(st: FeatureStats, dtype: pl.DataType) -> dict[str, float | str]:
    """Default-fill candidates for a feature: label → value."""
    if is_numeric_dtype(dtype) and st.numeric:
        cands: dict[str, float | str] = dict(NUMERIC_DEFAULTS)
        if MEAN_DEFAULT in st.defaults and st.mean is not None:
            cands[MEAN_DEFAULT] = st.mean
        return cands
    if is_string_dtype(dtype) and not st.numeric and st.dtype not in ("Boolean",):
        return {c: c for c in STRING_DEFAULTS}
    return {}


def _live_aggregates(
    lf: pl.LazyFrame,
    specs: Sequence[BinSpec],
    ref_stats: dict[str, FeatureStats],
    schema: pl.Schema,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float | str]]]:
    """One select over live: out-of-range counts, default-value counts and min/max per
    feature."""
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    norm_cols: dict[str, pl.Expr] = {}
    cands_by: dict[str, dict[str, float | str]] = {}
    for i, spec in enumerate(specs):
        st = ref_stats[spec.feature]
        dtype = schema[spec.feature]
        if is_numeric_dtype(dtype):
            x = pl.col(spec.feature).cast(pl.Float64)
            val = x.filter(x.is_not_nan())
            exprs += [val.count().alias(f"{i}|n"), val.min().alias(f"{i}|min")]
            exprs.append(val.max().alias(f"{i}|max"))
            if st.numeric and st.min is not None and st.max is not None:
                below, above = val < st.min, val > st.max
                if st.neg_inf:  # -inf was in the reference too
                    below = below & (val != -math.inf)
                if st.pos_inf:
                    above = above & (val != math.inf)
                exprs.append(below.sum().alias(f"{i}|below"))
                exprs.append(above.sum().alias(f"{i}|above"))
        else:
            s = pl.col(spec.feature).cast(pl.String)
            exprs += [s.count().alias(f"{i}|n"), s.min().alias(f"{i}|min")]
            exprs.append(s.max().alias(f"{i}|max"))
        cands = _defaults_for(st, dtype)
        cands_by[spec.feature] = cands
        for j, (label, v) in enumerate(cands.items()):
            if isinstance(v, str):
                if f"{NORM}{i}" not in norm_cols:  # normalise once per column, not per value
                    norm_cols[f"{NORM}{i}"] = (
                        pl.col(spec.feature).cast(pl.String).str.strip_chars().str.to_lowercase()
                    )
                exprs.append((pl.col(f"{NORM}{i}") == v).sum().alias(f"{i}|d{j}"))
            elif label == MEAN_DEFAULT:
                x = pl.col(spec.feature).cast(pl.Float64)
                exprs.append(((x - v).abs() <= mean_tolerance(v)).sum().alias(f"{i}|d{j}"))
            else:
                x = pl.col(spec.feature).cast(pl.Float64)
                exprs.append((x == v).sum().alias(f"{i}|d{j}"))
    if norm_cols:
        lf = lf.with_columns(expr.alias(name) for name, expr in norm_cols.items())
    row = lf.select(exprs).collect(engine="streaming").row(0, named=True)
    out: dict[str, dict[str, Any]] = {"__rows": {"rows": int(row["__rows"])}}
    for i, spec in enumerate(specs):
        d: dict[str, Any] = {}
        labels = list(cands_by[spec.feature])
        for k, v in row.items():
            if k.startswith(f"{i}|"):
                name = k.split("|", 1)[1]
                if name.startswith("d") and name[1:].isdigit():
                    d.setdefault("defaults", {})[labels[int(name[1:])]] = int(v)
                else:
                    d[name] = v
        out[spec.feature] = d
    return out, cands_by


def check_quality(
    ref: BaselineReference,
    live: Source,
    settings: QualitySettings | None = None,
    *,
    roles: Roles | None = None,
    progress: bool | None = None,
) -> QualityReport:
    """Every §4 rule for every feature of ``ref`` against ``live``: the schema rules on every
    column, then the rules of :data:`FEATURE_RULES` on each feature that can be counted, then
    Benjamini–Hochberg within each tested rule family."""
    settings = settings or QualitySettings()
    # §9: the roles the profile stored, this run's flags on top, checked against the live
    # schema (a one-sided column is a schema finding below, never a drift); no extra scan
    assignment = resolve_roles(None, live, roles or Roles(), ref.assignment).assignment
    run = _Run(ref, live, settings, {s.feature for s in ref.specs})

    # -- schema diff
    for col, ref_dtype in ref.schema.items():
        for column_rule in REFERENCE_COLUMN_RULES:
            if not column_rule(run, col, ref_dtype):
                break
    for col, live_dtype in run.live_schema.items():
        _schema_new_column(run, col, live_dtype)

    # -- per-feature rules on the features the live data can be counted for
    live_schema = run.live_schema
    specs = [
        s
        for s in ref.specs
        if s.feature in live_schema
        and s.feature not in run.broken
        and countable(s, live_schema[s.feature])
    ]
    ref_stats = ref.stats
    ref_table = ref.table(())
    assert ref_table is not None
    live_table = count_source(live, specs, (), progress=progress)
    agg, cands_by = _live_aggregates(live.lf, specs, ref_stats, live_schema)
    run.m = m = int(agg["__rows"]["rows"])

    for spec in specs:
        f = spec.feature
        rc = dense(ref_table, spec)
        feat = _Feature(spec, ref_stats[f], agg[f], rc, dense(live_table, spec), int(rc.sum()))
        feat.cands = cands_by[f]
        for rule in FEATURE_RULES:
            rule(run, feat)

    _significant(run)
    warnings = [] if m else [f"--live {live.spec}: no rows; only the schema was checked"]
    rule_rank = {r: i for i, r in enumerate(RULES)}
    findings = run.findings
    findings.sort(key=lambda x: (-SEVERITY_ORDER[x.severity], rule_rank[x.rule], x.feature))
    return QualityReport(
        reference=ref.name,
        live=live.spec,
        reference_rows=ref.rows,
        live_rows=m,
        findings=findings,
        checks=run.checks,
        settings=settings.__dict__.copy(),
        warnings=warnings,
        roles=assignment,
    )
