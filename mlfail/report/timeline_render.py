"""Human rendering of the timeline: verdicts first, a compact per-window table, then
sparklines of the series with the onset marked."""

from __future__ import annotations

import datetime as dt
import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlfail.report.layers import LayeredTimeline
from mlfail.report.roles_render import roles_human
from mlfail.report.timeline_model import Series, TimelineReport, When, WindowStats

BLOCKS = "▁▂▃▄▅▆▇█"
INFRA_STYLE = {"green": "bold green", "anomalous": "bold red", "skipped": "dim"}
LAYER_STYLE = {"infra": "cyan", "pipeline": "magenta", "model": "yellow", "business": "blue"}
MAX_PIPELINE_SERIES = 6


def _when(w: When | None) -> str:
    if w is None:
        return "—"
    if isinstance(w, dt.datetime):
        return w.strftime("%Y-%m-%d %H:%M")
    return w.isoformat()


def sparkline(values: list[float | None], onset: int | None = None) -> Text:
    """One block per window on the series' own scale; "·" where there is no value; a red "┃"
    just before the onset window (visible in plain text too), which is drawn in red."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    t = Text()
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            ch = "·"
        elif hi == lo:
            ch = BLOCKS[3]
        else:
            ch = BLOCKS[min(len(BLOCKS) - 1, int((v - lo) / (hi - lo) * len(BLOCKS)))]
        if i == onset:
            t.append("┃", style="bold red")
        t.append(ch, style="bold red" if i == onset else "")
    return t


def _num(x: float | None, fmt: str = ".3g") -> str:
    return "—" if x is None else format(x, fmt)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _top_psi(w: WindowStats) -> str:
    vals = [(v, f) for f, v in w.psi.items() if v is not None]
    if not vals:
        return "—"
    v, f = max(vals)
    return f"{f} {v:.3f}"


def window_table(report: TimelineReport) -> Table:
    t = Table(
        title=f"Per window ({report.window})",
        title_justify="left",
        header_style="bold",
        expand=False,
    )
    t.add_column("window", no_wrap=True)
    t.add_column("rows", justify="right")
    if report.metric is not None:
        t.add_column("labelled", justify="right")
        t.add_column(report.metric, justify="right")
    t.add_column("mean score", justify="right")
    if report.reference is not None:
        t.add_column("pred. PSI", justify="right")
        t.add_column("largest feature PSI", no_wrap=True)
    onset_days = {
        s.onset for s in report.series if s.onset is not None and s.counts_for_first_fired
    }
    for w in report.windows:
        label = Text(_when(w.start), style="bold red" if w.start in onset_days else "")
        cells: list[str | Text] = [label, f"{w.rows:,}"]
        if report.metric is not None:
            cells.append(f"{w.labelled_rows or 0:,}")
            cells.append(_pct(w.metric) if report.metric == "accuracy" else _num(w.metric, ".4g"))
        cells.append(_num(w.mean_score, ".3f"))
        if report.reference is not None:
            cells += [_num(w.prediction_psi, ".3f"), _top_psi(w)]
        t.add_row(*cells)
    return t


def _shown_series(report: TimelineReport) -> list[Series]:
    shown: list[Series] = []
    pipeline_live = []
    for s in report.series:
        if s.source == "live" and s.layer == "pipeline":
            if s.onset is not None:
                pipeline_live.append(s)
            continue
        if s.source == "live" and not s.counts_for_first_fired and s.onset is None:
            continue
        shown.append(s)
    pipeline_live.sort(key=lambda s: -(s.statistic or 0))
    return shown + pipeline_live[:MAX_PIPELINE_SERIES]


def series_table(report: TimelineReport) -> Table:
    t = Table(
        title="Series (┃ marks the onset: the first window of the new level; · = no value)",
        title_justify="left",
        header_style="bold",
        expand=False,
    )
    t.add_column("layer", no_wrap=True)
    t.add_column("series", no_wrap=True)
    t.add_column("src", no_wrap=True)
    t.add_column("", no_wrap=True)
    t.add_column("onset", no_wrap=True)
    t.add_column("change", no_wrap=True)
    for s in _shown_series(report):
        idx = s.dates.index(s.onset) if s.onset is not None and s.onset in s.dates else None
        if s.onset is not None:
            arrow = "↑" if s.direction == "up" else "↓"
            change = f"{arrow} {_num(s.before)} → {_num(s.after)}"
        elif s.excursions:
            change = f"outside band on {len(s.excursions)} window(s)"
        else:
            change = f"flat ≈ {_num(s.baseline_median)}"
        t.add_row(
            Text(s.layer, style=LAYER_STYLE.get(s.layer, "")),
            s.name,
            Text(s.source if s.counts_for_first_fired else f"{s.source}*", style="dim"),
            sparkline(s.values, idx),
            Text(_when(s.onset), style="bold" if s.onset is not None else "dim"),
            change,
        )
    return t


def render_timeline(report: TimelineReport, console: Console) -> None:
    first = report.windows[0].start if report.windows else None
    last = report.windows[-1].start if report.windows else None
    head = Text.assemble(
        ("Timeline  ", "bold"),
        ("live ", "dim"),
        report.live,
        (f"  ({report.timestamp}, {report.window} windows, {_when(first)} → {_when(last)})", "dim"),
    )
    if report.reference:
        head.append("  vs  reference ", style="dim")
        head.append(report.reference)
    console.print(head)
    roles_human(report.roles, console)
    inf = report.infra
    console.print(
        Text.assemble(
            ("Infra: ", "bold"), (inf.status, INFRA_STYLE.get(inf.status, "")), f" — {inf.message}"
        )
    )
    ff = report.first_fired
    console.print(
        Text.assemble(
            ("First fired: ", "bold"),
            (ff or "nothing", "bold red" if ff else "green"),
            f" — {report.verdict}",
        )
    )
    parts = [f"{k} {_when(v)}" for k, v in report.layer_onsets.items()]
    console.print(Text("Layer onsets: " + ", ".join(parts), style="dim"))
    console.print(window_table(report))
    console.print(series_table(report))
    hidden = [
        s for s in report.series if s.source == "live" and s.layer == "pipeline" and s.onset is None
    ]
    console.print(
        "[dim]src live = derived from the live log; live* = not used for first-fired because "
        f"the metrics file has that layer. {len(hidden)} live pipeline series without an onset "
        "are not drawn (--format json has every series).[/dim]"
    )
    for n in report.notes:
        console.print(f"[dim]note: {escape(n)}[/dim]")


def layer_rows(view: LayeredTimeline) -> list[tuple[str, str, Text, str, bool]]:
    """Per layer of the layered view, its first series (the one with the onset when there is
    one): (layer, series, sparkline with ┃ before the onset window, onset text, fired first)."""
    rows = []
    for lay in view.layers:
        if not lay.series:
            continue
        s = lay.series[0]
        if lay.onset is not None:
            onset = f"onset {_when(lay.onset)}"
        elif s.onset is not None:
            onset = f"onset {_when(s.onset)} (live*: not counted)"
        elif lay.status:
            onset = lay.status
        else:
            onset = "no onset"
        rows.append(
            (lay.layer, s.label, sparkline(s.values, s.onset_index), onset, lay.first_fired)
        )
    return rows


def layer_sparklines(view: LayeredTimeline) -> Text:
    """One line per layer (:func:`layer_rows`), ◆ on the layer that fired first, then the
    change events. Plain text reads the same."""
    t = Text()
    rows = layer_rows(view)
    width = max([len(r[1]) for r in rows] + [6])
    for layer, label, spark, onset, fired in rows:
        if t:
            t.append("\n")
        t.append(f"{layer:<9}", style=LAYER_STYLE.get(layer, ""))
        t.append(f"{label:<{width}}  ", style="dim")
        t.append_text(spark)
        t.append(f"  {onset}", style="bold" if onset.startswith("onset") else "dim")
        if fired:
            t.append("  ◆ fired first", style="bold red")
    if view.events:
        t.append("\nchange events: ", style="dim")
        t.append(
            ", ".join(f"{'★ ' if e.emphasised else ''}{e.id} {_when(e.when)}" for e in view.events)
        )
    return t
