"""The step records of the triage walk (:func:`mlfail.triage.triage`): one builder per step
turning a view's report into what was checked, what was found and the decision taken, and the
verdict, headline and pre-launch checklist built from them. Renderers read these; nothing here
computes statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mlfail.config import Roles
from mlfail.psi import FeaturePsi, PsiSettings
from mlfail.report.model import ChangeEvent
from mlfail.report.slices_model import SliceRecord, SliceReport
from mlfail.report.timeline_model import TimelineReport
from mlfail.rootcause import Explanation
from mlfail.rootcause.hypotheses import problem_lead_text
from mlfail.shadow import ShadowReport
from mlfail.story import Story, cause_label, slice_label

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
    # step 1 only: what its panel draws (the layers' series and the change events), so a
    # streaming renderer (``on_step``) can draw the sparklines before the report exists
    timeline: TimelineReport | None = field(default=None, repr=False, compare=False)
    events: list[ChangeEvent] = field(default_factory=list, repr=False, compare=False)

    @property
    def summary(self) -> str:
        return f"{self.found} → {self.decision}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _metric(v: float | None, metric: str) -> str:
    if v is None:
        return "n/a"
    return _pct(v) if metric == "accuracy" else f"{v:.4g}"


# ---- steps ------------------------------------------------------------------------------


def _signal_step(tl: TimelineReport, has_metrics: bool, has_time: bool = True) -> Step:
    if not has_time:
        return Step(
            1,
            "signal",
            "Signal: business or model, and which fired first?",
            "skipped",
            "onsets of every series need event time",
            "could not find onsets or which layer fired first: no --timestamp given and the "
            "live log has no event time; steps 2–6 run on the whole live window, since unknown",
            tl.verdict,
        )
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
            i.message if has_metrics else "skipped: no --metrics given",
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
    distinct = [s for s in ranked if s.explained_by is None]
    top = ", ".join(
        f"{slice_label(s.slice)} ({_metric(s.live, s.metric)})"
        + (f", symptom of {s.symptom_of} drift" if s.kind == "symptom" else "")
        for s in distinct[:3]
    )
    over = len(ranked) - len(distinct)
    sel = chosen or ranked[0]
    # the table and the choice follow one order (slices/story.py): row 1 unless the operator
    # picked another
    action = f"drill into row 1, {slice_label(sel.slice)}"
    if sel is not ranked[0]:
        action = (
            f"drill into {slice_label(sel.slice)} (picked by the operator; row 1 is "
            f"{slice_label(ranked[0].slice)})"
        )
    return Step(
        4,
        "slices",
        "Slice by segment",
        "finding",
        f"{sr.tested} slices (1–2 predicates) over {len(sr.candidates)} keys, BH α="
        f"{sr.settings.get('alpha', 0.05)}",
        f"global looks like {_metric(g.live, g.metric)}, but {len(distinct)} distinct "
        f"degraded slice(s): {top}"
        + (f" (+{over} overlapping, explained by these)" if over else ""),
        action,
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
    n = ex.problem_count()
    finding = h.summary + (f" ({h.event_note})" if h.event_note else "")
    if n > 1:
        leads = "; ".join(problem_lead_text(x) for x in ex.problem_leads())
        finding = f"{n} independent problems: {leads}. Top: {finding}"
    return Step(
        6,
        "root_cause",
        "Trace the root cause upstream",
        "finding",
        checked,
        finding,
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


def since_of(ex: Explanation, tl: TimelineReport) -> Any:
    """The top hypothesis's onset, else the model layer's onset; None when unknown."""
    h = ex.hypotheses[0] if ex.hypotheses else None
    if h and h.onset:
        return h.onset
    return next((v for k, v in tl.layer_onsets.items() if k == "model" and v), None)


def _headline(
    verdict: str,
    chosen: SliceRecord | None,
    ex: Explanation,
    tl: TimelineReport,
    story: Story | None = None,
    has_time: bool = True,
) -> str:
    """One story: the top hypothesis with its own carrying cohort (or, without a cohort, the
    slice step 4 chose); how the worst slice relates to it is ``story.sentence``."""
    if verdict != "model_incident":
        if ex.hypotheses:
            return f"No model incident. {ex.hypotheses[0].summary}"
        return "No model incident: no significant degradation or drift."
    h = ex.hypotheses[0] if ex.hypotheses else None
    if story is not None:
        where = slice_label(story.where)
    else:
        where = slice_label(h.slice if h and h.slice else (chosen.slice if chosen else None))
    what = cause_label(h) or "performance"
    since = since_of(ex, tl)
    owner = (
        f"; page {h.owner}" + (f" ({h.pager})" if h and h.pager else "") if h and h.owner else ""
    )
    why = ""
    if h and h.change_events():
        why = f", after {h.change_events()[0].id}"
    return (
        f"Model incident: {what} broke on {where}"
        + (f" since {since}" if since else ("" if has_time else " since unknown"))
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
