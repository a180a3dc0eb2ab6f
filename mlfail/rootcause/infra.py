"""The infrastructure hypothesis (design §7): an onset in the serving layer's own metrics or a
fallback/default score in the predictions, tied to the serving change just before it (ranked by
``events._rank_serving_events``: serving/infra components from owners.toml or by name)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from mlfail.changepoint import detect_onset
from mlfail.owners import Owners
from mlfail.rootcause.common import _fmt_share, _owner_of, noisy_or
from mlfail.rootcause.events import SERVING_TOKENS, _rank_serving_events
from mlfail.rootcause.evidence import (
    ChangeEventEvidence,
    Evidence,
    ExplainSettings,
    Hypothesis,
    InfraEvidence,
    SignatureEvidence,
)
from mlfail.rootcause.modes import NEXT_ACTION

__all__ = ["SERVING_TOKENS"]


def _infra_onsets(metrics: pl.DataFrame | None, cfg: ExplainSettings) -> list[InfraEvidence]:
    """An onset per infra-layer metric (daily mean) that has one."""
    out: list[InfraEvidence] = []
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
            out.append(
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
    return out


def _fallback_evidence(spike: dict[str, Any]) -> SignatureEvidence:
    return SignatureEvidence(
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


def _infra_summary(
    onset: dt.date | None,
    serving: list[ChangeEventEvidence],
    ev: list[Evidence],
    infra_onsets: list[dt.date],
    spike: dict[str, Any] | None,
    owner: str | None,
    pager: str | None,
) -> str:
    event_id = serving[0].id if serving else None
    return (
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


def _infra_hypothesis(
    metrics: pl.DataFrame | None,
    changes: pl.DataFrame | None,
    owners: Owners | None,
    pred_info: dict[str, Any] | None,
    acc_onset: dt.date | None,
    pred_onset: dt.date | None,
    cfg: ExplainSettings,
) -> Hypothesis | None:
    ev: list[Evidence] = []
    weights: list[float] = []
    infra_ev = _infra_onsets(metrics, cfg)
    infra_onsets = [e.onset for e in infra_ev if e.onset is not None]
    ev.extend(infra_ev)
    spike = pred_info.get("spike") if pred_info else None
    if spike is not None:
        ev.append(_fallback_evidence(spike))
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
    serving = _rank_serving_events(changes, onset, owners, cfg)
    if serving:
        ev.extend(serving[:3])
        weights.append(0.35)
    if not infra_onsets and not serving:
        return None
    owner, pager, _, _ = _owner_of(None, owners, "infra")
    comp = owners.components.get(serving[0].component or "") if owners and serving else None
    if owner is None and comp is not None:  # no infra layer owner: the serving component's
        owner, pager = comp.owner, comp.pager
    event_id = serving[0].id if serving else None
    return Hypothesis(
        feature=None,
        failure_mode="infrastructure",
        confidence=round(noisy_or(weights), 3),
        onset=onset,
        slice=None,
        owner=owner,
        pager=pager,
        component=serving[0].component if serving else None,
        summary=_infra_summary(onset, serving, ev, infra_onsets, spike, owner, pager),
        next_action=NEXT_ACTION["infrastructure"].format(
            event=event_id or "the latest serving change"
        ),
        evidence=ev,
    )
