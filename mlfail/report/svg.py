"""Inline SVG charts for the HTML report: drawing only, every number comes from the model.

All text is HTML-escaped; no scripts, no external resources.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence

from mlfail.report.layers import LayeredTimeline, SeriesView, SliceBars, label_rows

REF_COLOR = "#4c78a8"
LIVE_COLOR = "#e45756"
ONSET_COLOR = "#b8860b"
EVENT_COLOR = "#8b5cc7"  # reads on white and on a dark background


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def bars_svg(
    labels: Sequence[str],
    ref: Sequence[float],
    live: Sequence[float],
    *,
    title: str,
    width: int = 560,
    height: int = 200,
) -> str:
    """Grouped bars of reference vs live bin shares."""
    n = max(len(labels), 1)
    top = max([*ref, *live, 1e-9])
    pad_l, pad_b, pad_t = 40, 46, 34
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    slot = plot_w / n
    bw = max(1.0, slot * 0.38)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}" font-family="sans-serif" fill="currentColor">',
        f'<text x="{pad_l}" y="14" font-size="12" font-weight="bold">{_e(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" y2="{pad_t + plot_h}" '
        'stroke="#999"/>',
        f'<text x="4" y="{pad_t + 8}" font-size="10">{100 * top:.0f}%</text>',
        f'<text x="4" y="{pad_t + plot_h}" font-size="10">0%</text>',
        f'<text x="10" y="{pad_t + plot_h / 2 + 20:.0f}" font-size="9" '
        f'transform="rotate(-90 10 {pad_t + plot_h / 2 + 20:.0f})">share of rows</text>',
        f'<text x="{width - 8}" y="{height - 2}" font-size="9" text-anchor="end">bin</text>',
    ]
    for i, lab in enumerate(labels):
        x0 = pad_l + i * slot + slot * 0.1
        for j, (v, color) in enumerate(((ref[i], REF_COLOR), (live[i], LIVE_COLOR))):
            h = plot_h * (v / top)
            parts.append(
                f'<rect x="{x0 + j * bw:.1f}" y="{pad_t + plot_h - h:.1f}" width="{bw:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{_e(lab)}: '
                f"{'reference' if j == 0 else 'live'} {100 * v:.1f}%</title></rect>"
            )
        short = lab if len(lab) <= 12 else lab[:11] + "…"
        parts.append(
            f'<text x="{x0 + bw:.1f}" y="{pad_t + plot_h + 12}" font-size="9" '
            f'text-anchor="end" transform="rotate(-35 {x0 + bw:.1f} {pad_t + plot_h + 12})">'
            f"{_e(short)}</text>"
        )
    parts.append(
        f'<rect x="{width - 150}" y="19" width="10" height="10" fill="{REF_COLOR}"/>'
        f'<text x="{width - 136}" y="28" font-size="10">reference</text>'
        f'<rect x="{width - 80}" y="19" width="10" height="10" fill="{LIVE_COLOR}"/>'
        f'<text x="{width - 66}" y="28" font-size="10">live</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def line_svg(
    dates: Sequence[dt.date],
    values: Sequence[float | None],
    *,
    title: str,
    onset: dt.date | None = None,
    events: Sequence[tuple[dt.date, str]] = (),
    width: int = 560,
    height: int = 180,
    threshold: float | None = None,
    y_label: str = "PSI",
) -> str:
    """A daily series with the onset (dashed line and ▼) and change events (dotted) marked."""
    pts = [(d, v) for d, v in zip(dates, values, strict=True) if v is not None and math.isfinite(v)]
    pad_l, pad_b, pad_t = 44, 24, 22
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}" font-family="sans-serif" fill="currentColor">',
        f'<text x="{pad_l}" y="14" font-size="12" font-weight="bold">{_e(title)}</text>',
    ]
    if not pts or not dates:
        parts.append('<text x="50" y="60" font-size="11">no data</text></svg>')
        return "".join(parts)
    d0, d1 = dates[0], dates[-1]
    span = max((d1 - d0).days, 1)
    vmax = max([v for _, v in pts] + ([threshold] if threshold else []))
    vmin = min(0.0, min(v for _, v in pts))
    rng = (vmax - vmin) or 1.0

    def x(d: dt.date) -> float:
        return pad_l + plot_w * (d - d0).days / span

    def y(v: float) -> float:
        return pad_t + plot_h * (1 - (v - vmin) / rng)

    parts.append(
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" '
        f'y2="{pad_t + plot_h}" stroke="#999"/>'
    )
    parts.append(f'<text x="2" y="{pad_t + 8}" font-size="10">{vmax:.3g}</text>')
    parts.append(f'<text x="2" y="{pad_t + plot_h / 2 + 4:.0f}" font-size="9">{_e(y_label)}</text>')
    parts.append(
        f'<text x="{pad_l + plot_w / 2:.0f}" y="{height - 6}" font-size="9" '
        f'text-anchor="middle">day</text>'
    )
    parts.append(f'<text x="2" y="{pad_t + plot_h}" font-size="10">{vmin:.3g}</text>')
    parts.append(f'<text x="{pad_l}" y="{height - 6}" font-size="10">{_e(d0)}</text>')
    parts.append(
        f'<text x="{width - 8}" y="{height - 6}" font-size="10" text-anchor="end">{_e(d1)}</text>'
    )
    if threshold is not None:
        parts.append(
            f'<line x1="{pad_l}" y1="{y(threshold):.1f}" x2="{width - 8}" '
            f'y2="{y(threshold):.1f}" stroke="#ccc" stroke-dasharray="2,2"/>'
        )
    inside = sorted((d, label) for d, label in events if d0 <= d <= d1)
    rows = label_rows([x(d) for d, _ in inside], [lab for _, lab in inside], char_w=5.0)
    for (d, label), row in zip(inside, rows, strict=True):
        parts.append(
            f'<line x1="{x(d):.1f}" y1="{pad_t}" x2="{x(d):.1f}" '
            f'y2="{pad_t + plot_h}" stroke="{EVENT_COLOR}" stroke-dasharray="1,3">'
            f"<title>{_e(label)}</title></line>"
            f'<text x="{x(d) + 2:.1f}" y="{pad_t + 10 + 10 * row}" font-size="9" '
            f'fill="{EVENT_COLOR}">{_e(label)}</text>'
        )
    if onset is not None and d0 <= onset <= d1:
        parts.append(
            f'<line x1="{x(onset):.1f}" y1="{pad_t}" x2="{x(onset):.1f}" '
            f'y2="{pad_t + plot_h}" stroke="{ONSET_COLOR}" stroke-dasharray="5,3"/>'
            f'<path d="M{x(onset) - 5:.1f},{pad_t:.1f} L{x(onset) + 5:.1f},{pad_t:.1f} '
            f'L{x(onset):.1f},{pad_t + 8:.1f} Z" fill="{ONSET_COLOR}" stroke="currentColor" '
            'stroke-width="0.8"/>'
            f'<text x="{x(onset) + 2:.1f}" y="{pad_t + plot_h - 4}" font-size="9" '
            f'fill="{ONSET_COLOR}">▼ onset {_e(onset)}</text>'
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v) in enumerate(pts)
    )
    parts.append(f'<path d="{path}" fill="none" stroke="{LIVE_COLOR}" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


# ---- the layered timeline and the slice bars (coordinates come from report.layers) -------

LAYER_COLOR = {
    "infra": "#2a9d8f",
    "pipeline": "#9c6ade",
    "model": "#e07a1f",
    "business": "#3a7bd5",
}


def layers_svg(v: LayeredTimeline) -> str:
    """The layers on one time axis: one panel per layer, one strip per series, the onset
    marked with a dashed line and a triangle (a shape, not only a colour), change events as
    vertical lines labelled with their ids (the top hypothesis's event solid and starred)."""
    p = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="layers" width="{v.width}" '
        f'height="{v.height}" viewBox="0 0 {v.width} {v.height}" role="img" '
        f'aria-label="{_e(v.title)}" font-family="sans-serif" fill="currentColor">',
        f'<text x="4" y="14" font-size="13" font-weight="bold">{_e(v.title)}</text>',
    ]
    for lay in v.layers:
        color = LAYER_COLOR.get(lay.layer, "#888")
        p.append(f'<g class="layer" data-layer="{_e(lay.layer)}">')
        if lay.first_fired:
            p.append(
                f'<rect class="first-fired" x="1" y="{lay.y0:.1f}" width="{v.width - 2}" '
                f'height="{lay.y1 - lay.y0:.1f}" fill="none" stroke="{color}" '
                'stroke-width="2.5" rx="4"/>'
            )
        p.append(
            f'<rect x="4" y="{lay.y0 + 5:.1f}" width="8" height="10" fill="{color}"/>'
            f'<text x="16" y="{lay.y0 + 14:.1f}" font-size="12" font-weight="bold">'
            f"{_e(lay.heading)}</text>"
        )
        for s in lay.series:
            p.append(_strip_svg(v, s, color))
        p.append("</g>")
    p.append(_events_svg(v))
    p.append(_axis_svg(v))
    p.append("</svg>")
    return "".join(p)


