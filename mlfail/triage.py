"""``mlfail.triage(...)``: the seven-step walk of the seed's debugging workflow, composed from
the other views and built once into a :class:`TriageReport` that every format renders.

1. signal — which layer fired first (timeline: metrics file, or series derived from the log)
2. infra — infra series inside their band → "infra green, move on"
3. distrust global — the global metric, shown but never trusted alone
4. slices — the slices that diverge (the operator may pick which to drill into)
5. PSI audit — every feature, training vs live, on the chosen slice and globally
6. root cause — hypotheses tying drift to onsets, cohorts, change events, owners
7. shadow — the exact ``mlfail shadow`` command, or its verdict when a candidate is given
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import polars as pl

import mlfail.scantrace as scantrace
from mlfail._version import __version__
from mlfail.audit import check_roles_exist, reference_and_roles
from mlfail.binning import BinSettings
from mlfail.config import Roles
from mlfail.counts import count_frame, dense
from mlfail.events import load_changes, load_metrics
from mlfail.io import Source, open_source
from mlfail.owners import load_owners
from mlfail.performance import values_once
from mlfail.psi import FeaturePsi, PsiSettings, assess_feature, finalize, preload
from mlfail.reference import Reference
from mlfail.report.model import PSI_SCHEMA_VERSION, ChangeEvent, change_events
from mlfail.report.slices_model import SliceRecord, SliceReport, global_record, slice_record
from mlfail.report.timeline_model import TimelineReport, infra_record, series_record
from mlfail.roles import RoleAssignment
from mlfail.rootcause import ExplainSettings, Explanation, Hypothesis, explain
from mlfail.rootcause.skewjoin import check_offline
from mlfail.shadow import ShadowReport, shadow
from mlfail.slices import SliceSettings, find_slices
from mlfail.story import Story, relate, story_record
from mlfail.timekeys import normalize_timestamp
from mlfail.timeline import build_timeline, untimed_timeline
from mlfail.triage_steps import Step as Step
from mlfail.triage_steps import StepStatus as StepStatus
from mlfail.triage_steps import (
    _checklist,
    _global_step,
    _headline,
    _infra_step,
    _psi_step,
    _rootcause_step,
    _shadow_step,
    _signal_step,
    _slices_step,
    _verdict,
    since_of,
)
from mlfail.triage_steps import slice_label as slice_label
from mlfail.walkcounts import WalkCounts, count_walk, from_timeline

TRIAGE_SCHEMA_VERSION = 1


@dataclass
class TriageSettings:
    psi: PsiSettings = field(default_factory=PsiSettings)
    slices: SliceSettings = field(default_factory=SliceSettings)
    explain: ExplainSettings = field(default_factory=ExplainSettings)
    bins: BinSettings = field(default_factory=BinSettings)
    window: str = "1d"
    task: Literal["classification", "regression"] | None = None
    threshold: float = 0.5


@dataclass
class TriageReport:
    verdict: Literal["model_incident", "no_model_incident"]
    verdict_reason: str
    headline: str
    first_fired: str | None
    inputs: dict[str, str | None]
    steps: list[Step]
    timeline: TimelineReport
    slices: SliceReport | None  # None without --prediction
    chosen_slice: SliceRecord | None
    features: list[FeaturePsi]
    explanation: Explanation
    shadow: ShadowReport | None
    shadow_command: str
    checklist: list[str]
    warnings: list[str] = field(default_factory=list)
    story: Story | None = None  # how the headline's cause, its cohort and the worst slice relate
    schema_version: int = TRIAGE_SCHEMA_VERSION
    # every column's role (§9); JSON: inputs.roles
    roles: RoleAssignment | None = field(default=None, repr=False)
    change_events: list[ChangeEvent] = field(default_factory=list)  # every event of --changes

    @property
    def root_causes(self) -> list[Hypothesis]:
        return self.explanation.hypotheses


# ---- the walk ---------------------------------------------------------------------------


@values_once  # the label/score values of each source are checked once for every step
def triage(
    live: str | Source,
    *,
    roles: Roles,
    reference: str | None = None,
    baseline: str | None = None,
    metrics: str | Path | None = None,
    changes: str | Path | None = None,
    owners: str | Path | None = None,
    segments: Sequence[str] = (),
    candidate_prediction: str | None = None,
    candidate_source: str | None = None,
    id_column: str | None = None,
    offline: Source | None = None,
    ids: Sequence[str] = (),
    settings: TriageSettings | None = None,
    choose_slice: Callable[[list[SliceRecord]], int | None] | None = None,
    on_step: Callable[[Step], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    progress: bool | None = None,
) -> TriageReport:
    """Run the seven steps. ``choose_slice`` (interactive mode) picks the slice to drill into
    from the ranked list (default: the worst); ``on_step`` sees each step as it completes."""
    cfg = settings or TriageSettings()
    preload()  # scipy.special (the timeline's weekly-rhythm test, every tail) while data is read
    live_src = live if isinstance(live, Source) else open_source(live, role="--live")
    live_src = normalize_timestamp(live_src, roles.timestamp)
    scantrace.stage("roles and the reference: statistics, bin specs")
    # roles resolved once here (§9); every step below gets the resolved roles, none re-infers
    ref, _skipped, roles = reference_and_roles(
        reference, baseline, live_src, roles, bin_settings=cfg.bins, progress=progress
    )
    check_roles_exist(roles, [(ref.name, ref.columns), (live_src.spec, live_src.columns)])
    ids = list(ids) or ([id_column] if id_column else [])
    if offline is not None:  # one-line key errors before the walk, not at step 6
        check_offline(live_src, offline, ids)
    metrics_df = load_metrics(metrics) if metrics else None
    changes_df = load_changes(changes) if changes else None
    owners_obj = load_owners(owners) if owners else None
    events = change_events(changes_df, owners_obj)
    walk = _Walk(on_step, on_progress)

    # 1–2: timeline (signal, infra)
    has_time = bool(roles.timestamp)
    tl = _timeline(walk, live_src, roles, ref, metrics, metrics_df, cfg, progress)
    walk.done(replace(_signal_step(tl, metrics is not None, has_time), timeline=tl, events=events))
    walk.done(_infra_step(tl, metrics is not None))

    # 3–4: global metric, slices (they need the model's output)
    sr, chosen = _slice_steps(walk, ref, live_src, roles, segments, cfg, choose_slice, progress)

    # 5: PSI audit on the chosen slice and globally
    walk.say("PSI audit on " + (slice_label(chosen.slice) if chosen else "all rows"))
    mask = _slice_mask(sr, chosen)
    counts = from_timeline(tl._daily_counts, live_src, ref.specs, roles, mask, progress=progress)
    if counts is None:
        counts = count_walk(live_src, ref.specs, roles, mask, progress=progress)
    features = psi_on_slice(ref, live_src, sr, chosen, cfg.psi, counts)
    walk.done(_psi_step(features, chosen, cfg.psi))

    # 6: root cause
    walk.say("tracing the root cause: onsets, cohorts, change events, signatures")
    ex = explain(
        ref,
        live_src,
        roles,
        changes=changes_df,
        owners=owners_obj,
        metrics=metrics_df,
        settings=cfg.explain,
        progress=progress,
        offline=offline,
        ids=ids,
        live_day=counts.per_day([s.feature for s in ref.specs]),
    )
    walk.done(_rootcause_step(ex, changes is not None, owners is not None))

    # 7: shadow
    scantrace.stage("shadow, the story, the report")
    cmd = shadow_command(
        live_src.spec, roles, chosen, candidate_prediction, candidate_source, id_column
    )
    sh = _run_shadow(
        live_src, roles, chosen, candidate_prediction, candidate_source, id_column, cfg
    )
    walk.done(_shadow_step(sh, cmd, roles))
    steps = walk.steps

    verdict, reason = _verdict(ex, sr)
    story = relate(live_src, sr, chosen, ex.hypotheses[0] if ex.hypotheses else None)
    report = TriageReport(
        verdict=verdict,
        verdict_reason=reason,
        headline=_headline(verdict, chosen, ex, tl, story, has_time),
        first_fired=tl.first_fired,
        inputs={
            "reference": reference,
            "baseline": baseline,
            "live": live_src.spec,
            "metrics": str(metrics) if metrics else None,
            "changes": str(changes) if changes else None,
            "owners": str(owners) if owners else None,
            "offline": offline.spec if offline is not None else None,
        },
        roles=roles.assignment,
        steps=steps,
        timeline=tl,
        slices=sr,
        chosen_slice=chosen,
        features=features,
        explanation=ex,
        shadow=sh,
        shadow_command=cmd,
        checklist=_checklist(baseline, metrics, changes, owners, ex, roles, sr),
        warnings=[*tl.warnings, *(sr.warnings if sr else []), *ex.warnings],
        story=story,
        change_events=events,
    )
    return report


def _timeline(
    walk: _Walk,
    live_src: Source,
    roles: Roles,
    ref: Reference,
    metrics: str | Path | None,
    metrics_df: pl.DataFrame | None,
    cfg: TriageSettings,
    progress: bool | None,
) -> TimelineReport:
    """Steps 1–2's timeline; without event time, an empty one (steps 2–6 run without onsets)."""
    if not roles.timestamp:
        return untimed_timeline(live_src, ref.name, str(metrics) if metrics else None, cfg.window)
    walk.say("reading the timeline: onsets per layer, infra band")
    return build_timeline(
        live_src,
        roles=roles,
        reference=ref,
        metrics=metrics_df,
        window=cfg.window,
        task=cfg.task,
        threshold=cfg.threshold,
        progress=progress,
    )


