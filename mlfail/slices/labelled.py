"""Slices (design §5): the report with labels — error rate or MAE per slice, shrunk, tested
against its baseline (its own reference where there is one, else the live complement), BH
across slices, ranked by excess errors. See the package docstring, "Statistics (with labels)".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from mlfail.counts import bin_index
from mlfail.performance import TaskSpec
from mlfail.psi import bh_adjust
from mlfail.reference import Reference
from mlfail.report.slices_model import SliceGlobal, SliceRecord, SliceReport
from mlfail.slices.codes import SliceCounts, _col, _measures, _slice_dict, count_slices
from mlfail.slices.match import RefMatch, _attach_ref, _ref_dict, _source
from mlfail.slices.model import (
    ABS,
    ERR,
    KEY_COLS,
    LAB,
    NO_KEY,
    NULL_KEY,
    ROWS,
    SN,
    SQ,
    SSUM,
    Candidate,
    SliceInputs,
    SliceSettings,
    _settings_dict,
)
from mlfail.slices.stats import auc_for, fisher_p, shrink, welch_p
from mlfail.slices.story import (
    GROUPED_AT_MOST,
    Symptoms,
    day_weeks,
    distinct_first,
    drifted_bins,
    excess_share,
    group,
    story_order,
    symptom_of,
    tier,
)
from mlfail.tails import binom_sf, norm_sf


def _mask(cands: dict[str, Candidate], sl: dict[str, Any]) -> pl.Expr:
    """The rows of slice ``sl`` (same rows as ``expr == value``; a cohort compares its bin
    index and a week its week number, not their labels, which are costlier per row)."""
    m = pl.lit(True)
    for k, v in sl.items():
        c = cands[k]
        e = c.expr
        if v is not None and c.kind == "cohort" and c.spec is not None:
            e, v = bin_index(c.spec), c.spec.labels().index(v)
        elif v is not None and c.code_expr is not None and c.code_levels is not None:
            levels = c.levels.to_list() if c.levels is not None else []
            e, v = c.code_expr, c.code_levels[levels.index(v)]
        m = m & (e.is_null() if v is None else (e == v))
    return m


def _metric(x: float, reg: bool) -> float | None:
    """A slice's error rate as the metric shown (accuracy; MAE as is); None when not finite."""
    if not math.isfinite(x):
        return None
    return float(x) if reg else float(1 - x)


@dataclass
class _Sums:
    """Each live slice's labelled sums, the live totals, and the matched reference's sums."""

    counts: SliceCounts
    t: pl.DataFrame  # the live long table with the reference's sums ``r<col>``
    ref_match: RefMatch
    ref_tot: dict[str, float] | None
    ref_counts: SliceCounts | None
    N: float
    E: float
    gbar: float  # global live error rate (or MAE)
    n: np.ndarray
    e: np.ndarray
    q: np.ndarray
    nc: np.ndarray
    ec: np.ndarray
    qc: np.ndarray
    rn: np.ndarray
    re: np.ndarray


def _sums(inp: SliceInputs, tspec: TaskSpec, reg: bool) -> _Sums:
    """Count the live slices, and the same slices of the reference when it has labels."""
    live_src, ref, cands, settings = inp.live_src, inp.ref, inp.cands, inp.settings
    measures = _measures(tspec, inp.pred, inp.pred_numeric)
    # score sums only serve the listed slices' mean score: summed for those at the end
    counts = count_slices(
        live_src.lf, cands, measures, max_predicates=settings.max_predicates, late=(SSUM,)
    )
    table, tot = counts.table, counts.totals
    N, E = tot[LAB], tot[ABS] if reg else tot[ERR]
    Q = tot.get(SQ, 0.0)
    gbar = E / N  # global live error rate (or MAE)

    # ---- the reference side: the same slices, when the reference has labels (not side by
    # side with the live count: two wide scans at once cost ~0.9 GB more at 5M rows)
    ref_table, ref_tot, ref_note, ref_counts = _reference_perf(
        ref, tspec, cands, settings, reg, inp.pred_numeric
    )
    if ref_note:
        inp.notes.append(ref_note)
    ref_cols = [LAB, ABS, SQ, SSUM, SN] if reg else [LAB, ERR, SSUM, SN]
    ref_names = {c.name for c in cands if c.in_reference}
    t, ref_match = _attach_ref(table, ref_table, ref_tot, ref_cols, ref_names, LAB)

    n, e = _col(t, LAB), _col(t, ABS if reg else ERR)
    q = _col(t, SQ)
    nc, ec, qc = N - n, E - e, Q - q
    rn, re = _col(t, f"r{LAB}"), _col(t, f"r{ABS if reg else ERR}")
    return _Sums(counts, t, ref_match, ref_tot, ref_counts, N, E, gbar, n, e, q, nc, ec, qc, rn, re)


