"""Renderings of the data-quality report (``mlfail check quality``): human (Rich), JSON,
Markdown. JUnit and GitHub annotations are in ``junit.py`` and ``github.py``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlfail._version import __version__
from mlfail.quality import QualityFinding, QualityReport, pct
from mlfail.report.jsonout import dumps, inputs_roles
from mlfail.report.roles_render import roles_human, roles_markdown
from mlfail.report.text import md as _md

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
SHARE_RULES = {"null_rate", "unseen_categories", "default_fill"}


def show_value(rule: str, value: Any, *, side: str) -> str:
    """A finding's reference/live value for people (shares as percentages)."""
    if value is None:
        return "—"
    if isinstance(value, list):
        return "[" + ", ".join(show_value("", v, side=side) for v in value) + "]"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if rule in SHARE_RULES or (rule == "out_of_range" and side == "live"):
            return pct(value)
        return f"{value:.6g}"
    return str(value)


def summary_line(report: QualityReport) -> str:
    return (
        f"{report.count('error')} error, {report.count('warning')} warning, "
        f"{report.count('info')} info across {len(report.checks)} checks"
    )


def quality_json(report: QualityReport) -> str:
    data = {
        "schema_version": report.schema_version,
        "mlfail_version": __version__,
        "reference": report.reference,
        "live": report.live,
        "reference_rows": report.reference_rows,
        "live_rows": report.live_rows,
        "settings": report.settings,
        "summary": {s: report.count(s) for s in ("error", "warning", "info")},
        "checks": len(report.checks),
        "warnings": report.warnings,
        "findings": report.findings,
        **inputs_roles(report.roles),
    }
    return dumps(data)


def quality_markdown(report: QualityReport) -> str:
    lines = [
        "## Data quality",
        "",
        f"Live `{_md(report.live)}` ({report.live_rows} rows) vs reference "
        f"`{_md(report.reference)}` ({report.reference_rows} rows): {summary_line(report)}.",
        "",
    ]
    if report.findings:
        lines += [
            "| severity | feature | rule | reference | live | message |",
            "|---|---|---|---:|---:|---|",
        ]
        for f in report.findings:
            lines.append(
                f"| {f.severity} | {_md(f.feature)} | {f.rule} | "
                f"{_md(show_value(f.rule, f.reference, side='reference'))} | "
                f"{_md(show_value(f.rule, f.live, side='live'))} | {_md(f.message)} |"
            )
    else:
        lines.append("No findings.")
    for w in report.warnings:
        lines += ["", f"> warning: {_md(w)}"]
    lines += roles_markdown(report.roles)
    return "\n".join(lines) + "\n"


def _row(f: QualityFinding) -> list[Text | str]:
    return [
        Text(f.severity, style=SEVERITY_STYLE[f.severity]),
        Text(f.feature, style="bold"),
        f.rule,
        show_value(f.rule, f.reference, side="reference"),
        show_value(f.rule, f.live, side="live"),
        Text(f.message),
    ]


def render_quality(report: QualityReport, console: Console) -> None:
    console.print(
        Text.assemble(
            ("Data quality  ", "bold"),
            ("live ", "dim"),
            (f"{report.live} ({report.live_rows} rows)", ""),
            ("  vs  reference ", "dim"),
            (f"{report.reference} ({report.reference_rows} rows)", ""),
        )
    )
    roles_human(report.roles, console)
    if report.findings:
        t = Table(header_style="bold", expand=False)
        for name, justify in (
            ("severity", "left"),
            ("feature", "left"),
            ("rule", "left"),
            ("reference", "right"),
            ("live", "right"),
            ("message", "left"),
        ):
            t.add_column(name, justify=justify, no_wrap=name != "message")  # type: ignore[arg-type]
        for f in report.findings:
            t.add_row(*_row(f))
        console.print(t)
    else:
        console.print("[green]No findings.[/green]")
    console.print(
        Text.assemble(
            (f"{report.count('error')} error", SEVERITY_STYLE["error"]),
            ", ",
            (f"{report.count('warning')} warning", SEVERITY_STYLE["warning"]),
            ", ",
            (f"{report.count('info')} info", SEVERITY_STYLE["info"]),
            (f"  across {len(report.checks)} checks — rules: docs/quality-rules.md", "dim"),
        )
    )
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(w)}")