def _day(w: object) -> str:
    return w.isoformat()[:16].replace("T", " ") if hasattr(w, "isoformat") else str(w)


def _strip_svg(v: LayeredTimeline, s: SeriesView, color: str) -> str:
    src = "" if s.counts else " (live log; not used for first-fired)"
    unit = f" [{s.unit}]" if s.unit else ""
    p = [
        f'<g class="series" data-series="{_e(s.label)}">',
        f'<rect x="{v.plot_x0}" y="{s.y0:.1f}" width="{v.plot_x1 - v.plot_x0:.1f}" '
        f'height="{s.y1 - s.y0:.1f}" fill="currentColor" fill-opacity="0.04"/>',
        f'<text x="16" y="{s.y0 + 12:.1f}" font-size="11">{_e(s.label)}{_e(unit)}'
        f"<title>{_e(s.label)}{_e(unit)}{_e(src)}</title></text>",
        f'<text x="16" y="{s.y1 - 2:.1f}" font-size="9" fill-opacity="0.7">'
        f"{_e(s.low)} – {_e(s.high)}{'' if s.counts else ' · live*'}</text>",
    ]
    for run in s.points:
        d = " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(run))
        p.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6"/>')
    if s.onset_xy is not None:
        x, y = s.onset_xy
        p.append(
            f'<g class="onset"><line x1="{x}" y1="{s.y0:.1f}" x2="{x}" y2="{s.y1:.1f}" '
            'stroke="currentColor" stroke-dasharray="4,2"/>'
            f'<path d="M{x - 5:.1f},{y - 9:.1f} L{x + 5:.1f},{y - 9:.1f} L{x},{y - 1:.1f} Z" '
            f'fill="{ONSET_COLOR}" stroke="currentColor" stroke-width="0.8"/>'
            f"<title>onset {_e(_day(s.onset))}</title></g>"
        )
    p.append("</g>")
    return "".join(p)


