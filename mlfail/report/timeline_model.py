"""The timeline report (``mlfail timeline``, design §6): typed model and its JSON records.

:func:`series_record`, :func:`window_record` and :func:`timeline_data` are the JSON contract
(docs/timeline-json.md); triage embeds the same records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from mlfail._version import __version__
from mlfail.report.jsonout import dumps, inputs_roles, plain

if TYPE_CHECKING:
    from mlfail.roles import RoleAssignment

TIMELINE_SCHEMA_VERSION = 1
When = dt.date | dt.datetime


@dataclass
class WindowStats:
    """One window of the live log. Label metrics are None (not 0) without enough labels."""

    start: When
    end: When
    rows: int
    labelled_rows: int | None = None
    metric: float | None = None  # accuracy or MAE on the labelled rows
    auc: float | None = None
    mean_score: float | None = None
    prediction_psi: float | None = None
    psi: dict[str, float | None] = field(default_factory=dict)
    null_rate: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Series:
    """One series (from the metrics file or derived from the live log) and its onset."""

    layer: str  # infra | pipeline | model | business
    metric: str
    source: str  # "metrics" (the --metrics file) | "live" (derived from the live log)
    segment: str | None
    dates: list[When]
    values: list[float | None]
    baseline_median: float | None = None  # robust baseline (pre-onset, or the whole series)
    baseline_sigma: float | None = None  # noise scale (1.4826·MAD of differences)
    onset: When | None = None  # first window of the new level (change-point estimate)
    direction: str | None = None  # up | down
    before: float | None = None
    after: float | None = None
    delta: float | None = None
    statistic: float | None = None
    alarm: When | None = None  # first window a CUSUM on the series would have paged
    excursions: list[When] = field(default_factory=list)  # points outside the band (infra)
    feature: str | None = None  # the feature of a live PSI / null-rate series
    counts_for_first_fired: bool = True

    @property
    def name(self) -> str:
        seg = f" [{self.segment}]" if self.segment else ""
        return f"{self.metric}{seg}"


@dataclass
class InfraCheck:
    status: str  # green | anomalous | skipped
    message: str
    anomalous: list[str] = field(default_factory=list)
    onset: When | None = None


@dataclass(frozen=True)
class DailyCounts:
    """The timeline's live count table when its windows are days from midnight (``--window
    1d`` on Polars): keyed by the window index ``__window`` (null: no timestamp), for the
    reference's ``features`` and the prediction. Triage's step 5 and root cause read views of
    it instead of counting live again (:func:`mlfail.walkcounts.from_timeline`)."""

    table: pl.DataFrame
    first_day: dt.date
    features: tuple[str, ...]


@dataclass
class TimelineReport:
    live: str
    reference: str | None
    metrics: str | None
    timestamp: str
    window: str
    metric: str | None  # accuracy | mae | None (no labels)
    windows: list[WindowStats]
    series: list[Series]
    first_fired: str | None  # infra | pipeline | model | business | tie | None
    first_fired_layers: list[str]
    layer_onsets: dict[str, When | None]
    verdict: str  # the sentence
    infra: InfraCheck
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema_version: int = TIMELINE_SCHEMA_VERSION
    roles: RoleAssignment | None = field(default=None, repr=False)  # JSON inputs.roles (§9)
    # the live count table of daily windows, for triage's later steps (never in JSON)
    _daily_counts: DailyCounts | None = field(default=None, repr=False, compare=False)

    def onsets(self) -> list[Series]:
        return [s for s in self.series if s.onset is not None]


def window_record(w: WindowStats) -> dict[str, Any]:
    out: dict[str, Any] = plain(w)
    return out


def series_record(s: Series) -> dict[str, Any]:
    out: dict[str, Any] = plain(s)
    return out


def infra_record(i: InfraCheck) -> dict[str, Any]:
    out: dict[str, Any] = plain(i)
    return out


def timeline_data(report: TimelineReport) -> dict[str, Any]:
    return {
        "schema_version": report.schema_version,
        "mlfail_version": __version__,
        "live": report.live,
        "reference": report.reference,
        "metrics": report.metrics,
        "timestamp": report.timestamp,
        "window": report.window,
        "metric": report.metric,
        "settings": report.settings,
        "first_fired": report.first_fired,
        "first_fired_layers": report.first_fired_layers,
        "layer_onsets": plain(report.layer_onsets),
        "verdict": report.verdict,
        "infra": infra_record(report.infra),
        "windows": [window_record(w) for w in report.windows],
        "series": [series_record(s) for s in report.series],
        "notes": report.notes,
        "warnings": report.warnings,
        **inputs_roles(report.roles),
    }


def timeline_json(report: TimelineReport) -> str:
    return dumps(timeline_data(report))
