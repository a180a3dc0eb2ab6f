"""Time (design §6): per-window series, their onsets, which layer fired first, infra check.

Per window of the live log (``--window``: ``1d`` default, ``Nd``, ``Nh``, ``Nw``; windows start
at the first live day, or hour for hourly windows): rows, null rate per feature, PSI per
feature and of the prediction against the reference (one count table of the live log keyed by
window, compared with the reference's), mean score, and the label metric (accuracy or MAE,
AUC) where at least ``min_labelled`` rows carry a label — windows without labels are None,
never 0.

Series: live-derived (model: the label metric, prediction PSI, mean score; pipeline: every
feature's PSI and null rate) and, from ``--metrics`` (design §8), every
``(layer, metric, segment)`` averaged per window. Each gets a robust baseline (median and a
noise scale from differences, on the pre-onset part), the onset from
:func:`mlfail.changepoint.detect_onset` (with a noise floor where theory gives one: binomial
for accuracy and null rates, χ² for PSI) and its direction.

Which fired first: the earliest onset per layer. A layer's onset comes from its series in the
metrics file; the live-derived series stand in for the model and pipeline layers only when the
metrics file has no series of that layer. Layers whose onsets fall within one window of the
earliest are a tie.

Infra check: every infra series without an onset and with no point outside its band (robust
baseline ± ``band`` noise scales — the larger of the difference-based and the MAD-around-median
estimates — after removing the weekly rhythm) → green, "infra green, move
on"; otherwise anomalous; no infra series → skipped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from mlfail.changepoint import MAD_SCALE, Onset, deseasonalize, detect_onset, robust_sigma
from mlfail.config import Roles
from mlfail.engines import Engine
from mlfail.events import load_metrics
from mlfail.io import Source
from mlfail.owners import LAYERS
from mlfail.performance import Task
from mlfail.psi import psi_scale
from mlfail.reference import Reference
from mlfail.report.timeline_model import (
    DailyCounts,
    InfraCheck,
    Series,
    TimelineReport,
    When,
    WindowStats,
)
from mlfail.timeline_passes import DAY as DAY
from mlfail.timeline_passes import WIDX as WIDX
from mlfail.timeline_passes import TimelineSettings as TimelineSettings
from mlfail.timeline_passes import (
    _Log,
    _period,
    _when,
    choose_features,
    count_pass,
    label_pass,
    load_timeline_reference,
    open_live,
    summary_pass,
    window_grid,
)
from mlfail.timeline_passes import parse_window as parse_window
from mlfail.timeline_passes import window_key as window_key

# --------------------------------------------------------------------------- onsets


def analyse_series(
    s: Series,
    width: dt.timedelta,
    settings: TimelineSettings,
    *,
    min_sigma: float = 0.0,
    band: bool = False,
) -> Series:
    """Fill in the robust baseline, onset, direction (and, with ``band``, the excursions)."""
    vals = [None if v is None or not math.isfinite(v) else float(v) for v in s.values]
    period = _period(width)
    phase_dates = [d.date() if isinstance(d, dt.datetime) else d for d in s.dates]
    onset: Onset | None = detect_onset(
        vals,
        phase_dates if period == 7 else None,
        threshold=settings.onset_threshold,
        min_segment=settings.min_segment,
        period=period,
        min_sigma=min_sigma,
    )
    raw = np.array([np.nan if v is None else v for v in vals], dtype=float)
    keep = np.flatnonzero(np.isfinite(raw))
    if len(keep) == 0:
        return s
    x = raw[keep]
    if period == 7:
        phase = np.array([phase_dates[int(i)].weekday() for i in keep])
    else:
        phase = keep % max(period, 1)
    xs = deseasonalize(x, phase, period=period) if period > 1 else x
    base = xs if onset is None else xs[keep < onset.index]
    if len(base) == 0:
        base = xs
    med = float(np.median(base))
    # noise scale: the larger of the difference-based estimate (robust to slow drifts) and
    # the MAD around the median (stabler on ~30 points): either alone is too often small
    sigma = 0.0
    if len(base) >= 3:
        level = MAD_SCALE * float(np.median(np.abs(base - med)))
        sigma = max(robust_sigma(base, period=period), level)
    s.baseline_median, s.baseline_sigma = med, sigma
    if onset is not None:
        s.onset = s.dates[onset.index]
        s.direction = onset.direction
        s.before, s.after, s.delta = onset.before, onset.after, onset.delta
        s.statistic = onset.statistic
        s.alarm = s.dates[onset.alarm_index] if onset.alarm_index is not None else None
    if band:
        limit = settings.band * max(sigma, min_sigma)
        out = np.abs(xs - med) > limit if limit > 0 else np.abs(xs - med) > 0
        s.excursions = [s.dates[int(keep[i])] for i in np.flatnonzero(out)]
    return s


def first_fired(
    series: Sequence[Series], width: dt.timedelta
) -> tuple[str | None, list[str], dict[str, When | None], str]:
    """(first_fired, the layers tied first, each layer's onset, the sentence)."""
    onsets: dict[str, When | None] = dict.fromkeys(LAYERS)
    for s in series:
        if s.onset is None or not s.counts_for_first_fired:
            continue
        cur = onsets[s.layer]
        if cur is None or _dt(s.onset) < _dt(cur):
            onsets[s.layer] = s.onset
    moved = {k: v for k, v in onsets.items() if v is not None}
    if not moved:
        return None, [], onsets, "no layer moved: no series shows an onset"
    earliest = min(_dt(v) for v in moved.values())
    first = [k for k in LAYERS if k in moved and _dt(moved[k]) - earliest < width]
    when = _fmt(min(moved.values(), key=_dt))
    later = [k for k in LAYERS if k in moved and k not in first]
    after = ""
    if later:
        after = "; then " + ", ".join(f"{k} ({_fmt(moved[k])})" for k in later)
    if len(first) == 1:
        layer = first[0]
        sentence = {
            "business": "business metrics fired first; confirm the model is the source before "
            "investigating it",
            "model": "model metrics moved first",
            "pipeline": "pipeline metrics moved first: check the data pipeline before the model",
            "infra": "infra metrics moved first: check serving and infrastructure before the model",
        }[layer]
        return layer, first, onsets, f"{sentence} ({when}){after}"
    sentence = " and ".join(first) + f" metrics moved in the same window ({when})"
    if "business" in first and "model" in first:
        sentence += "; confirm the model is the source before investigating it"
    return "tie", first, onsets, sentence + after


def _dt(w: When | None) -> dt.datetime:
    assert w is not None
    return w if isinstance(w, dt.datetime) else dt.datetime.combine(w, dt.time())


def _fmt(w: When | None) -> str:
    return "" if w is None else w.isoformat()


def infra_check(series: Sequence[Series]) -> InfraCheck:
    infra = [s for s in series if s.layer == "infra" and s.source == "metrics"]
    if not infra:
        return InfraCheck("skipped", "no infra series (give --metrics with layer=infra rows)")
    bad = [s for s in infra if s.onset is not None or s.excursions]
    if not bad:
        return InfraCheck(
            "green",
            f"infra green, move on: {len(infra)} infra series within their baseline band",
        )
    parts = []
    for s in bad:
        if s.onset is not None:
            parts.append(
                f"{s.name} {s.direction} from {_fmt(s.onset)} ({_num(s.before)} → {_num(s.after)})"
            )
        else:
            parts.append(
                f"{s.name} outside its band on {', '.join(_fmt(d) for d in s.excursions[:3])}"
            )
    onsets = [s.onset for s in bad if s.onset is not None]
    return InfraCheck(
        "anomalous",
        "infra anomalous: " + "; ".join(parts),
        anomalous=[s.name for s in bad],
        onset=min(onsets, key=_dt) if onsets else None,
    )


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


# --------------------------------------------------------------------------- metrics file


def metric_series(metrics: pl.DataFrame, start: dt.datetime, width: dt.timedelta) -> list[Series]:
    """Every (layer, metric, segment) of a loaded metrics file, averaged per window on the
    live log's window grid (windows before the live log are kept: more baseline)."""
    if metrics.height == 0:
        return []
    df = (
        metrics.drop_nulls("ts")
        .with_columns(window_key(pl.col("ts"), start, width))
        .group_by(["layer", "metric", "segment", WIDX])
        .agg(pl.col("value").drop_nans().mean())
        .sort(["layer", "metric", "segment", WIDX], nulls_last=True)
    )
    out = []
    order = {k: i for i, k in enumerate(LAYERS)}
    for (layer, metric, segment), part in df.group_by(
        ["layer", "metric", "segment"], maintain_order=True
    ):
        lo, hi = int(part[WIDX].min()), int(part[WIDX].max())  # type: ignore[arg-type]
        vals: list[float | None] = [None] * (hi - lo + 1)
        for w, v in zip(part[WIDX].to_list(), part["value"].to_list(), strict=True):
            vals[w - lo] = v
        dates = [_when(start + (lo + i) * width, width) for i in range(hi - lo + 1)]
        out.append(
            Series(
                layer=str(layer),
                metric=str(metric),
                source="metrics",
                segment=None if segment is None else str(segment),
                dates=dates,
                values=vals,
            )
        )
    out.sort(key=lambda s: (order.get(s.layer, 9), s.metric, s.segment or ""))
    return out


# --------------------------------------------------------------------------- the entry point


def build_timeline(
    live: str | Source,
    *,
    roles: Roles,
    reference: str | Source | Reference | None = None,
    baseline: str | None = None,
    metrics: str | Path | pl.DataFrame | None = None,
    window: str = "1d",
    task: Task | None = None,
    threshold: float = 0.5,
    settings: TimelineSettings | None = None,
    progress: bool | None = None,
    engine: Engine | str | None = None,
) -> TimelineReport:
    """Per-window series of the live log (and the metrics file), onsets, first-fired, infra.

    ``engine`` (``"polars"``, the default, or ``"spark"``, or an engine object) computes every
    per-window table: the summary (rows, missing values, mean score), the label metrics and
    the count tables; everything after them is the same code for every engine. The Spark
    engine keys windows by the UTC day of the timestamp, so it takes daily windows only."""
    settings = settings or TimelineSettings()
    t = open_live(live, roles, window, engine, progress)
    roles = load_timeline_reference(t, roles, reference, baseline, progress)
    window_grid(t)
    choose_features(t, roles)
    summary_pass(t, roles.prediction)
    label_pass(t, roles, task, threshold, settings)
    count_pass(t, roles.prediction)
    windows = _windows(t)
    live_series = _live_series(t, [w.start for w in windows])
    file_series, metrics_name = _file_series(t, metrics)

    file_layers = {s.layer for s in file_series}
    series: list[Series] = []
    for fs in file_series:
        series.append(analyse_series(fs, t.width, settings, band=fs.layer == "infra"))
    for ls, noise in live_series:
        ls.counts_for_first_fired = ls.layer not in file_layers
        series.append(analyse_series(ls, t.width, settings, min_sigma=noise))

    ff, ff_layers, layer_onsets, sentence = first_fired(series, t.width)
    tspec, ref = t.tspec, t.ref
    return TimelineReport(
        live=t.live_src.spec,
        reference=ref.name if ref is not None else None,
        metrics=metrics_name,
        timestamp=t.ts,
        window=str(window).strip(),
        metric=tspec.metric if tspec is not None else None,
        windows=windows,
        series=series,
        first_fired=ff,
        first_fired_layers=ff_layers,
        layer_onsets=layer_onsets,
        verdict=sentence,
        infra=infra_check(series),
        settings={
            "onset_threshold": settings.onset_threshold,
            "min_segment": settings.min_segment,
            "min_labelled": settings.min_labelled,
            "band": settings.band,
            "threshold": tspec.threshold if tspec is not None else threshold,
            "start": t.start,
        },
        notes=t.notes,
        warnings=t.warnings,
        roles=roles.assignment,
        _daily_counts=_daily_counts(t),
    )


def _daily_counts(t: _Log) -> DailyCounts | None:
    """Pass 3's table for triage's later steps, when its windows are days from midnight."""
    if t.live_table is None or not t.on_polars or t.width != DAY:
        return None
    if t.start != dt.datetime.combine(t.start.date(), dt.time()):
        return None
    return DailyCounts(t.live_table, t.start.date(), tuple(s.feature for s in t.specs))


def _windows(t: _Log) -> list[WindowStats]:
    """One record per window from the arrays of the three passes."""
    rows, labelled, metric, auc, psi, nulls = t.rows, t.labelled, t.metric, t.auc, t.psi, t.nulls
    start, width, specs, features = t.start, t.width, t.specs, t.features
    windows: list[WindowStats] = []
    for w in range(t.n_windows):
        s = start + w * width
        windows.append(
            WindowStats(
                start=_when(s, width),
                end=_when(s + width, width),
                rows=int(rows[w]),
                labelled_rows=int(labelled[w]) if t.tspec is not None else None,
                metric=_f(metric[w]),
                auc=_f(auc[w]),
                mean_score=_f(t.mean_score[w]),
                prediction_psi=_f(t.pred_psi[w]),
                psi={sp.feature: _f(psi[k, w]) for k, sp in enumerate(specs)},
                null_rate={
                    f: (float(nulls[i, w] / rows[w]) if rows[w] else None)
                    for i, f in enumerate(features)
                },
            )
        )
    return windows


def _live_series(t: _Log, dates: list[When]) -> list[tuple[Series, float]]:
    """The live-derived series, each with its noise floor (binomial for accuracy and null
    rates, χ² for PSI; 0 where theory gives none)."""
    rows, labelled, metric, tspec, n_ref = t.rows, t.labelled, t.metric, t.tspec, t.n_ref
    pred_spec, pred_psi, mean_score = t.pred_spec, t.pred_psi, t.mean_score
    live_series: list[tuple[Series, float]] = []
    med_rows = float(np.median(rows[rows > 0])) if (rows > 0).any() else 0.0
    if tspec is not None:
        fin = metric[np.isfinite(metric)]
        floor: float = 0.0
        if tspec.metric == "accuracy" and len(fin) and (labelled > 0).any():
            acc = float(np.median(fin))
            floor = math.sqrt(max(acc * (1 - acc), 0) / float(np.median(labelled[labelled > 0])))
        live_series.append((_live(tspec.metric, "model", dates, metric), floor))
    if pred_spec is not None and np.isfinite(pred_psi).any():
        live_series.append(
            (
                _live("prediction_psi", "model", dates, pred_psi),
                _psi_noise(n_ref, med_rows, pred_spec.n_bins),
            )
        )
    if np.isfinite(mean_score).any():
        live_series.append((_live("mean_score", "model", dates, mean_score), 0.0))
    for k, spec in enumerate(t.specs):
        live_series.append(
            (
                _live(f"psi:{spec.feature}", "pipeline", dates, t.psi[k], feature=spec.feature),
                _psi_noise(n_ref, med_rows, spec.n_bins),
            )
        )
    for i, f in enumerate(t.features):
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(rows > 0, t.nulls[i] / rows, np.nan)
        finite = rate[np.isfinite(rate)]
        p = float(np.median(finite)) if len(finite) else 0.0
        floor = math.sqrt(p * (1 - p) / med_rows) if med_rows else 0.0
        live_series.append((_live(f"null_rate:{f}", "pipeline", dates, rate, feature=f), floor))
    return live_series


def _file_series(
    t: _Log, metrics: str | Path | pl.DataFrame | None
) -> tuple[list[Series], str | None]:
    """The series of the metrics file (design §8) on the live windows, and its name."""
    file_series: list[Series] = []
    metrics_name: str | None = None
    if metrics is not None:
        if isinstance(metrics, pl.DataFrame):
            mdf, metrics_name = metrics, "(frame)"
        else:
            mdf, metrics_name = load_metrics(metrics), str(metrics)
        file_series = metric_series(mdf, t.start, t.width)
        if not file_series:
            t.notes.append(f"--metrics {metrics_name}: no rows")
    return file_series, metrics_name


def _f(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _live(
    metric: str, layer: str, dates: list[When], values: np.ndarray, *, feature: str | None = None
) -> Series:
    return Series(
        layer=layer,
        metric=metric,
        source="live",
        segment=None,
        dates=list(dates),
        values=[_f(float(v)) for v in values],
        feature=feature,
    )


def _psi_noise(n_ref: int, m: float, bins: int) -> float:
    """Standard deviation of PSI under "no change" (PSI/s ≈ χ²(B−1)): s·√(2(B−1))."""
    if n_ref <= 0 or m <= 0:
        return 0.0
    return psi_scale(n_ref, int(max(m, 1))) * math.sqrt(2 * max(bins - 2, 1))


# --------------------------------------------------------------------------- without event time


def time_candidates(schema: pl.Schema) -> list[str]:
    """Columns that could be the event time (Date / Datetime), for the "--timestamp COL" hint."""
    return [c for c, t in schema.items() if t == pl.Date or isinstance(t, pl.Datetime)]


def untimed_timeline(
    live: Source, reference: str | None, metrics: str | None, window: str = "1d"
) -> TimelineReport:
    """The timeline of a live log without event time: no windows, no onsets, nothing fired
    first; the sentence says which flag would enable it (triage runs steps 2–6 without it)."""
    cands = time_candidates(live.schema)
    hint = "--timestamp COL" + (f" (time columns found: {', '.join(cands)})" if cands else "")
    sentence = f"no event time: onsets and which layer fired first need {hint}"
    return TimelineReport(
        live=live.spec,
        reference=reference,
        metrics=metrics,
        timestamp="",
        window=str(window).strip(),
        metric=None,
        windows=[],
        series=[],
        first_fired=None,
        first_fired_layers=[],
        layer_onsets={},
        verdict=sentence,
        infra=InfraCheck("skipped", "skipped: no event time to align infra series with"),
        notes=[sentence],
    )
