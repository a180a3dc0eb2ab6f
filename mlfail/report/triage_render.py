"""Renderings of the triage report: Rich panels (human), JSON, Markdown (incident summary and
postmortem skeleton), and one self-contained HTML file. Renderers compute nothing."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlfail._version import __version__
from mlfail.psi import BinShare, FeaturePsi
from mlfail.report.explain_render import _hyp_panel
from mlfail.report.jsonout import dumps
from mlfail.report.layers import (
    LayeredTimeline,
    build_layers,
    build_slice_bars,
    change_event_inputs,
)
from mlfail.report.roles_render import roles_html, roles_human, roles_markdown
from mlfail.report.slices_model import SliceRecord
from mlfail.report.slices_render import overlap_line, symptom_note
from mlfail.report.svg import bars_svg, layers_svg, line_svg, slice_bars_svg
from mlfail.report.text import md as _md
from mlfail.report.timeline_render import layer_rows, layer_sparklines
from mlfail.rootcause import CohortEvidence, Hypothesis
from mlfail.triage import Step, TriageReport, slice_label, triage_data

STATUS_STYLE = {"ok": "green", "finding": "bold red", "skipped": "dim", "info": "cyan"}
STATUS_WORD = {"ok": "OK", "finding": "FINDING", "skipped": "SKIPPED", "info": "INFO"}


def triage_json(r: TriageReport) -> str:
    return dumps(triage_data(r))


# ---- human ------------------------------------------------------------------------------


def step_panel(s: Step, extra: Text | None = None) -> Panel:
    """One step; ``extra`` (step 1: the layers' sparklines) is drawn under its lines."""
    lines = [
        Text.assemble(("checked  ", "dim"), s.checked),
        Text.assemble(("found    ", "dim"), s.found),
        Text.assemble(("decision ", "dim"), (s.decision, "bold")),
    ]
    if extra is not None and extra:
        lines += [Text(""), extra]
    body = Group(*lines)
    title = Text.assemble(
        (f"Step {s.step}/7  ", "bold"),
        s.title,
        "  ",
        (STATUS_WORD[s.status], STATUS_STYLE[s.status]),
    )
    return Panel(
        body,
        title=title,
        title_align="left",
        border_style=STATUS_STYLE[s.status] if s.status == "finding" else "dim",
    )


def signal_sparklines(s: Step) -> Text | None:
    """Step 1's sparklines from what the step carries (the streaming walk draws them before
    the report exists; no hypothesis yet, so no event is emphasised)."""
    if s.name != "signal" or s.timeline is None:
        return None
    return layer_sparklines(build_layers(s.timeline, change_event_inputs(s.events)))


def slice_table(r: TriageReport, limit: int = 10) -> Table:
    sr = r.slices
    if sr is None:
        return Table(title="Slices: skipped (no --prediction given)", title_justify="left")
    t = ranked_table(sr.distinct()[:limit], metric=sr.metric)
    if line := overlap_line(sr):
        t.caption, t.caption_justify = line, "left"
    return t


def ranked_table(
    slices: list[SliceRecord], *, metric: str | None = None, title: str = "Slices, worst first"
) -> Table:
    """Numbered slice rows (the operator picks by number at step 4)."""
    metric = metric or (slices[0].metric if slices else "metric")
    t = Table(header_style="bold", title=title, title_justify="left")
    for c in ("#", "slice", "rows", metric, "baseline", "rest", "q", "excess"):
        t.add_column(
            c,
            justify="left" if c == "slice" else "right",
            no_wrap=c != "slice",
            min_width=30 if c == "slice" else None,
        )
    for i, s in enumerate(slices, 1):
        style = "bold red" if s.degraded else ""
        t.add_row(
            str(i),
            Text(slice_label(s.slice) + symptom_note(s), style=style),
            str(s.rows),
            _m(s.live, s.metric),
            _m(s.baseline, s.metric),
            _m(s.complement, s.metric),
            "" if s.q_value is None else f"{s.q_value:.1g}",
            "" if s.excess_errors is None else f"{s.excess_errors:.0f}",
        )
    return t


def _m(v: float | None, metric: str) -> str:
    if v is None:
        return ""
    return f"{100 * v:.1f}%" if metric == "accuracy" else f"{v:.4g}"


def render_header(r: TriageReport, console: Console) -> None:
    style = "bold red" if r.verdict == "model_incident" else "bold green"
    console.print(
        Text.assemble(
            ("mlfail triage  ", "bold"),
            ("live ", "dim"),
            r.inputs["live"] or "",
            ("  vs  ", "dim"),
            r.inputs.get("baseline") or r.inputs.get("reference") or "",
        )
    )
    console.print(Text(r.headline, style=style))
    if r.story is not None and r.story.sentence:
        console.print(Text.assemble(("  ↳ ", "dim"), r.story.sentence))


def render_triage(r: TriageReport, console: Console) -> None:
    render_header(r, console)
    roles_human(r.roles, console)
    for s in r.steps:
        extra = layer_sparklines(layered_view(r)) if s.name == "signal" else None
        console.print(step_panel(s, extra))
        if s.name == "slices" and r.slices is not None and r.slices.slices:
            console.print(slice_table(r))
        if s.name == "root_cause":
            for i, h in enumerate(r.root_causes[:3], 1):
                console.print(_hyp_panel(i, h))
    if r.checklist:
        console.print(Text("Missing from the pre-launch checklist:", style="bold"))
        for c in r.checklist:
            console.print(Text.assemble(("  • ", "dim"), c))
    console.print(
        Text.assemble(
            ("verdict: ", "bold"),
            (
                r.verdict.replace("_", " "),
                "bold red" if r.verdict == "model_incident" else "bold green",
            ),
            (" — ", "dim"),
            r.verdict_reason,
        )
    )


# ---- markdown ---------------------------------------------------------------------------


def _where(r: TriageReport) -> str:
    """The headline's "where": the top cause's cohort, else the chosen slice."""
    if r.story is not None and r.story.where:
        return slice_label(r.story.where)
    return slice_label(r.chosen_slice.slice) if r.chosen_slice else "all rows"


def triage_markdown(r: TriageReport) -> str:
    h = r.root_causes[0] if r.root_causes else None
    g = r.slices.global_stats if r.slices is not None else None
    out = [
        f"# Incident summary — {r.verdict.replace('_', ' ')}",
        "",
        f"**{_md(r.headline)}**",
        "",
        *([f"_{_md(r.story.sentence)}_", ""] if r.story is not None and r.story.sentence else []),
        f"- **Verdict:** {r.verdict.replace('_', ' ')} — {_md(r.verdict_reason)}",
        f"- **What broke:** {_md(h.feature or h.failure_mode) if h else 'nothing identified'}"
        + (f" ({h.failure_mode.replace('_', ' ')}, confidence {h.confidence:.2f})" if h else ""),
        f"- **Where:** {_md(_where(r))}",
        f"- **Since:** {h.onset if h and h.onset else 'unknown'}",
        f"- **First fired:** {r.first_fired or 'n/a'} — {_md(r.timeline.verdict)}",
        (
            f"- **Global {g.metric}:** {_m(g.live, g.metric)} live vs "
            f"{_m(g.reference, g.metric)} reference (not to be trusted alone)"
            if g is not None
            else "- **Global metric:** not computed (no --prediction given)"
        ),
        f"- **Who to page:** {_md(h.owner) if h and h.owner else 'no owner on record'}"
        + (f" ({_md(h.pager)})" if h and h.pager else ""),
        "",
        "## Which layer fired first",
        "",
        *_layers_text(r),
        "",
        "## The seven steps",
        "",
        "| # | step | status | found | decision |",
        "|---:|---|---|---|---|",
    ]
    out += [
        f"| {s.step} | {_md(s.title)} | {s.status} | {_md(s.found)} | {_md(s.decision)} |"
        for s in r.steps
    ]
    if h:
        out += ["", "## Probable cause", "", _md(h.summary), ""]
        out += [f"- **{e.kind}**: {_md(e.text)}" for e in h.evidence]
        out += ["", f"**Next action:** {_md(h.next_action)}"]
        if len(r.root_causes) > 1:
            out += ["", "Other hypotheses:", ""]
            out += [
                f"- {_md(x.feature or x.failure_mode)} — {x.failure_mode}, confidence "
                f"{x.confidence:.2f}"
                for x in r.root_causes[1:5]
            ]
    out += ["", "# Postmortem (draft)", "", "## Timeline", "", "| when | what |", "|---|---|"]
    for when, what in _timeline_rows(r):
        out.append(f"| {when} | {_md(what)} |")
    if r.slices is not None:
        out += [
            "",
            "## Impact by slice",
            "",
            f"| slice | rows | {r.slices.metric} | baseline | excess errors |",
            "|---|---:|---:|---:|---:|",
        ]
        for s in r.slices.distinct()[:10]:
            out.append(
                f"| {_md(slice_label(s.slice) + symptom_note(s))} | {s.rows} | "
                f"{_m(s.live, s.metric)} | "
                f"{_m(s.baseline, s.metric)} | "
                f"{'' if s.excess_errors is None else f'{s.excess_errors:.0f}'} |"
            )
        if line := overlap_line(r.slices):
            out += ["", _md(line)]
    out += [
        "",
        "## Root cause",
        "",
        _md(h.summary) if h else "_to be written_",
        "",
        "## Action items",
        "",
    ]
    if h:
        out.append(f"- [ ] {_md(h.next_action)} (owner: {_md(h.owner or 'tbd')})")
    out.append(f"- [ ] Validate the fix with shadow scoring: `{r.shadow_command}`")
    out += [f"- [ ] {_md(c)}" for c in r.checklist]
    out += roles_markdown(r.roles)
    out += ["", f"_Generated by mlfail {__version__}._"]
    return "\n".join(out) + "\n"


def _layers_text(r: TriageReport) -> list[str]:
    """The layered timeline as a table (the HTML report has the picture): one sparkline per
    layer on the shared axis, ┃ before the onset window, ◆ on the layer that fired first."""
    view = layered_view(r)
    if not view.layers:
        return ["_no series to draw_"]
    span = f"{view.start.date()} → {view.end.date()}" if view.start and view.end else ""
    out = [
        _md(r.timeline.verdict),
        "",
        f"| layer | series | {span} (┃ = onset) | onset | |",
        "|---|---|---|---|---|",
    ]
    for layer, label, spark, onset, fired in layer_rows(view):
        out.append(
            f"| {layer} | {_md(label)} | `{spark.plain}` | {_md(onset)} | "
            f"{'◆ fired first' if fired else ''} |"
        )
    if view.events:
        evs = ", ".join(
            f"{'★ ' if e.emphasised else ''}{e.id} ({e.when:%Y-%m-%d %H:%M})" for e in view.events
        )
        out += ["", f"Change events: {_md(evs)}"]
    return out


def _timeline_rows(r: TriageReport) -> list[tuple[str, str]]:
    rows: list[tuple[Any, str]] = []
    for h in r.root_causes[:3]:
        for e in h.change_events():
            rows.append((e.ts, f"{e.id} ({e.event_kind} on {e.component}): {e.description}"))
        if h.onset:
            rows.append(
                (
                    h.onset,
                    f"onset: {h.feature or h.failure_mode} ({h.failure_mode.replace('_', ' ')})",
                )
            )
    for s in r.timeline.series:
        if s.onset is not None and s.counts_for_first_fired:
            rows.append((s.onset, f"{s.layer} series {s.name} moved {s.direction}"))
    seen: set[tuple[str, str]] = set()
    out = []
    for when, what in sorted(rows, key=lambda x: _as_dt(x[0])):
        key = (str(when), what)
        if key not in seen:
            seen.add(key)
            out.append((str(when), what))
    return out


def _as_dt(x: Any) -> dt.datetime:
    if isinstance(x, dt.datetime):
        return x
    return dt.datetime.combine(x, dt.time())


# ---- html -------------------------------------------------------------------------------

CSS = """
:root{color-scheme:light dark}
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;
background:#fff;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}
.verdict{padding:10px 14px;border-radius:6px;font-weight:600;border:2px solid currentColor}
.incident{background:#fdecea;color:#a40000}.ok{background:#e8f5e9;color:#1b5e20}
.todo{border:1px solid #999;border-left:6px solid #a40000;border-radius:6px;padding:4px 14px;
margin:14px 0}.todo dt{font-weight:600;margin-top:6px}.todo dd{margin:2px 0 6px 0}
.todo pre,pre{white-space:pre-wrap;word-break:break-all;background:rgba(127,127,127,.12);
padding:6px;border-radius:4px;font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:rgba(127,127,127,.12)}.num{text-align:right}.finding{color:#a40000;font-weight:600}
.skipped{color:#888}.muted{color:#666;font-size:12px}.chart{display:inline-block;margin:6px;
vertical-align:top}.pair{display:flex;flex-wrap:wrap;gap:8px}svg{max-width:100%;height:auto}
@media (prefers-color-scheme: dark){body{background:#16181d;color:#e6e6e6}
.incident{background:#3a1414;color:#ff9a9a}.ok{background:#12301a;color:#9be7a8}
.finding{color:#ff9a9a}.muted{color:#aaa}.todo{border-left-color:#ff9a9a}}
@media print{body{background:#fff;color:#000;margin:0}.chart,.pair,svg{break-inside:avoid}}
"""

LEGEND = (
    "One shared time axis. ▼ and the dashed line: the series' onset (first window of the new "
    "level); ◆ boxed layer: fired first; vertical lines: change events by id, ★ solid: the top "
    "hypothesis's event. Each strip is on its own scale (its range is under its name); live* = "
    "derived from the live log, not used for first-fired because the metrics file has the layer."
)


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _todo_box(r: TriageReport) -> list[str]:
    h = r.root_causes[0] if r.root_causes else None
    page = "no owner on record"
    if h and h.owner:
        page = h.owner + (f" ({h.pager})" if h.pager else "")
    action = h.next_action if h else r.verdict_reason
    return [
        "<div class='todo'><h2 style='border:0;margin:8px 0 2px 0'>What to do now</h2><dl>",
        f"<dt>Who to page</dt><dd>{_e(page)}</dd>",
        f"<dt>Next action</dt><dd>{_e(action)}</dd>",
        f"<dt>Validate the fix (shadow test)</dt><dd><pre>{_e(r.shadow_command)}</pre></dd>",
        "</dl></div>",
    ]


def layered_view(r: TriageReport) -> LayeredTimeline:
    """The layered timeline of a triage report (shared by the HTML, Markdown and terminal)."""
    return build_layers(r.timeline, change_event_inputs(r.change_events, r.root_causes))


def triage_html(r: TriageReport, *, max_features: int = 4) -> str:
    cls = "incident" if r.verdict == "model_incident" else "ok"
    p: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>mlfail triage — {_e(r.verdict)}</title><style>{CSS}</style></head><body>",
        "<h1>mlfail triage</h1>",
        f"<p class='muted'>live {_e(r.inputs.get('live'))} vs "
        f"{_e(r.inputs.get('baseline') or r.inputs.get('reference'))} · mlfail "
        f"{_e(__version__)}</p>",
        f"<div class='verdict {cls}'>{_e(r.headline)}</div>",
        *(
            [f"<p class='story'>{_e(r.story.sentence)}</p>"]
            if r.story is not None and r.story.sentence
            else []
        ),
        *_todo_box(r),
        "<h2>Which layer fired first</h2>",
        f"<p><b>First fired:</b> {_e(r.timeline.verdict.rstrip('.'))}. <b>Infra:</b> "
        f"{_e(r.timeline.infra.message.rstrip('.'))}.</p>",
        f"<div class='chart'>{layers_svg(layered_view(r))}</div>",
        f"<p class='muted'>{_e(LEGEND)}</p>",
        "<h2>The seven steps</h2><table><tr><th>#</th><th>step</th><th>status</th>"
        "<th>checked</th><th>found</th><th>decision</th></tr>",
    ]
    for s in r.steps:
        p.append(
            f"<tr><td>{s.step}</td><td>{_e(s.title)}</td><td class='{_e(s.status)}'>"
            f"{_e(STATUS_WORD[s.status])}</td><td>{_e(s.checked)}</td><td>{_e(s.found)}</td>"
            f"<td>{_e(s.decision)}</td></tr>"
        )
    p.append("</table>")
    p += _slices_html(r)
    p += _root_cause_html(r)
    p.append("<h2>Other drifted features</h2>")
    p += _feature_charts(r, max_features, skip={h.feature for h in r.root_causes[:3]})
    p.append(f"<h2>Step 7: shadow test</h2><pre>{_e(r.shadow_command)}</pre>")
    if r.checklist:
        p.append("<h2>Missing from the pre-launch checklist</h2><ul>")
        p += [f"<li>{_e(c)}</li>" for c in r.checklist]
        p.append("</ul>")
    p.append(roles_html(r.roles))
    p.append("</body></html>\n")
    return "".join(p)


