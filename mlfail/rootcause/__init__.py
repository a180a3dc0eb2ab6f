"""Root cause (design §7): tie each drifted feature to its onset, the cohort that carries it,
the change event just before it and its signature; classify the failure mode; name the owner.

Everything is computed from count tables and group_by aggregates:

* one pass over live keyed by day → per-day PSI per feature (onset, day-one skew), the global
  and post-onset PSI;
* one pass keyed by the cohort columns (``--meta`` and low-cardinality columns) → within-cohort
  PSI, explained fraction EF(m) = 1 − PSI(ref, live | M≠m)/PSI(ref, live), and the two-player
  Shapley split of PSI into *mix* (the cohort shares moved) and *conditional* (X | M moved);
* performance aggregates by (day, cohort) → whether the drifted rows perform worse;
* for the few candidate features only, one small query on the affected rows for signatures
  (null spike, unseen/recased categories, scale/affine change, default fill, clipping, frozen,
  out-of-range).

Failure-mode rules are written down in docs/failure-modes.md.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from mlfail.baseline import NUMERIC_DEFAULTS, QUANTILE_LEVELS, STRING_DEFAULTS, FeatureStats
from mlfail.binning import BinSpec
from mlfail.changepoint import Onset, detect_onset
from mlfail.config import Roles
from mlfail.counts import count_frame, count_source, dense, matrix
from mlfail.errors import UsageError
from mlfail.io import Source
from mlfail.owners import Owners
from mlfail.performance import TaskSpec, infer_task, performance_table, performance_tables
from mlfail.psi import (
    FeaturePsi,
    PsiSettings,
    assess_feature,
    bh_adjust,
    enough_rows,
    psi_rows,
    psi_value,
)
from mlfail.reference import Reference, coarsen, prediction_spec
from mlfail.timekeys import normalize_timestamp

EXPLAIN_SCHEMA_VERSION = 1
DAY = "_mlfail_day"

FailureMode = Literal[
    "data_quality",
    "pipeline_drift",
    "training_serving_skew",
    "data_drift",
    "concept_drift",
    "infrastructure",
]

UPSTREAM_TOKENS = (
    "sdk",
    "client",
    "device",
    "firmware",
    "vendor",
    "source",
    "ingest",
    "bureau",
    "feed",
    "upstream",
    "partner",
    "sensor",
    "app",
)
SERVING_TOKENS = ("serving", "infra", "gateway", "platform", "endpoint", "inference")
PIPELINE_TOKENS = ("pipeline", "transform", "feature", "etl", "normal")
DQ_SIGNATURES = (
    "null_spike",
    "unseen_categories",
    "recasing",
    "default_fill",
    "frozen",
    "out_of_range",
    "clipping",
)
DEFAULT_FILLS_NUM = tuple(NUMERIC_DEFAULTS.values())
DEFAULT_FILLS_CAT = STRING_DEFAULTS
DECILES = [k / 10 for k in range(1, 10)]
NAMED_FACTORS = {
    10.0: "×10",
    100.0: "×100 (units→cents?)",
    1000.0: "×1000 (e.g. s→ms, kg→g)",
    60.0: "×60 (minutes→seconds?)",
    3600.0: "×3600 (hours→seconds?)",
    0.01: "÷100 (cents→units?)",
    0.001: "÷1000 (e.g. ms→s)",
    1 / 60: "÷60 (seconds→minutes?)",
    1 / 3600: "÷3600 (seconds→hours?)",
    0.1: "÷10",
}


@dataclass(frozen=True)
class ExplainSettings:
    psi: PsiSettings = field(default_factory=PsiSettings)
    min_confidence: float = 0.3  # hypotheses below this are not reported
    event_window_days: int = 14  # events more than this before the onset don't explain it
    max_cohort_values: int = 50  # a cohort column has at most this many distinct live values
    onset_threshold: float = 4.5
    psi_noise_floor: float = 0.01  # floor of the day-to-day PSI noise (PSI units)
    min_psi: float = 0.02  # population-level PSI below this is never a candidate
    max_signature_features: int = 12  # signature queries for the strongest drifts only
    max_cohort_features: int = 12  # cohort analysis for the strongest drifts only
    min_cohort_rows: int = 30
    task: Literal["classification", "regression"] | None = None
    threshold: float = 0.5  # score threshold for classification


# ---- evidence records (field names are the JSON contract) --------------------------------


@dataclass
class PsiEvidence:
    kind: str
    window: str  # "all" | "post_onset" | "first_day" | "cohort"
    psi: float
    p_value: float | None
    critical_psi: float | None
    reference_rows: int
    live_rows: int
    moved_bins: list[dict[str, Any]]
    text: str


@dataclass
class OnsetEvidence:
    kind: str
    series: (
        str  # "daily_psi:<feature>" | "daily_accuracy" | "daily_prediction_psi" | "metric:<name>"
    )
    date: dt.date | None
    day_one: bool
    flat_after: bool
    before: float | None
    after: float | None
    statistic: float | None
    text: str


@dataclass
class CohortEvidence:
    kind: str
    column: str
    value: Any
    within_psi: float
    within_p_value: float | None
    explained_fraction: float
    mix: float
    conditional: float
    share_before: float | None
    share_after: float | None
    appeared: bool
    jumped: bool
    rows: int
    text: str


@dataclass
class ChangeEventEvidence:
    kind: str
    id: str
    ts: dt.datetime
    event_kind: str
    component: str | None
    description: str | None
    days_before_onset: float
    on_owning_component: bool
    score: float
    text: str


@dataclass
class SignatureEvidence:
    kind: str
    signature: str
    reference: Any
    live: Any
    factor: float | None
    mapping: dict[str, str] | None
    text: str


@dataclass
class PerformanceEvidence:
    kind: str
    metric: str
    slice: dict[str, Any] | None
    live: float | None
    baseline: float | None
    baseline_kind: str  # "complement" | "before_onset" | "reference"
    delta: float | None
    p_value: float | None
    rows: int
    text: str


@dataclass
class InfraEvidence:
    kind: str
    layer: str
    metric: str
    onset: dt.date | None
    direction: str | None
    before: float | None
    after: float | None
    text: str


@dataclass
class OwnershipEvidence:
    kind: str
    feature: str
    text: str


Evidence = (
    PsiEvidence
    | OnsetEvidence
    | CohortEvidence
    | ChangeEventEvidence
    | SignatureEvidence
    | PerformanceEvidence
    | InfraEvidence
    | OwnershipEvidence
)


@dataclass
class Hypothesis:
    feature: str | None
    failure_mode: FailureMode
    confidence: float
    onset: dt.date | None
    slice: dict[str, Any] | None
    owner: str | None
    pager: str | None
    component: str | None
    summary: str
    next_action: str
    evidence: list[Evidence]
    consequence_of: str | None = None  # a column whose mix change explains this drift

    def change_events(self) -> list[ChangeEventEvidence]:
        return [e for e in self.evidence if isinstance(e, ChangeEventEvidence)]

    def ownership_gaps(self) -> list[OwnershipEvidence]:
        return [e for e in self.evidence if isinstance(e, OwnershipEvidence)]


@dataclass
class Explanation:
    verdict: Literal["model_incident", "no_model_incident"]
    verdict_reason: str
    hypotheses: list[Hypothesis]
    reference: str
    live: str
    first_day: dt.date | None
    last_day: dt.date | None
    performance: dict[str, Any] | None
    prediction: dict[str, Any] | None
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)
    daily_psi: dict[str, list[float | None]] = field(default_factory=dict)  # per hypothesis feature
    daily_metric: list[float | None] = field(default_factory=list)  # accuracy / MAE per day
    schema_version: int = EXPLAIN_SCHEMA_VERSION


# ---- small statistics helpers ----------------------------------------------------------


def two_proportion_p(x1: float, n1: float, x2: float, n2: float) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test."""
    from scipy import stats  # lazy: scipy.stats costs ~0.8 s to import

    if n1 <= 0 or n2 <= 0:
        return None
    p = (x1 + x2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if x1 / n1 == x2 / n2 else 0.0
    z = (x1 / n1 - x2 / n2) / se
    return float(2 * stats.norm.sf(abs(z)))


def noisy_or(weights: Sequence[float]) -> float:
    out = 1.0
    for w in weights:
        out *= 1.0 - max(0.0, min(1.0, w))
    return 1.0 - out


def shapley_mix_conditional(
    ref_by: dict[Any, np.ndarray] | None,
    live_by: dict[Any, np.ndarray],
    ref_total: np.ndarray,
    epsilon: float,
) -> tuple[float, float, float]:
    """Two-player Shapley split of PSI(ref, live) into mix (cohort shares) and conditional
    (distribution within cohorts). Cohorts absent from the reference (or a reference without
    the column) use the reference's overall distribution as their reference conditional and
    a reference share of zero; a reference without the column contributes no mix change."""
    g = ref_total / max(ref_total.sum(), 1)
    live_total = sum(live_by.values(), np.zeros_like(ref_total))
    n_live = max(live_total.sum(), 1)
    w = {m: c.sum() / n_live for m, c in live_by.items()}
    f = {m: c / max(c.sum(), 1) for m, c in live_by.items()}
    if ref_by:
        n_ref = max(sum(c.sum() for c in ref_by.values()), 1)
        v = {m: c.sum() / n_ref for m, c in ref_by.items()}
        gm = {m: (c / c.sum()) if c.sum() > 0 else g for m, c in ref_by.items()}
    else:
        v = dict(w)
        gm = {}
    mix_only = sum((w[m] * gm.get(m, g) for m in w), np.zeros_like(g))
    cond_only = sum((v[m] * (f[m] if m in f else gm.get(m, g)) for m in v), np.zeros_like(g))
    if cond_only.sum() <= 0:
        cond_only = g
    total = psi_value(g, live_total / n_live, epsilon)
    a = psi_value(g, mix_only, epsilon)
    b = psi_value(g, cond_only, epsilon)
    mix = 0.5 * (a + (total - b))
    cond = 0.5 * (b + (total - a))
    return total, mix, cond


def name_factor(factor: float, tolerance: float = 0.1) -> str | None:
    """The familiar unit factor within ``tolerance`` (relative) of ``factor``, if any."""
    best = min(NAMED_FACTORS, key=lambda k: abs(math.log(factor / k)))
    if abs(factor / best - 1) <= tolerance:
        return (
            NAMED_FACTORS[best]
            if abs(factor / best - 1) <= 0.02
            else (f"close to {NAMED_FACTORS[best]}")
        )
    return None


# ---- the analysis --------------------------------------------------------------------


@dataclass
class _FeatureState:
    spec: BinSpec
    whole: FeaturePsi
    daily: np.ndarray
    onset: Onset | None
    onset_index: int | None
    day_one: bool
    post: FeaturePsi | None
    first: FeaturePsi | None
    max_psi: float = 0.0
    significant: bool = False
    best: FeaturePsi | None = None  # the strongest significant population-level window


def _day_expr(schema: pl.Schema, ts: str) -> pl.Expr:
    dtype = schema[ts]
    if dtype == pl.Date:
        return pl.col(ts).alias(DAY)
    if isinstance(dtype, pl.Datetime):
        return pl.col(ts).dt.date().alias(DAY)
    if dtype == pl.String:
        return pl.col(ts).str.to_datetime(strict=False).dt.date().alias(DAY)
    raise UsageError(f"--timestamp {ts}: column has type {dtype}; need a date or datetime")


def _bh(records: list[FeaturePsi], ps: PsiSettings) -> None:
    """Benjamini–Hochberg across ``records`` (one family of tests)."""
    tested = [r for r in records if r.p_value is not None]
    q = bh_adjust([r.p_value for r in tested if r.p_value is not None])
    for r, qv in zip(tested, q, strict=True):
        r.q_value = float(qv)
        r.significant = bool(qv <= ps.alpha)


def _reference_by(
    reference: Reference, card: dict[str, int], specs: list[BinSpec], progress: bool | None
) -> dict[str, pl.DataFrame | None]:
    """Reference count tables per cohort column: from data, one pass per group of columns
    for ``specs`` only; from a baseline, its stored segment tables."""
    out: dict[str, pl.DataFrame | None] = dict.fromkeys(card)
    present = {c: n for c, n in card.items() if c in reference.columns}
    source = getattr(reference, "source", None)
    for group in _group_columns(present):
        if isinstance(source, Source):
            cube = count_source(source, specs, group, progress=progress)
            for col in group:
                out[col] = coarsen(cube, [col]) if len(group) > 1 else cube
        else:
            for col in group:
                out[col] = reference.table([col])
    return out


def cohort_candidates(
    live: Source, roles: Roles, features: Sequence[str], max_values: int
) -> dict[str, int]:
    """Columns to look for the drift-carrying cohort in: --meta columns and every
    low-cardinality string/bool/integer column that is not a role. → {column: distinct}"""
    excluded = {c for c in (roles.timestamp, roles.label, roles.prediction) if c}
    cands = []
    for name, dtype in live.schema.items():
        if name in excluded or name == DAY:
            continue
        if (
            dtype == pl.String
            or dtype == pl.Boolean
            or dtype.is_integer()
            or isinstance(dtype, pl.Categorical | pl.Enum)
        ):
            cands.append(name)
    cands = list(dict.fromkeys([*(m for m in roles.meta if m in live.columns), *cands]))
    if not cands:
        return {}
    row = (
        live.lf.select([pl.col(c).n_unique().alias(c) for c in cands])
        .collect(engine="streaming")
        .row(0, named=True)
    )
    return {c: int(n) for c, n in row.items() if 2 <= int(n) <= max_values}


def _group_columns(card: dict[str, int], limit: int = 5000) -> list[list[str]]:
    """Greedy groups of cohort columns whose joint cardinality stays under ``limit``: each
    group is counted in one pass (a small cube) and coarsened per column."""
    groups: list[list[str]] = []
    cur: list[str] = []
    prod = 1
    for c, n in sorted(card.items(), key=lambda kv: kv[1]):
        if cur and prod * n > limit:
            groups.append(cur)
            cur, prod = [], 1
        cur.append(c)
        prod *= n
    if cur:
        groups.append(cur)
    return groups


def _moved_bins(rec: FeaturePsi, k: int = 3) -> list[dict[str, Any]]:
    return [
        {"bin": b.bin, "reference_share": b.reference_share, "live_share": b.live_share}
        for b in rec.top_moves(k)
    ]


def _p(p: float) -> str:
    """'<1e-300' or '=0.0012', to follow a 'p'."""
    return "<1e-300" if p < 1e-300 else f"={p:.2g}"


def _fmt_share(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.1f}%" if x >= 0.001 or x == 0 else f"{100 * x:.2g}%"


def _value_str(v: Any) -> str:
    return "null" if v is None else str(v)


def explain(
    reference: Reference,
    live: Source,
    roles: Roles,
    *,
    changes: pl.DataFrame | None = None,
    owners: Owners | None = None,
    metrics: pl.DataFrame | None = None,
    settings: ExplainSettings | None = None,
    progress: bool | None = None,
) -> Explanation:
    """Ranked root-cause hypotheses for what changed between the reference and live."""
    cfg = settings or ExplainSettings()
    ps = cfg.psi
    if not roles.timestamp:
        raise UsageError("--timestamp is required: root cause needs event time for onsets")
    live.require([roles.timestamp], "--timestamp")
    live = normalize_timestamp(live, roles.timestamp)
    if roles.features is not None:
        live.require(roles.features, "--features")
    day = _day_expr(live.schema, roles.timestamp)
    specs = [s for s in reference.specs if roles.features is None or s.feature in roles.features]
    warnings: list[str] = []
    for s in specs:
        if s.feature not in live.columns:
            warnings.append(f"feature {s.feature!r} is not in --live; counted as all missing")

    ref_table = reference.table(())
    assert ref_table is not None
    live_day = count_source(live, specs, [day], progress=progress)
    dates: list[dt.date] = sorted(d for d in live_day[DAY].unique().to_list() if d is not None)
    if not dates:
        raise UsageError(f"--live {live.spec}: no rows with a {roles.timestamp} value")
    live_total = coarsen(live_day, [])

    # ---- per feature: whole, daily, onset, post-onset, first day --------------------------
    states: dict[str, _FeatureState] = {}
    records: list[FeaturePsi] = []
    for spec in specs:
        ref_vec = dense(ref_table, spec)
        whole = assess_feature(spec, ref_vec, dense(live_total, spec), ps)
        _, mat = matrix(live_day, spec, DAY, dates)
        daily = psi_rows(ref_vec, mat, ps.epsilon)
        onset = detect_onset(
            daily, dates, threshold=cfg.onset_threshold, min_sigma=cfg.psi_noise_floor
        )
        post = None
        if onset is not None and onset.direction == "up":
            post = assess_feature(spec, ref_vec, mat[onset.index :].sum(axis=0), ps)
            post.slice = {"window": f"{dates[onset.index]}..{dates[-1]}"}
            records.append(post)
        first = assess_feature(spec, ref_vec, mat[0], ps)
        first.slice = {"window": str(dates[0])}
        records += [whole, first]
        states[spec.feature] = _FeatureState(
            spec,
            whole,
            daily,
            onset if onset and onset.direction == "up" else None,
            onset.index if onset and onset.direction == "up" else None,
            False,
            post,
            first,
        )

    # ---- performance ------------------------------------------------------------------------
    task: TaskSpec | None = None
    if (
        roles.label
        and roles.prediction
        and roles.label in live.columns
        and (roles.prediction in live.columns)
    ):
        task = infer_task(
            live.schema,
            roles.label,
            roles.prediction,
            task=cfg.task,
            threshold=cfg.threshold,
            data=live.lf,
            origin=f"--live {live.spec}",
        )
    perf_day = performance_table(live.lf, task, [day]).sort(DAY) if task else None
    has_labels = perf_day is not None and int(perf_day["labelled"].sum()) > 0

    # ---- the prediction distribution ----------------------------------------------------
    pred_info, pred_onset = _prediction_drift(reference, live, roles, day, dates, cfg)

    # ---- global model performance ---------------------------------------------------------
    perf_info, acc_onset = _global_performance(reference, live, roles, task, perf_day, dates, cfg)

    # ---- population-level significance (BH across every feature × window) ---------------
    _bh(records, ps)
    for st in states.values():
        pop = [
            r
            for r in (st.whole, st.post, st.first)
            if r is not None
            and r.psi is not None
            and r.significant
            and enough_rows(r, ps)
            and r.psi >= cfg.min_psi
        ]
        st.max_psi = max((r.psi for r in pop if r.psi is not None), default=0.0)
        st.significant = bool(pop)
        st.best = max(pop, key=lambda r: r.psi or 0.0) if pop else None

    # ---- cohorts: only for the strongest population-level drifts ----------------------------
    # Per-cohort counts cost a pass per group of cohort columns: count the features that
    # drifted (the strongest ``max_cohort_features``), not all of them.
    ranked_states = sorted(
        (st for st in states.values() if st.significant), key=lambda st: -st.max_psi
    )
    cohort_specs = [st.spec for st in ranked_states[: cfg.max_cohort_features]]
    card = (
        cohort_candidates(live, roles, [s.feature for s in specs], cfg.max_cohort_values)
        if cohort_specs
        else {}
    )
    live_by: dict[str, pl.DataFrame] = {}
    for group in _group_columns(card):
        cube = count_source(live, cohort_specs, group, progress=progress)
        for col in group:
            live_by[col] = coarsen(cube, [col]) if len(group) > 1 else cube
    ref_by = _reference_by(reference, card, cohort_specs, progress)
    shares_day: dict[str, pl.DataFrame] = {}
    perf_by: dict[str, pl.DataFrame] = {}
    cols = list(card)
    if task is not None:
        tables = performance_tables(live.lf, task, [[day, pl.col(c)] for c in cols], auc=False)
        for col, t in zip(cols, tables, strict=True):
            perf_by[col] = t
            shares_day[col] = t.select(DAY, col, pl.col("rows").alias("len"))
    elif cols:
        frames = pl.collect_all(
            [live.lf.group_by([day, pl.col(c)]).len() for c in cols], engine="streaming"
        )
        shares_day = dict(zip(cols, frames, strict=True))
    cohort_records: dict[tuple[str, str], list[tuple[Any, FeaturePsi]]] = {}
    crecs: list[FeaturePsi] = []
    for col, table in live_by.items():
        values = [v for v in table[col].unique().to_list()]
        rt = ref_by.get(col)
        for spec in cohort_specs:
            if spec.feature == col:  # a feature is never its own cohort
                continue
            vals, mat = matrix(table, spec, col, values)
            ref_vals: dict[Any, np.ndarray] = {}
            if rt is not None:
                rk, rmat = matrix(rt, spec, col)
                ref_vals = {k: rmat[i] for i, k in enumerate(rk)}
            ref_vec = dense(ref_table, spec)
            out = []
            for i, v in enumerate(vals):
                if mat[i].sum() < cfg.min_cohort_rows:
                    continue
                rv = ref_vals.get(v)
                rvec = rv if rv is not None and rv.sum() >= cfg.min_cohort_rows else ref_vec
                rec = assess_feature(spec, rvec, mat[i], ps, slice_={col: v})
                crecs.append(rec)
                out.append((v, rec))
            cohort_records[(spec.feature, col)] = out
    _bh(crecs, ps)  # the cohort tests are their own family

    # ---- candidates -----------------------------------------------------------------------
    hypotheses: list[Hypothesis] = []
    for st in states.values():
        first_psi = st.first.psi if st.first is not None else None
        st.day_one = bool(
            st.onset is None
            and st.first is not None
            and st.first.significant
            and enough_rows(st.first, ps)
            and first_psi is not None
            and first_psi >= ps.watch
            and st.whole.psi is not None
            and st.whole.significant
            and st.whole.psi >= ps.watch
        )

    # signatures cost a small query per feature: run them for the strongest drifts only
    for rank, st in enumerate(ranked_states):
        hyp = _feature_hypothesis(
            st,
            reference,
            live,
            roles,
            day,
            dates,
            ref_table,
            live_by,
            ref_by,
            cohort_records,
            shares_day,
            perf_by,
            task,
            changes,
            owners,
            cfg,
            with_signatures=rank < cfg.max_signature_features,
        )
        if hyp is not None:
            hypotheses.append(hyp)

    # ---- infrastructure -------------------------------------------------------------------
    infra_hyp = _infra_hypothesis(
        metrics, changes, owners, pred_info, acc_onset, pred_onset, dates, cfg
    )
    if infra_hyp is not None:
        hypotheses.append(infra_hyp)

    # ---- concept drift ---------------------------------------------------------------------
    if has_labels and perf_info is not None and perf_info.get("degraded"):
        explained = any(
            h.failure_mode != "data_drift"
            and h.confidence >= 0.5
            and h.consequence_of is None
            and (h.onset is None or acc_onset is None or abs((h.onset - acc_onset).days) <= 3)
            for h in hypotheses
        )
        if not explained:
            hypotheses.append(_concept_hypothesis(perf_info, acc_onset, states, owners, cfg))

    hypotheses = [h for h in hypotheses if h.confidence >= cfg.min_confidence]
    hypotheses.sort(key=lambda h: (-h.confidence, h.feature or ""))
    verdict, reason = _verdict(hypotheses, perf_info, pred_info, has_labels, ps)
    daily_psi = {
        h.feature: [None if not math.isfinite(v) else float(v) for v in states[h.feature].daily]
        for h in hypotheses
        if h.feature in states
    }
    daily_metric: list[float | None] = []
    if task is not None and perf_day is not None:
        by_day = dict(zip(perf_day[DAY].to_list(), perf_day[task.metric].to_list(), strict=True))
        daily_metric = [by_day.get(d) for d in dates]
    return Explanation(
        verdict=verdict,
        verdict_reason=reason,
        hypotheses=hypotheses,
        reference=reference.name,
        live=live.spec,
        first_day=dates[0],
        last_day=dates[-1],
        performance=perf_info,
        prediction=pred_info,
        settings={
            "threshold": ps.threshold,
            "watch": ps.watch,
            "alpha": ps.alpha,
            "epsilon": ps.epsilon,
            "min_confidence": cfg.min_confidence,
            "event_window_days": cfg.event_window_days,
            "onset_threshold": cfg.onset_threshold,
        },
        warnings=warnings,
        days=dates,
        daily_psi=daily_psi,
        daily_metric=daily_metric,
    )


# ---- pieces -------------------------------------------------------------------------------


def _prediction_drift(
    reference: Reference,
    live: Source,
    roles: Roles,
    day: pl.Expr,
    dates: list[dt.date],
    cfg: ExplainSettings,
) -> tuple[dict[str, Any] | None, dt.date | None]:
    """PSI of the prediction distribution (bins frozen on the reference), daily onset, and the
    largest single-value spike (a fallback/default score)."""
    pred = roles.prediction
    if not pred or pred not in live.columns:
        return None, None
    spec = prediction_spec(reference, pred, live.schema[pred].is_numeric())
    ref_counts: np.ndarray | None = None
    ref_lazy = reference.lazy
    if spec is None:
        return None, None
    pt = getattr(reference, "prediction_table", None)
    table = pt(()) if callable(pt) else pt
    if table is not None:
        ref_counts = dense(table, spec)
    elif ref_lazy is not None:
        ref_counts = dense(count_frame(ref_lazy, [spec]), spec)
    if ref_counts is None:
        return None, None
    live_day = count_frame(live.lf, [spec], [day])
    _, mat = matrix(live_day, spec, DAY, dates)
    rec = assess_feature(spec, ref_counts, mat.sum(axis=0), cfg.psi)
    rec.significant = rec.p_value is not None and rec.p_value <= cfg.psi.alpha
    daily = psi_rows(ref_counts, mat, cfg.psi.epsilon)
    onset = detect_onset(daily, dates, threshold=cfg.onset_threshold, min_sigma=cfg.psi_noise_floor)
    spike = None
    top = (
        live.lf.group_by(pl.col(pred))
        .len()
        .sort("len", descending=True)
        .head(1)
        .collect(engine="streaming")
    )
    n_live = int(mat.sum())
    if top.height and n_live:
        value = top[pred][0]
        live_share = int(top["len"][0]) / n_live
        if ref_lazy is not None and pred in reference.columns:
            ref_row = (
                ref_lazy.select((pl.col(pred) == value).sum().alias("k"), pl.len().alias("n"))
                .collect(engine="streaming")
                .row(0, named=True)
            )
            ref_share = ref_row["k"] / ref_row["n"] if ref_row["n"] else 0.0
        else:
            # a baseline has no rows: the share of the reference bin holding the value bounds
            # the reference share of the value itself from above
            b = int(dense(count_frame(pl.LazyFrame({pred: [value]}), [spec]), spec).argmax())
            ref_share = float(ref_counts[b] / max(ref_counts.sum(), 1))
        if live_share >= 0.05 and live_share >= 5 * ref_share + 0.02:
            spike = {"value": value, "reference_share": ref_share, "live_share": live_share}
    pred_onset = onset.date if onset and onset.direction == "up" else None
    info: dict[str, Any] = {
        "column": pred,
        "psi": rec.psi,
        "p_value": rec.p_value,
        "critical_psi": rec.critical_psi,
        "drifted": bool(rec.psi is not None and rec.psi >= cfg.psi.threshold and rec.significant),
        "onset": pred_onset,
        "spike": spike,
    }
    return info, pred_onset


def _global_performance(
    reference: Reference,
    live: Source,
    roles: Roles,
    task: TaskSpec | None,
    perf_day: pl.DataFrame | None,
    dates: list[dt.date],
    cfg: ExplainSettings,
) -> tuple[dict[str, Any] | None, dt.date | None]:
    if task is None or perf_day is None or int(perf_day["labelled"].sum()) == 0:
        return None, None
    metric = task.metric
    series = [perf_day.filter(pl.col(DAY) == d) for d in dates]
    vals = [
        (float(s[metric][0]) if s.height and s[metric][0] is not None else None) for s in series
    ]
    onset = detect_onset(vals, dates, threshold=cfg.onset_threshold)
    lab = int(perf_day["labelled"].sum())
    live_metric: float
    info: dict[str, Any] = {
        "metric": metric,
        "labelled_rows": lab,
        "unlabelled_rows": int(perf_day["rows"].sum()) - lab,
    }
    ref_perf = None
    if (
        reference.lazy is not None
        and roles.label in reference.columns
        and (roles.prediction in reference.columns)
    ):
        ref_perf = performance_table(reference.lazy, task).row(0, named=True)
    elif hasattr(reference, "performance"):
        t = reference.performance(())
        ref_perf = t.row(0, named=True) if t is not None and t.height else None
    if task.task == "classification":
        errors = int(perf_day["errors"].sum())
        live_metric = 1 - errors / lab
        info["live"] = live_metric
        if ref_perf and ref_perf.get("labelled"):
            info["reference"] = ref_perf["accuracy"]
            p = two_proportion_p(errors, lab, ref_perf["errors"], ref_perf["labelled"])
            info["p_value"] = p
            info["degraded"] = bool(
                p is not None and p < cfg.psi.alpha and ref_perf["accuracy"] - live_metric >= 0.01
            )
    else:
        live_metric = float(perf_day["abs_error_sum"].sum()) / lab
        info["live"] = live_metric
        if ref_perf and ref_perf.get("labelled"):
            info["reference"] = ref_perf["mae"]
            info["degraded"] = bool(live_metric >= 1.1 * ref_perf["mae"])
    if onset is not None:
        k = onset.index
        info["onset"] = onset.date
        info["before"] = onset.before
        info["after"] = onset.after
        bad = onset.direction == "down" if task.higher_is_better else onset.direction == "up"
        if bad:
            info["degraded"] = info.get("degraded", False) or abs(onset.delta) >= 0.02
            info["post_onset"] = _window_metric(perf_day, task, dates[k:])
            info["pre_onset"] = _window_metric(perf_day, task, dates[:k])
            return info, onset.date
    return info, None


def _window_metric(perf: pl.DataFrame, task: TaskSpec, days: list[dt.date]) -> float | None:
    w = perf.filter(pl.col(DAY).is_in(days))
    lab = int(w["labelled"].sum())
    if not lab:
        return None
    if task.task == "classification":
        return 1 - int(w["errors"].sum()) / lab
    return float(w["abs_error_sum"].sum()) / lab


def _cohort_evidence(
    st: _FeatureState,
    ref_table: pl.DataFrame,
    live_by: dict[str, pl.DataFrame],
    ref_by: dict[str, pl.DataFrame | None],
    cohort_records: dict[tuple[str, str], list[tuple[Any, FeaturePsi]]],
    shares_day: dict[str, pl.DataFrame],
    dates: list[dt.date],
    cfg: ExplainSettings,
) -> tuple[CohortEvidence | None, dict[str, float]]:
    """The cohort value that carries the feature's drift, and the mix fraction per column."""
    spec = st.spec
    ref_vec = dense(ref_table, spec)
    best: tuple[float, CohortEvidence] | None = None
    mix_fraction: dict[str, float] = {}
    k = st.onset_index
    for col, table in live_by.items():
        if col == spec.feature:
            continue
        values, mat = matrix(table, spec, col)
        live_vals = {v: mat[i] for i, v in enumerate(values)}
        rt = ref_by.get(col)
        ref_vals: dict[Any, np.ndarray] | None = None
        if rt is not None:
            rk, rmat = matrix(rt, spec, col)
            ref_vals = {v: rmat[i] for i, v in enumerate(rk)}
        total, mix, cond = shapley_mix_conditional(ref_vals, live_vals, ref_vec, cfg.psi.epsilon)
        if total > 0:
            mix_fraction[col] = max(0.0, mix) / max(1e-12, max(0.0, mix) + max(0.0, cond))
        recs = dict(cohort_records.get((spec.feature, col), []))
        live_sum = mat.sum(axis=0)
        sd = shares_day[col]
        day_tot = sd.group_by(DAY).agg(pl.col("len").sum().alias("tot"))
        for v, rec in recs.items():
            if (
                rec.psi is None
                or not rec.significant
                or rec.psi < cfg.psi.watch
                or not enough_rows(rec, cfg.psi)
            ):
                continue
            without_live = live_sum - live_vals[v]
            if ref_vals is not None and v in ref_vals and ref_vals[v].sum() > 0:
                without_ref = ref_vec - ref_vals[v]
            else:
                without_ref = ref_vec
            if without_live.sum() < cfg.min_cohort_rows or without_ref.sum() <= 0:
                ef = 1.0
            else:
                p_without = psi_value(without_ref, without_live, cfg.psi.epsilon)
                ef = 1.0 - p_without / total if total > 0 else 0.0
            ef = max(-1.0, min(1.0, ef))
            share_before = share_after = None
            appeared = jumped = False
            if k is not None:
                s = (
                    sd.filter((pl.col(col) == v) if v is not None else pl.col(col).is_null())
                    .group_by(DAY)
                    .agg(pl.col("len").sum())
                    .join(day_tot, on=DAY, how="right")
                )
                s = s.with_columns(pl.col("len").fill_null(0))
                pre = s.filter(pl.col(DAY) < dates[k])
                post = s.filter(pl.col(DAY) >= dates[k])
                if pre.height and post.height:
                    share_before = float(pre["len"].sum()) / max(float(pre["tot"].sum()), 1.0)
                    share_after = float(post["len"].sum()) / max(float(post["tot"].sum()), 1.0)
                    appeared = share_before < 0.01 and share_after >= 0.02
                    jumped = not appeared and share_after >= 2 * share_before + 0.02
            n_rows = int(live_vals[v].sum())
            score = (
                ef
                + (0.35 if (appeared or jumped) else 0.0)
                + 0.05 * min(1.0, rec.psi / max(total, 1e-9) / 10)
            )
            timing = (
                " — its share "
                + ("appeared" if appeared else "jumped")
                + f" at the onset ({_fmt_share(share_before)} → {_fmt_share(share_after)})"
                if (appeared or jumped)
                else ""
            )
            ev = CohortEvidence(
                kind="cohort",
                column=col,
                value=v,
                within_psi=float(rec.psi),
                within_p_value=rec.p_value,
                explained_fraction=float(ef),
                mix=float(mix),
                conditional=float(cond),
                share_before=share_before,
                share_after=share_after,
                appeared=appeared,
                jumped=jumped,
                rows=n_rows,
                text=(
                    f"rows with {col}={_value_str(v)} carry {max(ef, 0):.0%} of the drift "
                    f"(PSI {rec.psi:.2f} within, {n_rows} rows){timing}"
                ),
            )
            if best is None or score > best[0]:
                best = (score, ev)
    return (best[1] if best and best[1].explained_fraction >= 0.5 else None), mix_fraction


def _event_fits(
    kind: str, component: str | None, signatures: list[str], cohort: CohortEvidence | None
) -> bool:
    """Does an event of this kind fit the evidence? (a deploy/config only when it touches a
    pipeline/transform component, since every team deploys something every day)"""
    col = cohort.column.lower() if cohort else ""
    comp = (component or "").lower()
    if kind == "schema_migration":
        return any(s in signatures for s in ("null_spike", "unseen_categories", "frozen"))
    if kind == "firmware":
        return "firmware" in col or "device" in col or bool(signatures)
    if kind == "data_source":
        return bool(signatures) or "source" in col or "geo" in col
    if kind == "library_upgrade":
        return (
            bool(
                {"unseen_categories", "recasing", "scale_change", "affine_change"} & set(signatures)
            )
            or "sdk" in col
            or "version" in col
        )
    if kind in ("deploy", "config"):
        return any(t in comp for t in PIPELINE_TOKENS) and (
            "version" in col or bool({"scale_change", "affine_change"} & set(signatures))
        )
    return kind in ("policy", "external")


def _rank_events(
    changes: pl.DataFrame | None,
    onset: dt.date | None,
    component: str | None,
    feature: str | None,
    cohort: CohortEvidence | None,
    signatures: list[str],
    cfg: ExplainSettings,
) -> list[ChangeEventEvidence]:
    """Events before the onset (same day included), never after; owning component first,
    then proximity, then a kind that fits the evidence."""
    if changes is None or onset is None or changes.height == 0:
        return []
    out: list[ChangeEventEvidence] = []
    onset_end = dt.datetime.combine(onset, dt.time(23, 59, 59))
    for row in changes.iter_rows(named=True):
        ts: dt.datetime = row["ts"]
        if ts > onset_end:
            continue
        days = (dt.datetime.combine(onset, dt.time()) - ts).total_seconds() / 86400
        if days > cfg.event_window_days:
            continue
        owning = bool(component and row["component"] == component)
        prox = 1.0 if days <= 1 else (0.6 if days <= 3 else 0.25)
        fits = _event_fits(row["kind"], row["component"], signatures, cohort)
        text_blob = f"{row.get('description') or ''} {row.get('component') or ''}".lower()
        mention = bool(
            (
                cohort is not None
                and (
                    _value_str(cohort.value).lower() in text_blob.split()
                    or f" {_value_str(cohort.value).lower()}" in text_blob
                )
            )
            or (feature and feature.lower() in text_blob)
        )
        score = 0.5 * owning + 0.25 * prox + 0.2 * fits + 0.15 * mention
        when = f"{max(days, 0):.1f} days before the onset" if days >= 1 else "on the onset day"
        out.append(
            ChangeEventEvidence(
                kind="change_event",
                id=str(row["id"]),
                ts=ts,
                event_kind=row["kind"],
                component=row["component"],
                description=row["description"],
                days_before_onset=round(max(days, 0.0), 3),
                on_owning_component=owning,
                score=round(score, 3),
                text=(
                    f"{row['id']} ({row['kind']} on {row['component'] or '?'}, {when}"
                    + (", the component that produces this feature" if owning else "")
                    + f"): {row['description'] or ''}"
                ).strip(),
            )
        )
    out.sort(key=lambda e: -e.score)
    return [e for e in out if e.score >= 0.45]


def _signatures(
    st: _FeatureState,
    reference: Reference,
    live: Source,
    day: pl.Expr,
    dates: list[dt.date],
    cohort: CohortEvidence | None,
    cfg: ExplainSettings,
) -> list[SignatureEvidence]:
    """Compare the affected live rows (cohort, post-onset) with the reference (same cohort
    where the reference has it)."""
    spec = st.spec
    f = spec.feature
    if f not in live.columns:
        return [
            SignatureEvidence(
                "signature",
                "schema_missing_column",
                "present",
                "absent",
                None,
                None,
                f"{f} is absent from the live data",
            )
        ]
    live_filter = pl.lit(True)
    if st.onset_index is not None:
        live_filter = live_filter & (day >= dates[st.onset_index])
    ref_filter = pl.lit(True)
    if cohort is not None:
        cond = (
            (pl.col(cohort.column) == cohort.value)
            if cohort.value is not None
            else pl.col(cohort.column).is_null()
        )
        live_filter = live_filter & cond
        if (
            reference.lazy is not None
            and cohort.column in reference.columns
            and not (cohort.appeared)
        ):
            ref_filter = cond
    ref_lazy = reference.lazy
    ref_stats: dict[str, FeatureStats] | None = getattr(reference, "stats", None)
    if ref_lazy is None and (ref_stats is None or f not in ref_stats):
        return []
    out: list[SignatureEvidence] = []
    x = pl.col(f)
    # A saved baseline keeps its own quantile levels (and no rows): compare at those levels.
    levels = DECILES if ref_lazy is not None else list(QUANTILE_LEVELS)
    if spec.kind == "numeric":

        def q(lf: pl.LazyFrame, flt: pl.Expr) -> dict[str, Any]:
            xf = x.cast(pl.Float64)
            fin = xf.filter(xf.is_finite())
            return (
                lf.filter(flt)
                .select(
                    pl.len().alias("n"),
                    (xf.is_null() | xf.is_nan()).sum().alias("missing"),
                    fin.quantile(levels, interpolation="linear").alias("q"),
                    fin.min().alias("min"),
                    fin.max().alias("max"),
                    fin.std().alias("std"),
                    fin.mean().alias("mean"),
                    (xf == fin.max()).sum().alias("at_max"),
                    (xf == fin.min()).sum().alias("at_min"),
                    *[(xf == v).sum().alias(f"fill_{i}") for i, v in enumerate(DEFAULT_FILLS_NUM)],
                )
                .collect(engine="streaming")
                .row(0, named=True)
            )

        r = (
            q(ref_lazy, ref_filter)
            if ref_lazy is not None
            else _stats_row(ref_stats[f], levels, DEFAULT_FILLS_NUM)
            if ref_stats
            else {}
        )
        lv = q(live.lf, live_filter)
    else:
        vocab = [*spec.categories, *spec.other]
        xs = x.cast(pl.String)

        def qc(lf: pl.LazyFrame, flt: pl.Expr) -> dict[str, Any]:
            return (
                lf.filter(flt)
                .select(
                    pl.len().alias("n"),
                    xs.is_null().sum().alias("missing"),
                    (~xs.is_in(vocab) & xs.is_not_null()).sum().alias("unseen"),
                    xs.n_unique().alias("distinct"),
                    *[
                        (xs.str.to_lowercase().str.strip_chars() == v).sum().alias(f"fill_{i}")
                        for i, v in enumerate(DEFAULT_FILLS_CAT)
                    ],
                )
                .collect(engine="streaming")
                .row(0, named=True)
            )

        r = (
            qc(ref_lazy, ref_filter)
            if ref_lazy is not None
            else _stats_row(ref_stats[f], levels, DEFAULT_FILLS_CAT)
            if ref_stats
            else {}
        )
        lv = qc(live.lf, live_filter)
    n_r, n_l = max(r["n"], 1), max(lv["n"], 1)
    if lv["n"] < cfg.min_cohort_rows:
        return out
    # null spike
    nr, nl = r["missing"] / n_r, lv["missing"] / n_l
    p = two_proportion_p(lv["missing"], n_l, r["missing"], n_r)
    if nl - nr >= 0.01 and p is not None and p < 1e-3:
        out.append(
            SignatureEvidence(
                "signature",
                "null_spike",
                nr,
                nl,
                None,
                None,
                f"null rate {_fmt_share(nr)} → {_fmt_share(nl)}",
            )
        )
    # default fills
    fills = DEFAULT_FILLS_NUM if spec.kind == "numeric" else DEFAULT_FILLS_CAT
    for i, v in enumerate(fills):
        sr, sl = r[f"fill_{i}"] / n_r, lv[f"fill_{i}"] / n_l
        if sl - sr >= 0.05 and sl >= 3 * sr:
            out.append(
                SignatureEvidence(
                    "signature",
                    "default_fill",
                    sr,
                    sl,
                    None,
                    None,
                    f"value {v!r} went from {_fmt_share(sr)} to "
                    f"{_fmt_share(sl)} of rows — a default fill",
                )
            )
            break
    if spec.kind == "numeric":
        out += _numeric_signatures(r, lv, n_r, n_l, any(s.signature == "default_fill" for s in out))
    else:
        unseen = lv["unseen"] / n_l
        if unseen >= 0.01:
            vocab = [*spec.categories, *spec.other]
            top = (
                live.lf.filter(live_filter & ~xs.is_in(vocab) & xs.is_not_null())
                .group_by(xs.alias("v"))
                .len()
                .sort("len", descending=True)
                .head(20)
                .collect(engine="streaming")
            )
            canon = {c.lower().strip(): c for c in vocab}
            mapping = {
                v: canon[v.lower().strip()]
                for v in top["v"].to_list()
                if v.lower().strip() in canon
            }
            if mapping:
                pairs = ", ".join(f"{a!r}→{b!r}" for a, b in list(mapping.items())[:5])
                out.append(
                    SignatureEvidence(
                        "signature",
                        "recasing",
                        None,
                        unseen,
                        None,
                        mapping,
                        f"{_fmt_share(unseen)} of values are unseen recasings of known categories "
                        f"({pairs})",
                    )
                )
            else:
                examples = ", ".join(repr(v) for v in top["v"].to_list()[:5])
                out.append(
                    SignatureEvidence(
                        "signature",
                        "unseen_categories",
                        0.0,
                        unseen,
                        None,
                        None,
                        f"{_fmt_share(unseen)} of values never seen in training ({examples})",
                    )
                )
        if r["distinct"] > 1 and lv["distinct"] == 1 and lv["missing"] < lv["n"]:
            out.append(
                SignatureEvidence(
                    "signature",
                    "frozen",
                    r["distinct"],
                    1,
                    None,
                    None,
                    "the feature is constant live",
                )
            )
    return out


def _stats_row(st: FeatureStats, levels: list[float], fills: Sequence[Any]) -> dict[str, Any]:
    """The reference side of the signature query, read from a saved baseline's stats."""
    row: dict[str, Any] = {
        "n": st.rows,
        "missing": st.nulls,
        "min": st.min,
        "max": st.max,
        "std": st.std,
        "mean": st.mean,
        "at_max": 0,
        "at_min": 0,
        "unseen": 0,
        "distinct": len(st.frequencies) + (1 if st.frequencies_rest else 0),
        "q": [st.quantiles.get(str(lv)) for lv in levels] if st.numeric else None,
    }
    if row["q"] is not None and any(v is None for v in row["q"]):
        row["q"] = None
    for i, v in enumerate(fills):
        if isinstance(v, str):
            row[f"fill_{i}"] = int(st.defaults.get(v, 0))
        else:
            key = next((k for k, dv in NUMERIC_DEFAULTS.items() if dv == v), None)
            row[f"fill_{i}"] = int(st.defaults.get(key, 0)) if key is not None else 0
    return row


def _numeric_signatures(
    r: dict[str, Any], lv: dict[str, Any], n_r: int, n_l: int, filled: bool
) -> list[SignatureEvidence]:
    out: list[SignatureEvidence] = []
    if lv["std"] is not None and r["std"] and lv["std"] == 0 and not filled:
        out.append(
            SignatureEvidence(
                "signature",
                "frozen",
                r["std"],
                0.0,
                None,
                None,
                f"the feature is constant live ({lv['min']})",
            )
        )
        return out
    qr, ql = r["q"], lv["q"]
    if qr is not None and ql is not None and len(qr) == len(ql) and not filled:
        a_ref, a_live = np.asarray(qr, dtype=float), np.asarray(ql, dtype=float)
        pos = (a_ref > 0) & (a_live > 0)
        scaled = False
        if pos.sum() >= 5:
            lr = np.log(a_live[pos] / a_ref[pos])
            med = float(np.median(lr))
            if float(np.max(np.abs(lr - med))) < 0.1 and abs(med) > math.log(1.15):
                factor = math.exp(med)
                name = name_factor(factor)
                out.append(
                    SignatureEvidence(
                        "signature",
                        "scale_change",
                        None,
                        None,
                        factor,
                        None,
                        f"every quantile is ×{factor:.3g} the reference's"
                        + (f" — {name}" if name else "")
                        + " (a unit or scale change)",
                    )
                )
                scaled = True
        if not scaled and np.all(np.isfinite(a_ref)) and np.all(np.isfinite(a_live)):
            A = np.vstack([a_ref, np.ones_like(a_ref)]).T
            (slope, icpt), *_ = np.linalg.lstsq(A, a_live, rcond=None)
            fit = A @ np.array([slope, icpt])
            ss = float(((a_live - a_live.mean()) ** 2).sum())
            r2 = 1 - float(((a_live - fit) ** 2).sum()) / ss if ss > 0 else 0.0
            spread = float(a_ref[-1] - a_ref[0]) or 1.0
            moved = abs(slope - 1) > 0.1 or abs(icpt) > 0.1 * spread
            if r2 > 0.995 and moved and slope > 0:
                out.append(
                    SignatureEvidence(
                        "signature",
                        "affine_change",
                        None,
                        None,
                        float(slope),
                        None,
                        f"live quantiles ≈ {slope:.3g}·x {'+' if icpt >= 0 else '−'} "
                        f"{abs(icpt):.3g} of the reference's (an affine transform changed)",
                    )
                )
    if r["min"] is not None and lv["min"] is not None:
        # out of the reference range
        pass
    if lv["max"] is not None and r["max"] is not None and qr is not None:
        at_max_l = lv["at_max"] / n_l
        at_max_r = r["at_max"] / n_r
        if lv["max"] < qr[-1] and at_max_l >= 0.01 and at_max_r < 0.005:
            out.append(
                SignatureEvidence(
                    "signature",
                    "clipping",
                    r["max"],
                    lv["max"],
                    None,
                    None,
                    f"{_fmt_share(at_max_l)} of live values sit at {lv['max']:.4g}, below the "
                    f"reference's 90th percentile — clipped",
                )
            )
    return out


def _owner_of(
    feature: str | None, owners: Owners | None, layer: str
) -> tuple[str | None, str | None, str | None, bool]:
    """(owner, pager, component, owned) for a feature; unowned → the layer's owner."""
    if owners is None:
        return None, None, None, False
    if feature is not None:
        comp = owners.component_for(feature)
        if comp is not None:
            return comp.owner, comp.pager, comp.name, True
    lo = owners.layer(layer)
    return (lo.owner if lo else None), (lo.pager if lo else None), None, False


def _classify(
    st: _FeatureState,
    events: list[ChangeEventEvidence],
    cohort: CohortEvidence | None,
    sigs: list[SignatureEvidence],
    mix_consequence: bool,
) -> FailureMode:
    names = [s.signature for s in sigs]
    if st.day_one:
        return "training_serving_skew"
    if events:
        e = events[0]
        comp = (e.component or "").lower()
        if e.event_kind in ("firmware", "data_source", "schema_migration"):
            return "data_quality"
        if e.event_kind in ("policy", "external"):
            return "data_drift"
        if any(t in comp for t in UPSTREAM_TOKENS):
            return "data_quality"
        if e.event_kind in ("deploy", "config", "library_upgrade"):
            return "pipeline_drift"
    if cohort is not None:
        col = cohort.column.lower()
        if any(t in col for t in ("pipeline", "transform", "feature_version", "etl")):
            return "pipeline_drift"
        if any(t in col for t in ("firmware", "vendor", "source", "device", "sdk")):
            return "data_quality"
    if any(n in DQ_SIGNATURES for n in names):
        return "data_quality"
    if mix_consequence:
        return "data_drift"
    if any(n in ("scale_change", "affine_change") for n in names):
        return "data_quality"
    return "data_drift"


NEXT_ACTION = {
    "pipeline_drift": "roll back {event} or pin the previous transform for the affected rows, "
    "then replay the same inputs through both versions and diff {feature}",
    "data_quality": "ask {owner} to fix {feature} upstream{event_clause}; meanwhile gate the "
    "feature (fallback/impute) for the affected rows",
    "training_serving_skew": "diff the online computation of {feature} against the training "
    "pipeline on the same entities (it differed from day one)",
    "data_drift": "no fix on the model yet: confirm the population change is real, watch "
    "performance on the shifted segment, plan a retrain if it moves",
    "concept_drift": "retrain on recent labelled data and review the label definition; inputs "
    "did not move, the input→label relationship did",
    "infrastructure": "check {event} and the serving layer (latency, timeouts, fallback "
    "scores); roll back if it aligns",
}


def _feature_hypothesis(
    st: _FeatureState,
    reference: Reference,
    live: Source,
    roles: Roles,
    day: pl.Expr,
    dates: list[dt.date],
    ref_table: pl.DataFrame,
    live_by: dict[str, pl.DataFrame],
    ref_by: dict[str, pl.DataFrame | None],
    cohort_records: dict[tuple[str, str], list[tuple[Any, FeaturePsi]]],
    shares_day: dict[str, pl.DataFrame],
    perf_by: dict[str, pl.DataFrame],
    task: TaskSpec | None,
    changes: pl.DataFrame | None,
    owners: Owners | None,
    cfg: ExplainSettings,
    *,
    with_signatures: bool = True,
) -> Hypothesis | None:
    f = st.spec.feature
    ev: list[Evidence] = []
    weights: list[float] = []
    onset_date = (
        dates[st.onset_index] if st.onset_index is not None else (dates[0] if st.day_one else None)
    )

    cohort, mix_fraction = _cohort_evidence(
        st, ref_table, live_by, ref_by, cohort_records, shares_day, dates, cfg
    )
    # Is this drift only a consequence of another column's mix change?
    consequence = None
    for col, frac in sorted(mix_fraction.items(), key=lambda kv: -kv[1]):
        if frac >= 0.6 and col != f and (cohort is None or cohort.column == col):
            consequence = col
            break

    # PSI evidence: the strongest significant window
    best_rec = st.best or st.whole
    window = (
        "all" if best_rec is st.whole else ("post_onset" if best_rec is st.post else "first_day")
    )
    if cohort is not None and cohort.within_psi > (best_rec.psi or 0):
        window_text = f"{cohort.within_psi:.2f} within {cohort.column}={_value_str(cohort.value)}"
    else:
        window_text = f"{best_rec.psi:.2f}"
    ev.append(
        PsiEvidence(
            kind="psi",
            window=window,
            psi=float(best_rec.psi or 0),
            p_value=best_rec.p_value,
            critical_psi=best_rec.critical_psi,
            reference_rows=best_rec.reference_rows,
            live_rows=best_rec.live_rows,
            moved_bins=_moved_bins(best_rec),
            text=(
                f"PSI {best_rec.psi:.3f} ({window.replace('_', ' ')}; whole window "
                f"{st.whole.psi or 0:.3f}; critical {best_rec.critical_psi or 0:.4f})"
            ),
        )
    )
    weights.append(0.2 + 0.2 * min(1.0, st.max_psi / 0.5))

    if st.onset is not None:
        on = st.onset
        ev.append(
            OnsetEvidence(
                kind="onset",
                series=f"daily_psi:{f}",
                date=on.date,
                day_one=False,
                flat_after=False,
                before=on.before,
                after=on.after,
                statistic=on.statistic,
                text=f"daily PSI stepped from {on.before:.3f} to {on.after:.3f} on {on.date}",
            )
        )
        weights.append(0.1)
    elif st.day_one:
        ev.append(
            OnsetEvidence(
                kind="onset",
                series=f"daily_psi:{f}",
                date=dates[0],
                day_one=True,
                flat_after=True,
                before=None,
                after=float(np.nanmedian(st.daily)),
                statistic=None,
                text=(
                    f"drift already present on the first live day ({dates[0]}, PSI "
                    f"{st.first.psi if st.first and st.first.psi is not None else 0:.3f}) "
                    "and flat after — no onset inside the window"
                ),
            )
        )
        weights.append(0.45)

    if cohort is not None:
        ev.append(cohort)
        weights.append(0.25)
        if cohort.appeared or cohort.jumped:
            weights.append(0.15)

    sigs = _signatures(st, reference, live, day, dates, cohort, cfg) if with_signatures else []
    ev.extend(sigs)
    if sigs:
        weights.append(0.25)

    owner, pager, component, owned = _owner_of(f, owners, "model")
    events = _rank_events(
        changes,
        onset_date if not st.day_one else None,
        component,
        f,
        cohort,
        [s.signature for s in sigs],
        cfg,
    )
    if st.day_one and changes is not None:
        events = []
    if events:
        # the best event, plus any other event on the owning component
        ev.extend([events[0], *(e for e in events[1:3] if e.on_owning_component)])
        weights.append(min(0.55, 0.5 * events[0].score))
    if owners is not None and not owned:
        ev.append(
            OwnershipEvidence(
                kind="ownership_gap",
                feature=f,
                text=f"no component in {owners.path} lists {f}; paging the model layer's owner",
            )
        )

    perf_ev = _performance_evidence(st, cohort, perf_by, task, dates)
    if perf_ev is not None:
        ev.append(perf_ev)
        if perf_ev.p_value is not None and perf_ev.p_value < 0.01 and (perf_ev.delta or 0) < 0:
            weights.append(0.25)

    mode = _classify(st, events, cohort, sigs, consequence is not None)
    conf = noisy_or(weights)
    if consequence is not None:
        conf *= 0.5
    slice_ = {cohort.column: cohort.value} if cohort is not None else None
    event_id = events[0].id if events else None
    summary = _summary(
        f, mode, onset_date, window_text, cohort, events, sigs, perf_ev, owner, pager, consequence
    )
    action = NEXT_ACTION[mode].format(
        event=event_id or "the change",
        feature=f,
        owner=owner or "the owner",
        event_clause=f" (after {event_id})" if event_id else "",
    )
    return Hypothesis(
        feature=f,
        failure_mode=mode,
        confidence=round(conf, 3),
        onset=onset_date,
        slice=slice_,
        owner=owner,
        pager=pager,
        component=component,
        summary=summary,
        next_action=action,
        evidence=ev,
        consequence_of=consequence,
    )


def _performance_evidence(
    st: _FeatureState,
    cohort: CohortEvidence | None,
    perf_by: dict[str, pl.DataFrame],
    task: TaskSpec | None,
    dates: list[dt.date],
) -> PerformanceEvidence | None:
    if task is None or task.task != "classification":
        return None
    k = st.onset_index if st.onset_index is not None else 0
    post_days = dates[k:]
    if cohort is not None and cohort.column in perf_by:
        t = perf_by[cohort.column].filter(pl.col(DAY).is_in(post_days))
        inside = t.filter(
            (pl.col(cohort.column) == cohort.value)
            if cohort.value is not None
            else pl.col(cohort.column).is_null()
        )
        outside = t.filter(
            (pl.col(cohort.column) != cohort.value)
            if cohort.value is not None
            else pl.col(cohort.column).is_not_null()
        )
        li, le = int(inside["labelled"].sum()), int(inside["errors"].sum())
        oi, oe = int(outside["labelled"].sum()), int(outside["errors"].sum())
        kind, what = "complement", "the other rows since the onset"
        if oi < 30 and k > 0:  # the cohort is all traffic since the onset: compare with before
            before = perf_by[cohort.column].filter(pl.col(DAY) < dates[k])
            oi, oe = int(before["labelled"].sum()), int(before["errors"].sum())
            kind, what = "before_onset", "all rows before the onset"
        if li < 30 or oi < 30:
            return None
        acc_in, acc_out = 1 - le / li, 1 - oe / oi
        p = two_proportion_p(le, li, oe, oi)
        return PerformanceEvidence(
            kind="performance",
            metric="accuracy",
            slice={cohort.column: cohort.value},
            live=acc_in,
            baseline=acc_out,
            baseline_kind=kind,
            delta=acc_in - acc_out,
            p_value=p,
            rows=li,
            text=(
                f"accuracy {acc_in:.1%} on {cohort.column}={_value_str(cohort.value)} vs "
                f"{acc_out:.1%} on {what} ({li} labelled rows, p{_p(p)})"
                if p is not None
                else ""
            ),
        )
    return None


def _summary(
    f: str,
    mode: str,
    onset: dt.date | None,
    psi_text: str,
    cohort: CohortEvidence | None,
    events: list[ChangeEventEvidence],
    sigs: list[SignatureEvidence],
    perf: PerformanceEvidence | None,
    owner: str | None,
    pager: str | None,
    consequence: str | None,
) -> str:
    parts = [f"{f} drifted (PSI {psi_text})"]
    if mode == "training_serving_skew":
        parts.append(f"from the first live day ({onset})")
    elif onset:
        parts.append(f"since {onset}")
    if events:
        e = events[0]
        parts.append(f"right after {e.id} ({e.event_kind} on {e.component})")
    s = ", ".join(parts)
    if cohort is not None:
        s += f"; rows with {cohort.column}={_value_str(cohort.value)} carry it"
    if sigs:
        s += f"; {sigs[0].text}"
    if perf is not None and perf.delta is not None and perf.delta < -0.01:
        s += f"; their accuracy is {perf.live:.0%} vs {perf.baseline:.0%}"
    if consequence:
        s += f"; mostly a consequence of the {consequence} mix changing"
    s += f" — {mode.replace('_', ' ')}"
    if owner:
        s += f"; page {owner}" + (f" ({pager})" if pager else "")
    return s + "."


def _infra_hypothesis(
    metrics: pl.DataFrame | None,
    changes: pl.DataFrame | None,
    owners: Owners | None,
    pred_info: dict[str, Any] | None,
    acc_onset: dt.date | None,
    pred_onset: dt.date | None,
    dates: list[dt.date],
    cfg: ExplainSettings,
) -> Hypothesis | None:
    ev: list[Evidence] = []
    weights: list[float] = []
    infra_onsets: list[dt.date] = []
    if metrics is not None and metrics.height:
        infra = metrics.filter(pl.col("layer") == "infra")
        for (name,), g in infra.group_by("metric", maintain_order=True):
            daily = (
                g.group_by(pl.col("ts").dt.date().alias("d")).agg(pl.col("value").mean()).sort("d")
            )
            on = detect_onset(
                daily["value"].to_list(), daily["d"].to_list(), threshold=cfg.onset_threshold
            )
            if on is None or on.date is None:
                continue
            infra_onsets.append(on.date)
            ev.append(
                InfraEvidence(
                    kind="infra",
                    layer="infra",
                    metric=str(name),
                    onset=on.date,
                    direction=on.direction,
                    before=on.before,
                    after=on.after,
                    text=f"{name} went {on.direction} from {on.before:.4g} to {on.after:.4g} on "
                    f"{on.date}",
                )
            )
    spike = pred_info.get("spike") if pred_info else None
    if spike is not None:
        ev.append(
            SignatureEvidence(
                "signature",
                "fallback_score",
                spike["reference_share"],
                spike["live_share"],
                None,
                None,
                f"prediction value {spike['value']!r} jumped from "
                f"{_fmt_share(spike['reference_share'])} to {_fmt_share(spike['live_share'])}"
                " of rows — a fallback/default score",
            )
        )
    if not infra_onsets and spike is None:
        return None
    onset = min(infra_onsets) if infra_onsets else (pred_onset or acc_onset)
    model_onset = min([d for d in (acc_onset, pred_onset) if d is not None], default=None)
    if infra_onsets:
        weights.append(0.35)
        if model_onset is None or (onset is not None and onset <= model_onset):
            weights.append(0.15)
    if spike is not None:
        weights.append(0.3)
    serving = []
    if changes is not None and onset is not None:
        cands = _rank_events(changes, onset, None, None, None, [], cfg)
        serving = [
            e for e in cands if any(t in (e.component or "").lower() for t in SERVING_TOKENS)
        ]
        if not serving:
            allev = _rank_events_loose(changes, onset, cfg)
            serving = [
                e for e in allev if any(t in (e.component or "").lower() for t in SERVING_TOKENS)
            ]
    if serving:
        ev.extend(serving[:1])
        weights.append(0.35)
    if not infra_onsets and not serving:
        return None
    owner, pager, _, _ = _owner_of(None, owners, "infra")
    event_id = serving[0].id if serving else None
    summary = (
        "Serving infrastructure degraded"
        + (f" since {onset}" if onset else "")
        + (
            f", right after {event_id} ({serving[0].event_kind} on {serving[0].component})"
            if serving
            else ""
        )
        + (
            "; " + "; ".join(e.text for e in ev if isinstance(e, InfraEvidence))[:300]
            if infra_onsets
            else ""
        )
        + (
            f"; predictions show a fallback score {spike['value']!r} on "
            f"{_fmt_share(spike['live_share'])} of rows"
            if spike
            else ""
        )
        + " — infrastructure"
        + (f"; page {owner}" + (f" ({pager})" if pager else "") if owner else "")
        + "."
    )
    return Hypothesis(
        feature=None,
        failure_mode="infrastructure",
        confidence=round(noisy_or(weights), 3),
        onset=onset,
        slice=None,
        owner=owner,
        pager=pager,
        component=None,
        summary=summary,
        next_action=NEXT_ACTION["infrastructure"].format(
            event=event_id or "the latest serving change"
        ),
        evidence=ev,
    )


def _rank_events_loose(
    changes: pl.DataFrame, onset: dt.date, cfg: ExplainSettings
) -> list[ChangeEventEvidence]:
    out = []
    onset_end = dt.datetime.combine(onset, dt.time(23, 59, 59))
    for row in changes.iter_rows(named=True):
        ts = row["ts"]
        days = (dt.datetime.combine(onset, dt.time()) - ts).total_seconds() / 86400
        if ts > onset_end or days > cfg.event_window_days:
            continue
        out.append(
            ChangeEventEvidence(
                kind="change_event",
                id=str(row["id"]),
                ts=ts,
                event_kind=row["kind"],
                component=row["component"],
                description=row["description"],
                days_before_onset=round(max(days, 0.0), 3),
                on_owning_component=False,
                score=0.5,
                text=f"{row['id']} ({row['kind']} on {row['component']}): {row['description']}",
            )
        )
    out.sort(key=lambda e: e.days_before_onset)
    return out


def _concept_hypothesis(
    perf: dict[str, Any],
    onset: dt.date | None,
    states: dict[str, _FeatureState],
    owners: Owners | None,
    cfg: ExplainSettings,
) -> Hypothesis:
    owner, pager, _, _ = _owner_of(None, owners, "model")
    before, after = perf.get("pre_onset"), perf.get("post_onset")
    ev: list[Evidence] = []
    if onset is not None and before is not None and after is not None:
        ev.append(
            OnsetEvidence(
                kind="onset",
                series="daily_accuracy",
                date=onset,
                day_one=False,
                flat_after=False,
                before=before,
                after=after,
                statistic=None,
                text=f"daily accuracy stepped from {before:.1%} to {after:.1%} on {onset}",
            )
        )
    ev.append(
        PerformanceEvidence(
            kind="performance",
            metric=perf["metric"],
            slice=None,
            live=perf.get("live"),
            baseline=perf.get("reference"),
            baseline_kind="reference",
            delta=(perf["live"] - perf["reference"]) if perf.get("reference") is not None else None,
            p_value=perf.get("p_value"),
            rows=perf.get("labelled_rows", 0),
            text=(
                f"live {perf['metric']} {perf['live']:.1%} vs reference "
                f"{perf.get('reference', float('nan')):.1%}"
            ),
        )
    )
    quiet = sorted(states.values(), key=lambda s: -(s.max_psi))
    top = quiet[0] if quiet else None
    ev.append(
        PsiEvidence(
            kind="psi",
            window="all",
            psi=float(top.whole.psi or 0) if top else 0.0,
            p_value=top.whole.p_value if top else None,
            critical_psi=top.whole.critical_psi if top else None,
            reference_rows=top.whole.reference_rows if top else 0,
            live_rows=top.whole.live_rows if top else 0,
            moved_bins=[],
            text=(
                "no input feature drifted significantly"
                + (f" (largest PSI {top.whole.psi or 0:.3f}, {top.spec.feature})" if top else "")
            ),
        )
    )
    drop = (
        (before - after)
        if before is not None and after is not None
        else ((perf.get("reference") or 0) - perf["live"])
    )
    conf = noisy_or([0.45, 0.2 if onset else 0.0, min(0.3, 3 * max(drop, 0))])
    return Hypothesis(
        feature=None,
        failure_mode="concept_drift",
        confidence=round(conf, 3),
        onset=onset,
        slice=None,
        owner=owner,
        pager=pager,
        component=None,
        summary=(
            f"Accuracy fell{f' from {before:.1%} to {after:.1%} since {onset}' if onset and before is not None and after is not None else ''}"
            " while no input feature drifted — the input→label relationship changed "
            f"(concept drift){f'; page {owner}' if owner else ''}"
            f"{f' ({pager})' if pager else ''}."
        ),
        next_action=NEXT_ACTION["concept_drift"],
        evidence=ev,
    )


def _verdict(
    hyps: list[Hypothesis],
    perf: dict[str, Any] | None,
    pred: dict[str, Any] | None,
    has_labels: bool,
    ps: PsiSettings,
) -> tuple[Literal["model_incident", "no_model_incident"], str]:
    if perf is not None and perf.get("degraded"):
        return "model_incident", (
            f"{perf['metric']} degraded: {perf['live']:.3f} live vs "
            f"{perf.get('reference', float('nan')):.3f} reference"
        )
    breaking = [
        h
        for h in hyps
        if h.failure_mode
        in ("data_quality", "pipeline_drift", "training_serving_skew", "infrastructure")
        and h.confidence >= 0.5
    ]
    if breaking:
        h = breaking[0]
        return "model_incident", (
            f"{h.failure_mode.replace('_', ' ')} hits the model's input {h.feature}"
            if h.feature
            else h.failure_mode
        )
    if not has_labels and pred is not None and pred.get("drifted"):
        return "model_incident", (
            f"no labels; the prediction distribution drifted (PSI {pred['psi']:.2f})"
        )
    if hyps:
        return "no_model_incident", "inputs drifted but performance and predictions held"
    return "no_model_incident", "no significant drift or degradation"
