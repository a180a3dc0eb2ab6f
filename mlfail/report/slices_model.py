"""The slice report (``mlfail slices``, design §5): typed model and its JSON records.

The JSON records built here (:func:`slice_record`, :func:`global_record`) are the contract that
``mlfail slices --format json`` prints and that triage embeds unchanged; see docs/slices-json.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from mlfail._version import __version__
from mlfail.report.jsonout import dumps, inputs_roles, plain

if TYPE_CHECKING:
    from mlfail.roles import RoleAssignment

SLICES_SCHEMA_VERSION = 1

Mode = Literal["labels", "no_labels"]


@dataclass
class SliceGlobal:
    """The whole live window: the number the dashboard shows."""

    rows: int
    labelled_rows: int
    unlabelled_rows: int
    metric: str  # accuracy | mae | prediction_psi
    live: float | None  # accuracy / MAE on labelled rows; prediction PSI without labels
    reference: float | None  # the same metric on the reference (when it has labels)
    error_rate: float | None = None
    auc: float | None = None
    reference_auc: float | None = None
    mean_score: float | None = None
    reference_mean_score: float | None = None
    prediction_psi: float | None = None


@dataclass
class SliceRecord:
    """One slice (1 or 2 predicates). Field names are the JSON contract.

    Metric values are in the metric's own units: accuracy (higher is better), MAE (lower is
    better) or, without labels, the PSI of the prediction distribution against the reference.
    """

    slice: dict[str, Any]  # column → value, exactly as in the data (dates ISO in JSON)
    predicates: int
    rows: int
    labelled_rows: int
    metric: str
    live: float | None  # the slice's metric on its labelled live rows
    complement: float | None  # the metric on every other labelled live row
    reference: float | None  # the slice's own reference metric (reference with labels)
    reference_rows: int | None  # labelled reference rows in the slice
    reference_slice: dict[str, Any] | None  # the predicates the reference has (time: never)
    shrunken: float | None  # empirical-Bayes estimate, ẽ = (e + κē)/(n + κ)
    baseline: float | None  # what the slice is judged against (see docs/slices-json.md)
    baseline_source: str | None  # reference | reference_partial | reference_global | complement
    delta: float | None  # how much worse than the baseline, in metric units (> 0 = worse)
    p_value: float | None  # one-sided, worse than the complement and than its own reference
    p_value_reference: float | None = None  # one-sided: live slice worse than reference slice
    p_value_complement: float | None = None  # one-sided: worse than the live complement
    q_value: float | None = None  # Benjamini–Hochberg (of p_value) across every slice tested
    significant: bool = False
    excess_errors: float | None = None  # n·(ẽ − baseline); excess absolute error for MAE
    degraded: bool = False  # significant, above minimum impact and beyond --fail-on-delta
    auc: float | None = None
    mean_score: float | None = None
    reference_mean_score: float | None = None
    psi: float | None = None  # prediction PSI vs reference (no-label mode)
    critical_psi: float | None = None
    # the listed slice holding most (≥ 80%) of this one's excess; None for a distinct problem
    explained_by: dict[str, Any] | None = None
    kind: str = "segment"  # segment | symptom (a bin of a drifted feature: where it lands)
    symptom_of: str | None = None  # the drifted feature, for a symptom


@dataclass
class SliceReport:
    reference: str
    live: str
    mode: Mode
    task: str | None
    metric: str
    global_stats: SliceGlobal
    slices: list[SliceRecord]
    tested: int
    candidates: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema_version: int = SLICES_SCHEMA_VERSION
    # how each slice key is computed from a row (column, top values, cohort, day/week): not
    # part of the JSON; lets a later step filter the rows of a slice it was handed
    key_exprs: dict[str, pl.Expr] = field(default_factory=dict, repr=False)
    roles: RoleAssignment | None = field(default=None, repr=False)  # JSON inputs.roles (§9)

    def degraded(self) -> list[SliceRecord]:
        return [s for s in self.slices if s.degraded]

    def distinct(self) -> list[SliceRecord]:
        """The slices no other listed slice explains (the table's distinct problems)."""
        return [s for s in self.slices if s.explained_by is None]

    def overlapping(self) -> list[SliceRecord]:
        return [s for s in self.slices if s.explained_by is not None]

    def explains(self) -> list[tuple[dict[str, Any], int]]:
        """Each distinct slice that explains others and how many, in table order."""
        n: dict[int, int] = {}
        firsts = self.distinct()
        for s in self.overlapping():
            k = next((j for j, d in enumerate(firsts) if d.slice == s.explained_by), -1)
            n[k] = n.get(k, 0) + 1
        return [(firsts[k].slice if k >= 0 else {}, c) for k, c in sorted(n.items())]

    def mask(self, sl: dict[str, Any]) -> pl.Expr:
        """A row filter for the slice ``{key: value}`` (keys as in :attr:`SliceRecord.slice`)."""
        m = pl.lit(True)
        for k, v in sl.items():
            e = self.key_exprs[k] if k in self.key_exprs else pl.col(k)
            m = m & (e.is_null() if v is None else (e == v))
        return m


def slice_record(rec: SliceRecord) -> dict[str, Any]:
    """The JSON record of one slice (also embedded in triage's JSON)."""
    out: dict[str, Any] = plain(rec)
    return out


def global_record(g: SliceGlobal) -> dict[str, Any]:
    out: dict[str, Any] = plain(g)
    return out


def slices_data(report: SliceReport) -> dict[str, Any]:
    return {
        "schema_version": report.schema_version,
        "mlfail_version": __version__,
        "reference": report.reference,
        "live": report.live,
        "mode": report.mode,
        "task": report.task,
        "metric": report.metric,
        "settings": report.settings,
        "global": global_record(report.global_stats),
        "tested": report.tested,
        "slices": [slice_record(s) for s in report.slices],
        "candidates": report.candidates,
        "notes": report.notes,
        "warnings": report.warnings,
        **inputs_roles(report.roles),
    }


def slices_json(report: SliceReport) -> str:
    return dumps(slices_data(report))
