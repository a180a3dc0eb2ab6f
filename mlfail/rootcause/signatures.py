"""Signatures (design §7): compare the affected live rows (cohort, post-onset) with the reference
(same cohort where the reference has it) and name what happened to the feature.

One small function per signature, registered in ``SIGNATURES`` in the order they are reported;
adding a signature is adding a function to that list. Each gets the two summary rows of one
query per side (``_Rows``) and the signatures found so far, and returns its evidence or None.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlfail.baseline import NUMERIC_DEFAULTS, QUANTILE_LEVELS, STRING_DEFAULTS, FeatureStats
from mlfail.binning import BinSpec
from mlfail.factors import NAMED_FACTORS, name_factor
from mlfail.featureprofile import numeric_summary
from mlfail.io import Source
from mlfail.reference import Reference
from mlfail.rootcause.common import _FeatureState, _fmt_share, _is_value, two_proportion_p
from mlfail.rootcause.evidence import CohortEvidence, ExplainSettings, SignatureEvidence

DEFAULT_FILLS_NUM = tuple(NUMERIC_DEFAULTS.values())
DEFAULT_FILLS_CAT = STRING_DEFAULTS
DECILES = [k / 10 for k in range(1, 10)]


@dataclass
class _Rows:
    """One signature query's result: the reference row ``r`` and the live row ``lv`` (counts,
    quantiles, extremes, fills), their row counts, and what the unseen-values query needs."""

    spec: BinSpec
    r: dict[str, Any]
    lv: dict[str, Any]
    n_r: int
    n_l: int
    live: Source
    live_filter: pl.Expr
    psi: float = math.inf  # the feature's strongest PSI (the drift the signatures explain)

    @property
    def numeric(self) -> bool:
        return self.spec.kind == "numeric"


Signature = Callable[[_Rows, list[SignatureEvidence]], SignatureEvidence | None]


def _found(found: list[SignatureEvidence], name: str) -> bool:
    return any(s.signature == name for s in found)


def _null_spike(q: _Rows, found: list[SignatureEvidence]) -> SignatureEvidence | None:
    r, lv, n_r, n_l = q.r, q.lv, q.n_r, q.n_l
    nr, nl = r["missing"] / n_r, lv["missing"] / n_l
    p = two_proportion_p(lv["missing"], n_l, r["missing"], n_r)
    if nl - nr >= 0.01 and p is not None and p < 1e-3:
        return SignatureEvidence(
            "signature",
            "null_spike",
            nr,
            nl,
            None,
            None,
            f"null rate {_fmt_share(nr)} → {_fmt_share(nl)}",
        )
    return None


def _default_fill(q: _Rows, found: list[SignatureEvidence]) -> SignatureEvidence | None:
    """The first default value (0, -1, 'unknown', …) whose share jumped."""
    r, lv, n_r, n_l = q.r, q.lv, q.n_r, q.n_l
    fills = DEFAULT_FILLS_NUM if q.numeric else DEFAULT_FILLS_CAT
    for i, v in enumerate(fills):
        sr, sl = r[f"fill_{i}"] / n_r, lv[f"fill_{i}"] / n_l
        if sl - sr >= 0.05 and sl >= 3 * sr:
            return SignatureEvidence(
                "signature",
                "default_fill",
                sr,
                sl,
                None,
                None,
                f"value {v!r} went from {_fmt_share(sr)} to "
                f"{_fmt_share(sl)} of rows — a default fill",
            )
    return None


def _numeric_frozen(q: _Rows, found: list[SignatureEvidence]) -> SignatureEvidence | None:
    r, lv = q.r, q.lv
    if not q.numeric or _found(found, "default_fill"):
        return None
    if lv["std"] is not None and r["std"] and lv["std"] == 0:
        return SignatureEvidence(
            "signature",
            "frozen",
            r["std"],
            0.0,
            None,
            None,
            f"the feature is constant live ({lv['min']})",
        )
    return None


def _quantile_pair(
    q: _Rows, found: list[SignatureEvidence]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Reference and live quantiles, when a scale/affine comparison applies: numeric, not
    frozen, not default-filled, the same levels on both sides."""
    if not q.numeric or _found(found, "frozen") or _found(found, "default_fill"):
        return None
    qr, ql = q.r["q"], q.lv["q"]
    if qr is not None and ql is not None and len(qr) == len(ql):
        return np.asarray(qr, dtype=float), np.asarray(ql, dtype=float)
    return None


