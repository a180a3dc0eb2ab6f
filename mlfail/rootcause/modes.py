"""Failure-mode classification and its precedence rules (design §7, docs/failure-modes.md):
the row-by-row join when there is one, then day-one skew, then the best change event, then the
cohort column, then signatures, then a mix consequence; and the next action per mode.

The join (``--offline``, design §10: evidence from a join outranks evidence from
distributions) decides first:

* **systematic mismatch** (the feature's mismatch rate on the matched requests is at or above
  ``max_mismatch``, 0.1% by default): the same request was served a different value than the
  offline pipeline computes. It is **pipeline_drift** when the mismatch *starts inside the
  window* (its first day at that rate is after the first live day: the online computation
  changed, at the change event when one is on record) or when ≥95% of the mismatches *live in
  one value of a pipeline/transform-version column* (``PIPELINE_COHORT_TOKENS``) that not every
  matched row shares (a transform version serves it, the others don't); otherwise — there from the first live day, in no pipeline cohort — it is
  **training_serving_skew**.
* **no systematic mismatch** (zero, or below ``max_mismatch``): the offline pipeline computes
  the same values, so the drift is in the data. That is evidence *against* skew: the day-one
  rule is skipped and the remaining rules decide (never training_serving_skew).
"""

from __future__ import annotations

from mlfail.rootcause.common import _FeatureState
from mlfail.rootcause.evidence import (
    ChangeEventEvidence,
    CohortEvidence,
    FailureMode,
    SignatureEvidence,
    SkewEvidence,
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
PIPELINE_COHORT_TOKENS = ("pipeline", "transform", "feature_version", "etl")
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
    skew: SkewEvidence | None = None,
) -> FailureMode:
    names = [s.signature for s in sigs]
    if skew is not None and skew.systematic:
        return _skew_mode(skew)
    if st.day_one and skew is None:
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
        if any(t in col for t in PIPELINE_COHORT_TOKENS):
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


def _skew_mode(skew: SkewEvidence) -> FailureMode:
    """A systematic mismatch: pipeline drift when it starts inside the window or lives in a
    pipeline-version cohort, training-serving skew otherwise (module docstring)."""
    in_pipeline = any(
        any(t in str(col).lower() for t in PIPELINE_COHORT_TOKENS)
        for d in skew.concentrated_in
        for col in d["slice"]
    )
    if in_pipeline or (skew.onset is not None and not skew.from_first_day):
        return "pipeline_drift"
    return "training_serving_skew"


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
