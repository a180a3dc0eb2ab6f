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
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlfail.audit import check_roles_exist, load_reference, reference_from_source
from mlfail.binning import BinSettings, BinSpec
from mlfail.changepoint import MAD_SCALE, Onset, deseasonalize, detect_onset, robust_sigma
from mlfail.config import Roles, select_features
from mlfail.counts import count_frame, dense
from mlfail.engines import Day, Engine, EngineKey, get_engine
from mlfail.engines.polars import PolarsEngine
from mlfail.errors import UsageError
from mlfail.events import load_metrics
from mlfail.io import Source
from mlfail.owners import LAYERS
from mlfail.performance import Task, TaskSpec, infer_task
from mlfail.psi import psi_scale, psi_value
from mlfail.reference import Reference, SourceReference, prediction_spec
from mlfail.report.timeline_model import (
    InfraCheck,
    Series,
    TimelineReport,
    When,
    WindowStats,
)
from mlfail.timekeys import normalize_timestamp, utc_naive

WIDX = "__window"
_WINDOW = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)
_UNITS = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class TimelineSettings:
    onset_threshold: float = 4.5
    min_segment: int = 3
    min_labelled: int = 30
    band: float = 5.0

    def __post_init__(self) -> None:
        if self.min_segment < 1:
            raise UsageError(f"min segment must be at least 1 (got {self.min_segment})")
        if self.onset_threshold <= 0:
            raise UsageError(f"onset threshold must be positive (got {self.onset_threshold})")


def parse_window(text: str) -> dt.timedelta:
    """``1d``, ``7d``, ``12h``, ``2w`` → timedelta (whole hours at least)."""
    m = _WINDOW.match(str(text))
    if not m or int(m.group(1)) < 1:
        raise UsageError(
            f"--window {text}: use a positive number and a unit h, d or w (e.g. 1d, 7d, 12h)"
        )
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def _period(width: dt.timedelta) -> int:
    """Windows per seasonal cycle: a week of days, a day of hours; 1 (none) otherwise."""
    if width == DAY:
        return 7
    if width < DAY and DAY % width == dt.timedelta(0):
        return int(DAY / width)
    return 1


def _when(t: dt.datetime, width: dt.timedelta) -> When:
    return t.date() if width % DAY == dt.timedelta(0) and t.time() == dt.time() else t


