"""The verdict (design §7): is this a model incident?"""

from __future__ import annotations

from typing import Any, Literal

from mlfail.rootcause.evidence import Hypothesis


def _verdict(
    hyps: list[Hypothesis],
    perf: dict[str, Any] | None,
    pred: dict[str, Any] | None,
    has_labels: bool,
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
    if perf is not None and perf.get("gap_only"):
        return "no_model_incident", (
            f"{perf['metric']} {perf['live']:.3f} live vs {perf['reference']:.3f} on the "
            "reference from the first live day and flat since, with no input drift that breaks "
            "the model: the gap between the rows the model was fitted on and new rows, not an "
            "incident (compare with a held-out validation set)"
        )
    if hyps:
        return "no_model_incident", "inputs drifted but performance and predictions held"
    return "no_model_incident", "no significant drift or degradation"