@dataclass
class _Judged:
    """Each slice's rates, shrunken estimate, baseline and tests."""

    rate: np.ndarray
    rate_c: np.ndarray
    ref_rate: np.ndarray
    shr: np.ndarray
    rbar: float | None
    has_ref: np.ndarray
    base: np.ndarray
    excess: np.ndarray
    support: int
    tested: np.ndarray
    p_comp: np.ndarray
    p_ref: np.ndarray
    p: np.ndarray
    qv: np.ndarray
    sig: np.ndarray
    impact: float
    delta_need: float
    degraded: np.ndarray


def _judge(s: _Sums, settings: SliceSettings, tspec: TaskSpec, reg: bool) -> _Judged:
    """Shrink each slice's rate, set its baseline and test it (design §5)."""
    t, ref_tot, N, E, gbar = s.t, s.ref_tot, s.N, s.E, s.gbar
    n, e, q, nc, ec, qc, rn, re = s.n, s.e, s.q, s.nc, s.ec, s.qc, s.rn, s.re
    kappa = settings.kappa
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = e / n
        rate_c = ec / nc
        ref_rate = np.where(rn > 0, re / rn, np.nan)
    shr = shrink(e, n, gbar, kappa)
    if ref_tot is not None and ref_tot[LAB] > 0:
        rbar: float | None = ref_tot[ABS if reg else ERR] / ref_tot[LAB]
        ref_shr = np.where(rn > 0, shrink(re, rn, rbar or 0.0, kappa), np.nan)
    else:
        rbar = None
        ref_shr = np.full(len(n), np.nan)
    has_ref = np.isfinite(ref_shr)
    # The baseline: the slice's own reference, moved by as much as the rest of the traffic
    # moved since the reference (so a slice that only shares a global shift, or that holds a
    # few rows of a broken segment, is not "degraded"); the live complement without one.
    if ref_tot is not None and ref_tot[LAB] > 0:
        r_n, r_e = ref_tot[LAB], ref_tot[ABS if reg else ERR]
        with np.errstate(divide="ignore", invalid="ignore"):
            rest_ref = np.where(r_n - rn > 0, (r_e - re) / (r_n - rn), r_e / r_n)
        drift = np.where(np.isfinite(rate_c), rate_c - rest_ref, 0.0)
        base = np.where(has_ref, ref_shr + drift, rate_c)
    else:
        base = rate_c
    base = np.maximum(base, 0.0) if reg else np.clip(base, 0.0, 1.0)
    excess = n * (shr - base)
    support = settings.min_support or max(30, math.ceil(0.005 * N))
    tested = (n >= support) & (nc > 0)
    # One-sided p-values: worse than the rest of the live traffic now, and (with a reference)
    # worse than the same slice in the reference. A slice is significant when both hold: the
    # intersection-union test, p = max of the two (valid at level α).
    if reg:
        p_comp = welch_p(e, q, n, ec, qc, nc)
        rq = _col(t, f"r{SQ}")
        with np.errstate(divide="ignore", invalid="ignore"):
            # a saved baseline keeps no squares: assume the live slice's spread for it
            live_var = np.maximum(q - e * e / n, 0) / (n - 1)
            rq = np.where(rq > 0, rq, (rn - 1) * live_var + re * re / rn)
        p_ref = welch_p(e, q, n, re, rq, rn)
    else:
        p_comp = fisher_p(e, n, ec, nc, where=tested)
        p_ref = fisher_p(e, n, re, rn, where=tested & has_ref)
    p_ref = np.where(has_ref, p_ref, np.nan)
    p = np.where(has_ref, np.fmax(p_ref, p_comp), p_comp)

    qv = np.full(len(n), np.nan)
    if tested.any():
        qv[tested] = bh_adjust(list(p[tested]))
    sig = tested & (qv <= settings.alpha)
    impact = settings.min_impact * (E if reg else N)
    delta_need = settings.delta_for(tspec.task)
    with np.errstate(divide="ignore", invalid="ignore"):
        worse = (shr - base) / base if reg else shr - base
    degraded = sig & (excess >= impact) & (worse >= delta_need)
    return _Judged(
        rate,
        rate_c,
        ref_rate,
        shr,
        rbar,
        has_ref,
        base,
        excess,
        support,
        tested,
        p_comp,
        p_ref,
        p,
        qv,
        sig,
        impact,
        delta_need,
        degraded,
    )