@dataclass
class _Walk:
    """The steps completed so far, and who hears of each step and of progress."""

    on_step: Callable[[Step], None] | None
    on_progress: Callable[[str], None] | None
    steps: list[Step] = field(default_factory=list)

    def say(self, msg: str) -> None:
        scantrace.stage(msg)
        if self.on_progress is not None:
            self.on_progress(msg)

    def done(self, step: Step) -> None:
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)


def _slice_steps(
    walk: _Walk,
    ref: Reference,
    live_src: Source,
    roles: Roles,
    segments: Sequence[str],
    cfg: TriageSettings,
    choose_slice: Callable[[list[SliceRecord]], int | None] | None,
    progress: bool | None,
) -> tuple[SliceReport | None, SliceRecord | None]:
    """Steps 3–4: the global metric and the slices that diverge, and the slice chosen to drill
    into (skipped without --prediction: slicing needs the model's output)."""
    sr: SliceReport | None = None
    chosen: SliceRecord | None = None
    if roles.prediction:
        walk.say("slicing: every 1- and 2-predicate segment")
        sr = find_slices(
            ref,
            live_src,
            roles=roles,
            task=cfg.task,
            threshold=cfg.threshold,
            segments=segments,
            settings=cfg.slices,
            progress=progress,
        )
        walk.done(_global_step(sr))
        ranked = sr.degraded() or []
        if ranked:
            idx = choose_slice(ranked) if choose_slice is not None else 0
            if idx is not None and 0 <= idx < len(ranked):
                chosen = ranked[idx]
        walk.done(_slices_step(sr, ranked, chosen))
    else:
        for n, name, title in (
            (3, "global", "Distrust global numbers"),
            (4, "slices", "Slice by segment"),
        ):
            walk.done(
                Step(
                    n,
                    name,
                    title,
                    "skipped",
                    "model metrics by segment",
                    "skipped: no --prediction given",
                    "name the model output column to slice performance",
                )
            )
    return sr, chosen


