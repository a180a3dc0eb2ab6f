"""Human rendering with Rich: tables sorted worst first, inline bars of the bin shares."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlfail.psi import FeaturePsi
from mlfail.report.model import PsiReport
from mlfail.report.roles_render import roles_human
from mlfail.report.tables import _num, _p, _rate, slice_label

BLOCKS = " ▁▂▃▄▅▆▇█"
STATUS_STYLE = {"drifted": "bold red", "watch": "yellow", "ok": "green", "too_few_rows": "dim"}


def bars(ref: list[float], live: list[float]) -> Text:
    """Two aligned sparklines of reference and live bin shares, on one scale."""
    top = max([*ref, *live, 1e-12])

    def line(vals: list[float]) -> str:
        return "".join(BLOCKS[min(8, round(8 * v / top))] if v > 0 else "·" for v in vals)

    t = Text()
    t.append("ref  ", style="dim")
    t.append(line(ref), style="cyan")
    t.append("\nlive ", style="dim")
    t.append(line(live), style="magenta")
    return t


def status_text(r: FeaturePsi) -> Text:
    label = r.status.replace("_", " ")
    if r.status in ("watch", "ok") and r.psi is not None and not r.significant and r.psi >= 0.1:
        label += " (n.s.)"
    return Text(label, style=STATUS_STYLE[r.status])


def _bin_shares(r: FeaturePsi) -> tuple[list[float], list[float]]:
    return [b.reference_share for b in r.bins], [b.live_share for b in r.bins]


def psi_table(records: list[FeaturePsi], *, title: str, show_slice: bool, bars_for: int) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold", expand=False)
    t.add_column("feature", no_wrap=True)
    if show_slice:
        t.add_column("slice", no_wrap=True)
    t.add_column("kind", no_wrap=True)
    t.add_column("PSI", justify="right", no_wrap=True)
    t.add_column("p", justify="right", no_wrap=True)
    t.add_column("crit.", justify="right", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("null ref→live", justify="right", no_wrap=True)
    t.add_column("bins: ref vs live", no_wrap=True)
    for i, r in enumerate(records):
        ref, live = _bin_shares(r)
        cells: list[Text | str] = [Text(r.feature, style="bold")]
        if show_slice:
            cells.append(Text(slice_label(r.slice)))
        cells += [
            r.kind[:3],
            _num(r.psi, ".3f"),
            _p(r.p_value),
            _num(r.critical_psi, ".3f"),
            status_text(r),
            f"{_rate(r.reference_null_rate)}→{_rate(r.live_null_rate)}",
            bars(ref, live) if i < bars_for and r.status in ("drifted", "watch") else "",
        ]
        t.add_row(*cells)
    return t


def render_psi(report: PsiReport, console: Console, *, max_slice_rows: int = 30) -> None:
    s = report.settings
    header = Text.assemble(
        ("PSI audit  ", "bold"),
        ("live ", "dim"),
        (report.live, ""),
        ("  vs  reference ", "dim"),
        (report.reference, ""),
    )
    console.print(header)
    roles_human(report.roles, console)
    glob = report.global_records()
    console.print(psi_table(glob, title="All rows", show_slice=False, bars_for=10))
    if report.by:
        worst = [r for r in report.slice_records() if r.status in ("drifted", "watch")]
        shown = worst[:max_slice_rows]
        title = f"By {', '.join(report.by)} — slices at watch or worse, worst first"
        if shown:
            console.print(psi_table(shown, title=title, show_slice=True, bars_for=5))
            if len(worst) > len(shown):
                console.print(
                    f"[dim]… {len(worst) - len(shown)} more slice rows at watch or worse "
                    "(--format json or csv lists all)[/dim]"
                )
        else:
            console.print(
                f"[green]By {escape(', '.join(report.by))}: no slice at watch or worse.[/green]"
            )
    n_tests = len(report.features)
    summary = Group(
        Text.assemble(
            (f"{report.count('drifted')} drifted", STATUS_STYLE["drifted"]),
            ", ",
            (f"{report.count('watch')} watch", STATUS_STYLE["watch"]),
            ", ",
            (f"{report.count('ok')} ok", STATUS_STYLE["ok"]),
            ", ",
            (f"{report.count('too_few_rows')} too few rows", ""),
            (
                f"  — drifted = PSI ≥ {s['threshold']} and significant after Benjamini–Hochberg "
                f"at α={s['alpha']} across {n_tests} tests; watch = PSI ≥ {s['watch']}; "
                "crit. = PSI that noise alone reaches with p=α at these row counts",
                "dim",
            ),
        )
    )
    console.print(summary)
    if "quantile_relative_error" in s:
        console.print(
            f"[dim]counted by {escape(str(s.get('engine')))}; numeric bin edges from "
            f"{escape(str(s.get('quantiles')))} with relative error "
            f"{s['quantile_relative_error']:g}: each edge's rank is within "
            f"±{s['quantile_relative_error']:g}·N of the exact k/B quantile's[/dim]"
        )
    elif "engine" in s:
        console.print(f"[dim]counted by {escape(str(s['engine']))}[/dim]")
    if report.skipped:
        console.print(f"[dim]not profiled: {escape('; '.join(report.skipped))}[/dim]")