@dataclass
class _Ranked:
    """The table with the step's columns, every slice's key, the order listed, what explains
    what (indices) and the drifted features whose bins are symptoms."""

    t: pl.DataFrame
    keys: list[tuple[Any, ...]]
    order: list[int]
    explained: dict[int, int]
    drifted: Symptoms


def _rank(
    s: _Sums, j: _Judged, settings: SliceSettings, reg: bool, cands: Sequence[Candidate]
) -> _Ranked:
    """The slices listed (tested, with excess errors, a 2-predicate slice only when it beats
    both parents) in the order step 4 chooses in (:mod:`mlfail.slices.story`): degraded
    first, segments before symptoms, by excess errors; the distinct ones first, then the ones
    another listed slice explains."""
    n, e, q, shr, excess, tested = s.n, s.e, s.q, j.shr, j.excess, j.tested
    t = s.t.with_columns(
        pl.Series("_i", np.arange(s.t.height)),
        pl.Series("_n", n),
        pl.Series("_e", e),
        pl.Series("_q", q),
        pl.Series("_shr", shr),
        pl.Series("_excess", excess),
        pl.Series("_tested", tested),
    )
    beats = _beats_parents(t, reg, settings.alpha)
    keep = tested & (excess > 0) & ((t["b_col"].to_numpy() == NO_KEY) | beats)
    keys = t.select(KEY_COLS).rows()
    ref_table = s.ref_counts.table if s.ref_counts is not None else None
    drifted = drifted_bins(cands, s.counts.table, ref_table, settings.alpha)
    ranked = [int(i) for i in np.argsort(-excess, kind="stable") if keep[i]]
    ranked = story_order(ranked, keys, j.degraded, drifted)
    head = max(settings.top, 20) * 3 if settings.top else GROUPED_AT_MOST
    grouped, explained = group(
        ranked[:head],
        keys,
        excess_share(n, e, j.base),
        shr - j.base,
        tier(j.degraded, keys, drifted),
        day_weeks(cands),
    )
    order = distinct_first(grouped, explained) + ranked[head:]
    if settings.top:
        order = order[: settings.top]
    return _Ranked(t, keys, order, explained, drifted)


