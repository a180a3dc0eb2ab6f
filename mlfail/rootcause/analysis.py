"""``explain()``: root cause as a short composition of the steps in this package (design §7).

Per feature (one pass over live keyed by day): the whole-window, post-onset and first-day PSI
and the daily series the onset is found in; BH across every feature × window; cohorts for the
strongest drifts; a hypothesis per drifted feature, then infrastructure and concept drift; the
verdict.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import polars as pl

from mlfail.binning import BinSpec
from mlfail.changepoint import detect_onset
from mlfail.config import Roles
from mlfail.counts import count_source, dense, matrix
from mlfail.errors import UsageError
from mlfail.io import Source
from mlfail.owners import Owners
from mlfail.performance import TaskSpec, infer_task, performance_table
from mlfail.psi import FeaturePsi, PsiSettings, assess_feature, enough_rows, psi_rows
from mlfail.reference import Reference, coarsen
from mlfail.rootcause.cohorts import _count_cohorts
from mlfail.rootcause.common import DAY, _bh, _day_expr, _FeatureState
from mlfail.rootcause.concept import _concept_hypothesis
from mlfail.rootcause.evidence import (
    ExplainSettings,
    Explanation,
    Hypothesis,
    PsiEvidence,
    SkewEvidence,
)
from mlfail.rootcause.hypotheses import _feature_hypothesis, annotate_problems
from mlfail.rootcause.infra import _infra_hypothesis
from mlfail.rootcause.model_health import _global_performance, _prediction_drift
from mlfail.rootcause.skewjoin import check_offline, join_evidence
from mlfail.rootcause.verdict import _verdict
from mlfail.timekeys import normalize_timestamp


def _prepare(
    reference: Reference, live: Source, roles: Roles
) -> tuple[Source, pl.Expr, list[BinSpec], list[str]]:
    """Check the roles; → (live with a normalised timestamp, the day expression, the feature
    specs, warnings for features missing from live)."""
    if roles.timestamp:
        live.require([roles.timestamp], "--timestamp")
        live = normalize_timestamp(live, roles.timestamp)
        day = _day_expr(live.schema, roles.timestamp)
    else:
        # no event time: the whole live window is one window, and nothing has an onset
        day = pl.lit(UNTIMED, dtype=pl.Date).alias(DAY)
    if roles.features is not None:
        live.require(roles.features, "--features")
    never = set(roles.role_columns()) if roles.assignment is not None else set()
    specs = [
        s
        for s in reference.specs
        if (roles.features is None or s.feature in roles.features) and s.feature not in never
    ]
    warnings: list[str] = []
    for s in specs:
        if s.feature not in live.columns:
            warnings.append(f"feature {s.feature!r} is not in --live; counted as all missing")
    return live, day, specs, warnings


# the one "day" of a live log without event time (never shown: dates are dropped from the report)
UNTIMED = dt.date(1970, 1, 1)
NO_ONSET = "no onset: change events not aligned (no --timestamp: the live log has no event time)"


def _feature_states(
    specs: list[BinSpec],
    ref_table: pl.DataFrame,
    live_day: pl.DataFrame,
    live_total: pl.DataFrame,
    dates: list[dt.date],
    cfg: ExplainSettings,
    timed: bool = True,
) -> tuple[dict[str, _FeatureState], list[FeaturePsi]]:
    """Per feature: whole, daily, onset, post-onset, first day; and every population-level
    record (one BH family). Without event time (``timed`` False) only the whole window."""
    ps = cfg.psi
    states: dict[str, _FeatureState] = {}
    records: list[FeaturePsi] = []
    for spec in specs:
        ref_vec = dense(ref_table, spec)
        whole = assess_feature(spec, ref_vec, dense(live_total, spec), ps)
        _, mat = matrix(live_day, spec, DAY, dates)
        daily = psi_rows(ref_vec, mat, ps.epsilon)
        onset = (
            detect_onset(daily, dates, threshold=cfg.onset_threshold, min_sigma=cfg.psi_noise_floor)
            if timed
            else None
        )
        post = None
        if onset is not None and onset.direction == "up":
            post = assess_feature(spec, ref_vec, mat[onset.index :].sum(axis=0), ps)
            post.slice = {"window": f"{dates[onset.index]}..{dates[-1]}"}
            records.append(post)
        first: FeaturePsi | None = None
        records.append(whole)
        if timed:
            first = assess_feature(spec, ref_vec, mat[0], ps)
            first.slice = {"window": str(dates[0])}
            records.append(first)
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
    return states, records


def _task(live: Source, roles: Roles, cfg: ExplainSettings) -> TaskSpec | None:
    if (
        roles.label
        and roles.prediction
        and roles.label in live.columns
        and (roles.prediction in live.columns)
    ):
        return infer_task(
            live.schema,
            roles.label,
            roles.prediction,
            task=cfg.task,
            threshold=cfg.threshold,
            data=live.lf,
            origin=f"--live {live.spec}",
        )
    return None


def _mark_significant(
    states: dict[str, _FeatureState], records: list[FeaturePsi], cfg: ExplainSettings
) -> None:
    """Population-level significance (BH across every feature × window): a feature is a
    candidate when a window is significant, has enough rows and PSI ≥ min_psi."""
    ps = cfg.psi
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


def _mark_day_one(states: dict[str, _FeatureState], ps: PsiSettings) -> None:
    """Day-one skew: no onset, but the first live day already drifted and so did the whole
    window."""
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


def _strength(h: Hypothesis) -> float:
    """The largest PSI among a hypothesis's PSI evidence (0 without any)."""
    return max((float(e.psi or 0.0) for e in h.evidence if isinstance(e, PsiEvidence)), default=0.0)


