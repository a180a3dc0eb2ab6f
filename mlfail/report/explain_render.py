"""Renderings of a root-cause explanation (``mlfail explain``): human, JSON, Markdown."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from mlfail._version import __version__
from mlfail.report.jsonout import dumps, inputs_roles
from mlfail.report.roles_render import roles_human, roles_markdown
from mlfail.report.text import md as _md
from mlfail.rootcause import Explanation, Hypothesis
from mlfail.rootcause.hypotheses import problem_lead_text

MODE_STYLE = {
    "pipeline_drift": "bold red",
    "data_quality": "bold red",
    "training_serving_skew": "bold red",
    "infrastructure": "bold red",
    "concept_drift": "bold magenta",
    "data_drift": "yellow",
}


def _window(ex: Explanation) -> str:
    """The live window's days, or why there are none (no event time)."""
    if ex.first_day is None:
        return "no event time"
    return f"{ex.first_day} … {ex.last_day}"


def slice_text(s: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in s.items()) if s else "all rows"


def explain_data(ex: Explanation) -> dict[str, Any]:
    return {
        "schema_version": ex.schema_version,
        "mlfail_version": __version__,
        "verdict": ex.verdict,
        "verdict_reason": ex.verdict_reason,
        "reference": ex.reference,
        "live": ex.live,
        "window": {"first_day": ex.first_day, "last_day": ex.last_day},
        "performance": ex.performance,
        "prediction": ex.prediction,
        "settings": ex.settings,
        "warnings": ex.warnings,
        "problems": ex.problem_count(),
        "hypotheses": ex.hypotheses,
        "days": ex.days,
        "daily_psi": ex.daily_psi,
        "daily_metric": ex.daily_metric,
        **inputs_roles(ex.roles),
    }


def explain_json(ex: Explanation) -> str:
    return dumps(explain_data(ex))


def _hyp_panel(i: int, h: Hypothesis) -> Panel:
    title = Text.assemble(
        (f"#{i} ", "bold"),
        (h.feature or "(no single feature)", "bold"),
        "  ",
        (h.failure_mode.replace("_", " "), MODE_STYLE.get(h.failure_mode, "")),
        (f"  confidence {h.confidence:.2f}", "dim"),
    )
    facts = Text()
    facts.append("since ", "dim")
    facts.append(str(h.onset) if h.onset else "unknown")
    facts.append("   where ", "dim")
    facts.append(slice_text(h.slice))
    facts.append("   page ", "dim")
    facts.append(
        (h.owner or "nobody (no owner on record)") + (f" ({h.pager})" if h.pager else ""), "bold"
    )
    lines: list[Text | str] = [Text(h.summary), facts, Text("evidence", style="dim")]
    for e in h.evidence:
        lines.append(Text.assemble(("  • ", "dim"), (f"{e.kind}: ", "cyan"), e.text))
    if h.event_note:
        lines.append(Text.assemble(("  • ", "dim"), ("change_event: ", "cyan"), h.event_note))
    lines.append(Text.assemble(("next: ", "bold green"), h.next_action))
    return Panel(Group(*lines), title=title, title_align="left", border_style="dim")


def render_explain(ex: Explanation, console: Console, *, limit: int = 10) -> None:
    style = "bold red" if ex.verdict == "model_incident" else "bold green"
    console.print(
        Text.assemble(
            ("Root cause  ", "bold"),
            ("live ", "dim"),
            ex.live,
            ("  vs  ", "dim"),
            ex.reference,
            (f"  ({_window(ex)})", "dim"),
        )
    )
    console.print(
        Text.assemble(
            ("verdict: ", "bold"),
            (ex.verdict.replace("_", " "), style),
            (" — ", "dim"),
            ex.verdict_reason,
        )
    )
    roles_human(ex.roles, console)
    if not ex.hypotheses:
        console.print(
            "[green]No hypothesis above the reporting threshold "
            f"({ex.settings['min_confidence']}).[/green]"
        )
    if ex.problem_count() > 1:
        console.print(
            Text.assemble(
                (f"{ex.problem_count()} independent problems: ", "bold"),
                "; ".join(problem_lead_text(h) for h in ex.problem_leads()),
            )
        )
    for i, h in enumerate(ex.hypotheses[:limit], 1):
        console.print(_hyp_panel(i, h))
    if len(ex.hypotheses) > limit:
        console.print(f"[dim]… {len(ex.hypotheses) - limit} more (--format json lists all)[/dim]")
    for w in ex.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(w)}")


def explain_markdown(ex: Explanation) -> str:
    out = [
        "## Root cause",
        "",
        f"**Verdict:** {ex.verdict.replace('_', ' ')} — {_md(ex.verdict_reason)}  ",
        f"Live `{_md(ex.live)}` ({_window(ex)}) vs reference `{_md(ex.reference)}`.",
        "",
    ]
    if not ex.hypotheses:
        out.append("No hypothesis above the reporting threshold.")
    if ex.problem_count() > 1:
        leads = "; ".join(problem_lead_text(h) for h in ex.problem_leads())
        out += [f"**{ex.problem_count()} independent problems:** {_md(leads)}", ""]
    if ex.hypotheses:
        out += [
            "| # | feature | failure mode | confidence | since | where | page |",
            "|---:|---|---|---:|---|---|---|",
        ]
        for i, h in enumerate(ex.hypotheses, 1):
            page = (h.owner or "—") + (f" ({h.pager})" if h.pager else "")
            out.append(
                f"| {i} | {_md(h.feature or '—')} | {h.failure_mode} | "
                f"{h.confidence:.2f} | {h.onset or '—'} | {_md(slice_text(h.slice))} | "
                f"{_md(page)} |"
            )
        for i, h in enumerate(ex.hypotheses, 1):
            out += [
                "",
                f"### {i}. {_md(h.feature or 'no single feature')}: "
                f"{h.failure_mode.replace('_', ' ')}",
                "",
                _md(h.summary),
                "",
            ]
            out += [f"- **{e.kind}**: {_md(e.text)}" for e in h.evidence]
            if h.event_note:
                out.append(f"- **change_event**: {_md(h.event_note)}")
            out += ["", f"**Next:** {_md(h.next_action)}"]
    out += roles_markdown(ex.roles)
    return "\n".join(out) + "\n"