def _records(
    inp: SliceInputs,
    tspec: TaskSpec,
    reg: bool,
    s: _Sums,
    j: _Judged,
    ranked: _Ranked,
) -> tuple[list[SliceRecord], list[float | None]]:
    """The listed slices' records (with AUC and mean scores), and the AUCs (the global one
    first)."""
    live_src, cands, settings, notes = inp.live_src, inp.cands, inp.settings, inp.notes
    t, keys, order, explained = ranked.t, ranked.keys, ranked.order, ranked.explained
    natives, counts, ref_counts, ref_match = s.counts.natives, s.counts, s.ref_counts, s.ref_match
    n, rn = s.n, s.rn
    rate, rate_c, ref_rate, shr, has_ref, base = (
        j.rate,
        j.rate_c,
        j.ref_rate,
        j.shr,
        j.has_ref,
        j.base,
    )
    p, p_ref, p_comp, qv, sig, excess, degraded = (
        j.p,
        j.p_ref,
        j.p_comp,
        j.qv,
        j.sig,
        j.excess,
        j.degraded,
    )
    cmap = {c.name: c for c in cands}
    slices = [_slice_dict(natives, *keys[i]) for i in order]
    aucs: list[float | None] = [None] * (len(order) + 1)
    if tspec.has_auc:  # AUC: one mask column per slice, so the first ones only
        masks = [pl.lit(True)] + [_mask(cmap, sl) for sl in slices[: settings.auc_slices]]
        aucs[: len(masks)] = auc_for(live_src.lf, tspec, masks)
        if len(slices) > settings.auc_slices:
            notes.append(f"AUC is computed for the first {settings.auc_slices} slices listed")

    metric = partial(_metric, reg=reg)

    s_n, rs_n = _col(t, SN), _col(t, f"r{SN}")
    s_sum = counts.late_sums([keys[i] for i in order]).get(SSUM, np.zeros(len(order)))
    if ref_counts is not None:  # the reference's own rows: score sums of the matched slices
        rs_sum = ref_counts.late_sums([ref_match[i] for i in order]).get(SSUM)
    else:
        rs_sum = _col(t, f"r{SSUM}")[order] if order else np.zeros(0)
    records: list[SliceRecord] = []
    for k, i in enumerate(order):
        rec = SliceRecord(
            slice=slices[k],
            predicates=1 if keys[i][2] == NO_KEY else 2,
            rows=int(_col(t, ROWS)[i]),
            labelled_rows=int(n[i]),
            metric=tspec.metric,
            live=metric(rate[i]),
            complement=metric(rate_c[i]),
            reference=metric(ref_rate[i]),
            reference_rows=int(rn[i]) if has_ref[i] else None,
            reference_slice=_ref_dict(natives, ref_match[i]) if has_ref[i] else None,
            shrunken=metric(shr[i]),
            baseline=metric(base[i]),
            baseline_source=_source(keys[i], ref_match[i]) if has_ref[i] else "complement",
            delta=float(shr[i] - base[i]),
            p_value=float(p[i]),
            p_value_reference=_opt(p_ref[i]),
            p_value_complement=float(p_comp[i]),
            q_value=float(qv[i]),
            significant=bool(sig[i]),
            excess_errors=float(excess[i]),
            degraded=bool(degraded[i]),
            auc=aucs[k + 1],
            mean_score=float(s_sum[k] / s_n[i]) if s_n[i] > 0 else None,
            reference_mean_score=(
                float(rs_sum[k] / rs_n[i]) if rs_sum is not None and rs_n[i] > 0 else None
            ),
            explained_by=_slice_dict(natives, *keys[explained[i]]) if i in explained else None,
            kind="symptom" if (sym := symptom_of(keys[i], ranked.drifted)) else "segment",
            symptom_of=sym,
        )
        records.append(rec)
    return records, aucs


