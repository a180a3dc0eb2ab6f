"""Slices (design §5): the report without labels — each slice's prediction distribution
against the same slice of the reference by PSI and its χ² p-value, BH across slices, ranked by
PSI × share of rows. See the package docstring, "Without labels".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlfail.binning import BinSpec
from mlfail.counts import bin_index
from mlfail.errors import UsageError
from mlfail.psi import bh_adjust, psi_value
from mlfail.reference import Reference, prediction_spec
from mlfail.report.slices_model import SliceGlobal, SliceRecord, SliceReport
from mlfail.slices.codes import SliceCounts, _measures, _slice_dict, count_slices
from mlfail.slices.match import match_reference
from mlfail.slices.model import KEY_COLS, NO_KEY, PBIN, ROWS, SN, SSUM, SliceInputs, _settings_dict
from mlfail.slices.stats import psi_row_pairs
from mlfail.slices.story import (
    GROUPED_AT_MOST,
    Symptoms,
    day_weeks,
    distinct_first,
    drifted_bins,
    group,
    moved_share,
    story_order,
    symptom_of,
    tier,
)


def _prediction_spec(ref: Reference, pred: str, pred_numeric: bool) -> BinSpec:
    spec = prediction_spec(ref, pred, pred_numeric)
    if spec is not None:
        return spec
    if ref.lazy is not None:
        raise UsageError(
            f"--prediction {pred}: not in the reference {ref.name}; without labels, slices "
            "compare the prediction distribution with the reference's"
        )
    raise UsageError(
        f"--prediction {pred}: the baseline {ref.name} holds no profile of it; without labels, "
        "slices compare the prediction distribution with the reference's"
    )


@dataclass
class _RefBins:
    """The reference's prediction bins: globally, and per slice where it has the columns."""

    glob: np.ndarray
    keys: list[tuple[Any, ...]]
    names: set[str]
    mat: np.ndarray
    meas: dict[str, np.ndarray]
    counts: SliceCounts | None
    mean: float | None


def _reference_bins(inp: SliceInputs, spec: BinSpec, pb: tuple[pl.Expr, int], nb: int) -> _RefBins:
    """Reference: global counts, and per slice where the reference has the columns."""
    ref, cands, settings, pred = inp.ref, inp.cands, inp.settings, inp.pred
    ref_global = np.zeros(nb)
    ref_keys: list[tuple[Any, ...]] = []
    ref_names = {c.name for c in cands if c.in_reference} if ref.lazy is not None else set()
    ref_mat = np.zeros((0, nb))
    ref_meas: dict[str, np.ndarray] = {}
    ref_counts: SliceCounts | None = None
    ref_mean: float | None = None
    if ref.lazy is not None:
        rmeas = _measures(None, pred, inp.pred_numeric)
        rc = [c for c in cands if c.in_reference]
        glob = (
            ref.lazy.select([pb[0], *rmeas])
            .group_by(PBIN)
            .agg([pl.col(m.meta.output_name()).sum() for m in rmeas])
            .collect(engine="streaming")
        )
        np.add.at(ref_global, glob[PBIN].to_numpy().astype(int), glob[ROWS].to_numpy())
        if SN in glob.columns and glob[SN].sum():
            ref_mean = float(glob[SSUM].sum()) / float(glob[SN].sum())
        if rc:
            ref_counts = count_slices(
                ref.lazy, rc, rmeas, max_predicates=settings.max_predicates, extra=pb, late=(SSUM,)
            )
            rt = ref_counts.table
            ref_mat, ref_keys, ref_meas = _bin_matrix(
                rt, nb, [n for m in rmeas if (n := m.meta.output_name()) in rt.columns]
            )
    else:
        t0 = ref.table(())
        if t0 is not None:
            sub = t0.filter(pl.col("feature") == spec.feature)
            np.add.at(ref_global, sub["bin"].to_numpy().astype(int), sub["n"].to_numpy())
    if ref_global.sum() == 0:
        raise UsageError(f"the reference {ref.name} has no rows of --prediction {pred}")
    return _RefBins(ref_global, ref_keys, ref_names, ref_mat, ref_meas, ref_counts, ref_mean)


