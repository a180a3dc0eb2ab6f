"""Renderings of ``mlfail check owners``: human (Rich) and JSON."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlfail._version import __version__
from mlfail.owners_check import OwnersReport
from mlfail.report.jsonout import dumps


def owners_json(report: OwnersReport) -> str:
    return dumps(
        {
            "schema_version": report.schema_version,
            "mlfail_version": __version__,
            "owners": report.owners,
            "reference": report.reference,
            "ready": not report.gaps,
            "gaps": report.gaps,
            "features": report.features,
            "layers": report.layers,
        }
    )


def render_owners(report: OwnersReport, console: Console) -> None:
    against = f"  for  {report.reference}" if report.reference else ""
    console.print(Text.assemble(("Ownership  ", "bold"), (report.owners + against, "")))
    if report.features:
        t = Table(header_style="bold", title="Who is paged for each feature", title_justify="left")
        for c in ("feature", "component", "owner", "pager"):
            t.add_column(c, no_wrap=True)
        for f in report.features:
            t.add_row(
                Text(f.feature, style="bold"),
                f.component or Text("none", style="bold red"),
                f.owner or Text("none", style="red"),
                f.pager or Text("none", style="red"),
            )
        console.print(t)
    lt = Table(header_style="bold", title="Monitoring layers", title_justify="left")
    lt.add_column("layer", no_wrap=True)
    lt.add_column("owner", no_wrap=True)
    lt.add_column("pager", no_wrap=True)
    for layer, who in report.layers.items():
        lt.add_row(layer, who["owner"] or Text("none", style="bold red"), who["pager"] or Text("—"))
    console.print(lt)
    if report.gaps:
        console.print(f"[bold red]{len(report.gaps)} gap(s): not ready to deploy[/bold red]")
        for g in report.gaps:
            console.print(f"  [red]{g.kind}[/red]  {escape(g.message)}")
    else:
        console.print("[green]Every feature and layer has an owner and a pager.[/green]")