def _labelled_report(inp: SliceInputs, tspec: TaskSpec) -> SliceReport:
    ref, cands, settings, n_rows = inp.ref, inp.cands, inp.settings, inp.n_rows
    reg = tspec.task == "regression"
    s = _sums(inp, tspec, reg)
    j = _judge(s, settings, tspec, reg)
    ranked = _rank(s, j, settings, reg, cands)
    records, aucs = _records(inp, tspec, reg, s, j, ranked)
    tot, ref_tot, N, gbar, rbar = s.counts.totals, s.ref_tot, s.N, s.gbar, j.rbar

    metric = partial(_metric, reg=reg)

    g = SliceGlobal(
        rows=n_rows,
        labelled_rows=int(N),
        unlabelled_rows=int(n_rows - N),
        metric=tspec.metric,
        live=metric(gbar),
        reference=metric(rbar) if rbar is not None else None,
        error_rate=None if reg else float(gbar),
        auc=aucs[0],
        reference_auc=_reference_auc(ref, tspec),
        mean_score=tot[SSUM] / tot[SN] if tot.get(SN) else None,
        reference_mean_score=(
            ref_tot[SSUM] / ref_tot[SN] if ref_tot is not None and ref_tot.get(SN) else None
        ),
    )
    return SliceReport(
        reference=ref.name,
        live=inp.live_src.spec,
        mode="labels",
        task=tspec.task,
        metric=tspec.metric,
        global_stats=g,
        slices=records,
        tested=int(j.tested.sum()),
        candidates=[c.describe() for c in cands],
        key_exprs={c.name: c.expr for c in cands},
        settings=_settings_dict(
            settings,
            min_support=j.support,
            fail_on_delta=j.delta_need,
            min_impact_errors=j.impact,
            threshold=tspec.threshold,
        ),
        notes=inp.notes,
    )


