"""Human rendering of the slice report: the global number first, then what it hides."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlfail.report.roles_render import roles_human
from mlfail.report.slices_model import SliceRecord, SliceReport
from mlfail.report.tables import _p

HEADLINE_SLICES = 3


def slice_text(s: dict[str, Any] | None) -> str:
    if s is None:
        return ""
    if not s:
        return "(all)"
    return ", ".join(f"{k}={_value(v)}" for k, v in s.items())


def _value(v: Any) -> str:
    if v is None:
        return "null"
    if hasattr(v, "isoformat"):
        return str(v.isoformat())
    return str(v)


def fmt_metric(metric: str, x: float | None) -> str:
    if x is None:
        return "—"
    if metric == "accuracy":
        return f"{100 * x:.1f}%"
    if metric == "prediction_psi":
        return f"{x:.3f}"
    return f"{x:.4g}"


def _score(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


BASELINE_NAME = {
    "reference": "own reference",
    "reference_partial": "reference",
    "reference_global": "whole reference",
    "complement": "live complement",
}


def _headline(r: SliceRecord) -> Text:
    t = Text("  • ")
    t.append(slice_text(r.slice), style="bold")
    t.append(symptom_note(r), style="dim")
    if r.metric == "prediction_psi":
        t.append(f": prediction PSI {fmt_metric(r.metric, r.live)} on {r.rows:,} rows")
        t.append(
            f", mean score {_score(r.mean_score)} (reference {_score(r.reference_mean_score)})"
        )
        return t
    t.append(f": {r.metric} ")
    t.append(fmt_metric(r.metric, r.live), style="bold red")
    t.append(f" on {r.labelled_rows:,} labelled rows vs {fmt_metric(r.metric, r.baseline)} ")
    t.append(f"({BASELINE_NAME.get(r.baseline_source or '', 'baseline')})", style="dim")
    if r.excess_errors is not None:
        unit = "excess errors" if r.metric == "accuracy" else "excess absolute error"
        t.append(f" — {r.excess_errors:,.0f} {unit}")
    return t


def _flag(r: SliceRecord) -> Text:
    if r.degraded:
        return Text("drifted" if r.metric == "prediction_psi" else "degraded", style="bold red")
    if r.significant:
        return Text("signif.", style="yellow")
    return Text("n.s.", style="dim")


def slices_table(report: SliceReport) -> Table:
    labels = report.mode == "labels"
    t = Table(
        title="Slices, worst first",
        title_justify="left",
        header_style="bold",
        expand=False,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("slice", min_width=20, overflow="fold")
    t.add_column("rows", justify="right", no_wrap=True)
    if labels:
        m = report.metric
        for name in ("labels", m, "baseline"):
            t.add_column(name, justify="right", no_wrap=True)
        t.add_column("vs", no_wrap=True)
        for name in ("compl.", "excess", "q", "AUC"):
            t.add_column(name, justify="right", no_wrap=True)
    else:
        for name in ("PSI", "crit.", "q", "mean score", "ref."):
            t.add_column(name, justify="right", no_wrap=True)
    t.add_column("", no_wrap=True)
    for i, r in enumerate(report.distinct(), 1):
        label = "\n".join(f"{k}={_value(v)}" for k, v in r.slice.items()) + symptom_note(r)
        cells: list[str | Text] = [str(i), Text(label), f"{r.rows:,}"]
        if labels:
            cells += [
                f"{r.labelled_rows:,}",
                fmt_metric(r.metric, r.live),
                fmt_metric(r.metric, r.baseline),
                Text(_src(r.baseline_source), style="dim"),
                fmt_metric(r.metric, r.complement),
                "—" if r.excess_errors is None else f"{r.excess_errors:,.0f}",
                _p(r.q_value),
                _score(r.auc),
            ]
        else:
            cells += [
                fmt_metric(r.metric, r.psi),
                "—" if r.critical_psi is None else f"{r.critical_psi:.3f}",
                _p(r.q_value),
                _score(r.mean_score),
                _score(r.reference_mean_score),
            ]
        cells.append(_flag(r))
        t.add_row(*cells)
    if line := overlap_line(report):
        t.caption = line
        t.caption_justify = "left"
    return t


def symptom_note(r: SliceRecord) -> str:
    """ " (symptom of F drift)" for a bin of a drifted feature, else ""."""
    return f" (symptom of {r.symptom_of} drift)" if r.kind == "symptom" and r.symptom_of else ""


def overlap_line(report: SliceReport) -> str:
    """ "+13 overlapping (explained by #1 pipeline_version=1.5 ×12, …)", or "" when none."""
    groups = report.explains()
    if not groups:
        return ""
    rank = {slice_text(r.slice): i for i, r in enumerate(report.distinct(), 1)}
    by = ", ".join(f"#{rank.get(slice_text(sl), '?')} {slice_text(sl)} ×{n}" for sl, n in groups)
    return f"+{len(report.overlapping())} overlapping (explained by {by})"


def _src(source: str | None) -> str:
    return {
        "reference": "ref",
        "reference_partial": "ref*",
        "reference_global": "all",
        "complement": "compl.",
    }.get(source or "", "")


def render_slices(report: SliceReport, console: Console) -> None:
    g = report.global_stats
    console.print(
        Text.assemble(
            ("Slices  ", "bold"),
            ("live ", "dim"),
            report.live,
            ("  vs  reference ", "dim"),
            report.reference,
        )
    )
    roles_human(report.roles, console)
    if report.mode == "labels":
        head = Text.assemble(
            (f"Global {report.metric} ", "bold"),
            (fmt_metric(report.metric, g.live), "bold"),
            f" on {g.labelled_rows:,} labelled rows",
        )
        if g.reference is not None:
            head.append(f" (reference {fmt_metric(report.metric, g.reference)})")
        if g.auc is not None:
            head.append(f" · AUC {g.auc:.3f}")
        if g.unlabelled_rows:
            head.append(f" · {g.unlabelled_rows:,} rows without labels yet", style="dim")
        console.print(head)
    else:
        console.print(
            Text.assemble(
                ("No labels in the live data: ", "bold yellow"),
                "slices are ranked by how far their prediction distribution moved from the "
                "reference (PSI), with the mean-score shift; accuracy cannot be measured "
                "until labels arrive.",
            )
        )
        console.print(
            Text.assemble(
                ("Global prediction PSI ", "bold"),
                (fmt_metric("prediction_psi", g.prediction_psi), "bold"),
                f" on {g.rows:,} rows · mean score {_score(g.mean_score)} "
                f"(reference {_score(g.reference_mean_score)})",
            )
        )
    worst = [r for r in report.degraded() if r.explained_by is None]
    shown = fmt_metric(report.metric, g.live)
    if report.mode == "no_labels":
        shown = f"PSI {shown}"
    if worst:
        console.print(Text(f"Global looks like {shown}, but:", style="bold"))
        for r in worst[:HEADLINE_SLICES]:
            console.print(_headline(r))
        if len(worst) > HEADLINE_SLICES:
            word = "drifted" if report.mode == "no_labels" else "degraded"
            console.print(f"[dim]  … and {len(worst) - HEADLINE_SLICES} more {word} slices[/dim]")
        if n_over := sum(1 for r in report.degraded() if r.explained_by is not None):
            console.print(f"[dim]  ({n_over} more overlap these: see the table)[/dim]")
    else:
        what = (
            "significantly worse than its baseline by the --fail-on-delta margin"
            if report.mode == "labels"
            else "with a significant prediction PSI at or above the threshold"
        )
        console.print(
            Text(
                f"Global {shown}; no slice is {what} ({report.tested:,} slices tested).",
                style="green",
            )
        )
    if report.slices:
        console.print(slices_table(report))
    _footnote(report, console)
    for n in report.notes:
        console.print(f"[dim]note: {escape(n)}[/dim]")


def _footnote(report: SliceReport, console: Console) -> None:
    """How the slices were tested, ranked and grouped."""
    s = report.settings
    if report.mode == "labels":
        unit = "errors" if report.metric == "accuracy" else "absolute error"
        delta = s.get("fail_on_delta")
        delta_text = (
            (f"{100 * delta:.0f} points" if report.metric == "accuracy" else f"{100 * delta:.0f}%")
            if isinstance(delta, int | float)
            else ""
        )
        console.print(
            f"[dim]{report.tested:,} slices tested (≥ {s.get('min_support')} labelled rows). "
            f"Ranked by excess {unit} n·(ẽ − baseline), ẽ shrunk toward the global rate with "
            f"κ={s.get('kappa'):g}; baseline (vs) = the slice's own reference (ref; ref* = the "
            "predicates the reference has, e.g. not the time cohort; all = the whole reference) "
            "moved by as much as the rest of the traffic moved, or the live complement (compl.) "
            "when the reference has no labels. q = Benjamini–Hochberg of the one-sided p "
            "(worse than its reference and than the rest now); degraded = q ≤ "
            f"{s.get('alpha')}, ≥ {s.get('min_impact_errors', 0):,.0f} excess {unit} and "
            f"worse than baseline by ≥ {delta_text}.[/dim]"
        )
    else:
        console.print(
            f"[dim]{report.tested:,} slices tested (≥ {s.get('min_support')} rows). Ranked by "
            "PSI × share of rows; each slice vs the same slice of the reference (or the whole "
            f"reference); degraded = q ≤ {s.get('alpha')} and PSI ≥ {s.get('psi_threshold')}."
            "[/dim]"
        )
    share = s.get("explained_share")
    console.print(
        "[dim]Order: degraded first, segments before symptoms (a bin of a drifted feature: "
        "where its damaged values land); a slice whose excess lies mostly "
        f"(≥ {100 * share:.0f}%) inside a listed one is grouped under it as overlapping. "
        "Step 4 of triage drills into row 1.[/dim]"
        if isinstance(share, int | float)
        else ""
    )
