"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` annotation per
finding (https://docs.github.com/actions/reference/workflow-commands-for-github-actions).

The CLI appends the Markdown summary to ``$GITHUB_STEP_SUMMARY`` when that variable is set.
"""

from __future__ import annotations

from mlfail.quality import QualityReport

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(s: str) -> str:
    """Escape a workflow command's message (``%``, CR, LF)."""
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    """Escape a workflow command property value (additionally ``:`` and ``,``)."""
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def quality_github(report: QualityReport) -> str:
    lines = []
    for f in report.findings:
        title = escape_property(f"mlfail quality: {f.rule} ({f.feature})")
        lines.append(f"::{COMMAND[f.severity]} title={title}::{escape_data(f.message)}")
    return "".join(line + "\n" for line in lines)
