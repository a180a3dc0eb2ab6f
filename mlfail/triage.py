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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from mlfail._version import __version__
from mlfail.audit import check_roles_exist, load_reference
from mlfail.binning import BinSettings
from mlfail.config import Roles
from mlfail.counts import count_frame, count_source, dense
from mlfail.events import load_changes, load_metrics
from mlfail.io import Source, open_source
from mlfail.owners import load_owners
from mlfail.psi import FeaturePsi, PsiSettings, assess_feature, finalize
from mlfail.reference import Reference, coarsen
from mlfail.report.model import PSI_SCHEMA_VERSION
from mlfail.report.slices_model import SliceRecord, SliceReport, global_record, slice_record
from mlfail.report.timeline_model import TimelineReport, infra_record, series_record
from mlfail.rootcause import ExplainSettings, Explanation, Hypothesis, explain
from mlfail.shadow import ShadowReport, shadow
from mlfail.slices import SliceSettings, find_slices
from mlfail.timekeys import normalize_timestamp
from mlfail.timeline import build_timeline

TRIAGE_SCHEMA_VERSION = 1
IN_SLICE = "_mlfail_in_slice"
StepStatus = Literal["ok", "finding", "skipped", "info"]


@dataclass
class Step:
    """One step of the walk: what was checked, what was found, and the decision taken."""

    step: int
    name: str
    title: str
    status: StepStatus
    checked: str
    found: str
    decision: str

    @property
    def summary(self) -> str:
        return f"{self.found} → {self.decision}"


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
    schema_version: int = TRIAGE_SCHEMA_VERSION

    @property
    def root_causes(self) -> list[Hypothesis]:
        return self.explanation.hypotheses


# ---- the walk ---------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _metric(v: float | None, metric: str) -> str:
    if v is None:
        return "n/a"
    return _pct(v) if metric == "accuracy" else f"{v:.4g}"