def _run_shadow(
    live_src: Source,
    roles: Roles,
    chosen: SliceRecord | None,
    candidate_prediction: str | None,
    candidate_source: str | None,
    id_column: str | None,
    cfg: TriageSettings,
) -> ShadowReport | None:
    """Step 7: shadow scoring when a candidate is given, on the chosen slice's columns."""
    if not candidate_prediction:
        return None
    return shadow(
        live_src,
        roles.prediction or "",
        candidate_prediction,
        label=roles.label,
        segments=[k for k in (chosen.slice if chosen else {}) if k in live_src.columns],
        candidate_source=open_source(candidate_source, role="--candidate-source")
        if candidate_source
        else None,
        id_column=id_column,
        threshold=cfg.threshold,
        task=cfg.task,
    )


def _slice_mask(sr: SliceReport | None, chosen: SliceRecord | None) -> pl.Expr | None:
    return sr.mask(chosen.slice) if chosen is not None and sr is not None else None


def psi_on_slice(
    ref: Reference,
    live: Source,
    sr: SliceReport | None,
    chosen: SliceRecord | None,
    ps: PsiSettings,
    counts: WalkCounts | None = None,
) -> list[FeaturePsi]:
    """Step 5: PSI of every feature on the whole live window and on the chosen slice, from
    one count table over live keyed by slice membership (``counts``: the walk's shared table,
    counted here when not given); BH across all of them."""
    specs = ref.specs
    ref_table = ref.table(())
    assert ref_table is not None
    if counts is None:
        counts = count_walk(live, specs, Roles(), _slice_mask(sr, chosen))
    records: list[FeaturePsi] = []
    live_all = counts.overall()
    if chosen is None or sr is None:
        records = [assess_feature(s, dense(ref_table, s), dense(live_all, s), ps) for s in specs]
        return finalize(records, ps)
    inside = counts.inside()
    ref_in, scope = _reference_slice(ref, sr, chosen, specs)
    for s in specs:
        records.append(assess_feature(s, dense(ref_table, s), dense(live_all, s), ps))
        rvec = dense(ref_in, s) if ref_in is not None else dense(ref_table, s)
        records.append(
            assess_feature(
                s, rvec, dense(inside, s), ps, slice_=chosen.slice, reference_scope=scope
            )
        )
    return finalize(records, ps)


