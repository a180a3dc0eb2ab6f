"""Merging baselines built with the same bin specs (see :mod:`mlfail.baseline`): counts and
additive statistics sum exactly, moments merge by Chan's formula, quantiles become bounded
estimates from the merged counts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl

from mlfail.baseline.build import ADDITIVE_PERF
from mlfail.baseline.model import Baseline, combine_hashes, now
from mlfail.binning import BinSpec
from mlfail.counts import dense
from mlfail.counts import merge as merge_counts
from mlfail.errors import UsageError
from mlfail.featurestats import (
    MAX_FREQUENCIES,
    MEAN_DEFAULT,
    QUANTILE_LEVELS,
    FeatureStats,
    level_key,
)
from mlfail.performance import TaskSpec, finish


def _same(a: Baseline, b: Baseline, what: str, va: Any, vb: Any) -> None:
    if va != vb:
        raise UsageError(
            f"cannot merge {a.path or 'baseline'} and {b.path or 'baseline'}: different {what}; "
            "build every part with the same flags and --specs-from the first part"
        )


def _check_mergeable(a: Baseline, b: Baseline) -> None:
    fa = {s.feature: s for s in a.specs}
    fb = {s.feature: s for s in b.specs}
    _same(a, b, "features", list(fa), list(fb))
    for name, sa in fa.items():
        if sa != fb[name]:
            raise UsageError(
                f"cannot merge {a.path or 'baseline'} and {b.path or 'baseline'}: the bin specs "
                f"of {name!r} differ (edges or categories); build the second with "
                f"`mlfail baseline create --specs-from {a.path or 'FIRST.json'}`"
            )
    _same(a, b, "prediction bin spec", a.prediction_spec, b.prediction_spec)
    _same(a, b, "roles", a.roles, b.roles)
    _same(a, b, "segments", a.segments, b.segments)
    _same(a, b, "bin settings", a.bin_settings, b.bin_settings)
    _same(a, b, "task", a.task, b.task)
    for col in set(a.schema) & set(b.schema):
        if a.schema[col] != b.schema[col]:
            raise UsageError(
                f"cannot merge {a.path or 'baseline'} and {b.path or 'baseline'}: column {col!r} "
                f"is {a.schema[col]} in one and {b.schema[col]} in the other"
            )


def _merge_moments(
    na: int, ma: float | None, sa: float | None, nb: int, mb: float | None, sb: float | None
) -> tuple[float | None, float | None]:
    """Mean and sample std of the union (Chan et al.'s pairwise update)."""
    if nb == 0 or mb is None:
        return ma, sa
    if na == 0 or ma is None:
        return mb, sb
    n = na + nb
    delta = mb - ma
    mean = ma + delta * nb / n
    m2 = (sa or 0.0) ** 2 * (na - 1) + (sb or 0.0) ** 2 * (nb - 1) + delta**2 * na * nb / n
    std = math.sqrt(m2 / (n - 1)) if n > 1 else None
    return mean, std


def quantiles_from_values(
    values: np.ndarray, counts: np.ndarray, levels: Sequence[float]
) -> list[float | None]:
    """Linear-interpolation quantiles (numpy's default) of data given as value counts."""
    keep = counts > 0
    v, c = values[keep], counts[keep]
    if len(v) == 0:
        return [None] * len(levels)
    order = np.argsort(v)
    v, c = v[order], c[order]
    cum = np.cumsum(c)
    n = int(cum[-1])
    out: list[float | None] = []
    for p in levels:
        h = (n - 1) * p
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        x_lo = float(v[np.searchsorted(cum, lo, side="right")])
        x_hi = float(v[np.searchsorted(cum, hi, side="right")])
        out.append(x_lo + (h - lo) * (x_hi - x_lo))
    return out


def quantiles_from_bins(
    spec: BinSpec,
    counts: np.ndarray,
    *,
    neg_inf: int,
    pos_inf: int,
    vmin: float | None,
    vmax: float | None,
    levels: Sequence[float],
) -> tuple[list[float | None], list[list[float] | None]]:
    """Estimated quantiles of the finite values of a numeric feature from its bin counts.

    Returns (estimates, bounds): each bound [lo, hi] certainly contains the exact linear
    quantile, since the two order statistics it interpolates lie in known bins (clamped to the
    exact [min, max]). The estimate spreads each bin's values evenly over the bin.
    """
    c = np.asarray(counts[:-1], dtype=np.int64).copy()  # drop the missing bin
    c[0] -= neg_inf
    c[-1] -= pos_inf
    n = int(c.sum())
    if n <= 0 or vmin is None or vmax is None:
        return [None] * len(levels), [None] * len(levels)
    lows = np.clip(np.array([vmin, *spec.edges], dtype=float), vmin, vmax)
    highs = np.clip(np.array([*spec.edges, vmax], dtype=float), vmin, vmax)
    cum = np.cumsum(c)

    def locate(i: int) -> tuple[int, float]:
        j = int(np.searchsorted(cum, i, side="right"))
        before = int(cum[j - 1]) if j else 0
        frac = (i - before + 0.5) / c[j]
        return j, float(lows[j] + frac * (highs[j] - lows[j]))

    est: list[float | None] = []
    bounds: list[list[float] | None] = []
    for p in levels:
        h = (n - 1) * p
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        ja, xa = locate(lo)
        jb, xb = locate(hi)
        est.append(xa + (h - lo) * (xb - xa))
        bounds.append([float(lows[ja]), float(highs[jb])])
    return est, bounds


def _merge_stats(
    a: FeatureStats, b: FeatureStats, spec: BinSpec, merged_counts: np.ndarray
) -> tuple[FeatureStats, bool]:
    """Merge two features' stats; the bool says whether quantiles became approximate."""
    freqs = dict(a.frequencies)
    for k, v in b.frequencies.items():
        freqs[k] = freqs.get(k, 0) + v
    ordered = sorted(freqs.items(), key=lambda kv: (-kv[1], kv[0]))
    rest = a.frequencies_rest + b.frequencies_rest + sum(n for _, n in ordered[MAX_FREQUENCIES:])
    defaults = {
        k: a.defaults.get(k, 0) + b.defaults.get(k, 0) for k in {**a.defaults, **b.defaults}
    }
    out = replace(
        a,
        rows=a.rows + b.rows,
        nulls=a.nulls + b.nulls,
        defaults=defaults,
        frequencies=dict(ordered[:MAX_FREQUENCIES]),
        frequencies_rest=rest,
        quantile_bounds={},
    )
    approx = False
    if a.numeric:
        out.count = a.count + b.count
        out.neg_inf, out.pos_inf = a.neg_inf + b.neg_inf, a.pos_inf + b.pos_inf
        mins = [x for x in (a.min, b.min) if x is not None]
        maxs = [x for x in (a.max, b.max) if x is not None]
        out.min = min(mins) if mins else None
        out.max = max(maxs) if maxs else None
        out.mean, out.std = _merge_moments(a.count, a.mean, a.std, b.count, b.mean, b.std)
        levels = list(QUANTILE_LEVELS)
        if spec.kind == "categorical" and not rest:
            vals = np.array([float(k) for k in freqs], dtype=float)
            cnts = np.array(list(freqs.values()), dtype=np.int64)
            fin = np.isfinite(vals)
            qs = quantiles_from_values(vals[fin], cnts[fin], levels)
            out.quantiles = {level_key(lv): q for lv, q in zip(levels, qs, strict=True)}
            out.quantiles_exact = a.quantiles_exact and b.quantiles_exact
        elif spec.kind == "numeric":
            qs, bounds = quantiles_from_bins(
                spec,
                merged_counts,
                neg_inf=out.neg_inf,
                pos_inf=out.pos_inf,
                vmin=out.min,
                vmax=out.max,
                levels=levels,
            )
            out.quantiles = {level_key(lv): q for lv, q in zip(levels, qs, strict=True)}
            out.quantile_bounds = {
                level_key(lv): bd for lv, bd in zip(levels, bounds, strict=True) if bd is not None
            }
            out.quantiles_exact = False
            approx = True
        else:  # not reachable with the default settings; be honest rather than stale
            out.quantiles = {level_key(lv): None for lv in levels}
            out.quantiles_exact = False
            approx = True
    return out, approx


def _merge_perf(a: pl.DataFrame, b: pl.DataFrame, keys: list[str], task: TaskSpec) -> pl.DataFrame:
    cols = a.columns
    both = pl.concat([a, b], how="vertical_relaxed")
    additive = [c for c in ADDITIVE_PERF if c in cols]
    aggs = [pl.col(c).sum() for c in additive]
    if "mean_score" in cols:
        if "scored" in cols:
            w = pl.col("scored")
            num = (pl.col("mean_score") * w).sum()
            den = w.filter(pl.col("mean_score").is_not_null()).sum()
            aggs.append(pl.when(den > 0).then(num / den).alias("mean_score"))
        else:
            aggs.append(pl.col("mean_score").mean())
    if keys:
        merged = both.group_by(keys, maintain_order=True).agg(aggs).sort(keys, nulls_last=True)
    else:
        merged = both.select(aggs)
    merged = finish(merged, task)
    if "auc" in cols:  # AUC is not additive: unknown after a merge
        merged = merged.with_columns(pl.lit(None, dtype=pl.Float64).alias("auc"))
    return merged.select(cols)


def merge_baselines(parts: Sequence[Baseline]) -> Baseline:
    """Merge baselines built with the same bin specs (e.g. one per partition)."""
    if len(parts) < 2:
        raise UsageError("baseline merge needs at least two baselines")
    out = parts[0]
    for b in parts[1:]:
        out = _merge_two(out, b)
    return out


def _merge_two(a: Baseline, b: Baseline) -> Baseline:
    _check_mergeable(a, b)
    tables = {k: merge_counts([t, b.tables[k]]) for k, t in a.tables.items() if k in b.tables}
    stats: dict[str, FeatureStats] = {}
    approx = set(a.approximate) | set(b.approximate)
    for spec in a.specs:
        merged, was_approx = _merge_stats(
            a.stats[spec.feature], b.stats[spec.feature], spec, dense(tables[()], spec)
        )
        stats[spec.feature] = merged
        if was_approx:
            approx.add("quantiles")
        if MEAN_DEFAULT in merged.defaults:
            approx.add("defaults.mean")
    perf: dict[tuple[str, ...], pl.DataFrame] = {}
    if a.task is not None:
        for k, t in a.perf.items():
            if k in b.perf:
                perf[k] = _merge_perf(t, b.perf[k], list(k), a.task)
                if "auc" in t.columns:
                    approx.add("performance.auc")
    schema = {**a.schema, **{k: v for k, v in b.schema.items() if k not in a.schema}}
    return Baseline(
        specs=list(a.specs),
        prediction_spec=a.prediction_spec,
        rows=a.rows + b.rows,
        schema=schema,
        roles=a.roles,
        segments=list(a.segments),
        key_dtypes={**b.key_dtypes, **a.key_dtypes},
        bin_settings=dict(a.bin_settings),
        stats=stats,
        tables=tables,
        task=a.task,
        perf=perf,
        sources=[*a.sources, *b.sources],
        content_hash=combine_hashes([a.content_hash, b.content_hash]),
        created_at=now(),
        approximate=sorted(approx),
        skipped=sorted(set(a.skipped) | set(b.skipped)),
    )