def _events_svg(v: LayeredTimeline) -> str:
    p = ['<g class="events">']
    for e in v.events:
        ly = 24 + 10 * e.row  # later rows lower: lines pass under earlier labels
        width = "2" if e.emphasised else "1"
        dash = "" if e.emphasised else ' stroke-dasharray="2,3"'
        label = ("★ " if e.emphasised else "") + e.id
        bold = ' font-weight="bold"' if e.emphasised else ""
        p.append(
            f'<g class="event" data-event="{_e(e.id)}"><line x1="{e.x:.1f}" y1="{ly + 2}" '
            f'x2="{e.x:.1f}" y2="{v.axis_y:.1f}" stroke="{EVENT_COLOR}" stroke-width="{width}"'
            f"{dash}/>"
            f'<text x="{e.x + 2:.1f}" y="{ly}" font-size="10" fill="{EVENT_COLOR}"'
            f"{bold}>{_e(label)}</text>"
            f"<title>{_e(e.label)} ({_e(_day(e.when))})</title></g>"
        )
    p.append("</g>")
    return "".join(p)


def _axis_svg(v: LayeredTimeline) -> str:
    y = v.axis_y
    p = [
        f'<line x1="{v.plot_x0}" y1="{y:.1f}" x2="{v.plot_x1}" y2="{y:.1f}" stroke="currentColor"/>'
    ]
    for t in v.ticks:
        p.append(
            f'<line x1="{t.x:.1f}" y1="{y:.1f}" x2="{t.x:.1f}" y2="{y + 4:.1f}" '
            'stroke="currentColor"/>'
            f'<text x="{t.x:.1f}" y="{y + 15:.1f}" font-size="10" text-anchor="{t.anchor}">'
            f"{_e(t.label)}</text>"
        )
    p.append(
        f'<text x="{(v.plot_x0 + v.plot_x1) / 2:.1f}" y="{y + 29:.1f}" font-size="10" '
        f'text-anchor="middle">{_e(v.x_label)}</text>'
    )
    return "".join(p)


