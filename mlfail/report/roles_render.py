"""The "assumed roles" block (§9) in every format: every report model carries the command's
:class:`mlfail.roles.RoleAssignment`; these draw it, computing nothing."""

from __future__ import annotations

from html import escape as html_escape
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from mlfail.report.text import md as _md

if TYPE_CHECKING:
    from mlfail.roles import RoleAssignment

# the human block stays short: it must not push the findings off the first screen
HUMAN_COLUMNS = 2
HUMAN_FEATURES = 5


def roles_human(roles: RoleAssignment | None, console: Console) -> None:
    """At most 6 dim lines: the non-feature columns (role, reason, flag), "+N more", and the
    features as a count and their first names."""
    if roles is None:
        return
    for line in roles.note_lines(max_features=HUMAN_FEATURES, max_columns=HUMAN_COLUMNS):
        console.print(f"[dim]{escape(line)}[/dim]")


def roles_markdown(roles: RoleAssignment | None) -> list[str]:
    """A markdown table of every column that is not a plain inferred feature, then the
    features; empty without an assignment."""
    if roles is None:
        return []
    out = ["", "### Assumed roles", "", "| column | role | why | changed by |", "|---|---|---|---|"]
    for c in roles.columns:
        if c.role == "feature" and c.source == "inferred":
            continue
        why = f"given by {c.flag}" if c.source == "flag" else c.reason
        out.append(f"| {_md(c.column)} | {c.role} | {_md(why)} | {_md(c.flag or '—')} |")
    feats = roles.features()
    out += ["", f"Features ({len(feats)}): {_md(', '.join(feats))}", ""]
    return out


def roles_html(roles: RoleAssignment | None) -> str:
    """A <details> block with the same table."""
    if roles is None:
        return ""
    rows = []
    for c in roles.columns:
        if c.role == "feature" and c.source == "inferred":
            continue
        why = f"given by {c.flag}" if c.source == "flag" else c.reason
        cells = (c.column, c.role, why, c.flag or "—")
        rows.append("<tr>" + "".join(f"<td>{html_escape(x)}</td>" for x in cells) + "</tr>")
    feats = roles.features()
    return (
        '<details class="roles"><summary>Assumed roles</summary>'
        "<table><tr><th>column</th><th>role</th><th>why</th><th>changed by</th></tr>"
        + "".join(rows)
        + f"</table><p>Features ({len(feats)}): {html_escape(', '.join(feats))}</p></details>"
    )