def _scale_change(q: _Rows, found: list[SignatureEvidence]) -> SignatureEvidence | None:
    """Every positive quantile moved by the same factor (log-ratios within 0.1 of their
    median, the factor beyond ±15%)."""
    pair = _quantile_pair(q, found)
    if pair is None:
        return None
    a_ref, a_live = pair
    pos = (a_ref > 0) & (a_live > 0)
    if pos.sum() >= 5:
        lr = np.log(a_live[pos] / a_ref[pos])
        med = float(np.median(lr))
        if float(np.max(np.abs(lr - med))) < 0.1 and abs(med) > math.log(1.15):
            factor = math.exp(med)
            name = name_factor(factor)
            return SignatureEvidence(
                "signature",
                "scale_change",
                None,
                None,
                factor,
                None,
                f"every quantile is ×{factor:.3g} the reference's"
                + (f" — {name}" if name else "")
                + " (a unit or scale change)",
            )
    return None


AFFINE_MIN_PSI = 0.25  # an affine transform is named only on a feature that drifted


def _affine_change(q: _Rows, found: list[SignatureEvidence]) -> SignatureEvidence | None:
    """Live quantiles are a linear function of the reference's (least squares, R² > 0.995)
    that is not the identity, on a feature that drifted (PSI ≥ 0.25 on its strongest window):
    a location-scale move too small to be a drift is what a natural population shift looks
    like (older patients' s1 on diabetes: PSI 0.19), not a transform. Only when no pure scale
    change was found."""
    pair = _quantile_pair(q, found)
    if pair is None or _found(found, "scale_change") or q.psi < AFFINE_MIN_PSI:
        return None
    a_ref, a_live = pair
    if np.all(np.isfinite(a_ref)) and np.all(np.isfinite(a_live)):
        A = np.vstack([a_ref, np.ones_like(a_ref)]).T
        (slope, icpt), *_ = np.linalg.lstsq(A, a_live, rcond=None)
        fit = A @ np.array([slope, icpt])
        ss = float(((a_live - a_live.mean()) ** 2).sum())
        r2 = 1 - float(((a_live - fit) ** 2).sum()) / ss if ss > 0 else 0.0
        spread = float(a_ref[-1] - a_ref[0]) or 1.0
        moved = abs(slope - 1) > 0.1 or abs(icpt) > 0.1 * spread
        if r2 > 0.995 and moved and slope > 0:
            return SignatureEvidence(
                "signature",
                "affine_change",
                None,
                None,
                float(slope),
                None,
                f"live quantiles ≈ {slope:.3g}·x {'+' if icpt >= 0 else '−'} "
                f"{abs(icpt):.3g} of the reference's (an affine transform changed)",
            )
    return None


PARTIAL_MIN_SHARE = 0.01  # of the affected live rows
PARTIAL_MAPS_BACK = 0.9  # of the out-of-range values, back inside the reference range