def _opt(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _reference_auc(ref: Reference, tspec: TaskSpec) -> float | None:
    lf = ref.lazy
    if (
        lf is None
        or tspec.task == "regression"
        or not tspec.is_score
        or tspec.label not in ref.columns
        or tspec.prediction not in ref.columns
    ):
        return None
    return auc_for(lf, tspec, [pl.lit(True)])[0]


def _reference_perf(
    ref: Reference,
    tspec: TaskSpec,
    cands: list[Candidate],
    settings: SliceSettings,
    reg: bool,
    pred_numeric: bool,
) -> tuple[pl.DataFrame | None, dict[str, float] | None, str | None, SliceCounts | None]:
    """The reference's long slice table and totals (same measures as the live side; score
    sums late, from the counts returned last), or (None, None, why, None) when the reference
    has no labels."""
    err = ABS if reg else ERR
    if ref.lazy is not None:
        if tspec.label not in ref.columns or tspec.prediction not in ref.columns:
            return (
                None,
                None,
                "the reference has no labels: each slice is judged against the live complement",
                None,
            )
        measures = _measures(tspec, tspec.prediction, pred_numeric)
        rc = [c for c in cands if c.in_reference]
        if rc:
            got = count_slices(
                ref.lazy, rc, measures, max_predicates=settings.max_predicates, late=(SSUM,)
            )
            return got.table, got.totals, None, got
        row = ref.lazy.select(measures).sum().collect(engine="streaming").row(0, named=True)
        return None, {k: float(v or 0) for k, v in row.items()}, None, None
    # a saved baseline: performance by single segment column, when it kept one
    perf = getattr(ref, "performance", None)
    g = perf([]) if perf is not None else None
    if g is None or g.height == 0:
        return (
            None,
            None,
            "the baseline holds no labelled performance: slices use the complement",
            None,
        )
    err_col = "abs_error_sum" if reg else "errors"

    def sums(df: pl.DataFrame) -> list[pl.Expr]:
        has_score = pl.col("mean_score").is_not_null()
        return [
            pl.col("labelled").sum().cast(pl.Float64).alias(LAB),
            pl.col(err_col).sum().cast(pl.Float64).alias(err),
            pl.when(has_score)
            .then(pl.col("mean_score") * pl.col("rows"))
            .otherwise(0.0)
            .sum()
            .alias(SSUM),
            pl.when(has_score).then(pl.col("rows")).otherwise(0).sum().cast(pl.Float64).alias(SN),
        ]

    tot = g.select(sums(g)).row(0, named=True)
    parts = []
    for c in cands:
        if c.kind not in ("column", "top") or not c.in_reference:
            continue
        df = perf([c.name]) if perf is not None else None
        if df is None or c.name not in df.columns:
            continue
        parts.append(
            df.with_columns(c.expr.alias("_k"))
            .group_by("_k")
            .agg(sums(df))
            .select(
                pl.lit(c.name).alias("a_col"),
                pl.col("_k").cast(pl.String).fill_null(NULL_KEY).alias("a_val"),
                pl.lit(NO_KEY).alias("b_col"),
                pl.lit(NO_KEY).alias("b_val"),
                LAB,
                err,
                SSUM,
                SN,
            )
        )
    table_out = pl.concat(parts) if parts else None
    return table_out, {k: float(v or 0) for k, v in tot.items()}, None, None


def _beats_parents(t: pl.DataFrame, reg: bool, alpha: float) -> np.ndarray:
    """For each 2-predicate row: significantly worse than the rest of each parent (one-sided
    p < α) and a worse shrunken estimate than both parents. False for 1-predicate rows."""
    singles = t.filter(pl.col("b_col") == NO_KEY).select(
        pl.col("a_col").alias("_pc"),
        pl.col("a_val").alias("_pv"),
        pl.col("_n").alias("_pn"),
        pl.col("_e").alias("_pe"),
        pl.col("_q").alias("_pq"),
        pl.col("_shr").alias("_pshr"),
    )
    pairs = t.filter((pl.col("b_col") != NO_KEY) & pl.col("_tested")).select(
        "_i", "a_col", "a_val", "b_col", "b_val", "_n", "_e", "_q", "_shr"
    )
    out = np.zeros(t.height, dtype=bool)
    if pairs.height == 0:
        return out
    ok = np.ones(pairs.height, dtype=bool)
    for col, val in (("a_col", "a_val"), ("b_col", "b_val")):
        j = pairs.join(singles, left_on=[col, val], right_on=["_pc", "_pv"], how="left")
        n, e, q, shr = (_col(j, c) for c in ("_n", "_e", "_q", "_shr"))
        pn, pe, pq, pshr = (_col(j, c) for c in ("_pn", "_pe", "_pq", "_pshr"))
        rn, re, rq = pn - n, pe - e, pq - q
        p = welch_p(e, q, n, re, rq, rn) if reg else fisher_p(e, n, re, rn)
        ok &= (rn > 0) & (p < alpha) & (shr > pshr)
    out[pairs["_i"].to_numpy()] = ok
    return out


def rest_is_fine(
    rest: tuple[float, float, float],
    rest_ref: tuple[float, float, float] | None,
    baseline: float,
    reg: bool,
    alpha: float,
) -> bool:
    """Whether the rest of a parent (its rows outside a child) is *not* significantly worse
    than before: against the same rows of the reference when both slices have their own
    reference (Fisher's exact test; Welch's for MAE), else against the parent's baseline
    (exact binomial tail; a z-test of the mean for MAE). ``rest`` = (n, errors, squares)."""
    n, e, q = rest
    if n <= 0:
        return True
    if rest_ref is not None and rest_ref[0] > 0:
        rn, re, rq = rest_ref
        one = np.array([1.0])
        if reg:
            p = welch_p(e * one, q * one, n * one, re * one, rq * one, rn * one)[0]
        else:
            p = fisher_p(e * one, n * one, re * one, rn * one)[0]
        return bool(p >= alpha)
    if not reg:
        return bool(binom_sf(e - 1, int(n), min(max(baseline, 0.0), 1.0)) >= alpha)
    if n < 2:
        return True
    mean = e / n
    var = max(q - n * mean * mean, 0.0) / (n - 1)
    if var == 0:
        return mean <= baseline
    return bool(norm_sf((mean - baseline) / math.sqrt(var / n)) >= alpha)
