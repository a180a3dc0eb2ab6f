"""Data quality and schema checks (design §4), live vs a reference profile.

The reference side is a :class:`mlfail.baseline.BaselineReference` (a saved baseline, or one
profiled in memory from ``--reference``). The live side is read in two streaming passes: the
count table over the frozen bin specs (null counts from the missing bin, unseen-category counts
from the ``__unseen__`` bin) and one ``select`` of plain aggregations (values outside the
reference [min, max], default-fill candidates, live min/max for frozen columns). Only features
that have unseen categories get one more small pass to name their top unseen values.

Rules, severities and thresholds are documented in ``docs/quality-rules.md``; rule names are
the JSON contract.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
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
from mlfail.binning import UNSEEN, BinSpec
from mlfail.counts import count_source, dense
from mlfail.errors import UsageError
from mlfail.io import Source
from mlfail.psi import bh_adjust

QUALITY_SCHEMA_VERSION = 1
NORM = "__mlfail_norm_"  # temporary columns: normalised strings for default-fill counts
Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 3, "warning": 2, "info": 1}
RULES = (
    "schema_missing_column",
    "schema_new_column",
    "schema_dtype_change",
    "null_rate",
    "unseen_categories",
    "out_of_range",
    "default_fill",
    "frozen",
)


@dataclass(frozen=True)
class QualitySettings:
    alpha: float = 0.05  # BH level per rule family
    null_error: float = 0.01  # non-null in training, more than this live → error
    null_min_jump: float = 0.005  # a significant null-rate rise at least this big → warning
    unseen_warning: float = 0.01
    unseen_error: float = 0.05
    range_warning: float = 0.01
    range_error: float = 0.05
    default_warning: float = 0.05  # rise in the share of one default value
    default_error: float = 0.20
    frozen_chance: float = 1e-6  # bound on P(constant by chance) below which constant = frozen

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise UsageError(f"--alpha must be in (0, 1) (got {self.alpha})")


@dataclass
class QualityFinding:
    """One broken expectation. Field names are the JSON contract (docs/quality-rules.md)."""

    feature: str
    rule: str
    severity: Severity
    reference: Any
    live: Any
    message: str


@dataclass
class QualityReport:
    reference: str
    live: str
    reference_rows: int
    live_rows: int
    findings: list[QualityFinding]
    checks: list[tuple[str, str]]  # every (feature or column, rule) evaluated
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    schema_version: int = QUALITY_SCHEMA_VERSION

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def at_or_above(self, severity: str) -> list[QualityFinding]:
        level = SEVERITY_ORDER[severity]
        return [f for f in self.findings if SEVERITY_ORDER[f.severity] >= level]

    def findings_for(self, feature: str, rule: str) -> list[QualityFinding]:
        return [f for f in self.findings if f.feature == feature and f.rule == rule]


# ---- statistics ----------------------------------------------------------------------------


def two_proportion_test(
    x1: int, n1: int, x2: int, n2: int, *, alternative: str = "two-sided"
) -> tuple[float, float]:
    """Pooled two-proportion z-test of p2 vs p1: returns (z, p-value).

    ``alternative="greater"`` tests p2 > p1. Equivalent to Pearson's χ² test of the 2×2 table
    without continuity correction (z² = χ²). A degenerate table (pooled share 0 or 1) gives
    (0, 1).
    """
    from scipy import stats  # lazy: scipy.stats costs ~0.8 s to import

    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x2 / n2 - x1 / n1) / se
    if alternative == "greater":
        return z, float(stats.norm.sf(z))
    return z, float(2 * stats.norm.sf(abs(z)))


def outside_range_p_value(k: int, m: int, n_ref: int) -> float:
    """P(at least k of m live values fall outside the [min, max] of n_ref reference values)
    when live and reference come from the same continuous distribution.

    The probability mass outside the reference range is U = F(min) + 1 − F(max), the sum of two
    of the n+1 uniform spacings: U ~ Beta(2, n−1). Given U the count is Binomial(m, U), so the
    count is Beta-Binomial(m, 2, n−1) (mean 2m/(n+1)). A plain binomial with p = 2/(n+1) would
    ignore that all live values share the same reference extremes and cry wolf. With ties
    (discrete data) the test is conservative."""
    from scipy import stats  # lazy: scipy.stats costs ~0.8 s to import

    if m <= 0 or k <= 0 or n_ref < 2:
        return 1.0
    return float(stats.betabinom.sf(k - 1, m, 2, n_ref - 1))


# ---- schema ----------------------------------------------------------------------------------

_FAMILIES = (
    ("integer", lambda d: d.is_integer()),
    ("float", lambda d: d.is_float() or d.is_decimal()),
    ("boolean", lambda d: d == pl.Boolean),
    ("string", is_string_dtype),
    ("temporal", lambda d: d.is_temporal()),
)


def dtype_family(dtype: pl.DataType) -> str:
    for name, test in _FAMILIES:
        if test(dtype):
            return name
    return "other"


def _family_of(text: str) -> str:
    for prefix, fam in (
        ("Int", "integer"),
        ("UInt", "integer"),
        ("Float", "float"),
        ("Decimal", "float"),
        ("Boolean", "boolean"),
        ("String", "string"),
        ("Categorical", "string"),
        ("Enum", "string"),
        ("Date", "temporal"),
        ("Datetime", "temporal"),
        ("Duration", "temporal"),
        ("Time", "temporal"),
    ):
        if text.startswith(prefix):
            return fam
    return "other"


def dtype_change_severity(ref: str, live: pl.DataType, kind: str | None = None) -> Severity:
    """Same family, other width (Int32→Int64): info; integer↔float: warning for a numeric
    feature, error for an integer feature binned as categories (3 is logged as "3.0" and no
    longer matches its category); anything else (number↔string, …): error."""
    a, b = _family_of(ref), dtype_family(live)
    if a == b:
        return "info"
    if {a, b} == {"integer", "float"}:
        return "error" if kind == "categorical" else "warning"
    return "error"


def countable(spec: BinSpec, live: pl.DataType) -> bool:
    """Can the live column be counted over the reference spec (numeric specs need numbers)?"""
    if spec.kind == "numeric":
        return live.is_numeric() or live == pl.Boolean
    return True


# ---- the check ---------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.6g}"


def pct(x: float) -> str:
    """A share as a percentage, with enough digits that a small non-zero share is not 0.00%."""
    if 0 < abs(x) < 0.001:
        return f"{100 * x:.2g}%"
    return f"{100 * x:.2f}%"


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


def _top_unseen(lf: pl.LazyFrame, spec: BinSpec, k: int = 5) -> list[tuple[str, int]]:
    vocab = [*spec.categories, *spec.other]
    s = pl.col(spec.feature).cast(pl.String).alias("v")
    vc = (
        lf.select(s)
        .filter(pl.col("v").is_not_null() & ~pl.col("v").is_in(vocab))
        .group_by("v")
        .len()
        .sort(["len", "v"], descending=[True, False])
        .head(k)
        .collect(engine="streaming")
    )
    return list(zip(vc["v"].to_list(), [int(n) for n in vc["len"].to_list()], strict=True))


def _value_share_bound(spec: BinSpec, st: FeatureStats, ref_counts: np.ndarray) -> float:
    """Upper bound on the largest share one value has among the reference's non-null rows
    (a value lies in one bin; for categoricals the frequencies are exact)."""
    nonnull = st.rows - st.nulls
    if nonnull <= 0:
        return 1.0
    if st.frequencies:
        top = max(st.frequencies.values())
        return max(top, st.frequencies_rest) / nonnull
    values = ref_counts[: spec.missing_index]
    return float(values.max()) / nonnull if len(values) else 1.0


def check_quality(
    ref: BaselineReference,
    live: Source,
    settings: QualitySettings | None = None,
    *,
    progress: bool | None = None,
) -> QualityReport:
    """Every §4 rule for every feature of ``ref`` against ``live``."""
    settings = settings or QualitySettings()
    findings: list[QualityFinding] = []
    checks: list[tuple[str, str]] = []
    live_schema = live.schema
    feature_names = {s.feature for s in ref.specs}
    spec_kind = {s.feature: s.kind for s in ref.specs}
    broken: set[str] = set()  # features whose type change is an error: no further rules

    # -- schema diff
    for col, ref_dtype in ref.schema.items():
        checks.append((col, "schema_missing_column"))
        if col not in live_schema:
            is_feature = col in feature_names
            findings.append(
                QualityFinding(
                    col,
                    "schema_missing_column",
                    "error" if is_feature else "info",
                    ref_dtype,
                    None,
                    f"column {col!r} ({ref_dtype}) is in the reference but not in the live data"
                    + ("" if is_feature else " (not a model feature)"),
                )
            )
            continue
        checks.append((col, "schema_dtype_change"))
        live_dtype = live_schema[col]
        if str(live_dtype) != ref_dtype:
            dsev: Severity = (
                dtype_change_severity(ref_dtype, live_dtype, spec_kind.get(col))
                if col in feature_names
                else "info"
            )
            if dsev == "error":
                broken.add(col)
            findings.append(
                QualityFinding(
                    col,
                    "schema_dtype_change",
                    dsev,
                    ref_dtype,
                    str(live_dtype),
                    f"column {col!r} changed type: {ref_dtype} in the reference, {live_dtype} live",
                )
            )
    for col, live_dtype in live_schema.items():
        checks.append((col, "schema_new_column"))
        if col not in ref.schema:
            findings.append(
                QualityFinding(
                    col,
                    "schema_new_column",
                    "info",
                    None,
                    str(live_dtype),
                    f"column {col!r} ({live_dtype}) is in the live data but not in the reference",
                )
            )

    # -- per-feature rules on the features the live data can be counted for
    specs = [
        s
        for s in ref.specs
        if s.feature in live_schema
        and s.feature not in broken
        and countable(s, live_schema[s.feature])
    ]
    ref_stats = ref.stats
    ref_table = ref.table(())
    assert ref_table is not None
    live_table = count_source(live, specs, (), progress=progress)
    agg, cands_by = _live_aggregates(live.lf, specs, ref_stats, live_schema)
    m = int(agg["__rows"]["rows"])

    null_tests: list[tuple[QualityFinding, float]] = []
    range_tests: list[tuple[QualityFinding, float, float]] = []
    default_tests: list[tuple[QualityFinding, float, float]] = []

    for spec in specs:
        f = spec.feature
        st = ref_stats[f]
        a = agg[f]
        rc = dense(ref_table, spec)
        lc = dense(live_table, spec)
        n = int(rc.sum())
        mi = spec.missing_index

        # null_rate
        checks.append((f, "null_rate"))
        rn, ln = int(rc[mi]), int(lc[mi])
        r_rate = rn / n if n else 0.0
        l_rate = ln / m if m else 0.0
        if rn == 0 and l_rate > settings.null_error:
            findings.append(
                QualityFinding(
                    f,
                    "null_rate",
                    "error",
                    r_rate,
                    l_rate,
                    f"{f} was never null in the reference but is null in {pct(l_rate)} of live "
                    f"rows ({ln} of {m}; limit {pct(settings.null_error)})",
                )
            )
        elif l_rate - r_rate >= settings.null_min_jump:
            _, p = two_proportion_test(rn, n, ln, m, alternative="greater")
            null_tests.append(
                (
                    QualityFinding(
                        f,
                        "null_rate",
                        "warning",
                        r_rate,
                        l_rate,
                        f"{f} null rate rose from {pct(r_rate)} to {pct(l_rate)} "
                        f"({ln} of {m} live rows)",
                    ),
                    p,
                )
            )

        # unseen_categories
        if spec.kind == "categorical":
            checks.append((f, "unseen_categories"))
            ui = spec.labels().index(UNSEEN)
            unseen = int(lc[ui])
            if unseen > 0 and m:
                share = unseen / m
                sev: Severity = (
                    "error"
                    if share >= settings.unseen_error
                    else "warning"
                    if share >= settings.unseen_warning
                    else "info"
                )
                top = _top_unseen(live.lf, spec)
                shown = ", ".join(f"{v!r} ({c})" for v, c in top)
                lower = {c.lower(): c for c in [*spec.categories, *spec.other]}
                recased = [
                    f"{v!r}→{lower[v.lower()]!r}"
                    for v, _ in top
                    if v.lower() in lower and v not in lower.values()
                ]
                hint = f"; same as a reference category but for case: {', '.join(recased)}"
                findings.append(
                    QualityFinding(
                        f,
                        "unseen_categories",
                        sev,
                        0.0,
                        share,
                        f"{f}: {pct(share)} of live rows ({unseen}) carry values never seen in "
                        f"the reference: {shown}" + (hint if recased else ""),
                    )
                )

        numeric_live = is_numeric_dtype(live_schema[f])
        # out_of_range
        if st.numeric and numeric_live and st.min is not None and st.max is not None:
            checks.append((f, "out_of_range"))
            below, above = int(a.get("below", 0)), int(a.get("above", 0))
            k = below + above
            valid = int(a.get("n", 0))
            if k > 0 and valid > 0:
                share = k / valid
                p = outside_range_p_value(k, valid, st.count)
                range_tests.append(
                    (
                        QualityFinding(
                            f,
                            "out_of_range",
                            "info",
                            [st.min, st.max],
                            share,
                            f"{f}: {pct(share)} of live values ({below} below, {above} above) "
                            f"fall outside the reference range [{_fmt(st.min)}, {_fmt(st.max)}]"
                            f"; live range [{_fmt(a.get('min'))}, {_fmt(a.get('max'))}]",
                        ),
                        p,
                        share,
                    )
                )

        # default_fill
        cands = cands_by[f]
        if cands:
            checks.append((f, "default_fill"))
            best: tuple[QualityFinding, float, float] | None = None
            ps: list[tuple[QualityFinding, float, float]] = []
            for label, value in cands.items():
                rcnt = int(st.defaults.get(label, 0))
                lcnt = int(a.get("defaults", {}).get(label, 0))
                rs = rcnt / st.rows if st.rows else 0.0
                ls = lcnt / m if m else 0.0
                jump = ls - rs
                if jump < settings.default_warning:
                    continue
                _, p = two_proportion_test(rcnt, st.rows, lcnt, m, alternative="greater")
                shown = (
                    f"the training mean {_fmt(float(value))}"
                    if label == MEAN_DEFAULT
                    else (repr(value) if isinstance(value, str) else _fmt(float(value)))
                )
                ps.append(
                    (
                        QualityFinding(
                            f,
                            "default_fill",
                            "error" if jump >= settings.default_error else "warning",
                            rs,
                            ls,
                            f"{f}: {shown} makes up {pct(ls)} of live rows against {pct(rs)} "
                            "in the reference — looks like a default fill",
                        ),
                        p,
                        jump,
                    )
                )
            for item in ps:
                if best is None or item[2] > best[2]:
                    best = item
            if best is not None:
                default_tests.append(best)

        # frozen
        checks.append((f, "frozen"))
        n_live = int(a.get("n", 0))
        lmin, lmax = a.get("min"), a.get("max")
        if st.has_variance() and n_live >= 2 and lmin is not None and lmin == lmax:
            chance = _value_share_bound(spec, st, rc) ** (n_live - 1)
            if chance < settings.frozen_chance:
                ref_desc: Any = st.std if st.numeric and spec.kind == "numeric" else st.distinct
                findings.append(
                    QualityFinding(
                        f,
                        "frozen",
                        "warning",
                        ref_desc,
                        lmin,
                        f"{f} is constant live ({lmin!r} in all {n_live} non-null rows) but "
                        "varies in the reference"
                        + (
                            f" (std {_fmt(st.std)})"
                            if st.numeric and spec.kind == "numeric"
                            else f" ({st.distinct or 'many'} distinct values)"
                        ),
                    )
                )

    # -- significance: Benjamini–Hochberg within each tested rule family
    if null_tests:
        q = bh_adjust([p for _, p in null_tests])
        findings += [fd for (fd, _), qv in zip(null_tests, q, strict=True) if qv <= settings.alpha]
    if range_tests:
        q = bh_adjust([p for _, p, _ in range_tests])
        for (fd, _, share), qv in zip(range_tests, q, strict=True):
            if qv > settings.alpha:
                continue
            fd.severity = (
                "error"
                if share >= settings.range_error
                else "warning"
                if share >= settings.range_warning
                else "info"
            )
            findings.append(fd)
    if default_tests:
        q = bh_adjust([p for _, p, _ in default_tests])
        findings += [
            fd for (fd, _, _), qv in zip(default_tests, q, strict=True) if qv <= settings.alpha
        ]

    warnings = [] if m else [f"--live {live.spec}: no rows; only the schema was checked"]
    rule_rank = {r: i for i, r in enumerate(RULES)}
    findings.sort(key=lambda x: (-SEVERITY_ORDER[x.severity], rule_rank[x.rule], x.feature))
    return QualityReport(
        reference=ref.name,
        live=live.spec,
        reference_rows=ref.rows,
        live_rows=m,
        findings=findings,
        checks=checks,
        settings=settings.__dict__.copy(),
        warnings=warnings,
    )