def _partial_scale(q: _Rows, found: list[SignatureEvidence]) -> SignatureEvidence | None:
    """A unit change on part of the rows: live values beyond the reference's range (above its
    max ×1.5, or below its min ÷1.5 for a positive feature) that a named factor (×100, ×1000,
    ÷100 …) maps back inside the range — at least 1% of the rows, and 90% of the out-of-range
    ones for one factor. The quantiles of such a mixture move unevenly, so the whole-column
    scale signature misses it. One small query on the affected live rows."""
    if not q.numeric or _found(found, "scale_change") or _found(found, "affine_change"):
        return None
    lo, hi = q.r.get("min"), q.r.get("max")
    if lo is None or hi is None or not (hi > lo) or q.lv.get("max") is None:
        return None
    x = pl.col(q.spec.feature).cast(pl.Float64)
    up = x > hi * 1.5 if hi > 0 else x > hi + (hi - lo)
    down = (x < lo / 1.5) & (x > 0) if lo > 0 else pl.lit(False)
    out = up | down
    factors = [f for f in NAMED_FACTORS if f > 1] + [f for f in NAMED_FACTORS if f < 1]
    row = (
        q.live.lf.filter(q.live_filter)
        .select(
            out.sum().alias("out"),
            *[
                (out & (x / f).is_between(lo, hi)).sum().alias(f"f{i}")
                for i, f in enumerate(factors)
            ],
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    n_out = int(row["out"] or 0)
    if n_out < PARTIAL_MIN_SHARE * q.n_l:
        return None
    i, back = max(
        enumerate(int(row[f"f{i}"] or 0) for i in range(len(factors))), key=lambda t: t[1]
    )
    if back < PARTIAL_MAPS_BACK * n_out:
        return None
    factor, share = factors[i], back / q.n_l
    return SignatureEvidence(
        "signature",
        "scale_change",
        None,
        share,
        factor,
        None,
        f"{_fmt_share(share)} of the live values lie outside the reference's range "
        f"[{lo:.4g}, {hi:.4g}] and are {NAMED_FACTORS[factor]} values inside it — a unit or "
        "scale change on part of the rows",
    )


def _clipping(q: _Rows, found: list[SignatureEvidence]) -> SignatureEvidence | None:
    """Live values pile up at a maximum below the reference's 90th percentile."""
    r, lv, n_r, n_l = q.r, q.lv, q.n_r, q.n_l
    if not q.numeric or _found(found, "frozen"):
        return None
    qr = r["q"]
    if lv["max"] is not None and r["max"] is not None and qr is not None:
        at_max_l = lv["at_max"] / n_l
        at_max_r = r["at_max"] / n_r
        if lv["max"] < qr[-1] and at_max_l >= 0.01 and at_max_r < 0.005:
            return SignatureEvidence(
                "signature",
                "clipping",
                r["max"],
                lv["max"],
                None,
                None,
                f"{_fmt_share(at_max_l)} of live values sit at {lv['max']:.4g}, below the "
                f"reference's 90th percentile — clipped",
            )
    return None


def _unseen_or_recasing(q: _Rows, found: list[SignatureEvidence]) -> SignatureEvidence | None:
    """Values never seen in training; when they are recasings of known categories, the mapping."""
    if q.numeric:
        return None
    unseen = q.lv["unseen"] / q.n_l
    if unseen < 0.01:
        return None
    xs = pl.col(q.spec.feature).cast(pl.String)
    vocab = [*q.spec.categories, *q.spec.other]
    top = (
        q.live.lf.filter(q.live_filter & ~xs.is_in(vocab) & xs.is_not_null())
        .group_by(xs.alias("v"))
        .len()
        .sort("len", descending=True)
        .head(20)
        .collect(engine="streaming")
    )
    canon = {c.lower().strip(): c for c in vocab}
    mapping = {
        v: canon[v.lower().strip()] for v in top["v"].to_list() if v.lower().strip() in canon
    }
    if mapping:
        pairs = ", ".join(f"{a!r}→{b!r}" for a, b in list(mapping.items())[:5])
        return SignatureEvidence(
            "signature",
            "recasing",
            None,
            unseen,
            None,
            mapping,
            f"{_fmt_share(unseen)} of values are unseen recasings of known categories ({pairs})",
        )
    examples = ", ".join(repr(v) for v in top["v"].to_list()[:5])
    return SignatureEvidence(
        "signature",
        "unseen_categories",
        0.0,
        unseen,
        None,
        None,
        f"{_fmt_share(unseen)} of values never seen in training ({examples})",
    )


def _categorical_frozen(q: _Rows, found: list[SignatureEvidence]) -> SignatureEvidence | None:
    r, lv = q.r, q.lv
    if q.numeric:
        return None
    if r["distinct"] > 1 and lv["distinct"] == 1 and lv["missing"] < lv["n"]:
        return SignatureEvidence(
            "signature",
            "frozen",
            r["distinct"],
            1,
            None,
            None,
            "the feature is constant live",
        )
    return None


SIGNATURES: list[Signature] = [
    _null_spike,
    _default_fill,
    _numeric_frozen,
    _scale_change,
    _affine_change,
    _partial_scale,
    _clipping,
    _unseen_or_recasing,
    _categorical_frozen,
]


def _affected_filters(
    st: _FeatureState,
    reference: Reference,
    day: pl.Expr,
    dates: list[dt.date],
    cohort: CohortEvidence | None,
) -> tuple[pl.Expr, pl.Expr]:
    """(live filter, reference filter): live rows since the onset in the cohort; reference rows
    in the same cohort where the reference has the column and the cohort did not just appear."""
    live_filter = pl.lit(True)
    if st.onset_index is not None:
        live_filter = live_filter & (day >= dates[st.onset_index])
    ref_filter = pl.lit(True)
    if cohort is not None:
        cond = _is_value(cohort.column, cohort.value)
        live_filter = live_filter & cond
        if (
            reference.lazy is not None
            and cohort.column in reference.columns
            and not (cohort.appeared)
        ):
            ref_filter = cond
    return live_filter, ref_filter


def _query(spec: BinSpec, levels: list[float]) -> Callable[[pl.LazyFrame, pl.Expr], dict[str, Any]]:
    """The one summary query per side: counts, quantiles and extremes for a numeric feature;
    counts, unseen and distinct values for a categorical one; default-fill counts for both."""
    x = pl.col(spec.feature)
    if spec.kind == "numeric":

        def q(lf: pl.LazyFrame, flt: pl.Expr) -> dict[str, Any]:
            # The affected rows' one column, then its summary in memory (the quantiles by
            # selection, where a streaming quantile sorted the column: 0.15–0.35 s a call at 5M)
            xf = lf.filter(flt).select(x.cast(pl.Float64)).collect(engine="streaming").to_series()
            sm = numeric_summary(xf, levels)
            lo, hi = sm.min, sm.max
            return {
                "n": len(xf),
                "missing": sm.missing,
                "q": sm.quantiles,
                "min": lo,
                "max": hi,
                "std": sm.std,
                "mean": sm.mean,
                "at_max": int((xf == hi).sum()) if hi is not None else 0,
                "at_min": int((xf == lo).sum()) if lo is not None else 0,
                **{f"fill_{i}": n for i, n in enumerate(sm.defaults.values())},
            }

        return q
    vocab = [*spec.categories, *spec.other]
    xs = x.cast(pl.String)

    def qc(lf: pl.LazyFrame, flt: pl.Expr) -> dict[str, Any]:
        # one streaming count per distinct value, the rest from that small table: a string
        # column's 5M rows are hashed once, not lower-cased and compared once per fill value
        vc = lf.filter(flt).group_by(xs.alias("v")).len().collect(engine="streaming")
        seen = vc.filter(pl.col("v").is_not_null())
        norm = seen["v"].str.to_lowercase().str.strip_chars()
        row: dict[str, Any] = {
            "n": int(vc["len"].sum()),
            "missing": int(vc.filter(pl.col("v").is_null())["len"].sum()),
            "unseen": int(seen.filter(~pl.col("v").is_in(vocab))["len"].sum()),
            "distinct": vc.height,  # n_unique: a null counts as one value
        }
        for i, v in enumerate(DEFAULT_FILLS_CAT):
            row[f"fill_{i}"] = int(seen["len"].filter(norm == v).sum())
        return row

    return qc


def _signatures(
    st: _FeatureState,
    reference: Reference,
    live: Source,
    day: pl.Expr,
    dates: list[dt.date],
    cohort: CohortEvidence | None,
    cfg: ExplainSettings,
) -> list[SignatureEvidence]:
    """Compare the affected live rows (cohort, post-onset) with the reference (same cohort
    where the reference has it)."""
    spec = st.spec
    f = spec.feature
    if f not in live.columns:
        return [
            SignatureEvidence(
                "signature",
                "schema_missing_column",
                "present",
                "absent",
                None,
                None,
                f"{f} is absent from the live data",
            )
        ]
    live_filter, ref_filter = _affected_filters(st, reference, day, dates, cohort)
    ref_lazy = reference.lazy
    ref_stats: dict[str, FeatureStats] | None = getattr(reference, "stats", None)
    if ref_lazy is None and (ref_stats is None or f not in ref_stats):
        return []
    out: list[SignatureEvidence] = []
    # A saved baseline keeps its own quantile levels (and no rows): compare at those levels.
    levels = DECILES if ref_lazy is not None else list(QUANTILE_LEVELS)
    fills = DEFAULT_FILLS_NUM if spec.kind == "numeric" else DEFAULT_FILLS_CAT
    query = _query(spec, levels)
    r = (
        query(ref_lazy, ref_filter)
        if ref_lazy is not None
        else _stats_row(ref_stats[f], levels, fills)
        if ref_stats
        else {}
    )
    lv = query(live.lf, live_filter)
    n_r, n_l = max(r["n"], 1), max(lv["n"], 1)
    if lv["n"] < cfg.min_cohort_rows:
        return out
    rows = _Rows(spec, r, lv, n_r, n_l, live, live_filter, float(st.max_psi))
    for signature in SIGNATURES:
        ev = signature(rows, out)
        if ev is not None:
            out.append(ev)
    return out


def _stats_row(st: FeatureStats, levels: list[float], fills: Sequence[Any]) -> dict[str, Any]:
    """The reference side of the signature query, read from a saved baseline's stats."""
    row: dict[str, Any] = {
        "n": st.rows,
        "missing": st.nulls,
        "min": st.min,
        "max": st.max,
        "std": st.std,
        "mean": st.mean,
        "at_max": 0,
        "at_min": 0,
        "unseen": 0,
        "distinct": len(st.frequencies) + (1 if st.frequencies_rest else 0),
        "q": [st.quantiles.get(str(lv)) for lv in levels] if st.numeric else None,
    }
    if row["q"] is not None and any(v is None for v in row["q"]):
        row["q"] = None
    for i, v in enumerate(fills):
        if isinstance(v, str):
            row[f"fill_{i}"] = int(st.defaults.get(v, 0))
        else:
            key = next((k for k, dv in NUMERIC_DEFAULTS.items() if dv == v), None)
            row[f"fill_{i}"] = int(st.defaults.get(key, 0)) if key is not None else 0
    return row
