"""Change-event ranking (design §7): events before the onset, owning component first, then
proximity, then a kind that fits the evidence.

One alignment rule for every kind of hypothesis (:func:`_score_events`): an event counts only on
or before the onset day and at most ``event_window_days`` before it; its score is
0.5·(on the owning component) + 0.25·proximity + 0.2·(its kind fits) + 0.15·(it mentions the
feature or cohort). The hypotheses differ only in what "owning" and "fits" mean:

* a feature hypothesis (:func:`_rank_events`): the component that produces the feature
  (owners.toml lineage); kinds that fit its signatures and cohort;
* an infrastructure hypothesis (:func:`_rank_serving_events`): the serving/infra components —
  those owners.toml marks ``layer = "infra"``, or, when none is marked, components named like
  serving/api/gateway/infra/platform/endpoint/inference with a change of kind
  deploy/infra/config; only such events rank;
* a concept-drift hypothesis (:func:`_rank_concept_events`): events of a policy/external kind
  (policy, pricing, external, market, season…); components marked ``layer = "business"`` own.

Among equal scores the nearest event comes first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Iterator
from typing import Any

import polars as pl

from mlfail.owners import Owners
from mlfail.rootcause.common import _value_str
from mlfail.rootcause.evidence import ChangeEventEvidence, CohortEvidence, ExplainSettings

PIPELINE_TOKENS = ("pipeline", "transform", "feature", "etl", "normal")
# a component named like one of these (substring, or a whole name token) is a serving component
SERVING_TOKENS = ("serving", "infra", "gateway", "platform", "endpoint", "inference")
SERVING_NAME_TOKENS = ("api",)
# kinds of change that move serving infrastructure
INFRA_KINDS = ("deploy", "infra", "config", "rollback", "scaling")
# kinds of change that move the input→label relationship (concept drift)
CONCEPT_KINDS = (
    "policy",
    "pricing",
    "external",
    "market",
    "season",
    "seasonal",
    "regulation",
    "promotion",
    "campaign",
    "business",
)
NO_EVENT_NOTE = "no change event on record before the onset"


def is_serving_name(component: str | None) -> bool:
    """Is a component named like a serving/infra component?"""
    name = (component or "").lower()
    tokens = set(re.split(r"[^a-z0-9]+", name))
    return any(t in name for t in SERVING_TOKENS) or bool(tokens & set(SERVING_NAME_TOKENS))


def _kind_in(kind: str | None, kinds: Collection[str]) -> bool:
    k = (kind or "").lower()
    return k in kinds or any(k.startswith(c) for c in kinds)


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


def _in_window(
    changes: pl.DataFrame, onset: dt.date, cfg: ExplainSettings
) -> Iterator[tuple[dict[str, Any], float]]:
    """(row, days before the onset) of each event on or before the onset day and at most
    ``event_window_days`` before it."""
    onset_end = dt.datetime.combine(onset, dt.time(23, 59, 59))
    for row in changes.iter_rows(named=True):
        ts: dt.datetime = row["ts"]
        if ts > onset_end:
            continue
        days = (dt.datetime.combine(onset, dt.time()) - ts).total_seconds() / 86400
        if days > cfg.event_window_days:
            continue
        yield row, days


def _event_record(
    row: dict[str, Any], days: float, owning: bool, score: float, text: str
) -> ChangeEventEvidence:
    return ChangeEventEvidence(
        kind="change_event",
        id=str(row["id"]),
        ts=row["ts"],
        event_kind=row["kind"],
        component=row["component"],
        description=row["description"],
        days_before_onset=round(max(days, 0.0), 3),
        on_owning_component=owning,
        score=score,
        text=text,
    )


def _score_events(
    changes: pl.DataFrame | None,
    onset: dt.date | None,
    cfg: ExplainSettings,
    owning: Callable[[dict[str, Any]], bool],
    fits: Callable[[dict[str, Any]], bool],
    mention: Callable[[dict[str, Any]], bool],
    owning_text: str,
) -> list[ChangeEventEvidence]:
    """The one alignment rule: every event in the window before the onset, scored, best first
    (then nearest first)."""
    if changes is None or onset is None or changes.height == 0:
        return []
    out: list[ChangeEventEvidence] = []
    for row, days in _in_window(changes, onset, cfg):
        own = owning(row)
        prox = 1.0 if days <= 1 else (0.6 if days <= 3 else 0.25)
        score = 0.5 * own + 0.25 * prox + 0.2 * fits(row) + 0.15 * mention(row)
        when = f"{max(days, 0):.1f} days before the onset" if days >= 1 else "on the onset day"
        text = (
            f"{row['id']} ({row['kind']} on {row['component'] or '?'}, {when}"
            + (f", {owning_text}" if own else "")
            + f"): {row['description'] or ''}"
        ).strip()
        out.append(_event_record(row, days, own, round(score, 3), text))
    out.sort(key=lambda e: (-e.score, e.days_before_onset))
    return out


def _rank_events(
    changes: pl.DataFrame | None,
    onset: dt.date | None,
    component: str | None,
    feature: str | None,
    cohort: CohortEvidence | None,
    signatures: list[str],
    cfg: ExplainSettings,
) -> list[ChangeEventEvidence]:
    """A feature's events before the onset (same day included), never after; owning component
    first, then proximity, then a kind that fits the evidence."""

    def mention(row: dict[str, Any]) -> bool:
        text_blob = f"{row.get('description') or ''} {row.get('component') or ''}".lower()
        return bool(
            (
                cohort is not None
                and (
                    _value_str(cohort.value).lower() in text_blob.split()
                    or f" {_value_str(cohort.value).lower()}" in text_blob
                )
            )
            or (feature and feature.lower() in text_blob)
        )

    out = _score_events(
        changes,
        onset,
        cfg,
        lambda row: bool(component and row["component"] == component),
        lambda row: _event_fits(row["kind"], row["component"], signatures, cohort),
        mention,
        "the component that produces this feature",
    )
    return [e for e in out if e.score >= 0.45]


def serving_components(owners: Owners | None) -> set[str] | None:
    """The components owners.toml marks ``layer = "infra"``; None when it marks none (then
    components are recognised by name)."""
    if owners is None:
        return None
    marked = set(owners.components_in("infra"))
    return marked or None


def _rank_serving_events(
    changes: pl.DataFrame | None,
    onset: dt.date | None,
    owners: Owners | None,
    cfg: ExplainSettings,
) -> list[ChangeEventEvidence]:
    """Events on serving/infra components before the infra onset, by the one alignment rule.
    Only events on such a component rank: declared ones (any kind; a deploy/infra/config kind
    fits), or, when owners.toml declares none, ones named like serving components with a
    change of kind deploy/infra/config."""
    declared = serving_components(owners)

    def owning(row: dict[str, Any]) -> bool:
        if declared is not None:
            return row["component"] in declared
        return is_serving_name(row["component"]) and _kind_in(row["kind"], INFRA_KINDS)

    out = _score_events(
        changes,
        onset,
        cfg,
        owning,
        lambda row: _kind_in(row["kind"], INFRA_KINDS),
        lambda row: False,
        "a serving/infra component",
    )
    return [e for e in out if e.on_owning_component]


def _rank_concept_events(
    changes: pl.DataFrame | None,
    onset: dt.date | None,
    owners: Owners | None,
    cfg: ExplainSettings,
) -> list[ChangeEventEvidence]:
    """Policy/external events before the concept onset, by the one alignment rule; only events
    of such a kind rank."""
    business = set(owners.components_in("business")) if owners is not None else set()
    out = _score_events(
        changes,
        onset,
        cfg,
        lambda row: row["component"] in business,
        lambda row: _kind_in(row["kind"], CONCEPT_KINDS),
        lambda row: False,
        "a business/policy component",
    )
    return [e for e in out if _kind_in(e.event_kind, CONCEPT_KINDS)]
