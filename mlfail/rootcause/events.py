"""Change-event ranking (design §7): events before the onset, owning component first, then
proximity, then a kind that fits the evidence."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import polars as pl

from mlfail.rootcause.common import _value_str
from mlfail.rootcause.evidence import ChangeEventEvidence, CohortEvidence, ExplainSettings

PIPELINE_TOKENS = ("pipeline", "transform", "feature", "etl", "normal")


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
    for row, days in _in_window(changes, onset, cfg):
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
        text = (
            f"{row['id']} ({row['kind']} on {row['component'] or '?'}, {when}"
            + (", the component that produces this feature" if owning else "")
            + f"): {row['description'] or ''}"
        ).strip()
        out.append(_event_record(row, days, owning, round(score, 3), text))
    out.sort(key=lambda e: -e.score)
    return [e for e in out if e.score >= 0.45]


def _rank_events_loose(
    changes: pl.DataFrame, onset: dt.date, cfg: ExplainSettings
) -> list[ChangeEventEvidence]:
    """Every event inside the window, nearest first, at a flat score of 0.5."""
    out = [
        _event_record(
            row,
            days,
            False,
            0.5,
            f"{row['id']} ({row['kind']} on {row['component']}): {row['description']}",
        )
        for row, days in _in_window(changes, onset, cfg)
    ]
    out.sort(key=lambda e: e.days_before_onset)
    return out
