"""Small pieces every step of root cause shares: the day column, the per-feature state, the
two-proportion test, noisy-OR, BH over one family, ownership lookup and text formatting."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlfail.binning import BinSpec
from mlfail.changepoint import Onset
from mlfail.errors import UsageError
from mlfail.owners import Owners
from mlfail.psi import FeaturePsi, PsiSettings, bh_adjust
from mlfail.tails import norm_sf
from mlfail.timekeys import DAY as DAY  # the day column root cause groups by


def two_proportion_p(x1: float, n1: float, x2: float, n2: float) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if n1 <= 0 or n2 <= 0:
        return None
    p = (x1 + x2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if x1 / n1 == x2 / n2 else 0.0
    z = (x1 / n1 - x2 / n2) / se
    return float(2 * norm_sf(abs(z)))


def noisy_or(weights: Sequence[float]) -> float:
    out = 1.0
    for w in weights:
        out *= 1.0 - max(0.0, min(1.0, w))
    return 1.0 - out


@dataclass
class _FeatureState:
    spec: BinSpec
    whole: FeaturePsi
    daily: np.ndarray
    onset: Onset | None
    onset_index: int | None
    day_one: bool
    post: FeaturePsi | None
    first: FeaturePsi | None
    max_psi: float = 0.0
    significant: bool = False
    best: FeaturePsi | None = None  # the strongest significant population-level window


def _is_value(col: str, v: Any) -> pl.Expr:
    """Rows of the cohort ``col`` = ``v``; ``v`` None is the null cohort."""
    return (pl.col(col) == v) if v is not None else pl.col(col).is_null()


def _day_expr(schema: pl.Schema, ts: str) -> pl.Expr:
    dtype = schema[ts]
    if dtype == pl.Date:
        return pl.col(ts).alias(DAY)
    if isinstance(dtype, pl.Datetime):
        return pl.col(ts).dt.date().alias(DAY)
    if dtype == pl.String:
        return pl.col(ts).str.to_datetime(strict=False).dt.date().alias(DAY)
    raise UsageError(f"--timestamp {ts}: column has type {dtype}; need a date or datetime")


def _bh(records: list[FeaturePsi], ps: PsiSettings) -> None:
    """Benjamini–Hochberg across ``records`` (one family of tests)."""
    tested = [r for r in records if r.p_value is not None]
    q = bh_adjust([r.p_value for r in tested if r.p_value is not None])
    for r, qv in zip(tested, q, strict=True):
        r.q_value = float(qv)
        r.significant = bool(qv <= ps.alpha)


def _moved_bins(rec: FeaturePsi, k: int = 3) -> list[dict[str, Any]]:
    return [
        {"bin": b.bin, "reference_share": b.reference_share, "live_share": b.live_share}
        for b in rec.top_moves(k)
    ]


def _p(p: float) -> str:
    """'<1e-300' or '=0.0012', to follow a 'p'."""
    return "<1e-300" if p < 1e-300 else f"={p:.2g}"


def _fmt_share(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.1f}%" if x >= 0.001 or x == 0 else f"{100 * x:.2g}%"


def _value_str(v: Any) -> str:
    return "null" if v is None else str(v)


def _owner_of(
    feature: str | None, owners: Owners | None, layer: str
) -> tuple[str | None, str | None, str | None, bool]:
    """(owner, pager, component, owned) for a feature; unowned → the layer's owner."""
    if owners is None:
        return None, None, None, False
    if feature is not None:
        comp = owners.component_for(feature)
        if comp is not None:
            return comp.owner, comp.pager, comp.name, True
    lo = owners.layer(layer)
    return (lo.owner if lo else None), (lo.pager if lo else None), None, False