def _reference_slice(
    ref: Reference, sr: SliceReport, chosen: SliceRecord, specs: list[Any]
) -> tuple[pl.DataFrame | None, str]:
    """The reference rows of the same slice when the reference can evaluate its predicates."""
    rs = chosen.reference_slice or {}
    if not rs or rs != chosen.slice:
        return None, "global"
    if ref.lazy is not None:
        return count_frame(ref.lazy.filter(sr.mask(rs).fill_null(False)), specs), "slice"
    if len(rs) == 1:
        ((col, val),) = rs.items()
        t = ref.table([col])
        if t is not None:
            t = t.filter(pl.col(col) == val if val is not None else pl.col(col).is_null())
            if t.height:
                return t, "slice"
    return None, "global"


def shadow_command(
    live: str,
    roles: Roles,
    chosen: SliceRecord | None,
    candidate_prediction: str | None,
    candidate_source: str | None,
    id_column: str | None,
) -> str:
    parts = [
        "mlfail",
        "shadow",
        "--live",
        live,
        "--current-prediction",
        roles.prediction or "PREDICTION",
        "--candidate-prediction",
        candidate_prediction or "CANDIDATE_PREDICTION",
    ]
    if candidate_source:
        parts += ["--candidate-source", candidate_source, "--id", id_column or "ID"]
    if roles.label:
        parts += ["--label", roles.label]
    for k in chosen.slice if chosen else {}:
        if "(" not in k:  # time cohorts are not columns
            parts += ["--segment", k]
    return shlex.join(parts)


# ---- JSON -------------------------------------------------------------------------------


def triage_data(r: TriageReport) -> dict[str, Any]:
    """The machine contract (docs/triage-json.md)."""
    from mlfail.report.jsonout import plain

    g = global_record(r.slices.global_stats) if r.slices else None
    return {
        "schema_version": r.schema_version,
        "mlfail_version": __version__,
        "verdict": r.verdict,
        "verdict_reason": r.verdict_reason,
        "headline": r.headline,
        "story": plain(story_record(r.story)) if r.story else None,
        "since": str(since) if (since := since_of(r.explanation, r.timeline)) else "unknown",
        "first_fired": r.first_fired,
        "first_fired_sentence": r.timeline.verdict,
        "inputs": {**r.inputs, **({"roles": r.roles.to_dict()} if r.roles else {})},
        "infra": infra_record(r.timeline.infra),
        "global": g,
        "slices": [slice_record(s) for s in r.slices.slices] if r.slices else [],
        "chosen_slice": r.chosen_slice.slice if r.chosen_slice else None,
        "features": plain(r.features),
        "features_schema_version": PSI_SCHEMA_VERSION,
        "root_causes": plain(r.explanation.hypotheses),
        "steps": [
            {
                "step": s.step,
                "name": s.name,
                "title": s.title,
                "status": s.status,
                "checked": s.checked,
                "found": s.found,
                "decision": s.decision,
                "summary": s.summary,
            }
            for s in r.steps
        ],
        "shadow_command": r.shadow_command,
        "shadow": None
        if r.shadow is None
        else {
            "verdict": r.shadow.verdict,
            "reasons": r.shadow.reasons,
            "overall": plain(r.shadow.overall),
        },
        "series": [series_record(s) for s in r.timeline.series if s.onset is not None],
        "daily": {
            "days": plain(r.explanation.days),
            "psi": plain(r.explanation.daily_psi),
            "metric": plain(r.explanation.daily_metric),
        },
        "checklist": r.checklist,
        "warnings": r.warnings,
        "change_events": plain(r.change_events),
    }