def _global_psi(
    live_keys: list[tuple[Any, ...]], live_mat: np.ndarray, ref_global: np.ndarray, nb: int
) -> float:
    """The PSI of the whole live prediction distribution against the reference's."""
    live_global = np.zeros(nb)
    singles = [i for i, k in enumerate(live_keys) if k[2] == NO_KEY]
    if singles:  # any one candidate's slices partition the rows
        first = live_keys[singles[0]][0]
        for i in singles:
            if live_keys[i][0] == first:
                live_global += live_mat[i]
    return psi_value(ref_global, live_global)


@dataclass
class _Tested:
    """Each slice's PSI against its reference and the tests."""

    support: int
    psi: np.ndarray
    pval: np.ndarray
    crit: np.ndarray
    ref_n: np.ndarray
    scope_slice: np.ndarray  # compared with its own reference slice
    match: list[int | None]
    tested: np.ndarray
    qv: np.ndarray
    sig: np.ndarray
    mass: np.ndarray
    degraded: np.ndarray
    ref_p: np.ndarray  # each slice's reference prediction distribution (shares per bin)


def _test(
    inp: SliceInputs,
    live_keys: list[tuple[Any, ...]],
    live_mat: np.ndarray,
    rows: np.ndarray,
    r: _RefBins,
) -> _Tested:
    """PSI, its p-value and critical PSI of each slice against its own reference slice (the
    whole reference when it has none), BH across the slices tested."""
    settings, n_rows = inp.settings, inp.n_rows
    ref_keys, ref_mat, ref_global = r.keys, r.mat, r.glob
    support = settings.min_support or max(30, math.ceil(0.005 * n_rows))
    m = len(live_keys)
    psi = np.full(m, np.nan)
    pval = np.ones(m)
    crit = np.full(m, np.nan)
    ref_n = np.zeros(m)
    scope_slice = np.zeros(m, dtype=bool)
    match = match_reference(live_keys, ref_keys, ref_mat.sum(axis=1), r.names)
    mine = np.array([j is not None for j in match], dtype=bool)  # the slice's own reference
    scope_slice[:] = mine
    ref_rows = np.tile(ref_global, (m, 1))
    if mine.any():
        ref_rows[mine] = ref_mat[np.array([j for j in match if j is not None], dtype=np.int64)]
    ref_n[mine] = ref_rows[mine].sum(axis=1)
    some = live_mat.sum(axis=1) > 0
    psi[some], pval[some], crit[some] = psi_row_pairs(
        ref_rows[some], live_mat[some], settings.alpha
    )
    tested = (rows >= support) & (rows < n_rows) & np.isfinite(psi)
    qv = np.full(m, np.nan)
    if tested.any():
        qv[tested] = bh_adjust(list(pval[tested]))
    sig = tested & (qv <= settings.alpha)
    mass = rows / n_rows * np.nan_to_num(psi)
    degraded = sig & (np.nan_to_num(psi) >= settings.psi_threshold)
    tot = ref_rows.sum(axis=1, keepdims=True)
    ref_p = np.divide(ref_rows, tot, out=np.zeros_like(ref_rows), where=tot > 0)
    return _Tested(
        support, psi, pval, crit, ref_n, scope_slice, match, tested, qv, sig, mass, degraded, ref_p
    )