def _slices_html(r: TriageReport) -> list[str]:
    sr = r.slices
    if sr is None:
        return ["<h2>Slices</h2><p>Skipped: no --prediction given.</p>"]
    p = [
        f"<h2>Slices, worst first</h2><p class='muted'>global {_e(sr.metric)} "
        f"{_e(_m(sr.global_stats.live, sr.metric))} live vs "
        f"{_e(_m(sr.global_stats.reference, sr.metric))} reference</p>",
    ]
    if sr.slices:
        p.append(
            f"<div class='chart'>{slice_bars_svg(build_slice_bars(sr.distinct(), sr.metric))}</div>"
        )
    p.append(
        "<table><tr><th>slice</th><th>rows</th><th>labelled</th>"
        f"<th>{_e(sr.metric)}</th><th>baseline</th><th>complement</th><th>q</th>"
        "<th>excess errors</th></tr>"
    )
    for sl in sr.distinct()[:15]:
        c = " class='finding'" if sl.degraded else ""
        p.append(
            f"<tr><td{c}>{_e(slice_label(sl.slice) + symptom_note(sl))}"
            f"{' ▲' if sl.degraded else ''}</td>"
            f"<td class='num'>{sl.rows}</td>"
            f"<td class='num'>{sl.labelled_rows}</td><td class='num'>"
            f"{_e(_m(sl.live, sl.metric))}</td><td class='num'>{_e(_m(sl.baseline, sl.metric))}"
            f"</td><td class='num'>{_e(_m(sl.complement, sl.metric))}</td><td class='num'>"
            f"{'' if sl.q_value is None else f'{sl.q_value:.2g}'}</td><td class='num'>"
            f"{'' if sl.excess_errors is None else f'{sl.excess_errors:.0f}'}</td></tr>"
        )
    p.append("</table>")
    if line := overlap_line(sr):
        p.append(f"<p class='muted'>{_e(line)}</p>")
    return p