def slice_bars_svg(v: SliceBars) -> str:
    """Horizontal bars: each top slice's metric (live) against its own baseline."""
    p = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{v.width}" height="{v.height}" '
        f'role="img" aria-label="{_e(v.title)}" font-family="sans-serif" fill="currentColor">',
        f'<text x="4" y="14" font-size="12" font-weight="bold">{_e(v.title)}</text>',
        f'<rect x="{v.x0}" y="21" width="10" height="8" fill="{REF_COLOR}"/>'
        f'<text x="{v.x0 + 14}" y="29" font-size="10">baseline (upper bar)</text>'
        f'<rect x="{v.x0 + 140}" y="21" width="10" height="8" fill="{LIVE_COLOR}"/>'
        f'<text x="{v.x0 + 154}" y="29" font-size="10">live (lower bar)</text>',
    ]
    for b in v.bars:
        p.append(
            f'<text x="4" y="{b.y + 13:.1f}" font-size="10">{_e(b.label)}'
            f"{' ▲' if b.degraded else ''}<title>{_e(b.label)}</title></text>"
            f'<rect x="{v.x0}" y="{b.y:.1f}" width="{b.base_w:.1f}" height="7" '
            f'fill="{REF_COLOR}"><title>baseline {_e(b.base_text)}</title></rect>'
            f'<rect x="{v.x0}" y="{b.y + 8:.1f}" width="{b.live_w:.1f}" height="7" '
            f'fill="{LIVE_COLOR}"><title>live {_e(b.live_text)}</title></rect>'
            f'<text x="{v.x0 + max(b.base_w, b.live_w) + 4:.1f}" y="{b.y + 13:.1f}" '
            f'font-size="10">{_e(b.live_text)} vs {_e(b.base_text)}</text>'
        )
    p.append(
        f'<line x1="{v.x0}" y1="{v.axis_y:.1f}" x2="{v.x1}" y2="{v.axis_y:.1f}" '
        'stroke="currentColor"/>'
        f'<text x="{v.x0}" y="{v.axis_y + 12:.1f}" font-size="10">0</text>'
        f'<text x="{v.x1}" y="{v.axis_y + 12:.1f}" font-size="10" text-anchor="end">'
        f"{_e(v.axis_max)}</text>"
        f'<text x="{(v.x0 + v.x1) / 2:.1f}" y="{v.axis_y + 24:.1f}" font-size="10" '
        f'text-anchor="middle">{_e(v.x_label)}</text></svg>'
    )
    return "".join(p)
