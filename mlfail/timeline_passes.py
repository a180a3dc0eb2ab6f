"""Reading the live log into per-window arrays (design §6): the steps of
:func:`mlfail.timeline.build_timeline` up to the series — open the live log, load the
reference, lay out the window grid, choose the features, then three passes (rows, nulls and
score; label metrics; count tables → PSI; on Polars the first and the third are one chunked
read, :mod:`mlfail.timeline_counts`) — and the window primitives they share
(:func:`parse_window`, :func:`window_key`). :mod:`mlfail.timeline` re-exports the public names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mlfail.audit import check_roles_exist, reference_and_roles, reference_from_source
from mlfail.binning import BinSettings, BinSpec
from mlfail.config import Roles, select_features
from mlfail.counts import check_types, count_frame, dense
from mlfail.engines import Day, Engine, EngineKey, get_engine
from mlfail.engines.polars import PolarsEngine, polars_key
from mlfail.errors import InputError, UsageError
from mlfail.io import Source
from mlfail.performance import Task, TaskSpec, infer_task, performance_table
from mlfail.psi import psi_value
from mlfail.reference import Reference, SourceReference, prediction_spec
from mlfail.report.timeline_model import When
from mlfail.roles import resolve_roles
from mlfail.timekeys import normalize_timestamp, utc_naive
from mlfail.timeline_counts import window_counts

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


@dataclass
class _Log:
    """The state :func:`mlfail.timeline.build_timeline` passes between its steps: the live log,
    the reference, the window grid, and the per-window arrays the three passes fill."""

    eng: Engine
    width: dt.timedelta
    ts: str
    live_src: Any
    schema: pl.Schema
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ref: Reference | None = None
    key: EngineKey | None = None
    start: dt.datetime = dt.datetime.min
    n_windows: int = 0
    specs: list[BinSpec] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    pred_numeric: bool = False
    # pass 1
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    nulls: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    mean_score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # pass 2
    tspec: TaskSpec | None = None
    metric: np.ndarray = field(default_factory=lambda: np.zeros(0))
    auc: np.ndarray = field(default_factory=lambda: np.zeros(0))
    labelled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # pass 3
    psi: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    pred_psi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pred_spec: BinSpec | None = None
    n_ref: int = 0
    live_table: pl.DataFrame | None = None  # pass 3's table as counted (window index, nulls)

    @property
    def on_polars(self) -> bool:
        return self.eng.name == "polars"


def open_live(
    live: str | Source,
    roles: Roles,
    window: str,
    engine: Engine | str | None,
    progress: bool | None,
) -> _Log:
    """The engine, the window width and the live log, its roles checked."""
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
    return _Log(eng, width, ts, live_src, schema)


def load_timeline_reference(
    t: _Log,
    roles: Roles,
    reference: str | Source | Reference | None,
    baseline: str | None,
    progress: bool | None,
) -> Roles:
    """The reference (from the engine, a baseline, a source or an object), roles checked
    and resolved (§9; once: roles already resolved by the caller are kept)."""
    eng, live_src, notes = t.eng, t.live_src, t.notes
    ref: Reference | None = None
    if not t.on_polars and isinstance(reference, str) and baseline is None:
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
        ref, skipped, roles = reference_and_roles(
            reference if isinstance(reference, str | Source) else None,
            baseline,
            live_src,
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
    t.ref = ref
    if t.on_polars and roles.assignment is None:
        # a Reference object from the caller, or no reference: infer on what there is
        stored = getattr(ref, "assignment", None) if ref is not None else None
        roles = resolve_roles(getattr(ref, "source", None), live_src, roles, stored)
        if roles.assignment is None and stored is None:
            roles = resolve_roles(live_src, None, roles)
    return roles


def window_grid(t: _Log) -> None:
    """The window key: on Polars the index from the first live day (or hour) and the number of
    windows; on another engine the UTC day, turned into the index by :func:`summary_pass`."""
    ts, schema, live_src, width = t.ts, t.schema, t.live_src, t.width
    if t.on_polars:
        tsx = utc_naive(ts, schema[ts])
        bounds = live_src.lf.select(tsx.min().alias("lo"), tsx.max().alias("hi")).collect().row(0)
        if bounds[0] is None:
            raise UsageError(f"--timestamp {ts}: every value is null in --live {live_src.spec}")
        lo: dt.datetime = bounds[0]
        if width % DAY == dt.timedelta(0):
            start = dt.datetime.combine(lo.date(), dt.time())
        else:
            start = lo.replace(minute=0, second=0, microsecond=0)
        t.n_windows = int((bounds[1] - start) / width) + 1
        t.start = start
        t.key = window_key(tsx, start, width)
    else:
        t.key = Day(ts, WIDX)  # the UTC day; turned into the window index below


def choose_features(t: _Log, roles: Roles) -> None:
    """Reference specs when there is a reference; else the live columns."""
    schema = t.schema
    # the flags' roles on every engine; inferred ones where the engine reads Polars rows
    never = set(roles.role_columns())
    if t.ref is not None:
        t.specs = [s for s in t.ref.specs if s.feature not in never]
        t.features = [s.feature for s in t.specs]
    else:
        t.specs = []
        t.features, _ = select_features(schema, roles)
        t.notes.append("no --reference/--baseline: per-window PSI is not computed")
    t.present = [f for f in t.features if f in schema]
    for f in t.features:
        if f not in schema:
            t.warnings.append(
                f"feature {f!r} is not in --live {t.live_src.spec}; its null rate is 1"
            )


def summary_pass(t: _Log, pred: str | None) -> None:
    """Pass 1: rows, null counts and score per window — on Polars read together with pass 3's
    count table (:func:`_polars_pass`)."""
    schema, key, live_src, features = t.schema, t.key, t.live_src, t.features
    assert key is not None
    t.pred_numeric = pred_numeric = pred is not None and schema[pred].is_numeric()
    if _polars_pass(t, pred):
        return
    base = t.eng.summary(live_src, [key], nulls=t.present, mean=pred if pred_numeric else None)
    if isinstance(key, Day):
        if base.height == 0:
            raise UsageError(f"--timestamp {t.ts}: every value is null in --live {live_src.spec}")
        first_day: dt.date = base[WIDX].min()  # type: ignore[assignment]
        t.start = dt.datetime.combine(first_day, dt.time())
        base = _day_index(base, first_day)
        t.n_windows = int(base[WIDX].max()) + 1  # type: ignore[arg-type]
    n_windows = t.n_windows
    rows = np.zeros(n_windows, dtype=np.int64)
    nulls = np.zeros((len(features), n_windows))
    mean_score = np.full(n_windows, np.nan)
    widx = base[WIDX].to_numpy()
    rows[widx] = base["rows"].to_numpy()
    fi = {f: i for i, f in enumerate(features)}
    for i, f in enumerate(t.present):
        nulls[fi[f], widx] = base[f"null{i}"].to_numpy()
    for f in features:
        if f not in schema:
            nulls[fi[f]] = rows
    if "mean_score" in base.columns:
        mean_score[widx] = base["mean_score"].fill_null(np.nan).to_numpy()
    t.rows, t.nulls, t.mean_score = rows, nulls, mean_score


def _polars_pass(t: _Log, pred: str | None) -> bool:
    """Passes 1 and 3 on Polars in one chunked read of the live rows
    (:func:`mlfail.timeline_counts.window_counts`); False, no live row read, on another
    engine or when a feature's type no longer fits its spec (pass 3 then reports it, in its
    turn, as it always did)."""
    key, live_src = t.key, t.live_src
    if not t.on_polars or not isinstance(key, pl.Expr) or not isinstance(live_src, Source):
        return False
    specs: list[BinSpec] = []
    if t.ref is not None:
        t.pred_spec = prediction_spec(t.ref, pred, t.pred_numeric) if pred else None
        specs = t.specs + ([t.pred_spec] if t.pred_spec is not None else [])
        try:
            check_types(t.schema, specs)
        except InputError:
            return False
    got = window_counts(
        live_src.lf,
        key,
        t.n_windows,
        specs,
        nulls=t.present,
        mean=pred if t.pred_numeric else None,
        origin=f"{live_src.role} {live_src.spec}",
    )
    fi = {f: i for i, f in enumerate(t.features)}
    t.nulls = np.zeros((len(t.features), t.n_windows))
    for i, f in enumerate(t.present):
        t.nulls[fi[f]] = got.nulls[i]
    for f in t.features:
        if f not in t.schema:
            t.nulls[fi[f]] = got.rows
    t.rows, t.mean_score = got.rows, got.mean
    if t.ref is not None:
        t.live_table = got.table
    return True


def label_pass(
    t: _Log,
    roles: Roles,
    task: Task | None,
    threshold: float,
    settings: TimelineSettings,
) -> None:
    """Pass 2: label metrics per window (None where too few rows carry a label)."""
    n_windows, live_src, eng, notes, key = t.n_windows, t.live_src, t.eng, t.notes, t.key
    pred = roles.prediction
    tspec: TaskSpec | None = None
    metric = np.full(n_windows, np.nan)
    auc = np.full(n_windows, np.nan)
    labelled = np.zeros(n_windows, dtype=np.int64)
    if roles.label is not None and pred is not None:
        assert key is not None
        tspec = infer_task(
            t.schema,
            roles.label,
            pred,
            task=task,
            threshold=threshold,
            data=eng.task_data(live_src, roles.label, pred),
            origin=f"--live {live_src.spec}",
        )
        perf = _window_performance(t, tspec, key)
        pw = perf[WIDX].to_numpy()
        labelled[pw] = perf["labelled"].to_numpy()
        m = perf[tspec.metric].fill_null(np.nan).to_numpy().astype(float)
        enough = perf["labelled"].to_numpy() >= settings.min_labelled
        metric[pw] = np.where(enough, m, np.nan)
        if "auc" in perf.columns:
            a = perf["auc"].fill_null(np.nan).to_numpy().astype(float)
            auc[pw] = np.where(enough, a, np.nan)
        elif tspec.has_auc:
            notes.append(
                f"AUC per window is not computed on the {eng.name} engine (a rank per window); "
                "use --engine polars for it"
            )
        short = int(((labelled > 0) & (labelled < settings.min_labelled)).sum())
        unl = int(((labelled == 0) & (t.rows > 0)).sum())
        if unl or short:
            notes.append(
                f"{unl} window(s) without labels and {short} with fewer than "
                f"{settings.min_labelled} labelled rows: their {tspec.metric} is left out "
                "(labels arrive late), never read as 0"
            )
    t.tspec, t.metric, t.auc, t.labelled = tspec, metric, auc, labelled


# Rows that one per-window performance query on Polars ranks at most (see _window_performance)
RANK_ROWS = 2_000_000


def _window_performance(t: _Log, tspec: TaskSpec, key: EngineKey) -> pl.DataFrame:
    """The per-window performance table, keyed by window index. On Polars with an AUC, a
    ``group_by`` rank holds every row it ranks: the windows go in consecutive runs of at most
    :data:`RANK_ROWS` rows (a window larger than that alone), one query a run filtered on its
    window keys, so memory is a run's rows, not the log's (20M rows in 30 windows: +1.3 GB
    for one query, +0.37 GB in runs, in the same time — each run reads only the timestamp,
    label and prediction). The tables are the same: a window's rows are all in its run."""
    eng, live_src = t.eng, t.live_src
    runs = _runs(t.rows, RANK_ROWS)
    if not (t.on_polars and tspec.has_auc and len(runs) > 1):
        return _window_index(eng.performance(live_src, tspec, [key]), key, t.start)
    k = polars_key(key, live_src.schema)
    kx = pl.col(k) if isinstance(k, str) else k
    first = t.start.date()

    def value(w: int) -> Any:  # the key's value of window w
        return first + dt.timedelta(days=w) if isinstance(key, Day) else w

    parts = [
        performance_table(live_src.lf.filter(kx.is_between(value(a), value(b))), tspec, [k])
        for a, b in runs
    ]
    return _window_index(pl.concat(parts), key, t.start)


