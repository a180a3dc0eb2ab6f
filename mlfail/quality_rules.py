"""The quality rules (design §4, ``docs/quality-rules.md``): one function each, registered in
:data:`REFERENCE_COLUMN_RULES` and :data:`FEATURE_RULES`, run by
:func:`mlfail.quality.check_quality`. Adding a rule is adding a function (and its name to
``RULES`` and to the docs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mlfail.baseline import MEAN_DEFAULT, BaselineReference, FeatureStats, is_numeric_dtype
from mlfail.binning import UNSEEN, BinSpec
from mlfail.io import Source
from mlfail.psi import bh_adjust
from mlfail.quality_model import (
    QualityFinding,
    QualitySettings,
    Severity,
    _fmt,
    dtype_change_severity,
    outside_range_p_value,
    pct,
    two_proportion_test,
)


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


@dataclass
class _Run:
    """One quality run: its inputs, the findings and checks so far, and the findings of the
    tested rules waiting for Benjamini–Hochberg (with their p-value, and share or jump)."""

    ref: BaselineReference
    live: Source
    settings: QualitySettings
    feature_names: set[str]
    m: int = 0  # live rows
    findings: list[QualityFinding] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # type change is an error: no further rules
    null_tests: list[tuple[QualityFinding, float]] = field(default_factory=list)
    range_tests: list[tuple[QualityFinding, float, float]] = field(default_factory=list)
    default_tests: list[tuple[QualityFinding, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.live_schema = self.live.schema
        self.spec_kind = {s.feature: s.kind for s in self.ref.specs}


@dataclass
class _Feature:
    """One feature's inputs to the per-feature rules: its reference stats, live aggregates
    (:func:`_live_aggregates`), dense reference and live bin counts and reference row count."""

    spec: BinSpec
    st: FeatureStats
    a: dict[str, Any]
    rc: np.ndarray
    lc: np.ndarray
    n: int
    cands: dict[str, float | str] = field(default_factory=dict)


# ---- rules: one function each; a column rule returns False when the column gets no more -----


def _schema_missing_column(run: _Run, col: str, ref_dtype: str) -> bool:
    run.checks.append((col, "schema_missing_column"))
    if col in run.live_schema:
        return True
    is_feature = col in run.feature_names
    run.findings.append(
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
    return False


def _schema_dtype_change(run: _Run, col: str, ref_dtype: str) -> bool:
    run.checks.append((col, "schema_dtype_change"))
    live_dtype = run.live_schema[col]
    if str(live_dtype) != ref_dtype:
        dsev: Severity = (
            dtype_change_severity(ref_dtype, live_dtype, run.spec_kind.get(col))
            if col in run.feature_names
            else "info"
        )
        if dsev == "error":
            run.broken.add(col)
        run.findings.append(
            QualityFinding(
                col,
                "schema_dtype_change",
                dsev,
                ref_dtype,
                str(live_dtype),
                f"column {col!r} changed type: {ref_dtype} in the reference, {live_dtype} live",
            )
        )
    return True


def _schema_new_column(run: _Run, col: str, live_dtype: pl.DataType) -> None:
    run.checks.append((col, "schema_new_column"))
    if col not in run.ref.schema:
        run.findings.append(
            QualityFinding(
                col,
                "schema_new_column",
                "info",
                None,
                str(live_dtype),
                f"column {col!r} ({live_dtype}) is in the live data but not in the reference",
            )
        )


def _null_rate(run: _Run, feat: _Feature) -> None:
    f, settings, m, n = feat.spec.feature, run.settings, run.m, feat.n
    mi = feat.spec.missing_index
    run.checks.append((f, "null_rate"))
    rn, ln = int(feat.rc[mi]), int(feat.lc[mi])
    r_rate = rn / n if n else 0.0
    l_rate = ln / m if m else 0.0
    if rn == 0 and l_rate > settings.null_error:
        run.findings.append(
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
        run.null_tests.append(
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


def _unseen_categories(run: _Run, feat: _Feature) -> None:
    spec, settings, m = feat.spec, run.settings, run.m
    f = spec.feature
    if spec.kind != "categorical":
        return
    run.checks.append((f, "unseen_categories"))
    ui = spec.labels().index(UNSEEN)
    unseen = int(feat.lc[ui])
    if unseen > 0 and m:
        share = unseen / m
        sev: Severity = (
            "error"
            if share >= settings.unseen_error
            else "warning"
            if share >= settings.unseen_warning
            else "info"
        )
        top = _top_unseen(run.live.lf, spec)
        shown = ", ".join(f"{v!r} ({c})" for v, c in top)
        lower = {c.lower(): c for c in [*spec.categories, *spec.other]}
        recased = [
            f"{v!r}→{lower[v.lower()]!r}"
            for v, _ in top
            if v.lower() in lower and v not in lower.values()
        ]
        hint = f"; same as a reference category but for case: {', '.join(recased)}"
        run.findings.append(
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


def _out_of_range(run: _Run, feat: _Feature) -> None:
    f, st, a = feat.spec.feature, feat.st, feat.a
    numeric_live = is_numeric_dtype(run.live_schema[f])
    if not (st.numeric and numeric_live and st.min is not None and st.max is not None):
        return
    run.checks.append((f, "out_of_range"))
    below, above = int(a.get("below", 0)), int(a.get("above", 0))
    k = below + above
    valid = int(a.get("n", 0))
    if k > 0 and valid > 0:
        share = k / valid
        p = outside_range_p_value(k, valid, st.count)
        run.range_tests.append(
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


def _default_fill(run: _Run, feat: _Feature) -> None:
    f, st, a, settings, m = feat.spec.feature, feat.st, feat.a, run.settings, run.m
    cands = feat.cands
    if not cands:
        return
    run.checks.append((f, "default_fill"))
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
        run.default_tests.append(best)


def _frozen(run: _Run, feat: _Feature) -> None:
    spec, st, a = feat.spec, feat.st, feat.a
    f = spec.feature
    run.checks.append((f, "frozen"))
    n_live = int(a.get("n", 0))
    lmin, lmax = a.get("min"), a.get("max")
    if st.has_variance() and n_live >= 2 and lmin is not None and lmin == lmax:
        chance = _value_share_bound(spec, st, feat.rc) ** (n_live - 1)
        if chance < run.settings.frozen_chance:
            ref_desc: Any = st.std if st.numeric and spec.kind == "numeric" else st.distinct
            run.findings.append(
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


# Adding a rule is adding a function here (and its name to RULES and docs/quality-rules.md).
# Order matters: it is the order of ``checks`` (and so of the JUnit test cases).
REFERENCE_COLUMN_RULES: tuple[Callable[[_Run, str, str], bool], ...] = (
    _schema_missing_column,
    _schema_dtype_change,
)
FEATURE_RULES: tuple[Callable[[_Run, _Feature], None], ...] = (
    _null_rate,
    _unseen_categories,
    _out_of_range,
    _default_fill,
    _frozen,
)


def _significant(run: _Run) -> None:
    """Benjamini–Hochberg within each tested rule family; the findings that pass are kept."""
    settings, findings = run.settings, run.findings
    null_tests, range_tests, default_tests = run.null_tests, run.range_tests, run.default_tests
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
