"""One story for the triage headline (issue 14, item 5): the headline names the top hypothesis
with its own carrying cohort, and when step 4's worst slice is not that cohort the report says
how the two relate — the slice lies inside the cohort, overlaps it by x% of its live rows, or is
a separate problem.

The overlap is one small aggregation over live with the two predicates (three row counts:
slice, cohort, both), not a Python loop over rows (design §1, §11: a second read justified by a
statistic the per-key count tables cannot give — the slice predicate may be a 2-key or binned
slice while the cohort is another column).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import polars as pl

from mlfail.io import Source
from mlfail.report.slices_model import SliceRecord, SliceReport
from mlfail.rootcause import Hypothesis
from mlfail.rootcause.common import _is_value

# share of the worst slice's live rows that lie in the cohort
INSIDE_FROM = 0.95  # at or above: "the slice lies inside the cohort"
SEPARATE_BELOW = 0.20  # below: "a separate problem"

Relation = Literal["same", "inside", "overlaps", "separate", "no_cohort", "no_slice", "none"]


@dataclass
class Story:
    """How the headline's cause, its cohort and step 4's worst slice relate."""

    headline_cause: str | None  # "amount (pipeline drift)"
    cohort: dict[str, Any] | None  # the top hypothesis's carrying cohort
    worst_slice: dict[str, Any] | None  # step 4's chosen slice
    relation: Relation
    overlap: float | None  # share of the worst slice's live rows in the cohort
    slice_rows: int | None = None
    cohort_rows: int | None = None
    both_rows: int | None = None
    sentence: str | None = None  # shown under the headline when the two differ

    @property
    def where(self) -> dict[str, Any] | None:
        """The headline's "where": the cohort, or without one the slice."""
        return self.cohort if self.cohort else self.worst_slice


def slice_label(sl: dict[str, Any] | None) -> str:
    """``k=v, k2=v2``, or "all rows" for the whole window."""
    return ", ".join(f"{k}={v}" for k, v in sl.items()) if sl else "all rows"


def cause_label(h: Hypothesis | None) -> str | None:
    if h is None:
        return None
    mode = h.failure_mode.replace("_", " ")
    return f"{h.feature} ({mode})" if h.feature else mode


def overlap_counts(
    live: Source, sr: SliceReport, worst: dict[str, Any], cohort: dict[str, Any]
) -> tuple[int, int, int]:
    """(rows in the slice, rows in the cohort, rows in both) of live: one aggregation."""
    in_slice = sr.mask(worst).fill_null(False)
    in_cohort = pl.lit(True)
    for col, v in cohort.items():
        in_cohort = in_cohort & _is_value(col, v)
    in_cohort = in_cohort.fill_null(False)
    row = (
        live.lf.select(
            in_slice.cast(pl.Int64).sum().alias("s"),
            in_cohort.cast(pl.Int64).sum().alias("c"),
            (in_slice & in_cohort).cast(pl.Int64).sum().alias("b"),
        )
        .collect(engine="streaming")
        .row(0)
    )
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


def relate(
    live: Source,
    sr: SliceReport | None,
    chosen: SliceRecord | None,
    top: Hypothesis | None,
) -> Story:
    """The story of the top hypothesis and the worst slice (step 4's decision)."""
    cause = cause_label(top)
    cohort = dict(top.slice) if top is not None and top.slice else None
    worst = dict(chosen.slice) if chosen is not None and chosen.slice else None
    if top is None:
        return Story(cause, None, worst, "none", None)
    if worst is None:
        return Story(cause, cohort, None, "no_slice", None)
    if cohort is None:
        return Story(cause, None, worst, "no_cohort", None)
    if worst == cohort:
        return Story(cause, cohort, worst, "same", 1.0)
    missing = [c for c in cohort if c not in live.columns]
    if sr is None or missing:
        return Story(cause, cohort, worst, "no_cohort", None)
    n_s, n_c, n_b = overlap_counts(live, sr, worst, cohort)
    share = n_b / n_s if n_s else 0.0
    rel: Relation
    sl, co = slice_label(worst), slice_label(cohort)
    if share >= INSIDE_FROM:
        rel = "inside"
        text = f"the worst slice {sl} lies inside {co} ({share:.0%} of its live rows)"
    elif share < SEPARATE_BELOW:
        rel = "separate"
        text = (
            f"the worst slice {sl} is a separate problem: {share:.0%} of its live rows are "
            f"in {co}, the cohort carrying {cause} (below {SEPARATE_BELOW:.0%})"
        )
    else:
        rel = "overlaps"
        text = f"the worst slice {sl} overlaps {co} by {share:.0%} of its live rows"
    return Story(cause, cohort, worst, rel, round(share, 4), n_s, n_c, n_b, text)


def story_record(s: Story) -> dict[str, Any]:
    """The JSON ``story`` block of triage (docs/triage-json.md): every field, in order."""
    return asdict(s)
