"""The feature hypothesis (design §7): one drifted feature tied to its onset, the cohort that
carries it, its signatures, the change event just before it, its owner and the performance of
the affected rows; then its failure mode, confidence (noisy-OR of the evidence weights) and
summary.

Several problems at once (:func:`annotate_problems`): the ranked hypotheses are grouped into
independent problems. Two hypotheses are one problem when they share the carrying cohort (the
same ``slice``, or both none), the onset (within one day, design §6's tie) and the first change
event (the same id, or both none); a hypothesis that is a consequence of a column's mix change
joins the problem whose cohort is that column. Every other hypothesis is a problem of its own.
Problems are numbered 1, 2, … in rank order (``Hypothesis.problem``). A hypothesis with no
aligned change event carries ``event_note`` = "no change event on record before the onset"."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from mlfail.io import Source
from mlfail.owners import Owners
from mlfail.performance import TaskSpec
from mlfail.reference import Reference
from mlfail.rootcause.cohorts import CohortTables, _cohort_evidence
from mlfail.rootcause.common import _FeatureState, _moved_bins, _owner_of, _value_str, noisy_or
from mlfail.rootcause.events import NO_EVENT_NOTE, _rank_events
from mlfail.rootcause.evidence import (
    ChangeEventEvidence,
    CohortEvidence,
    Evidence,
    ExplainSettings,
    Hypothesis,
    OnsetEvidence,
    OwnershipEvidence,
    PerformanceEvidence,
    PsiEvidence,
    SignatureEvidence,
    SkewEvidence,
)
from mlfail.rootcause.model_health import _performance_evidence
from mlfail.rootcause.modes import NEXT_ACTION, _classify
from mlfail.rootcause.signatures import _signatures


def _consequence_of(
    mix_fraction: dict[str, float], f: str, cohort: CohortEvidence | None
) -> str | None:
    """Is this drift only a consequence of another column's mix change?"""
    for col, frac in sorted(mix_fraction.items(), key=lambda kv: -kv[1]):
        if frac >= 0.6 and col != f and (cohort is None or cohort.column == col):
            return col
    return None