def _order(
    live_keys: list[tuple[Any, ...]],
    live_mat: np.ndarray,
    rows: np.ndarray,
    t: _Tested,
    top: int,
    drifted: Symptoms,
    weeks: dict[str, str],
) -> tuple[list[int], dict[int, int]]:
    """The slices listed, in the order step 4 chooses in (:mod:`mlfail.slices.story`):
    drifted first, segments before symptoms, significant first, then by drift mass (PSI ×
    share of rows); the distinct ones first, then the ones mostly inside another (by rows);
    and what explains what."""
    tested, mass, sig, psi = t.tested, t.mass, t.sig, t.psi
    m = len(live_keys)
    # 2-predicate: shown only when it carries more drift mass (PSI × rows) than each parent
    # and is not one of its parents under another name (same rows)
    index = {(k[0], k[1]): i for i, k in enumerate(live_keys) if k[2] == NO_KEY}
    keep = tested.copy()
    for i, k in enumerate(live_keys):
        if k[2] == NO_KEY or not keep[i]:
            continue
        for parent in (index.get((k[0], k[1])), index.get((k[2], k[3]))):
            if parent is None or rows[parent] == rows[i] or not mass[i] > mass[parent]:
                keep[i] = False
                break
    ranked = sorted(
        (i for i in range(m) if keep[i]),
        key=lambda i: (not sig[i], -mass[i], -abs(np.nan_to_num(psi[i]))),
    )
    ranked = story_order(ranked, live_keys, t.degraded, drifted)
    head = max(top, 20) * 3 if top else GROUPED_AT_MOST
    grouped, explained = group(
        ranked[:head],
        live_keys,
        moved_share(live_mat, t.ref_p),
        np.nan_to_num(psi),
        tier(t.degraded, live_keys, drifted),
        weeks,
    )
    order = distinct_first(grouped, explained) + ranked[head:]
    if top:
        order = order[:top]
    return order, explained


def _unlabelled_records(
    counts: SliceCounts,
    live_keys: list[tuple[Any, ...]],
    live_meas: dict[str, np.ndarray],
    r: _RefBins,
    t: _Tested,
    order: list[int],
    explained: dict[int, int],
    drifted: Symptoms,
) -> list[SliceRecord]:
    """The listed slices' records, with their mean scores and the reference's."""
    natives, ref_keys, ref_counts, ref_mean = counts.natives, r.keys, r.counts, r.mean
    rows, match, psi, pval, qv = live_meas[ROWS], t.match, t.psi, t.pval, t.qv
    ref_n, scope_slice, sig, degraded, crit = t.ref_n, t.scope_slice, t.sig, t.degraded, t.crit
    # mean scores of the listed slices (score sums were left for these: late)
    s_n = live_meas.get(SN)
    s_sum = counts.late_sums([live_keys[i] for i in order]).get(SSUM)
    r_sn = r.meas.get(SN)
    own = [ref_keys[j] if (j := match[i]) is not None else None for i in order]
    r_sum = ref_counts.late_sums(own).get(SSUM) if ref_counts is not None else None
    records = []
    for r_, i in enumerate(order):
        a, av, b, bv = live_keys[i]
        mean = (
            float(s_sum[r_] / s_n[i]) if s_sum is not None and s_n is not None and s_n[i] else None
        )
        j = match[i]
        if j is None:
            rmean = ref_mean
        elif r_sum is not None and r_sn is not None and r_sn[j] > 0:
            rmean = float(r_sum[r_] / r_sn[j])
        else:
            rmean = None
        records.append(
            SliceRecord(
                slice=_slice_dict(natives, a, av, b, bv),
                predicates=1 if b == NO_KEY else 2,
                rows=int(rows[i]),
                labelled_rows=0,
                metric="prediction_psi",
                live=float(psi[i]),
                complement=None,
                reference=None,
                reference_rows=int(ref_n[i]) if scope_slice[i] else None,
                reference_slice=(
                    _slice_dict(natives, *ref_keys[j]) if (j := match[i]) is not None else None
                ),
                shrunken=None,
                baseline=None,
                baseline_source="reference" if scope_slice[i] else "reference_global",
                delta=(mean - rmean) if mean is not None and rmean is not None else None,
                p_value=float(pval[i]),
                q_value=float(qv[i]),
                significant=bool(sig[i]),
                excess_errors=None,
                degraded=bool(degraded[i]),
                mean_score=mean,
                reference_mean_score=rmean,
                psi=float(psi[i]),
                critical_psi=float(crit[i]),
                explained_by=(
                    _slice_dict(natives, *live_keys[explained[i]]) if i in explained else None
                ),
                kind="symptom" if (sym := symptom_of(live_keys[i], drifted)) else "segment",
                symptom_of=sym,
            )
        )
    return records


