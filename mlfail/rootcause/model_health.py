"""The model's own signals: the prediction distribution (PSI, onset, fallback-score spike),
global performance against the reference, and performance on a drift-carrying cohort."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import polars as pl

from mlfail.changepoint import detect_onset
from mlfail.config import Roles
from mlfail.counts import BATCH_ROWS, count_frame, dense, matrix, sliced
from mlfail.io import Source
from mlfail.performance import TaskSpec, performance_table
from mlfail.psi import assess_feature, psi_rows
from mlfail.reference import Reference, prediction_spec
from mlfail.rootcause.common import (
    DAY,
    _FeatureState,
    _is_value,
    _p,
    _value_str,
    two_proportion_p,
)
from mlfail.rootcause.evidence import CohortEvidence, ExplainSettings, PerformanceEvidence

SPIKE_SHARE = 0.05  # a prediction value on this share of the live rows (or more) can be a spike


def _frequent_in_chunk(values: pl.Series, least: float) -> list[Any]:
    """The values with at least ``least`` rows in one chunk (null included), or a few more:
    the exact recount decides. A numeric chunk is sorted with numpy (a value with k rows is a
    run, so ``s[i] == s[i + k − 1]`` at its start: 1M scores 10 against 60 ms for a hash
    ``group_by``); NaN, which equals nothing, is counted on its own, and nulls by
    ``null_count``; any other dtype is grouped."""
    k = max(1, math.ceil(least))
    dtype = values.dtype
    if not (dtype.is_float() or dtype.is_integer()):
        vc = values.to_frame().group_by(values.name).len()
        return vc.filter(pl.col("len") >= least)[values.name].to_list()
    out: list[Any] = [None] if values.null_count() >= k else []
    s = np.sort(values.drop_nulls().to_numpy())
    if dtype.is_float():
        nan = int(np.count_nonzero(np.isnan(s)))  # sorted last
        if nan >= k:
            out.append(math.nan)
        s = s[: len(s) - nan]
    if len(s) >= k:
        starts = s[: len(s) - k + 1]
        out.extend(np.unique(starts[starts == s[k - 1 :]]).tolist())
    return out


def frequent_value(lf: pl.LazyFrame, col: str, at_least: float) -> tuple[Any, int] | None:
    """The most frequent value of ``col`` (null included) and its rows, when it has at least
    ``at_least`` rows; None otherwise (ties: the smallest value). Exact, in the memory of a
    chunk: a ``group_by`` over a continuous score is a table of every row's value (20M rows:
    +175 MB and 1.35 s). A value with that share of the rows has at least that share of some
    chunk (the read's chunks, :func:`mlfail.counts.sliced`), so the chunks' frequent values
    are the only candidates; a second read counts the few of them exactly."""
    x = pl.col(col)
    total = int(lf.select(pl.len()).collect(engine="streaming").item())
    if total == 0 or at_least > total:
        return None
    share = at_least / total
    seen: set[Any] = set()
    for batch in sliced(lf.select(x), BATCH_ROWS):
        seen.update(_frequent_in_chunk(batch[col], share * batch.height))
    if not seen:
        return None
    values = [v for v in seen if v is not None]
    keep = x.is_in(values) if values else pl.lit(False)
    if None in seen:
        keep = keep | x.is_null()
    counted = (
        lf.filter(keep)
        .group_by(x)
        .len()
        .filter(pl.col("len") >= at_least)
        .sort(["len", col], descending=[True, False], nulls_last=True)
        .collect(engine="streaming")
    )
    if counted.height == 0:
        return None
    return counted[col][0], int(counted["len"][0])


def _prediction_drift(
    reference: Reference,
    live: Source,
    roles: Roles,
    day: pl.Expr,
    dates: list[dt.date],
    cfg: ExplainSettings,
) -> tuple[dict[str, Any] | None, dt.date | None]:
    """PSI of the prediction distribution (bins frozen on the reference), daily onset, and the
    largest single-value spike (a fallback/default score)."""
    pred = roles.prediction
    if not pred or pred not in live.columns:
        return None, None
    spec = prediction_spec(reference, pred, live.schema[pred].is_numeric())
    ref_counts: np.ndarray | None = None
    ref_lazy = reference.lazy
    if spec is None:
        return None, None
    pt = getattr(reference, "prediction_table", None)
    table = pt(()) if callable(pt) else pt
    if table is not None:
        ref_counts = dense(table, spec)
    elif ref_lazy is not None:
        ref_counts = dense(count_frame(ref_lazy, [spec]), spec)
    if ref_counts is None:
        return None, None
    live_day = count_frame(live.lf, [spec], [day])
    _, mat = matrix(live_day, spec, DAY, dates)
    rec = assess_feature(spec, ref_counts, mat.sum(axis=0), cfg.psi)
    rec.significant = rec.p_value is not None and rec.p_value <= cfg.psi.alpha
    daily = psi_rows(ref_counts, mat, cfg.psi.epsilon)
    onset = detect_onset(daily, dates, threshold=cfg.onset_threshold, min_sigma=cfg.psi_noise_floor)
    spike = None
    n_live = int(mat.sum())
    top = frequent_value(live.lf, pred, SPIKE_SHARE * n_live) if n_live else None
    if top is not None:
        value = top[0]
        live_share = top[1] / n_live
        if ref_lazy is not None and pred in reference.columns:
            ref_row = (
                ref_lazy.select((pl.col(pred) == value).sum().alias("k"), pl.len().alias("n"))
                .collect(engine="streaming")
                .row(0, named=True)
            )
            ref_share = ref_row["k"] / ref_row["n"] if ref_row["n"] else 0.0
        else:
            # a baseline has no rows: the share of the reference bin holding the value bounds
            # the reference share of the value itself from above
            b = int(dense(count_frame(pl.LazyFrame({pred: [value]}), [spec]), spec).argmax())
            ref_share = float(ref_counts[b] / max(ref_counts.sum(), 1))
        if live_share >= SPIKE_SHARE and live_share >= 5 * ref_share + 0.02:
            spike = {"value": value, "reference_share": ref_share, "live_share": live_share}
    pred_onset = onset.date if onset and onset.direction == "up" else None
    info: dict[str, Any] = {
        "column": pred,
        "psi": rec.psi,
        "p_value": rec.p_value,
        "critical_psi": rec.critical_psi,
        "drifted": bool(rec.psi is not None and rec.psi >= cfg.psi.threshold and rec.significant),
        "onset": pred_onset,
        "spike": spike,
    }
    return info, pred_onset


def _global_performance(
    reference: Reference,
    roles: Roles,
    task: TaskSpec | None,
    perf_day: pl.DataFrame | None,
    dates: list[dt.date],
    cfg: ExplainSettings,
) -> tuple[dict[str, Any] | None, dt.date | None]:
    if task is None or perf_day is None or int(perf_day["labelled"].sum()) == 0:
        return None, None
    metric = task.metric
    series = [perf_day.filter(pl.col(DAY) == d) for d in dates]
    vals = [
        (float(s[metric][0]) if s.height and s[metric][0] is not None else None) for s in series
    ]
    onset = detect_onset(vals, dates, threshold=cfg.onset_threshold)
    if onset is not None and not _onset_confirmed(perf_day, task, dates, onset.index, cfg):
        onset = None  # a step in a handful of labelled rows a day is noise
    lab = int(perf_day["labelled"].sum())
    live_metric: float
    info: dict[str, Any] = {
        "metric": metric,
        "labelled_rows": lab,
        "unlabelled_rows": int(perf_day["rows"].sum()) - lab,
    }
    ref_perf = None
    if (
        reference.lazy is not None
        and roles.label in reference.columns
        and (roles.prediction in reference.columns)
    ):
        ref_perf = performance_table(reference.lazy, task, auc=False).row(0, named=True)
    elif hasattr(reference, "performance"):
        t = reference.performance(())
        ref_perf = t.row(0, named=True) if t is not None and t.height else None
    if task.task == "classification":
        errors = int(perf_day["errors"].sum())
        live_metric = 1 - errors / lab
        info["live"] = live_metric
        if ref_perf and ref_perf.get("labelled"):
            info["reference"] = ref_perf["accuracy"]
            p = two_proportion_p(errors, lab, ref_perf["errors"], ref_perf["labelled"])
            info["p_value"] = p
            info["degraded"] = bool(
                p is not None and p < cfg.psi.alpha and ref_perf["accuracy"] - live_metric >= 0.01
            )
    else:
        live_metric = float(perf_day["abs_error_sum"].sum()) / lab
        info["live"] = live_metric
        if ref_perf and ref_perf.get("labelled"):
            info["reference"] = ref_perf["mae"]
            info["degraded"] = bool(live_metric >= 1.1 * ref_perf["mae"])
    if onset is None and info.get("degraded") and task.task == "classification":
        drop = float(info["reference"]) - live_metric
        if drop < LARGE_DROP:
            # lower from the first live day and flat since, no onset: the gap between the rows
            # a model was fitted on and new rows, unless an input or a slice says otherwise
            info["degraded"] = False
            info["gap_only"] = True
    if onset is not None:
        k = onset.index
        info["onset"] = onset.date
        info["before"] = onset.before
        info["after"] = onset.after
        bad = onset.direction == "down" if task.higher_is_better else onset.direction == "up"
        if bad:
            info["degraded"] = info.get("degraded", False) or abs(onset.delta) >= 0.02
            info["post_onset"] = _window_metric(perf_day, task, dates[k:])
            info["pre_onset"] = _window_metric(perf_day, task, dates[:k])
            return info, onset.date
    return info, None


LARGE_DROP = 0.05  # an accuracy drop this large is an incident even without an onset


def _onset_confirmed(
    perf_day: pl.DataFrame, task: TaskSpec, dates: list[dt.date], k: int, cfg: ExplainSettings
) -> bool:
    """Does the accuracy step at day ``k`` hold on the counts? Errors before vs after, a
    two-proportion test at α (a regression step is taken as found)."""
    if task.task != "classification":
        return True
    before = perf_day.filter(pl.col(DAY).is_in(dates[:k]))
    after = perf_day.filter(pl.col(DAY).is_in(dates[k:]))
    nb, na = int(before["labelled"].sum()), int(after["labelled"].sum())
    if not nb or not na:
        return False
    p = two_proportion_p(int(after["errors"].sum()), na, int(before["errors"].sum()), nb)
    return p is not None and p < cfg.psi.alpha


def _window_metric(perf: pl.DataFrame, task: TaskSpec, days: list[dt.date]) -> float | None:
    w = perf.filter(pl.col(DAY).is_in(days))
    lab = int(w["labelled"].sum())
    if not lab:
        return None
    if task.task == "classification":
        return 1 - int(w["errors"].sum()) / lab
    return float(w["abs_error_sum"].sum()) / lab


def _performance_evidence(
    st: _FeatureState,
    cohort: CohortEvidence | None,
    perf_by: dict[str, pl.DataFrame],
    task: TaskSpec | None,
    dates: list[dt.date],
) -> PerformanceEvidence | None:
    if task is None or task.task != "classification":
        return None
    k = st.onset_index if st.onset_index is not None else 0
    post_days = dates[k:]
    if cohort is not None and cohort.column in perf_by:
        t = perf_by[cohort.column].filter(pl.col(DAY).is_in(post_days))
        inside = t.filter(_is_value(cohort.column, cohort.value))
        outside = t.filter(
            (pl.col(cohort.column) != cohort.value)
            if cohort.value is not None
            else pl.col(cohort.column).is_not_null()
        )
        li, le = int(inside["labelled"].sum()), int(inside["errors"].sum())
        oi, oe = int(outside["labelled"].sum()), int(outside["errors"].sum())
        kind, what = "complement", "the other rows since the onset"
        if oi < 30 and k > 0:  # the cohort is all traffic since the onset: compare with before
            before = perf_by[cohort.column].filter(pl.col(DAY) < dates[k])
            oi, oe = int(before["labelled"].sum()), int(before["errors"].sum())
            kind, what = "before_onset", "all rows before the onset"
        if li < 30 or oi < 30:
            return None
        acc_in, acc_out = 1 - le / li, 1 - oe / oi
        p = two_proportion_p(le, li, oe, oi)
        return PerformanceEvidence(
            kind="performance",
            metric="accuracy",
            slice={cohort.column: cohort.value},
            live=acc_in,
            baseline=acc_out,
            baseline_kind=kind,
            delta=acc_in - acc_out,
            p_value=p,
            rows=li,
            text=(
                f"accuracy {acc_in:.1%} on {cohort.column}={_value_str(cohort.value)} vs "
                f"{acc_out:.1%} on {what} ({li} labelled rows, p{_p(p)})"
                if p is not None
                else ""
            ),
        )
    return None