def _add_concept(
    hypotheses: list[Hypothesis],
    perf_info: dict[str, Any],
    acc_onset: dt.date | None,
    states: dict[str, _FeatureState],
    owners: Owners | None,
    changes: pl.DataFrame | None,
    cfg: ExplainSettings,
) -> None:
    """Concept drift means "performance fell while no input drifted": it is added when
    performance degraded, no input drifted significantly above the threshold, and no other
    hypothesis near the accuracy onset explains the fall."""
    inputs_drifted = any(
        st.whole.significant and (st.whole.psi or 0.0) >= cfg.psi.threshold
        for st in states.values()
    )
    if perf_info.get("degraded") and not inputs_drifted and not _explained(hypotheses, acc_onset):
        hypotheses.append(_concept_hypothesis(perf_info, acc_onset, states, owners, changes, cfg))


def _explained(hypotheses: list[Hypothesis], acc_onset: dt.date | None) -> bool:
    """Does a non-consequence, non-data-drift hypothesis of confidence ≥ 0.5 near the accuracy
    onset already explain the degradation? (otherwise: concept drift)"""
    return any(
        h.failure_mode != "data_drift"
        and h.confidence >= 0.5
        and h.consequence_of is None
        and (h.onset is None or acc_onset is None or abs((h.onset - acc_onset).days) <= 3)
        for h in hypotheses
    )


def _daily_metric(
    task: TaskSpec | None, perf_day: pl.DataFrame | None, dates: list[dt.date]
) -> list[float | None]:
    daily_metric: list[float | None] = []
    if task is not None and perf_day is not None:
        by_day = dict(zip(perf_day[DAY].to_list(), perf_day[task.metric].to_list(), strict=True))
        daily_metric = [by_day.get(d) for d in dates]
    return daily_metric