def window_key(ts: pl.Expr, start: dt.datetime, width: dt.timedelta) -> pl.Expr:
    """The window index of each row: floor((ts − start) / width)."""
    us = int(width / dt.timedelta(microseconds=1))
    return ((ts - pl.lit(start)).dt.total_microseconds() // us).cast(pl.Int64).alias(WIDX)


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
    width = parse_window(window)
    eng: Engine = get_engine(engine) if engine is not None else PolarsEngine(progress=progress)
    on_polars = eng.name == "polars"
    if not on_polars and width != DAY:
        raise UsageError(
            f"--window {str(window).strip()}: the {eng.name} engine computes daily windows "
            "only (--window 1d); use --engine polars for other windows"
        )
    ts = roles.timestamp
    if ts is None:
        raise UsageError("--timestamp is required: the event-time column of the live log")
    live_src: Any = eng.open(live, role="--live") if isinstance(live, str) else live
    if isinstance(live_src, Source):
        live_src = normalize_timestamp(live_src, ts)
    live_src.require([ts], "--timestamp")
    for flag, col in (("--label", roles.label), ("--prediction", roles.prediction)):
        if col is not None:
            live_src.require([col], flag)
    if roles.features:
        live_src.require(roles.features, "--features")
    schema = live_src.schema
    if not schema[ts].is_temporal():
        how = "" if on_polars else " (the Spark engine reads no strings or epoch numbers)"
        raise UsageError(
            f"--timestamp {ts}: column has type {schema[ts]} in --live {live_src.spec}; it must "
            f"be a date or datetime{how}"
        )
    if roles.label is not None and roles.prediction is None:
        raise UsageError("--label needs --prediction: the label metric compares the two")

    notes: list[str] = []
    warnings: list[str] = []
    ref: Reference | None = None
    if not on_polars and isinstance(reference, str) and baseline is None:
        # the reference's bin specs and counts from the engine, exactly as `mlfail psi` does
        ref_src = eng.open(reference, role="--reference")
        check_roles_exist(
            roles, [(ref_src.spec, ref_src.columns), (live_src.spec, live_src.columns)]
        )
        ref, skipped = reference_from_source(
            ref_src, roles, bin_settings=BinSettings(), progress=progress, engine=eng
        )
        if skipped:
            notes.append("not profiled: " + "; ".join(skipped))
    elif isinstance(reference, str | Source) or baseline is not None:
        ref, skipped = load_reference(
            reference if isinstance(reference, str | Source) else None,
            baseline,
            roles,
            progress=progress,
        )
        if skipped:
            notes.append("not profiled: " + "; ".join(skipped))
    elif reference is not None:
        ref = reference
    sources = [(live_src.spec, live_src.columns)]
    if ref is not None:
        sources.append((ref.name, ref.columns))
    check_roles_exist(roles, sources)

    key: EngineKey
    if on_polars:
        tsx = utc_naive(ts, schema[ts])
        bounds = live_src.lf.select(tsx.min().alias("lo"), tsx.max().alias("hi")).collect().row(0)
        if bounds[0] is None:
            raise UsageError(f"--timestamp {ts}: every value is null in --live {live_src.spec}")
        lo: dt.datetime = bounds[0]
        if width % DAY == dt.timedelta(0):
            start = dt.datetime.combine(lo.date(), dt.time())
        else:
            start = lo.replace(minute=0, second=0, microsecond=0)
        n_windows = int((bounds[1] - start) / width) + 1
        key = window_key(tsx, start, width)
    else:
        key = Day(ts, WIDX)  # the UTC day; turned into the window index below

    # ---- features (reference specs when there is a reference; else the live columns)
    if ref is not None:
        specs = list(ref.specs)
        features = [s.feature for s in specs]
    else:
        specs = []
        features, _ = select_features(schema, roles)
        notes.append("no --reference/--baseline: per-window PSI is not computed")
    present = [f for f in features if f in schema]
    for f in features:
        if f not in schema:
            warnings.append(f"feature {f!r} is not in --live {live_src.spec}; its null rate is 1")

    # ---- pass 1: rows, null counts and score per window
    pred = roles.prediction
    pred_numeric = pred is not None and schema[pred].is_numeric()
    base = eng.summary(live_src, [key], nulls=present, mean=pred if pred_numeric else None)
    if isinstance(key, Day):
        if base.height == 0:
            raise UsageError(f"--timestamp {ts}: every value is null in --live {live_src.spec}")
        first_day: dt.date = base[WIDX].min()  # type: ignore[assignment]
        start = dt.datetime.combine(first_day, dt.time())
        base = _day_index(base, first_day)
        n_windows = int(base[WIDX].max()) + 1  # type: ignore[arg-type]
    rows = np.zeros(n_windows, dtype=np.int64)
    nulls = np.zeros((len(features), n_windows))
    mean_score = np.full(n_windows, np.nan)
    widx = base[WIDX].to_numpy()
    rows[widx] = base["rows"].to_numpy()
    fi = {f: i for i, f in enumerate(features)}
    for i, f in enumerate(present):
        nulls[fi[f], widx] = base[f"null{i}"].to_numpy()
    for f in features:
        if f not in schema:
            nulls[fi[f]] = rows
    if "mean_score" in base.columns:
        mean_score[widx] = base["mean_score"].fill_null(np.nan).to_numpy()

    # ---- pass 2: label metrics per window
    tspec: TaskSpec | None = None
    metric = np.full(n_windows, np.nan)
    auc = np.full(n_windows, np.nan)
    labelled = np.zeros(n_windows, dtype=np.int64)
    if roles.label is not None and pred is not None:
        tspec = infer_task(
            schema,
            roles.label,
            pred,
            task=task,
            threshold=threshold,
            data=eng.task_data(live_src, roles.label, pred),
            origin=f"--live {live_src.spec}",
        )
        perf = _window_index(eng.performance(live_src, tspec, [key]), key, start)
        pw = perf[WIDX].to_numpy()
        labelled[pw] = perf["labelled"].to_numpy()
        m = perf[tspec.metric].fill_null(np.nan).to_numpy().astype(float)
        enough = perf["labelled"].to_numpy() >= settings.min_labelled
        metric[pw] = np.where(enough, m, np.nan)
        if "auc" in perf.columns:
            a = perf["auc"].fill_null(np.nan).to_numpy().astype(float)
            auc[pw] = np.where(enough, a, np.nan)
        elif tspec.task == "classification" and tspec.is_score:
            notes.append(
                f"AUC per window is not computed on the {eng.name} engine (a rank per window); "
                "use --engine polars for it"
            )
        short = int(((labelled > 0) & (labelled < settings.min_labelled)).sum())
        unl = int(((labelled == 0) & (rows > 0)).sum())
        if unl or short:
            notes.append(
                f"{unl} window(s) without labels and {short} with fewer than "
                f"{settings.min_labelled} labelled rows: their {tspec.metric} is left out "
                "(labels arrive late), never read as 0"
            )

    # ---- pass 3: count table by window → PSI per feature and of the prediction
    psi = np.full((len(specs), n_windows), np.nan)
    pred_psi = np.full(n_windows, np.nan)
    pred_spec = prediction_spec(ref, pred, pred_numeric) if ref is not None and pred else None
    n_ref = 0
    if ref is not None:
        all_specs = specs + ([pred_spec] if pred_spec is not None else [])
        live_table = _window_index(eng.count(live_src, all_specs, [key]), key, start)
        ref_table = ref.table(())
        assert ref_table is not None
        for k, spec in enumerate(specs):
            rvec = dense(ref_table, spec)
            n_ref = max(n_ref, int(rvec.sum()))
            psi[k] = _psi_by_window(live_table, spec, rvec, n_windows)
        if pred_spec is not None:
            pvec = _prediction_reference(ref, pred_spec)
            if pvec is not None and pvec.sum() > 0:
                pred_psi = _psi_by_window(live_table, pred_spec, pvec, n_windows)
            else:
                notes.append(f"--prediction {pred}: not in the reference; no prediction PSI")

    # ---- windows
    windows: list[WindowStats] = []
    for w in range(n_windows):
        s = start + w * width
        windows.append(
            WindowStats(
                start=_when(s, width),
                end=_when(s + width, width),
                rows=int(rows[w]),
                labelled_rows=int(labelled[w]) if tspec is not None else None,
                metric=_f(metric[w]),
                auc=_f(auc[w]),
                mean_score=_f(mean_score[w]),
                prediction_psi=_f(pred_psi[w]),
                psi={sp.feature: _f(psi[k, w]) for k, sp in enumerate(specs)},
                null_rate={
                    f: (float(nulls[i, w] / rows[w]) if rows[w] else None)
                    for i, f in enumerate(features)
                },
            )
        )
    dates = [w.start for w in windows]

    # ---- series: live-derived
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
    for k, spec in enumerate(specs):
        live_series.append(
            (
                _live(f"psi:{spec.feature}", "pipeline", dates, psi[k], feature=spec.feature),
                _psi_noise(n_ref, med_rows, spec.n_bins),
            )
        )
    for i, f in enumerate(features):
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(rows > 0, nulls[i] / rows, np.nan)
        finite = rate[np.isfinite(rate)]
        p = float(np.median(finite)) if len(finite) else 0.0
        floor = math.sqrt(p * (1 - p) / med_rows) if med_rows else 0.0
        live_series.append((_live(f"null_rate:{f}", "pipeline", dates, rate, feature=f), floor))

    # ---- series: the metrics file
    file_series: list[Series] = []
    metrics_name: str | None = None
    if metrics is not None:
        if isinstance(metrics, pl.DataFrame):
            mdf, metrics_name = metrics, "(frame)"
        else:
            mdf, metrics_name = load_metrics(metrics), str(metrics)
        file_series = metric_series(mdf, start, width)
        if not file_series:
            notes.append(f"--metrics {metrics_name}: no rows")

    file_layers = {s.layer for s in file_series}
    series: list[Series] = []
    for fs in file_series:
        series.append(analyse_series(fs, width, settings, band=fs.layer == "infra"))
    for ls, noise in live_series:
        ls.counts_for_first_fired = ls.layer not in file_layers
        series.append(analyse_series(ls, width, settings, min_sigma=noise))

    ff, ff_layers, layer_onsets, sentence = first_fired(series, width)
    return TimelineReport(
        live=live_src.spec,
        reference=ref.name if ref is not None else None,
        metrics=metrics_name,
        timestamp=ts,
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
            "start": start,
        },
        notes=notes,
        warnings=warnings,
    )


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


