"""Inline SVG charts for the HTML report: drawing only, every number comes from the model.

All text is HTML-escaped; no scripts, no external resources.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence

REF_COLOR = "#4c78a8"
LIVE_COLOR = "#e45756"
ONSET_COLOR = "#b8860b"
EVENT_COLOR = "#6a3d9a"


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
    pad_l, pad_b, pad_t = 40, 46, 22
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    slot = plot_w / n
    bw = max(1.0, slot * 0.38)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}">',
        f'<text x="{pad_l}" y="14" font-size="12" font-weight="bold">{_e(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" y2="{pad_t + plot_h}" '
        'stroke="#999"/>',
        f'<text x="4" y="{pad_t + 8}" font-size="10">{100 * top:.0f}%</text>',
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
        f'<rect x="{width - 150}" y="4" width="10" height="10" fill="{REF_COLOR}"/>'
        f'<text x="{width - 136}" y="13" font-size="10">reference</text>'
        f'<rect x="{width - 80}" y="4" width="10" height="10" fill="{LIVE_COLOR}"/>'
        f'<text x="{width - 66}" y="13" font-size="10">live</text>'
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
) -> str:
    """A daily series with the onset (dashed) and change events (dotted) marked."""
    pts = [(d, v) for d, v in zip(dates, values, strict=True) if v is not None and math.isfinite(v)]
    pad_l, pad_b, pad_t = 44, 24, 22
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}">',
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
    for d, label in events:
        if d0 <= d <= d1:
            parts.append(
                f'<line x1="{x(d):.1f}" y1="{pad_t}" x2="{x(d):.1f}" '
                f'y2="{pad_t + plot_h}" stroke="{EVENT_COLOR}" stroke-dasharray="1,3">'
                f"<title>{_e(label)}</title></line>"
                f'<text x="{x(d) + 2:.1f}" y="{pad_t + 10}" font-size="9" '
                f'fill="{EVENT_COLOR}">{_e(label)}</text>'
            )
    if onset is not None and d0 <= onset <= d1:
        parts.append(
            f'<line x1="{x(onset):.1f}" y1="{pad_t}" x2="{x(onset):.1f}" '
            f'y2="{pad_t + plot_h}" stroke="{ONSET_COLOR}" stroke-dasharray="5,3"/>'
            f'<text x="{x(onset) + 2:.1f}" y="{pad_t + plot_h - 4}" font-size="9" '
            f'fill="{ONSET_COLOR}">onset {_e(onset)}</text>'
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v) in enumerate(pts)
    )
    parts.append(f'<path d="{path}" fill="none" stroke="{LIVE_COLOR}" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)
