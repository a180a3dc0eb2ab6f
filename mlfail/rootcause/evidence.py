"""The typed records of root cause (design §7): settings, the evidence kinds, a hypothesis and
the explanation. Field names are the JSON contract (``explain --json``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlfail.psi import BinShare, PsiSettings
from mlfail.skew.model import Pattern

if TYPE_CHECKING:
    from mlfail.roles import RoleAssignment

EXPLAIN_SCHEMA_VERSION = 1

FailureMode = Literal[
    "data_quality",
    "pipeline_drift",
    "training_serving_skew",
    "data_drift",
    "concept_drift",
    "infrastructure",
]


@dataclass(frozen=True)
class ExplainSettings:
    psi: PsiSettings = field(default_factory=PsiSettings)
    min_confidence: float = 0.3  # hypotheses below this are not reported
    event_window_days: int = 14  # events more than this before the onset don't explain it
    max_cohort_values: int = 50  # a cohort column has at most this many distinct live values
    onset_threshold: float = 4.5
    psi_noise_floor: float = 0.01  # floor of the day-to-day PSI noise (PSI units)
    min_psi: float = 0.02  # population-level PSI below this is never a candidate
    max_signature_features: int = 12  # signature queries for the strongest drifts only
    max_cohort_features: int = 12  # cohort analysis for the strongest drifts only
    min_cohort_rows: int = 30
    task: Literal["classification", "regression"] | None = None
    threshold: float = 0.5  # score threshold for classification


# ---- evidence records (field names are the JSON contract) --------------------------------


@dataclass
class PsiEvidence:
    kind: str
    window: str  # "all" | "post_onset" | "first_day" | "cohort"
    psi: float
    p_value: float | None
    critical_psi: float | None
    reference_rows: int
    live_rows: int
    moved_bins: list[dict[str, Any]]
    text: str


@dataclass
class OnsetEvidence:
    kind: str
    series: (
        str  # "daily_psi:<feature>" | "daily_accuracy" | "daily_prediction_psi" | "metric:<name>"
    )
    date: dt.date | None
    day_one: bool
    flat_after: bool
    before: float | None
    after: float | None
    statistic: float | None
    text: str


@dataclass
class CohortEvidence:
    kind: str
    column: str
    value: Any
    within_psi: float
    within_p_value: float | None
    explained_fraction: float
    mix: float
    conditional: float
    share_before: float | None
    share_after: float | None
    appeared: bool
    jumped: bool
    rows: int
    text: str
    # the within-cohort reference-vs-live bins behind within_psi (the reports draw them), and
    # which reference they compare with: "slice" = the same cohort, "global" = all reference
    # rows (the cohort had too few rows there)
    bins: list[BinShare] = field(default_factory=list)
    reference_scope: str = "global"


@dataclass
class ChangeEventEvidence:
    kind: str
    id: str
    ts: dt.datetime
    event_kind: str
    component: str | None
    description: str | None
    days_before_onset: float
    on_owning_component: bool
    score: float
    text: str


@dataclass
class SignatureEvidence:
    kind: str
    signature: str
    reference: Any
    live: Any
    factor: float | None
    mapping: dict[str, str] | None
    text: str


@dataclass
class PerformanceEvidence:
    kind: str
    metric: str
    slice: dict[str, Any] | None
    live: float | None
    baseline: float | None
    baseline_kind: str  # "complement" | "before_onset" | "reference"
    delta: float | None
    p_value: float | None
    rows: int
    text: str


@dataclass
class InfraEvidence:
    kind: str
    layer: str
    metric: str
    onset: dt.date | None
    direction: str | None
    before: float | None
    after: float | None
    text: str


@dataclass
class OwnershipEvidence:
    kind: str
    feature: str
    text: str


@dataclass
class SkewEvidence:
    """The row-by-row join of the served feature to its offline value (``--offline``, design
    §10): how many matched requests were served a different value, and how."""

    kind: str  # "skew"
    feature: str
    ids: list[str]  # the join key
    compared: int  # matched rows the feature was compared on
    mismatches: int
    rate: float  # mismatches / compared
    status: str  # skewed (rate ≥ max_mismatch) | mismatch (some, below) | ok (none)
    pattern: Pattern | None  # the one explanation of the mismatches (skew/patterns.py)
    segments_top: list[dict[str, Any]]  # worst segment values: slice, rows, mismatches, rate
    concentrated_in: list[dict[str, Any]]  # segment values holding ≥95% of the mismatches
    onset: dt.date | None  # first live day whose mismatch rate reaches max_mismatch
    from_first_day: bool  # the mismatch is there on the first live day
    serving_null_only: int
    offline_null_only: int
    text: str

    @property
    def systematic(self) -> bool:
        return self.status == "skewed"


Evidence = (
    PsiEvidence
    | SkewEvidence
    | OnsetEvidence
    | CohortEvidence
    | ChangeEventEvidence
    | SignatureEvidence
    | PerformanceEvidence
    | InfraEvidence
    | OwnershipEvidence
)


@dataclass
class Hypothesis:
    feature: str | None
    failure_mode: FailureMode
    confidence: float
    onset: dt.date | None
    slice: dict[str, Any] | None
    owner: str | None
    pager: str | None
    component: str | None
    summary: str
    next_action: str
    evidence: list[Evidence]
    consequence_of: str | None = None  # a column whose mix change explains this drift
    event_note: str | None = None  # "no change event on record before the onset", when none
    problem: int | None = None  # 1-based: hypotheses of one independent problem share it
    skew: SkewEvidence | None = None  # the --offline join of this feature (also in evidence)

    def change_events(self) -> list[ChangeEventEvidence]:
        return [e for e in self.evidence if isinstance(e, ChangeEventEvidence)]

    def ownership_gaps(self) -> list[OwnershipEvidence]:
        return [e for e in self.evidence if isinstance(e, OwnershipEvidence)]


@dataclass
class Explanation:
    verdict: Literal["model_incident", "no_model_incident"]
    verdict_reason: str
    hypotheses: list[Hypothesis]
    reference: str
    live: str
    first_day: dt.date | None
    last_day: dt.date | None
    performance: dict[str, Any] | None
    prediction: dict[str, Any] | None
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)
    daily_psi: dict[str, list[float | None]] = field(default_factory=dict)  # per hypothesis feature
    daily_metric: list[float | None] = field(default_factory=list)  # accuracy / MAE per day
    schema_version: int = EXPLAIN_SCHEMA_VERSION
    roles: RoleAssignment | None = field(default=None, repr=False)  # JSON inputs.roles (§9)

    def problem_count(self) -> int:
        """How many independent problems the hypotheses make (``Hypothesis.problem``)."""
        return len({h.problem for h in self.hypotheses if h.problem is not None})

    def problem_leads(self) -> list[Hypothesis]:
        """The first (best-ranked) hypothesis of each independent problem, in rank order."""
        seen: set[int | None] = set()
        out: list[Hypothesis] = []
        for h in self.hypotheses:
            if h.problem not in seen:
                seen.add(h.problem)
                out.append(h)
        return out
