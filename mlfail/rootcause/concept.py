"""The concept-drift hypothesis: performance fell while no input drifted; the policy/external
change just before the onset (``events._rank_concept_events``) is its event."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from mlfail.owners import Owners
from mlfail.rootcause.common import _FeatureState, _owner_of, noisy_or
from mlfail.rootcause.events import _rank_concept_events
from mlfail.rootcause.evidence import (
    Evidence,
    ExplainSettings,
    Hypothesis,
    OnsetEvidence,
    PerformanceEvidence,
    PsiEvidence,
)
from mlfail.rootcause.modes import NEXT_ACTION


def _concept_hypothesis(
    perf: dict[str, Any],
    onset: dt.date | None,
    states: dict[str, _FeatureState],
    owners: Owners | None,
    changes: pl.DataFrame | None = None,
    cfg: ExplainSettings | None = None,
) -> Hypothesis:
    owner, pager, _, _ = _owner_of(None, owners, "model")
    events = _rank_concept_events(changes, onset, owners, cfg or ExplainSettings())
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
    ev.extend(events[:3])
    conf = noisy_or(
        [0.45, 0.2 if onset else 0.0, min(0.3, 3 * max(drop, 0))]
        + ([min(0.3, 0.5 * events[0].score)] if events else [])
    )
    after_event = (
        f", right after {events[0].id} ({events[0].event_kind} on {events[0].component})"
        if events
        else ""
    )
    return Hypothesis(
        feature=None,
        failure_mode="concept_drift",
        confidence=round(conf, 3),
        onset=onset,
        slice=None,
        owner=owner,
        pager=pager,
        component=events[0].component if events else None,
        summary=(
            f"Accuracy fell{f' from {before:.1%} to {after:.1%} since {onset}' if onset and before is not None and after is not None else ''}"
            f"{after_event} while no input feature drifted — the input→label relationship changed "
            f"(concept drift){f'; page {owner}' if owner else ''}"
            f"{f' ({pager})' if pager else ''}."
        ),
        next_action=NEXT_ACTION["concept_drift"],
        evidence=ev,
    )
