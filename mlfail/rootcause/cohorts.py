"""Cohort attribution (design §7): which cohort value carries a feature's drift.

One pass keyed by the cohort columns (``--meta`` and low-cardinality columns) gives the
within-cohort PSI, the explained fraction EF(m) = 1 − PSI(ref, live | M≠m)/PSI(ref, live), and
the two-player Shapley split of PSI into *mix* (the cohort shares moved) and *conditional*
(X | M moved).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlfail.binning import BinSpec
from mlfail.cohort_pass import DayPerf, cohort_pass
from mlfail.config import Roles
from mlfail.counts import dense, distinct_counts, matrix
from mlfail.io import Source
from mlfail.performance import TaskSpec
from mlfail.psi import FeaturePsi, assess_feature, enough_rows, psi_value
from mlfail.reference import Reference
from mlfail.rootcause.common import DAY, _bh, _FeatureState, _fmt_share, _is_value, _value_str
from mlfail.rootcause.evidence import CohortEvidence, ExplainSettings


def shapley_mix_conditional(
    ref_by: dict[Any, np.ndarray] | None,
    live_by: dict[Any, np.ndarray],
    ref_total: np.ndarray,
    epsilon: float,
) -> tuple[float, float, float]:
    """Two-player Shapley split of PSI(ref, live) into mix (cohort shares) and conditional
    (distribution within cohorts). Cohorts absent from the reference (or a reference without
    the column) use the reference's overall distribution as their reference conditional and
    a reference share of zero; a reference without the column contributes no mix change."""
    g = ref_total / max(ref_total.sum(), 1)
    live_total = sum(live_by.values(), np.zeros_like(ref_total))
    n_live = max(live_total.sum(), 1)
    w = {m: c.sum() / n_live for m, c in live_by.items()}
    f = {m: c / max(c.sum(), 1) for m, c in live_by.items()}
    if ref_by:
        n_ref = max(sum(c.sum() for c in ref_by.values()), 1)
        v = {m: c.sum() / n_ref for m, c in ref_by.items()}
        gm = {m: (c / c.sum()) if c.sum() > 0 else g for m, c in ref_by.items()}
    else:
        v = dict(w)
        gm = {}
    mix_only = sum((w[m] * gm.get(m, g) for m in w), np.zeros_like(g))
    cond_only = sum((v[m] * (f[m] if m in f else gm.get(m, g)) for m in v), np.zeros_like(g))
    if cond_only.sum() <= 0:
        cond_only = g
    total = psi_value(g, live_total / n_live, epsilon)
    a = psi_value(g, mix_only, epsilon)
    b = psi_value(g, cond_only, epsilon)
    mix = 0.5 * (a + (total - b))
    cond = 0.5 * (b + (total - a))
    return total, mix, cond


def _reference_by(
    reference: Reference, card: dict[str, int], specs: list[BinSpec]
) -> dict[str, pl.DataFrame | None]:
    """Reference count tables per cohort column: from data, one pass for ``specs`` only;
    from a baseline, its stored segment tables."""
    out: dict[str, pl.DataFrame | None] = dict.fromkeys(card)
    present = [c for c in card if c in reference.columns]
    source = getattr(reference, "source", None)
    if isinstance(source, Source):
        by_col = cohort_pass(source.lf, specs, present, origin=f"--reference {source.spec}").by_col
        out.update(by_col)
    else:
        for col in present:
            out[col] = reference.table([col])
    return out


def cohort_candidates(live: Source, roles: Roles, max_values: int) -> dict[str, int]:
    """Columns to look for the drift-carrying cohort in: --meta columns and every
    low-cardinality string/bool/integer column that is not a role. → {column: distinct}"""
    excluded = {c for c in (roles.timestamp, roles.label, roles.prediction) if c}
    # §9: ids, model outputs, time keys, one-sided and excluded columns are never cohorts
    excluded |= roles.never_slice_keys()
    cands = []
    for name, dtype in live.schema.items():
        if name in excluded or name == DAY:
            continue
        if (
            dtype == pl.String
            or dtype == pl.Boolean
            or dtype.is_integer()
            or isinstance(dtype, pl.Categorical | pl.Enum)
        ):
            cands.append(name)
    cands = list(dict.fromkeys([*(m for m in roles.meta if m in live.columns), *cands]))
    if not cands:
        return {}
    # the roles statistics (or the slices' probe) already counted live's distinct values
    known = roles.assignment.live_counts(live)[1] if roles.assignment is not None else {}
    counts = {c: known[c] for c in cands if c in known}
    todo = [c for c in cands if c not in known]
    if todo:
        # a column whose first rows already hold more than max_values values is no cohort
        # column: it needs no exact count over every row (a hash of millions of ids)
        head = live.lf.head(HEAD_ROWS).select(pl.col(c).n_unique() for c in todo).collect()
        todo = [c for c in todo if head[c][0] <= max_values]
        counts.update(distinct_counts(live.lf, todo))
    return {c: counts[c] for c in cands if c in counts and 2 <= counts[c] <= max_values}


HEAD_ROWS = 100_000  # rows read to rule out many-valued columns before counting exactly


@dataclass
class CohortTables:
    """The per-cohort counts every feature hypothesis reads: live and reference count tables
    per cohort column, per-(day, value) row counts and performance, and the within-cohort PSI
    records per (feature, column)."""

    live_by: dict[str, pl.DataFrame]
    ref_by: dict[str, pl.DataFrame | None]
    shares_day: dict[str, pl.DataFrame]
    perf_by: dict[str, pl.DataFrame]
    records: dict[tuple[str, str], list[tuple[Any, FeaturePsi]]]


def _count_cohorts(
    reference: Reference,
    live: Source,
    roles: Roles,
    cohort_specs: list[BinSpec],
    ref_table: pl.DataFrame,
    day: pl.Expr,
    task: TaskSpec | None,
    cfg: ExplainSettings,
    dates: list[dt.date],
) -> CohortTables:
    """Per-cohort counts for ``cohort_specs`` (the strongest population-level drifts): one
    pass per source (:mod:`mlfail.cohort_pass`), then within-cohort PSI (its own BH
    family)."""
    card = cohort_candidates(live, roles, cfg.max_cohort_values) if cohort_specs else {}
    live_by, by_day, _, _ = cohort_pass(
        live.lf,
        cohort_specs,
        list(card),
        per_day=DayPerf(day, dates, task),
        origin=f"--live {live.spec}",
    )
    ref_by = _reference_by(reference, card, cohort_specs)
    perf_by = by_day if task is not None else {}
    shares_day = (
        {c: t.select(DAY, c, pl.col("rows").alias("len")) for c, t in by_day.items()}
        if task is not None
        else by_day
    )
    records = _cohort_records(live_by, ref_by, cohort_specs, ref_table, cfg)
    return CohortTables(live_by, ref_by, shares_day, perf_by, records)


def _cohort_records(
    live_by: dict[str, pl.DataFrame],
    ref_by: dict[str, pl.DataFrame | None],
    cohort_specs: list[BinSpec],
    ref_table: pl.DataFrame,
    cfg: ExplainSettings,
) -> dict[tuple[str, str], list[tuple[Any, FeaturePsi]]]:
    """Within-cohort PSI per (feature, column, value) against the same cohort in the reference
    (the whole reference when the cohort is too small there); BH across all of them."""
    ps = cfg.psi
    cohort_records: dict[tuple[str, str], list[tuple[Any, FeaturePsi]]] = {}
    crecs: list[FeaturePsi] = []
    for col, table in live_by.items():
        values = [v for v in table[col].unique().to_list()]
        rt = ref_by.get(col)
        for spec in cohort_specs:
            if spec.feature == col:  # a feature is never its own cohort
                continue
            vals, mat = matrix(table, spec, col, values)
            ref_vals: dict[Any, np.ndarray] = {}
            if rt is not None:
                rk, rmat = matrix(rt, spec, col)
                ref_vals = {k: rmat[i] for i, k in enumerate(rk)}
            ref_vec = dense(ref_table, spec)
            out = []
            for i, v in enumerate(vals):
                if mat[i].sum() < cfg.min_cohort_rows:
                    continue
                rv = ref_vals.get(v)
                rvec = rv if rv is not None and rv.sum() >= cfg.min_cohort_rows else ref_vec
                scope = "global" if rvec is ref_vec else "slice"
                rec = assess_feature(spec, rvec, mat[i], ps, slice_={col: v}, reference_scope=scope)
                crecs.append(rec)
                out.append((v, rec))
            cohort_records[(spec.feature, col)] = out
    _bh(crecs, ps)  # the cohort tests are their own family
    return cohort_records


def _share_shift(
    sd: pl.DataFrame, day_tot: pl.DataFrame, col: str, v: Any, dates: list[dt.date], k: int
) -> tuple[float | None, float | None, bool, bool]:
    """(share before the onset, share after, appeared, jumped) of the cohort value ``v``."""
    share_before = share_after = None
    appeared = jumped = False
    s = (
        sd.filter(_is_value(col, v))
        .group_by(DAY)
        .agg(pl.col("len").sum())
        .join(day_tot, on=DAY, how="right")
    )
    s = s.with_columns(pl.col("len").fill_null(0))
    pre = s.filter(pl.col(DAY) < dates[k])
    post = s.filter(pl.col(DAY) >= dates[k])
    if pre.height and post.height:
        share_before = float(pre["len"].sum()) / max(float(pre["tot"].sum()), 1.0)
        share_after = float(post["len"].sum()) / max(float(post["tot"].sum()), 1.0)
        # "at the onset": the share moved within the first days from the onset, not later (a
        # value that appears days after this onset is another problem's cohort)
        near = post.filter(pl.col(DAY) <= dates[min(k + 2, len(dates) - 1)])
        share_near = float(near["len"].sum()) / max(float(near["tot"].sum()), 1.0)
        appeared = share_before < 0.01 and min(share_after, share_near) >= 0.02
        jumped = not appeared and min(share_after, share_near) >= 2 * share_before + 0.02
    return share_before, share_after, appeared, jumped


def _explained_fraction(
    live_sum: np.ndarray,
    live_v: np.ndarray,
    ref_vec: np.ndarray,
    ref_v: np.ndarray | None,
    total: float,
    cfg: ExplainSettings,
) -> float:
    """EF(m) = 1 − PSI(ref, live | M≠m)/PSI(ref, live), clipped to [−1, 1]; 1 when too few
    rows are left without the cohort."""
    without_live = live_sum - live_v
    without_ref = ref_vec - ref_v if ref_v is not None and ref_v.sum() > 0 else ref_vec
    if without_live.sum() < cfg.min_cohort_rows or without_ref.sum() <= 0:
        ef = 1.0
    else:
        p_without = psi_value(without_ref, without_live, cfg.psi.epsilon)
        ef = 1.0 - p_without / total if total > 0 else 0.0
    return max(-1.0, min(1.0, ef))


def _cohort_evidence(
    st: _FeatureState,
    ref_table: pl.DataFrame,
    cohorts: CohortTables,
    dates: list[dt.date],
    cfg: ExplainSettings,
) -> tuple[CohortEvidence | None, dict[str, float]]:
    """The cohort value that carries the feature's drift, and the mix fraction per column."""
    spec = st.spec
    ref_vec = dense(ref_table, spec)
    best: tuple[float, CohortEvidence] | None = None
    mix_fraction: dict[str, float] = {}
    k = st.onset_index
    for col, table in cohorts.live_by.items():
        if col == spec.feature:
            continue
        values, mat = matrix(table, spec, col)
        live_vals = {v: mat[i] for i, v in enumerate(values)}
        rt = cohorts.ref_by.get(col)
        ref_vals: dict[Any, np.ndarray] | None = None
        if rt is not None:
            rk, rmat = matrix(rt, spec, col)
            ref_vals = {v: rmat[i] for i, v in enumerate(rk)}
        total, mix, cond = shapley_mix_conditional(ref_vals, live_vals, ref_vec, cfg.psi.epsilon)
        if total > 0:
            mix_fraction[col] = max(0.0, mix) / max(1e-12, max(0.0, mix) + max(0.0, cond))
        recs = dict(cohorts.records.get((spec.feature, col), []))
        live_sum = mat.sum(axis=0)
        sd = cohorts.shares_day[col]
        day_tot = sd.group_by(DAY).agg(pl.col("len").sum().alias("tot"))
        for v, rec in recs.items():
            if (
                rec.psi is None
                or not rec.significant
                or rec.psi < cfg.psi.watch
                or not enough_rows(rec, cfg.psi)
            ):
                continue
            ref_v = ref_vals[v] if ref_vals is not None and v in ref_vals else None
            ef = _explained_fraction(live_sum, live_vals[v], ref_vec, ref_v, total, cfg)
            share_before = share_after = None
            appeared = jumped = False
            if k is not None:
                share_before, share_after, appeared, jumped = _share_shift(
                    sd, day_tot, col, v, dates, k
                )
            n_rows = int(live_vals[v].sum())
            score = (
                ef
                + (0.35 if (appeared or jumped) else 0.0)
                + 0.05 * min(1.0, rec.psi / max(total, 1e-9) / 10)
            )
            timing = (
                " — its share "
                + ("appeared" if appeared else "jumped")
                + f" at the onset ({_fmt_share(share_before)} → {_fmt_share(share_after)})"
                if (appeared or jumped)
                else ""
            )
            ev = CohortEvidence(
                kind="cohort",
                column=col,
                value=v,
                within_psi=float(rec.psi),
                within_p_value=rec.p_value,
                explained_fraction=float(ef),
                mix=float(mix),
                conditional=float(cond),
                share_before=share_before,
                share_after=share_after,
                appeared=appeared,
                jumped=jumped,
                rows=n_rows,
                text=(
                    f"rows with {col}={_value_str(v)} carry {max(ef, 0):.0%} of the drift "
                    f"(PSI {rec.psi:.2f} within, {n_rows} rows){timing}"
                ),
                bins=rec.bins,
                reference_scope=rec.reference_scope,
            )
            if best is None or score > best[0]:
                best = (score, ev)
    return (best[1] if best and best[1].explained_fraction >= 0.5 else None), mix_fraction