def _settings_echo(cfg: ExplainSettings) -> dict[str, Any]:
    ps = cfg.psi
    return {
        "threshold": ps.threshold,
        "watch": ps.watch,
        "alpha": ps.alpha,
        "epsilon": ps.epsilon,
        "min_confidence": cfg.min_confidence,
        "event_window_days": cfg.event_window_days,
        "onset_threshold": cfg.onset_threshold,
    }


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
    offline: Source | None = None,
    ids: Sequence[str] = (),
    live_day: pl.DataFrame | None = None,
) -> Explanation:
    """Ranked root-cause hypotheses for what changed between the reference and live. With
    ``offline`` (the offline pipeline's values for the same requests, joined on ``ids``), each
    drifted feature also gets the row-by-row join as evidence (one join, design §10).
    ``live_day``: live's (day, feature, bin) counts when the caller already has them (triage's
    shared table, mlfail/walkcounts.py); counted here otherwise."""
    cfg = settings or ExplainSettings()
    ps = cfg.psi
    if offline is not None:
        check_offline(live, offline, ids)
    live, day, specs, warnings = _prepare(reference, live, roles)

    ref_table = reference.table(())
    assert ref_table is not None
    if live_day is None:
        live_day = count_source(live, specs, [day], progress=progress)
    dates: list[dt.date] = sorted(d for d in live_day[DAY].unique().to_list() if d is not None)
    if not dates:
        raise UsageError(f"--live {live.spec}: no rows with a {roles.timestamp} value")
    if not roles.timestamp:
        warnings.append(NO_ONSET)
    live_total = coarsen(live_day, [])
    timed = bool(roles.timestamp)
    states, records = _feature_states(specs, ref_table, live_day, live_total, dates, cfg, timed)

    task = _task(live, roles, cfg)
    # no AUC: root cause reads accuracy or MAE per day (the AUC is a rank of every row)
    perf_day = performance_table(live.lf, task, [day], auc=False).sort(DAY) if task else None
    has_labels = perf_day is not None and int(perf_day["labelled"].sum()) > 0
    pred_info, pred_onset = _prediction_drift(reference, live, roles, day, dates, cfg)
    perf_info, acc_onset = _global_performance(reference, roles, task, perf_day, dates, cfg)
    _mark_significant(states, records, cfg)

    # The per-cohort counts (one pass per source) grow with the features: count the ones that
    # drifted (the strongest ``max_cohort_features``), not all of them.
    ranked_states = sorted(
        (st for st in states.values() if st.significant), key=lambda st: -st.max_psi
    )
    cohort_specs = [st.spec for st in ranked_states[: cfg.max_cohort_features]]
    cohorts = _count_cohorts(reference, live, roles, cohort_specs, ref_table, day, task, cfg, dates)
    if timed:  # day-one skew needs a first day; without time every window is "day one"
        _mark_day_one(states, ps)
    skews: dict[str, SkewEvidence] = {}
    if offline is not None:
        segments = [*roles.meta, *cohorts.live_by]
        feats = [st.spec.feature for st in ranked_states]
        skews, skew_warnings = join_evidence(live, offline, ids, feats, segments, day, dates)
        warnings += skew_warnings

    # signatures cost a small query per feature: run them for the strongest drifts only
    hypotheses: list[Hypothesis] = []
    for rank, st in enumerate(ranked_states):
        hyp = _feature_hypothesis(
            st,
            reference,
            live,
            day,
            dates,
            ref_table,
            cohorts,
            task,
            changes,
            owners,
            cfg,
            with_signatures=rank < cfg.max_signature_features,
            skew=skews.get(st.spec.feature),
        )
        if hyp is not None:
            hypotheses.append(hyp)
    infra_hyp = _infra_hypothesis(metrics, changes, owners, pred_info, acc_onset, pred_onset, cfg)
    if infra_hyp is not None:
        hypotheses.append(infra_hyp)
    if has_labels and perf_info is not None:
        _add_concept(hypotheses, perf_info, acc_onset, states, owners, changes, cfg)

    hypotheses = [h for h in hypotheses if h.confidence >= cfg.min_confidence]
    # equal confidence: the stronger drift first (PSI 9.3 before 0.19), then by name
    hypotheses.sort(key=lambda h: (-h.confidence, -_strength(h), h.feature or ""))
    annotate_problems(hypotheses, changes is not None)
    verdict, reason = _verdict(hypotheses, perf_info, pred_info, has_labels)
    daily_psi = {
        h.feature: [None if not math.isfinite(v) else float(v) for v in states[h.feature].daily]
        for h in hypotheses
        if h.feature in states
    }
    return Explanation(
        verdict=verdict,
        verdict_reason=reason,
        hypotheses=hypotheses,
        reference=reference.name,
        live=live.spec,
        first_day=dates[0] if timed else None,
        last_day=dates[-1] if timed else None,
        performance=perf_info,
        prediction=pred_info,
        settings=_settings_echo(cfg),
        warnings=warnings,
        days=dates if timed else [],
        daily_psi=daily_psi if timed else {},
        daily_metric=_daily_metric(task, perf_day, dates) if timed else [],
        roles=roles.assignment,
    )