def _psi_evidence(st: _FeatureState, cohort: CohortEvidence | None) -> tuple[PsiEvidence, str]:
    """PSI evidence from the strongest significant window, and the PSI text of the summary."""
    best_rec = st.best or st.whole
    window = (
        "all" if best_rec is st.whole else ("post_onset" if best_rec is st.post else "first_day")
    )
    if cohort is not None and cohort.within_psi > (best_rec.psi or 0):
        window_text = f"{cohort.within_psi:.2f} within {cohort.column}={_value_str(cohort.value)}"
    else:
        window_text = f"{best_rec.psi:.2f}"
    ev = PsiEvidence(
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
    return ev, window_text


def _onset_evidence(st: _FeatureState, dates: list[dt.date]) -> tuple[OnsetEvidence, float] | None:
    """The daily-PSI step (weight 0.1), or drift present from the first day (weight 0.45)."""
    f = st.spec.feature
    if st.onset is not None:
        on = st.onset
        return OnsetEvidence(
            kind="onset",
            series=f"daily_psi:{f}",
            date=on.date,
            day_one=False,
            flat_after=False,
            before=on.before,
            after=on.after,
            statistic=on.statistic,
            text=f"daily PSI stepped from {on.before:.3f} to {on.after:.3f} on {on.date}",
        ), 0.1
    if st.day_one:
        return OnsetEvidence(
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
        ), 0.45
    return None


def _feature_events(
    st: _FeatureState,
    changes: pl.DataFrame | None,
    onset_date: dt.date | None,
    component: str | None,
    cohort: CohortEvidence | None,
    sigs: list[SignatureEvidence],
    cfg: ExplainSettings,
) -> list[ChangeEventEvidence]:
    """Ranked change events before the onset; none for a day-one skew (nothing inside the
    window caused it)."""
    events = _rank_events(
        changes,
        onset_date if not st.day_one else None,
        component,
        st.spec.feature,
        cohort,
        [s.signature for s in sigs],
        cfg,
    )
    if st.day_one and changes is not None:
        events = []
    return events


def _feature_hypothesis(
    st: _FeatureState,
    reference: Reference,
    live: Source,
    day: pl.Expr,
    dates: list[dt.date],
    ref_table: pl.DataFrame,
    cohorts: CohortTables,
    task: TaskSpec | None,
    changes: pl.DataFrame | None,
    owners: Owners | None,
    cfg: ExplainSettings,
    *,
    with_signatures: bool = True,
    skew: SkewEvidence | None = None,
) -> Hypothesis | None:
    f = st.spec.feature
    ev: list[Evidence] = []
    weights: list[float] = []
    onset_date = (
        dates[st.onset_index] if st.onset_index is not None else (dates[0] if st.day_one else None)
    )

    cohort, mix_fraction = _cohort_evidence(st, ref_table, cohorts, dates, cfg)
    consequence = _consequence_of(mix_fraction, f, cohort)

    psi_ev, window_text = _psi_evidence(st, cohort)
    ev.append(psi_ev)
    weights.append(0.2 + 0.2 * min(1.0, st.max_psi / 0.5))

    onset = _onset_evidence(st, dates)
    if onset is not None:
        ev.append(onset[0])
        weights.append(onset[1])

    if cohort is not None:
        ev.append(cohort)
        weights.append(0.25)
        if cohort.appeared or cohort.jumped:
            weights.append(0.15)

    sigs = _signatures(st, reference, live, day, dates, cohort, cfg) if with_signatures else []
    ev.extend(sigs)
    if sigs:
        weights.append(0.25)
    if skew is not None:  # the --offline join (design §10): outranks distributions
        ev.append(skew)
        if skew.systematic:
            weights.append(0.45)

    owner, pager, component, owned = _owner_of(f, owners, "model")
    events = _feature_events(st, changes, onset_date, component, cohort, sigs, cfg)
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

    perf_ev = _performance_evidence(st, cohort, cohorts.perf_by, task, dates)
    if perf_ev is not None:
        ev.append(perf_ev)
        if perf_ev.p_value is not None and perf_ev.p_value < 0.01 and (perf_ev.delta or 0) < 0:
            weights.append(0.25)

    mode = _classify(st, events, cohort, sigs, consequence is not None, skew)
    conf = noisy_or(weights)
    if consequence is not None:
        conf *= 0.5
    slice_ = {cohort.column: cohort.value} if cohort is not None else None
    event_id = events[0].id if events else None
    summary = _summary(
        f, mode, onset_date, window_text, cohort, events, sigs, perf_ev, owner, pager, consequence
    )
    if skew is not None:  # the join in words, before the mode
        cut = summary.rfind(f" — {mode.replace('_', ' ')}")
        summary = f"{summary[:cut]}; {skew.text}{summary[cut:]}"
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
        skew=skew,
    )


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


def _same_problem(a: Hypothesis, b: Hypothesis) -> bool:
    ea, eb = a.change_events(), b.change_events()
    same_onset = (a.onset is None and b.onset is None) or (
        a.onset is not None and b.onset is not None and abs((a.onset - b.onset).days) <= 1
    )
    return (
        (a.slice or None) == (b.slice or None)
        and same_onset
        and (ea[0].id if ea else None) == (eb[0].id if eb else None)
    )


def annotate_problems(hyps: list[Hypothesis], has_changes: bool) -> int:
    """Set ``event_note`` on hypotheses without a change event and number the independent
    problems (rule in the module docstring) in rank order; → how many there are."""
    for h in hyps:
        if not h.change_events():
            h.event_note = NO_EVENT_NOTE + ("" if has_changes else " (no --changes given)")
    count = 0
    for i, h in enumerate(hyps):
        h.problem = None
        for prev in hyps[:i]:
            joins = _same_problem(h, prev) or (
                h.consequence_of is not None
                and prev.slice is not None
                and h.consequence_of in prev.slice
            )
            if joins:
                h.problem = prev.problem
                break
        if h.problem is None:
            count += 1
            h.problem = count
    return count


def problem_lead_text(h: Hypothesis) -> str:
    """One problem in a line: its lead hypothesis, carrying cohort and first change event."""
    ev = h.change_events()
    where = ", ".join(f"{k}={_value_str(v)}" for k, v in h.slice.items()) if h.slice else ""
    return (
        f"{h.feature or '(no single feature)'} ({h.failure_mode.replace('_', ' ')}"
        + (f", {where}" if where else "")
        + (f", after {ev[0].id}" if ev else "")
        + ")"
    )