def _psi_by_window(table: pl.DataFrame, spec: BinSpec, rvec: np.ndarray, n: int) -> np.ndarray:
    sub = table.filter(pl.col("feature") == spec.feature)
    mat = np.zeros((n, spec.n_bins))
    if sub.height:
        np.add.at(
            mat,
            (sub[WIDX].to_numpy().astype(int), sub["bin"].to_numpy().astype(int)),
            sub["n"].to_numpy().astype(float),
        )
    out = np.full(n, np.nan)
    for w in range(n):
        if mat[w].sum() > 0:
            out[w] = psi_value(rvec, mat[w])
    return out


def _day_index(table: pl.DataFrame, first: dt.date) -> pl.DataFrame:
    """The day key ``WIDX`` of a table as the index of its daily window from ``first``."""
    days = (pl.col(WIDX) - pl.lit(first)).dt.total_days().cast(pl.Int64)
    return table.with_columns(days.alias(WIDX))


def _window_index(table: pl.DataFrame, key: EngineKey, start: dt.datetime) -> pl.DataFrame:
    """A per-window table keyed by window index (rows outside every window dropped)."""
    table = table.drop_nulls(WIDX)
    return _day_index(table, start.date()) if isinstance(key, Day) else table


def _prediction_reference(ref: Reference, spec: BinSpec) -> np.ndarray | None:
    if any(s.feature == spec.feature for s in ref.specs):
        t = ref.table(())
        return dense(t, spec) if t is not None else None
    if isinstance(ref, SourceReference) and ref.lazy is None:  # data read by another engine
        return dense(ref.engine.count(ref.source, [spec]), spec)
    if ref.lazy is None:
        return None
    return dense(count_frame(ref.lazy, [spec]), spec)
