"""Failure-mode classification and its precedence rules (design §7, docs/failure-modes.md):
day-one skew, then the best change event, then the cohort column, then signatures, then a
mix consequence; and the next action per mode."""

from __future__ import annotations

from mlfail.rootcause.common import _FeatureState
from mlfail.rootcause.evidence import (
    ChangeEventEvidence,
    CohortEvidence,
    FailureMode,
    SignatureEvidence,
)

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
DQ_SIGNATURES = (
    "null_spike",
    "unseen_categories",
    "recasing",
    "default_fill",
    "frozen",
    "out_of_range",
    "clipping",
)


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