def _unlabelled_report(inp: SliceInputs) -> SliceReport:
    live_src, ref, cands, settings, notes = (
        inp.live_src,
        inp.ref,
        inp.cands,
        inp.settings,
        inp.notes,
    )
    n_rows = inp.n_rows
    spec = _prediction_spec(ref, inp.pred, inp.pred_numeric)
    nb = spec.n_bins
    measures = _measures(None, inp.pred, inp.pred_numeric)
    pb = (bin_index(spec).alias(PBIN), nb)
    # score sums only serve the listed slices' mean score: summed for those at the end
    counts = count_slices(
        live_src.lf, cands, measures, max_predicates=settings.max_predicates, extra=pb, late=(SSUM,)
    )
    table, tot = counts.table, counts.totals
    mnames = [n for m in measures if (n := m.meta.output_name()) in table.columns]
    live_mat, live_keys, live_meas = _bin_matrix(table, nb, mnames)
    r = _reference_bins(inp, spec, pb, nb)
    g_psi = _global_psi(live_keys, live_mat, r.glob, nb)
    rows = live_meas[ROWS]
    t = _test(inp, live_keys, live_mat, rows, r)
    drifted = drifted_bins(
        cands,
        table,
        r.counts.table if r.counts is not None else None,
        settings.alpha,
    )
    order, explained = _order(live_keys, live_mat, rows, t, settings.top, drifted, day_weeks(cands))
    records = _unlabelled_records(counts, live_keys, live_meas, r, t, order, explained, drifted)
    notes.insert(
        0,
        "no labels: slices are ranked by the PSI of the prediction distribution against the "
        "reference (weighted by the slice's share of rows), with the mean-score shift; "
        "accuracy cannot be measured until labels arrive",
    )
    g = SliceGlobal(
        rows=n_rows,
        labelled_rows=0,
        unlabelled_rows=n_rows,
        metric="prediction_psi",
        live=g_psi,
        reference=None,
        mean_score=tot[SSUM] / tot[SN] if tot.get(SN) else None,
        reference_mean_score=r.mean,
        prediction_psi=g_psi,
    )
    return SliceReport(
        reference=ref.name,
        live=live_src.spec,
        mode="no_labels",
        task=None,
        metric="prediction_psi",
        global_stats=g,
        slices=records,
        tested=int(t.tested.sum()),
        candidates=[c.describe() for c in cands],
        key_exprs={c.name: c.expr for c in cands},
        settings=_settings_dict(settings, min_support=t.support),
        notes=notes,
    )


def _bin_matrix(
    table: pl.DataFrame, nb: int, mnames: Sequence[str]
) -> tuple[np.ndarray, list[tuple[Any, ...]], dict[str, np.ndarray]]:
    """Pivot a long table with a PBIN key into (slices × bins) row counts, the slice keys
    and the per-slice sums of the measures."""
    agg = table.group_by(KEY_COLS, maintain_order=True).agg(
        [pl.col(m).sum() for m in mnames] + [pl.col(PBIN), pl.col(ROWS).alias("_bn")]
    )
    keys = agg.select(KEY_COLS).rows()
    mat = np.zeros((agg.height, nb))
    lens = agg["_bn"].list.len().to_numpy()
    rows_idx = np.repeat(np.arange(agg.height), lens)
    bins = agg[PBIN].explode().to_numpy().astype(int)
    counts = agg["_bn"].explode().to_numpy().astype(float)
    np.add.at(mat, (rows_idx, bins), counts)
    meas = {m: agg[m].to_numpy().astype(float) for m in mnames}
    return mat, keys, meas
