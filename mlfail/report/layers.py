"""The layered timeline (design §6): infra → pipeline → model → business on one time axis.

This is the view model of the picture. It picks the series to draw from what the triage's
timeline report already carries, maps every point, onset and change event to pixel
coordinates, and hands :mod:`mlfail.report.svg` (drawing only) and the terminal / Markdown
renderers (text only) the same selection. Nothing here is a statistic: onsets, first-fired
layers and change events come from :class:`~mlfail.report.timeline_model.TimelineReport` and
the root-cause hypotheses.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mlfail.report.model import ChangeEvent
from mlfail.report.slices_model import SliceRecord
from mlfail.report.timeline_model import Series, TimelineReport, When
from mlfail.triage import slice_label

LAYER_ORDER = ("infra", "pipeline", "model", "business")
LAYER_TITLE = {
    "infra": "Infra",
    "pipeline": "Pipeline",
    "model": "Model",
    "business": "Business",
}
MAX_SERIES_PER_LAYER = 4

# geometry of the SVG (pixels)
WIDTH = 1040
LABEL_W = 230  # series name and value range, left of the plot
RIGHT_PAD = 16
TOP = 50  # room for the title and three rows of event labels
STRIP_H = 30  # one series
STRIP_GAP = 6
LAYER_HEAD = 20  # the layer's title line
LAYER_GAP = 10
AXIS_H = 34  # date ticks and the axis label


@dataclass(frozen=True)
class EventMark:
    """A change event on the shared axis."""

    id: str
    when: dt.datetime
    label: str  # id and description, for the tooltip
    x: float
    emphasised: bool  # the top hypothesis's change event
    row: int = 0  # which label row (labels of close events do not overlap)


@dataclass(frozen=True)
class SeriesView:
    label: str  # e.g. "accuracy" or "psi:amount"
    unit: str
    source: str  # metrics | live
    counts: bool  # used for first-fired
    low: str  # the formatted value range on this strip's own scale
    high: str
    y0: float  # the strip's top and bottom in pixels
    y1: float
    points: list[list[tuple[float, float]]]  # runs of consecutive finite points (gaps break)
    onset: When | None
    onset_xy: tuple[float, float] | None  # where the onset marker sits on the line
    values: list[float | None]  # on the shared axis's windows (None: no value that window)
    onset_index: int | None  # the onset's window on the shared axis


@dataclass(frozen=True)
class LayerView:
    layer: str
    title: str
    onset: When | None
    first_fired: bool
    y0: float  # the layer panel's top and bottom in pixels
    y1: float
    series: list[SeriesView]
    status: str | None = None  # infra: the infra check's green / anomalous
    heading: str = ""  # the panel's title line


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    anchor: str = "middle"  # start | middle | end (the ends stay inside the picture)


@dataclass
class LayeredTimeline:
    title: str
    width: int
    height: int
    plot_x0: float
    plot_x1: float
    axis_y: float
    x_label: str
    start: dt.datetime | None
    end: dt.datetime | None
    layers: list[LayerView]
    events: list[EventMark]
    ticks: list[Tick]
    first_fired: list[str]
    notes: list[str] = field(default_factory=list)

    def series(self) -> list[SeriesView]:
        return [s for lay in self.layers for s in lay.series]


@dataclass(frozen=True)
class ChangeEventInput:
    """What the view model needs of a change event (from the hypotheses' evidence)."""

    id: str
    ts: dt.datetime
    description: str | None
    top: bool


def label_rows(
    xs: Sequence[float], labels: Sequence[str], rows: int = 3, char_w: float = 6.0
) -> list[int]:
    """Layout only: a label row per x (sorted ascending) so that labels of close events do not
    overlap — the first row whose last label ends left of this x, else the row ending first."""
    ends = [-math.inf] * rows
    out = []
    for x, lab in zip(xs, labels, strict=True):
        free = [i for i in range(rows) if ends[i] + 4 <= x]
        i = free[0] if free else min(range(rows), key=lambda k: ends[k])
        ends[i] = x + 2 + char_w * len(lab)
        out.append(i)
    return out


def _as_dt(w: When) -> dt.datetime:
    if isinstance(w, dt.datetime):
        return w.replace(tzinfo=None)
    return dt.datetime.combine(w, dt.time())


def unit_of(metric: str) -> str:
    """The unit a series' name implies (the metrics file's naming; live series are known)."""
    m = metric.lower()
    if m.startswith("psi") or m.endswith("_psi") or m == "prediction_psi":
        return "PSI"
    if m.endswith("_pct"):
        return "%"
    if m.endswith("_ms"):
        return "ms"
    if m.endswith("_min"):
        return "min"
    if m.endswith(("_s", "_sec", "_seconds")):
        return "s"
    if "per_10k" in m:
        return "per 10k"
    if m.startswith(("rows", "count")) or m.endswith(("_rows", "_count")):
        return "rows"
    if m in ("accuracy", "auc") or m.endswith("_rate") or m.startswith("null_rate"):
        return "share"
    if m == "mae":
        return "abs. error"
    if m == "mean_score":
        return "score"
    return ""


def _fmt(v: float, unit: str) -> str:
    if unit == "share":
        return f"{100 * v:.1f}%"
    if unit == "rows":
        return f"{v:,.0f}"
    return f"{v:.3g}"


def pick_series(
    report: TimelineReport, limit: int = MAX_SERIES_PER_LAYER
) -> dict[str, list[Series]]:
    """Per layer, the series worth a strip: those with an onset first (the ones that count for
    first-fired before the live-log copies, larger change statistic first), then the metrics
    file's series, then live ones that count; a live series that repeats a metrics series of
    the same name is dropped; live per-feature series without an onset are left out (there is
    one per feature; the JSON has them all)."""
    out: dict[str, list[Series]] = {}
    for layer in LAYER_ORDER:
        cands = [s for s in report.series if s.layer == layer and s.values]
        metric_names = {s.name for s in cands if s.source == "metrics"}
        keep = [
            s
            for s in cands
            if not (s.source == "live" and s.name in metric_names)
            and not (s.source == "live" and s.feature is not None and s.onset is None)
        ]
        keep.sort(
            key=lambda s: (
                s.onset is None,
                not s.counts_for_first_fired,
                s.source != "metrics",
                -(s.statistic or 0.0),
            )
        )
        if keep:
            out[layer] = keep[:limit]
    return out


def change_events_of(hypotheses: Sequence[object]) -> list[ChangeEventInput]:
    """The change events the root cause tied to a hypothesis, once each; the top hypothesis's
    first (best-scored) event is the emphasised one."""
    seen: dict[str, ChangeEventInput] = {}
    for i, h in enumerate(hypotheses):
        evs = h.change_events()  # type: ignore[attr-defined]
        for j, e in enumerate(evs):
            if e.id not in seen:
                seen[e.id] = ChangeEventInput(e.id, e.ts, e.description, top=i == 0 and j == 0)
    return sorted(seen.values(), key=lambda e: e.ts)


def change_event_inputs(
    events: Sequence[ChangeEvent], hypotheses: Sequence[object] = ()
) -> list[ChangeEventInput]:
    """Every change event of ``--changes`` (those without a time are left out: they have no
    place on the axis); the top hypothesis's first (best-scored) event is emphasised. Without
    a changes list, the hypotheses' events (:func:`change_events_of`)."""
    if not events:
        return change_events_of(hypotheses)
    top_id = None
    if hypotheses:
        evs = hypotheses[0].change_events()  # type: ignore[attr-defined]
        top_id = evs[0].id if evs else None
    out = []
    for e in events:
        if e.ts is None:
            continue
        what = " · ".join(x for x in (e.kind, e.component, e.description) if x)
        if e.owner:
            what += f" (owner {e.owner})"
        out.append(ChangeEventInput(e.id, e.ts, what or None, top=e.id == top_id))
    return sorted(out, key=lambda e: e.ts)


def _axis(report: TimelineReport) -> tuple[dt.datetime, dt.datetime] | None:
    """From the first window's start to the last window's end (a change event during the
    last day is in range)."""
    starts = [_as_dt(w.start) for w in report.windows]
    ends = [_as_dt(w.end) for w in report.windows]
    for s in report.series:
        starts += [_as_dt(d) for d in s.dates]
    if not starts:
        return None
    return min(starts), max([*ends, max(starts)])


def _ticks(t0: dt.datetime, t1: dt.datetime, xs: Callable[[When], float], n: int = 6) -> list[Tick]:
    span = (t1 - t0).total_seconds()
    if span <= 0:
        return [Tick(xs(t0), t0.date().isoformat())]
    hourly = span < 3 * 86400
    out = []
    for i in range(n + 1):
        t = t0 + dt.timedelta(seconds=span * i / n)
        label = t.strftime("%m-%d %H:%M") if hourly else t.date().isoformat()
        out.append(Tick(xs(t), label, "start" if i == 0 else "end" if i == n else "middle"))
    return out


def build_layers(
    report: TimelineReport,
    events: Sequence[ChangeEventInput] = (),
    *,
    title: str = "Layers on one time axis",
    width: int = WIDTH,
) -> LayeredTimeline:
    """The layered picture of ``report``: one panel per layer that has a series, one strip
    per picked series on its own scale, every x on the shared axis."""
    picked = pick_series(report)
    span = _axis(report)
    x0, x1 = float(LABEL_W), float(width - RIGHT_PAD)
    if span is None:
        return LayeredTimeline(
            title, width, TOP + AXIS_H, x0, x1, float(TOP), "day", None, None, [], [], [],
            report.first_fired_layers, ["no windows"],
        )  # fmt: skip
    t0, t1 = span
    total = max((t1 - t0).total_seconds(), 1.0)

    def xs(w: When) -> float:
        return x0 + (x1 - x0) * (_as_dt(w) - t0).total_seconds() / total

    slots = {_as_dt(w.start): i for i, w in enumerate(report.windows)}
    y = float(TOP)
    layers: list[LayerView] = []
    for layer in LAYER_ORDER:
        if layer not in picked:
            continue
        top = y
        y += LAYER_HEAD
        strips = []
        for s in picked[layer]:
            strips.append(_strip(s, xs, y, y + STRIP_H, slots))
            y += STRIP_H + STRIP_GAP
        status = report.infra.status if layer == "infra" else None
        onset = report.layer_onsets.get(layer)
        fired = layer in report.first_fired_layers
        layers.append(
            LayerView(
                layer,
                LAYER_TITLE[layer],
                onset,
                fired,
                top,
                y,
                strips,
                status,
                _heading(LAYER_TITLE[layer], onset, status, fired, strips),
            )
        )
        y += LAYER_GAP
    inside = sorted((e for e in events if t0 <= _as_dt(e.ts) <= t1), key=lambda e: _as_dt(e.ts))
    rows = label_rows([xs(e.ts) for e in inside], [("★ " if e.top else "") + e.id for e in inside])
    marks = [
        EventMark(
            e.id,
            e.ts,
            f"{e.id}: {e.description}" if e.description else e.id,
            xs(e.ts),
            e.top,
            row,
        )
        for e, row in zip(inside, rows, strict=True)
    ]
    hourly = total < 3 * 86400
    return LayeredTimeline(
        title=title,
        width=width,
        height=int(y + AXIS_H),
        plot_x0=x0,
        plot_x1=x1,
        axis_y=y,
        x_label=f"{'hour' if hourly else 'day'} ({report.window} windows, UTC)",
        start=t0,
        end=t1,
        layers=layers,
        events=marks,
        ticks=_ticks(t0, t1, xs),
        first_fired=list(report.first_fired_layers),
    )


def _day(w: When) -> str:
    return w.strftime("%Y-%m-%d %H:%M") if isinstance(w, dt.datetime) else w.isoformat()


def _heading(
    title: str, onset: When | None, status: str | None, fired: bool, strips: list[SeriesView]
) -> str:
    """e.g. "Model — onset 2026-09-19  ◆ FIRED FIRST"; a layer whose onset comes only from a
    live-log series that does not count for first-fired says so."""
    if onset is not None:
        head = f"{title} — onset {_day(onset)}"
    else:
        live = [s for s in strips if s.onset is not None and not s.counts]
        head = f"{title} — no onset"
        if live:
            head += f" in the metrics file; live log: {live[0].label} moved {_day(live[0].onset)}"  # type: ignore[arg-type]
    if status:
        head += f" (infra {status})"
    return head + ("  ◆ FIRED FIRST" if fired else "")


def _strip(
    s: Series, xs: Callable[[When], float], y0: float, y1: float, slots: dict[dt.datetime, int]
) -> SeriesView:
    finite = [v for v in s.values if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    rng = (hi - lo) or 1.0
    pad = 3.0

    def ys(v: float) -> float:
        return y1 - pad - (y1 - y0 - 2 * pad) * ((v - lo) / rng if hi > lo else 0.5)

    runs: list[list[tuple[float, float]]] = [[]]
    onset_xy = None
    aligned: list[float | None] = [None] * len(slots)
    for d, v in zip(s.dates, s.values, strict=True):
        if v is None or not math.isfinite(v):
            if runs[-1]:
                runs.append([])
            continue
        pt = (round(xs(d), 1), round(ys(v), 1))
        runs[-1].append(pt)
        if _as_dt(d) in slots:
            aligned[slots[_as_dt(d)]] = v
        if s.onset is not None and d == s.onset:
            onset_xy = pt
    onset_index = slots.get(_as_dt(s.onset)) if s.onset is not None else None
    if s.onset is not None and onset_xy is None:
        onset_xy = (round(xs(s.onset), 1), round((y0 + y1) / 2, 1))
    unit = unit_of(s.metric)
    return SeriesView(
        label=s.name,
        unit=unit,
        source=s.source,
        counts=s.counts_for_first_fired,
        low=_fmt(lo, unit) if finite else "—",
        high=_fmt(hi, unit) if finite else "—",
        y0=y0,
        y1=y1,
        points=[r for r in runs if r],
        onset=s.onset,
        onset_xy=onset_xy,
        values=aligned,
        onset_index=onset_index,
    )


# ---- slice bars ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SliceBar:
    label: str
    y: float
    live_w: float
    base_w: float
    live_text: str
    base_text: str
    degraded: bool


@dataclass
class SliceBars:
    title: str
    width: int
    height: int
    x0: float
    x1: float
    axis_y: float
    axis_max: str
    x_label: str
    bars: list[SliceBar]


def build_slice_bars(
    slices: Sequence[SliceRecord], metric: str, *, limit: int = 8, width: int = 560
) -> SliceBars:
    """The top slices' metric (live) against each slice's own baseline, as horizontal bars on
    one scale from 0. ▲ marks a degraded slice (a shape, not only a colour)."""
    rows = [s for s in slices if s.live is not None or s.baseline is not None][:limit]
    unit = "share" if metric == "accuracy" else ""
    top = max([v for s in rows for v in (s.live, s.baseline) if v is not None] + [1e-12])
    if metric == "accuracy":
        top = max(top, 1.0) if top > 0.5 else top
    x0, x1 = 190.0, float(width - 110)
    bars = []
    y = 38.0
    for s in rows:
        live, base = s.live or 0.0, s.baseline or 0.0
        label = slice_label(s.slice)
        bars.append(
            SliceBar(
                label if len(label) <= 30 else label[:29] + "…",
                y,
                (x1 - x0) * live / top,
                (x1 - x0) * base / top,
                "—" if s.live is None else _fmt(s.live, unit),
                "—" if s.baseline is None else _fmt(s.baseline, unit),
                s.degraded,
            )
        )
        y += 20
    return SliceBars(
        title=f"Top slices: {metric} live vs the slice's own baseline (▲ degraded)",
        width=width,
        height=int(y + 30),
        x0=x0,
        x1=x1,
        axis_y=y,
        axis_max=_fmt(top, unit),
        x_label=f"{metric} ({'share of labelled rows' if unit else 'value'})",
        bars=bars,
    )