def _runs(rows: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Consecutive windows [a, b] (inclusive) whose rows add up to at most ``limit``, a window
    with more rows than that alone; windows without rows are left in whichever run."""
    runs: list[tuple[int, int]] = []
    a, total = 0, 0
    for w, n in enumerate(rows.tolist()):
        if total and total + n > limit:
            runs.append((a, w - 1))
            a, total = w, 0
        total += n
    if len(rows):
        runs.append((a, len(rows) - 1))
    return runs


def count_pass(t: _Log, pred: str | None) -> None:
    """Pass 3: count table by window (on Polars already read by pass 1) → PSI per feature
    and of the prediction."""
    ref, specs, n_windows = t.ref, t.specs, t.n_windows
    psi = np.full((len(specs), n_windows), np.nan)
    pred_psi = np.full(n_windows, np.nan)
    n_ref = 0
    pred_spec = t.pred_spec
    if ref is not None:
        assert t.key is not None
        if t.live_table is None:  # not read with pass 1 (_polars_pass)
            if pred_spec is None and pred:  # _polars_pass may have built it before it gave up
                pred_spec = prediction_spec(ref, pred, t.pred_numeric)
            all_specs = specs + ([pred_spec] if pred_spec is not None else [])
            t.live_table = t.eng.count(t.live_src, all_specs, [t.key])
        live_table = _window_index(t.live_table, t.key, t.start)
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
                t.notes.append(f"--prediction {pred}: not in the reference; no prediction PSI")
    t.psi, t.pred_psi, t.pred_spec, t.n_ref = psi, pred_psi, pred_spec, n_ref


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