def slice_label(sl: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sl.items()) if sl else "all rows"


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
    settings: TriageSettings | None = None,
    choose_slice: Callable[[list[SliceRecord]], int | None] | None = None,
    on_step: Callable[[Step], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    progress: bool | None = None,
) -> TriageReport:
    """Run the seven steps. ``choose_slice`` (interactive mode) picks the slice to drill into
    from the ranked list (default: the worst); ``on_step`` sees each step as it completes."""
    cfg = settings or TriageSettings()
    live_src = live if isinstance(live, Source) else open_source(live, role="--live")
    live_src = normalize_timestamp(live_src, roles.timestamp)
    ref, _skipped = load_reference(
        reference, baseline, roles, bin_settings=cfg.bins, progress=progress
    )
    check_roles_exist(roles, [(ref.name, ref.columns), (live_src.spec, live_src.columns)])
    metrics_df = load_metrics(metrics) if metrics else None
    changes_df = load_changes(changes) if changes else None
    owners_obj = load_owners(owners) if owners else None
    steps: list[Step] = []

    def say(msg: str) -> None:
        if on_progress is not None:
            on_progress(msg)

    def done(step: Step) -> None:
        steps.append(step)
        if on_step is not None:
            on_step(step)

    # 1–2: timeline (signal, infra)
    say("reading the timeline: onsets per layer, infra band")
    tl = build_timeline(
        live_src,
        roles=roles,
        reference=ref,
        metrics=metrics_df,
        window=cfg.window,
        task=cfg.task,
        threshold=cfg.threshold,
        progress=progress,
    )
    done(_signal_step(tl, metrics is not None))
    done(_infra_step(tl, metrics is not None))

    # 3–4: global metric, slices (they need the model's output)
    sr: SliceReport | None = None
    chosen: SliceRecord | None = None
    if roles.prediction:
        say("slicing: every 1- and 2-predicate segment")
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
        done(_global_step(sr))
        ranked = sr.degraded() or []
        if ranked:
            idx = choose_slice(ranked) if choose_slice is not None else 0
            if idx is not None and 0 <= idx < len(ranked):
                chosen = ranked[idx]
        done(_slices_step(sr, ranked, chosen))
    else:
        for n, name, title in (
            (3, "global", "Distrust global numbers"),
            (4, "slices", "Slice by segment"),
        ):
            done(
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

    # 5: PSI audit on the chosen slice and globally
    say("PSI audit on " + (slice_label(chosen.slice) if chosen else "all rows"))
    features = psi_on_slice(ref, live_src, sr, chosen, cfg.psi)
    done(_psi_step(features, chosen, cfg.psi))

    # 6: root cause
    say("tracing the root cause: onsets, cohorts, change events, signatures")
    ex = explain(
        ref,
        live_src,
        roles,
        changes=changes_df,
        owners=owners_obj,
        metrics=metrics_df,
        settings=cfg.explain,
        progress=progress,
    )
    done(_rootcause_step(ex, changes is not None, owners is not None))

    # 7: shadow
    sh: ShadowReport | None = None
    cmd = shadow_command(
        live_src.spec, roles, chosen, candidate_prediction, candidate_source, id_column
    )
    if candidate_prediction:
        sh = shadow(
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
    done(_shadow_step(sh, cmd, roles))

    verdict, reason = _verdict(ex, sr)
    report = TriageReport(
        verdict=verdict,
        verdict_reason=reason,
        headline=_headline(verdict, sr, chosen, ex, tl),
        first_fired=tl.first_fired,
        inputs={
            "reference": reference,
            "baseline": baseline,
            "live": live_src.spec,
            "metrics": str(metrics) if metrics else None,
            "changes": str(changes) if changes else None,
            "owners": str(owners) if owners else None,
        },
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
    )
    return report


def psi_on_slice(
    ref: Reference,
    live: Source,
    sr: SliceReport | None,
    chosen: SliceRecord | None,
    ps: PsiSettings,
) -> list[FeaturePsi]:
    """Step 5: PSI of every feature on the whole live window and on the chosen slice, in one
    pass over live (keyed by slice membership); BH across all of them."""
    specs = ref.specs
    ref_table = ref.table(())
    assert ref_table is not None
    records: list[FeaturePsi] = []
    if chosen is None or sr is None:
        live_table = count_source(live, specs)
        records = [assess_feature(s, dense(ref_table, s), dense(live_table, s), ps) for s in specs]
        return finalize(records, ps)
    mask = sr.mask(chosen.slice).fill_null(False).alias(IN_SLICE)
    live_table = count_source(live, specs, [mask])
    inside = live_table.filter(pl.col(IN_SLICE))
    ref_in, scope = _reference_slice(ref, sr, chosen, specs)
    for s in specs:
        records.append(
            assess_feature(s, dense(ref_table, s), dense(coarsen(live_table, []), s), ps)
        )
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


# ---- steps ------------------------------------------------------------------------------


def _signal_step(tl: TimelineReport, has_metrics: bool) -> Step:
    onsets = {k: v for k, v in tl.layer_onsets.items() if v is not None}
    found = (
        "; ".join(f"{k} moved {v}" for k, v in sorted(onsets.items(), key=lambda kv: str(kv[1])))
        or "no layer moved"
    )
    return Step(
        1,
        "signal",
        "Signal: business or model, and which fired first?",
        "finding" if onsets else "ok",
        "onsets of every series: "
        + ("the --metrics file and " if has_metrics else "")
        + "the live log (daily accuracy, prediction PSI, feature PSI, null rates)",
        found,
        tl.verdict,
    )


def _infra_step(tl: TimelineReport, has_metrics: bool) -> Step:
    i = tl.infra
    if i.status == "skipped" or not has_metrics:
        return Step(
            2,
            "infra",
            "Infra: a quick look, then move on",
            "skipped",
            "infra series (latency, errors, CPU)",
            "skipped: no --metrics given",
            "move on; check infra dashboards by hand if in doubt",
        )
    if i.status == "green":
        return Step(
            2,
            "infra",
            "Infra: a quick look, then move on",
            "ok",
            "infra series against their robust baseline band",
            i.message,
            "infra green, move on",
        )
    return Step(
        2,
        "infra",
        "Infra: a quick look, then move on",
        "finding",
        "infra series against their robust baseline band",
        f"{i.message} ({', '.join(i.anomalous)})",
        "infra is anomalous: keep it as a suspect in step 6",
    )


def _global_step(sr: SliceReport) -> Step:
    g = sr.global_stats
    if sr.mode == "no_labels":
        found = (
            f"no labels: prediction PSI {g.prediction_psi or 0:.3f}, mean score "
            f"{g.mean_score or 0:.4f} (reference {g.reference_mean_score or 0:.4f})"
        )
    else:
        found = (
            f"global {g.metric} {_metric(g.live, g.metric)} live vs "
            f"{_metric(g.reference, g.metric)} reference "
            f"({g.labelled_rows} labelled rows, {g.unlabelled_rows} still unlabelled)"
        )
    return Step(
        3,
        "global",
        "Distrust global numbers",
        "info",
        "the global metric on labelled live rows, and the reference's",
        found,
        "shown, not trusted: slice it",
    )


def _slices_step(sr: SliceReport, ranked: list[SliceRecord], chosen: SliceRecord | None) -> Step:
    g = sr.global_stats
    if not ranked:
        return Step(
            4,
            "slices",
            "Slice by segment",
            "ok",
            f"{sr.tested} slices (1–2 predicates) over {len(sr.candidates)} keys",
            "no slice is significantly degraded",
            "PSI audit on all rows only",
        )
    top = ", ".join(f"{slice_label(s.slice)} ({_metric(s.live, s.metric)})" for s in ranked[:3])
    sel = chosen or ranked[0]
    return Step(
        4,
        "slices",
        "Slice by segment",
        "finding",
        f"{sr.tested} slices (1–2 predicates) over {len(sr.candidates)} keys, BH α="
        f"{sr.settings.get('alpha', 0.05)}",
        f"global looks like {_metric(g.live, g.metric)}, but {len(ranked)} slice(s) degraded: "
        f"{top}",
        f"drill into {slice_label(sel.slice)}",
    )


def _psi_step(features: list[FeaturePsi], chosen: SliceRecord | None, ps: PsiSettings) -> Step:
    drifted = [f for f in features if f.status == "drifted"]
    where = slice_label(chosen.slice) if chosen else "all rows"
    if chosen is not None and any(f.slice and f.reference_scope == "global" for f in features):
        where += (
            " (absent from training: compared with all training rows, so the columns "
            "that define the slice show up too)"
        )
    names = ", ".join(
        f"{f.feature} {f.psi:.2f}" + (" (slice)" if f.slice else "")
        for f in drifted[:4]
        if f.psi is not None
    )
    return Step(
        5,
        "psi",
        "PSI audit on the broken slice",
        "finding" if drifted else "ok",
        f"PSI of every feature, training vs live, on {where} and on all rows "
        f"(drifted = PSI ≥ {ps.threshold} and significant after BH)",
        f"{len(drifted)} drifted: {names}" if drifted else "no feature drifted",
        "trace the drifted features upstream"
        if drifted
        else "inputs look stable: suspect concept drift or infrastructure",
    )


def _rootcause_step(ex: Explanation, has_changes: bool, has_owners: bool) -> Step:
    missing = [x for x, ok in (("--changes", has_changes), ("--owners", has_owners)) if not ok]
    checked = (
        "onsets, carrying cohorts, signatures"
        + (", change events" if has_changes else "")
        + (", ownership" if has_owners else "")
    )
    if missing:
        checked += f" (no {' / '.join(missing)} given)"
    if not ex.hypotheses:
        return Step(
            6,
            "root_cause",
            "Trace the root cause upstream",
            "ok",
            checked,
            "no hypothesis above the reporting threshold",
            "nothing to trace",
        )
    h = ex.hypotheses[0]
    page = (
        (f"page {h.owner}" + (f" ({h.pager})" if h.pager else ""))
        if h.owner
        else ("no owner on record")
    )
    return Step(
        6,
        "root_cause",
        "Trace the root cause upstream",
        "finding",
        checked,
        h.summary,
        f"{page}; {h.next_action}",
    )


def _shadow_step(sh: ShadowReport | None, cmd: str, roles: Roles) -> Step:
    if sh is None:
        return Step(
            7,
            "shadow",
            "Validate the fix with shadow scoring",
            "skipped",
            "old vs new model outputs on live traffic",
            "skipped: no --candidate-prediction given",
            f"when the fix is ready run: {cmd}",
        )
    return Step(
        7,
        "shadow",
        "Validate the fix with shadow scoring",
        "ok" if sh.verdict == "promote" else "finding",
        f"{sh.current} vs {sh.candidate} on the live rows",
        "; ".join(sh.reasons),
        sh.verdict,
    )


def _verdict(
    ex: Explanation, sr: SliceReport | None
) -> tuple[Literal["model_incident", "no_model_incident"], str]:
    if ex.verdict == "model_incident":
        return "model_incident", ex.verdict_reason
    deg = sr.degraded() if sr else []
    if sr is not None and deg and sr.mode == "labels":
        s = deg[0]
        return "model_incident", (
            f"{slice_label(s.slice)} degraded: {s.metric} "
            f"{_metric(s.live, s.metric)} vs {_metric(s.baseline, s.metric)}"
        )
    return "no_model_incident", ex.verdict_reason


def _headline(
    verdict: str,
    sr: SliceReport | None,
    chosen: SliceRecord | None,
    ex: Explanation,
    tl: TimelineReport,
) -> str:
    if verdict != "model_incident":
        if ex.hypotheses:
            return f"No model incident. {ex.hypotheses[0].summary}"
        return "No model incident: no significant degradation or drift."
    h = ex.hypotheses[0] if ex.hypotheses else None
    where = slice_label(chosen.slice) if chosen else (slice_label(h.slice) if h else "all rows")
    what = (
        f"{h.feature} ({h.failure_mode.replace('_', ' ')})"
        if h and h.feature
        else (h.failure_mode.replace("_", " ") if h else "performance")
    )
    since = (
        h.onset
        if h and h.onset
        else next((v for k, v in tl.layer_onsets.items() if k == "model" and v), None)
    )
    owner = (
        f"; page {h.owner}" + (f" ({h.pager})" if h and h.pager else "") if h and h.owner else ""
    )
    why = ""
    if h and h.change_events():
        why = f", after {h.change_events()[0].id}"
    return (
        f"Model incident: {what} broke on {where}"
        + (f" since {since}" if since else "")
        + why
        + owner
        + "."
    )


def _checklist(
    baseline: str | None,
    metrics: Any,
    changes: Any,
    owners: Any,
    ex: Explanation,
    roles: Roles,
    sr: SliceReport | None,
) -> list[str]:
    """The seed's pre-launch checklist items this incident found missing."""
    out = []
    if baseline is None:
        out.append("no saved baseline: establish baselines before launch (mlfail baseline create)")
    if metrics is None:
        out.append(
            "no monitoring metrics given: layer infra / pipeline / model / business monitoring"
        )
    if changes is None:
        out.append("no change log given: record deploys, migrations, upgrades and firmware")
    if owners is None:
        out.append("no owners file: define who gets paged for what before an incident")
    gaps = sorted({e.feature for h in ex.hypotheses for e in h.ownership_gaps()})
    if gaps:
        out.append(f"unowned features: {', '.join(gaps)} — add them to a component's lineage")
    if not roles.label or sr is None or sr.mode == "no_labels":
        out.append("no labels: monitor outcomes, not only inputs and predictions")
    return out


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
        "first_fired": r.first_fired,
        "first_fired_sentence": r.timeline.verdict,
        "inputs": r.inputs,
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
    }