def _root_cause_html(r: TriageReport) -> list[str]:
    p = ["<h2 id='root-cause'>Root cause</h2>"]
    if not r.root_causes:
        p.append("<p>No hypothesis above the reporting threshold.</p>")
    for i, h in enumerate(r.root_causes[:5], 1):
        p.append(
            f"<h3>#{i} {_e(h.feature or 'no single feature')} — "
            f"{_e(h.failure_mode.replace('_', ' '))} (confidence {h.confidence:.2f})</h3>"
            f"<p>{_e(h.summary)}</p><ul>"
        )
        p += [f"<li><b>{_e(e.kind)}</b>: {_e(e.text)}</li>" for e in h.evidence]
        p.append(f"</ul><p><b>Next:</b> {_e(h.next_action)}</p>")
        if i <= 3 and h.feature:
            p += _feature_pair(r, h)
    return p


def _feature_pair(r: TriageReport, h: Hypothesis) -> list[str]:
    """The reference-vs-live bins of a hypothesis's feature on its cohort (the within-cohort
    counts the root cause tested; the chosen slice's or all rows' when it names no cohort) and
    its daily PSI with the onset and the change events, side by side."""
    feature = h.feature
    out = ["<div class='pair'>"]
    cohort = next((e for e in h.evidence if isinstance(e, CohortEvidence) and e.bins), None)
    if cohort is not None:
        ref_what = "the same cohort" if cohort.reference_scope == "slice" else "all rows"
        title = (
            f"{feature} on its cohort {cohort.column}={cohort.value}: PSI "
            f"{cohort.within_psi:.3f} (reference: {ref_what})"
        )
        out.append(_bins_chart(cohort.bins, title, width=520))
    else:
        chosen = r.chosen_slice.slice if r.chosen_slice else None
        recs = [x for x in r.features if x.feature == feature]
        f = next((x for x in recs if x.slice == chosen), recs[0] if recs else None)
        if f is not None:
            out.append(_feature_chart(f, width=520))
    series = r.explanation.daily_psi.get(feature or "")
    if series:
        events = [
            (e.when.date(), ("★ " if e.emphasised else "") + e.id) for e in layered_view(r).events
        ]
        out.append(
            "<div class='chart'>"
            + line_svg(
                r.explanation.days,
                series,
                title=f"daily PSI of {feature} (all live rows)",
                onset=h.onset,
                events=events,
                threshold=float(r.explanation.settings.get("threshold", 0.25)),
                width=520,
                height=200,
            )
            + "</div>"
        )
    out.append("</div>")
    return out if len(out) > 2 else []


def _bins_chart(bins: Sequence[BinShare], title: str, **size: int) -> str:
    """One reference-vs-live bars chart of ``bins`` (the model's shares, drawn as they are)."""
    ref = [b.reference_share for b in bins]
    live = [b.live_share for b in bins]
    return f"<div class='chart'>{bars_svg([b.bin for b in bins], ref, live, title=title, **size)}</div>"


def _feature_chart(f: FeaturePsi, **size: int) -> str:
    return _bins_chart(
        f.bins, f"{f.feature} on {slice_label(f.slice)}: PSI {f.psi or 0:.3f}", **size
    )


def _feature_charts(r: TriageReport, limit: int, skip: set[str | None]) -> list[str]:
    out: list[str] = []
    recs: list[FeaturePsi] = [
        f for f in r.features if f.status in ("drifted", "watch") and f.feature not in skip
    ]
    recs.sort(key=lambda f: -(f.psi or 0))
    shown: set[str] = set()
    for f in recs:
        if f.feature in shown or len(shown) >= limit:
            continue
        shown.add(f.feature)
        out.append(_feature_chart(f))
    if not out:
        out.append("<p>No other feature drifted.</p>")
    return out
