"""Slices (design §5): one story out of the listed slices — the order the table is printed in is
the order step 4 chooses in, slices that overlap are grouped under the one that explains them,
and the bins of a drifted feature are shown as symptoms after the segments that carry them.

Order (:func:`story_order`)
    degraded before not degraded; within each, *segments* (any key that is not a bin of a
    drifted feature: columns, metadata, time cohorts, bins of stable features) before
    *symptoms*; then the report's own ranking (excess errors; no labels: drift mass). A
    symptom is a bin that a moved feature's values landed in (:func:`drifted_bins`: the
    cohort's own bins, reference vs live counts of the slice pass): it shows where damaged
    values land, not why — the segment covering the same damaged rows is the cause. Needs
    the reference's rows (a saved baseline keeps no cohort counts: no symptoms then).

Grouping (:func:`group`)
    walking that order, a slice is ``explained_by`` the first distinct slice listed before it
    whose rows hold at least :data:`EXPLAINED_SHARE` of its excess (with labels: errors above
    its own baseline, e − n·baseline, counted on the overlap; without: its *moved rows*, live
    prediction-bin counts above its reference distribution). A child is inside its parent by
    construction; two 1-predicate slices on different keys overlap on their pair's cell of the
    count table; a parent whose excess lives in one child is explained by the child (when two
    slices each hold most of the other's excess, the one with the larger lift leads). Where
    the overlap would need 3 predicates nothing is claimed. A slice only points to a distinct
    slice, never to itself or to an explained one, so there is no cycle.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from mlfail.slices.model import EXPLAINED_SHARE, NO_KEY, NULL_KEY, ROWS, Candidate
from mlfail.slices.stats import psi_row_pairs

Key = tuple[Any, ...]  # (a_col, a_val, b_col, b_val)

_DISJOINT = -1  # two slices with no row in common

GROUPED_AT_MOST = 500  # with --top 0, the first this many slices are grouped (the rest follow)


def _preds(k: Key) -> dict[str, str]:
    return {k[0]: k[1]} if k[2] == NO_KEY else {k[0]: k[1], k[2]: k[3]}


def day_weeks(cands: Sequence[Candidate]) -> dict[str, str]:
    """``{day(TS): week(TS)}``: a day cohort lies inside its ISO week's cohort (the two are
    never paired, so their overlap is known from the day alone)."""
    weeks = {c.name[len("week") :] for c in cands if c.kind == "week"}
    return {
        c.name: "week" + c.name[len("day") :]
        for c in cands
        if c.kind == "day" and c.name[len("day") :] in weeks
    }


def _implied(p: dict[str, str], weeks: dict[str, str]) -> dict[str, str]:
    """The predicates with the ISO week each day predicate implies."""
    out = dict(p)
    for col, val in p.items():
        if col in weeks and weeks[col] not in out and val != NULL_KEY:
            try:
                y, w, _ = dt.date.fromisoformat(val).isocalendar()
            except ValueError:
                continue
            out[weeks[col]] = f"{y}-W{w:02d}"
    return out


def overlap_cell(
    s: Key, h: Key, cell: dict[Key, int], weeks: dict[str, str] | None = None
) -> int | None:
    """The row of the count table holding the rows of ``s`` ∩ ``h`` (``_DISJOINT`` when they
    share none: another value of the same key, or a day outside the week), or None when that
    cell is not counted. ``weeks``: :func:`day_weeks`."""
    rs, rh = _preds(s), _preds(h)
    ps, ph = _implied(rs, weeks or {}), _implied(rh, weeks or {})
    if any(c in ph and ph[c] != v for c, v in ps.items()):
        return _DISJOINT
    if rh.items() <= ps.items():
        return cell.get(s)  # s lies inside h
    if rs.items() <= ph.items():
        return cell.get(h)  # h lies inside s
    both = {**rs, **rh}
    for col in list(both):
        if col in (weeks or {}) and (weeks or {})[col] in both:
            both.pop((weeks or {})[col])  # the week a day implies is no predicate of its own
    if len(both) == 2:
        (a, av), (b, bv) = both.items()
        found = cell.get((a, av, b, bv))
        return found if found is not None else cell.get((b, bv, a, av))
    return None


def cell_index(keys: Sequence[Key]) -> dict[Key, int]:
    return {tuple(k): i for i, k in enumerate(keys)}


def group(
    order: Sequence[int],
    keys: Sequence[Key],
    share: Callable[[int, int | None], float | None],
    lift: np.ndarray,
    tier: Callable[[int], Any],
    weeks: dict[str, str] | None = None,
) -> tuple[list[int], dict[int, int]]:
    """What explains what, walking ``order``: the order with a head moved to where the slice
    it replaced stood, and ``{slice: the distinct slice it is explained by}`` (indices into
    ``keys``). ``share(i, c)`` is the share of slice i's excess found in count-table row c
    (None: not measurable). A slice mostly inside one already explained is explained by that
    one's head when the product of the two shares is still ≥ :data:`EXPLAINED_SHARE`. When two
    slices each hold most of the other's excess (one problem), the one with the higher
    ``lift`` (error-rate lift at about the same excess) of the same ``tier`` leads and takes
    the other's place."""
    cell = cell_index(keys)

    def inside(i: int, h: int) -> float:
        c = overlap_cell(keys[i], keys[h], cell, weeks)
        got = 0.0 if c == _DISJOINT else share(i, c) if c is not None else None
        return 0.0 if got is None else got

    out = list(order)
    heads: list[int] = []
    explained: dict[int, int] = {}
    via: dict[int, float] = {}  # an explained slice's share inside its head
    for i in order:
        h = next((h for h in heads if inside(i, h) >= EXPLAINED_SHARE), None)
        if h is None:
            x = next((x for x in explained if inside(i, x) * via[x] >= EXPLAINED_SHARE), None)
            if x is not None:
                explained[i], via[i] = explained[x], inside(i, x) * via[x]
            else:
                heads.append(i)
            continue
        if lift[i] > lift[h] and tier(i) == tier(h) and inside(h, i) >= EXPLAINED_SHARE:
            heads[heads.index(h)] = i
            out.remove(i)
            out[out.index(h)] = i
            out.insert(out.index(i) + 1, h)
            for x, y in list(explained.items()):
                if y == h:
                    explained[x] = i
            explained[h], via[h] = i, inside(h, i)
        else:
            explained[i], via[i] = h, inside(i, h)
    return out, explained


def excess_share(
    n: np.ndarray, e: np.ndarray, base: np.ndarray
) -> Callable[[int, int | None], float | None]:
    """With labels: the share of slice i's excess errors (e − n·baseline, its own baseline)
    that lies in row c."""

    def share(i: int, c: int | None) -> float | None:
        if c is None:
            return None
        total = float(e[i] - n[i] * base[i])
        if not total > 0:
            return None
        return float(e[c] - n[c] * base[i]) / total

    return share


def moved_share(live: np.ndarray, ref_p: np.ndarray) -> Callable[[int, int | None], float | None]:
    """Without labels: the share of slice i's *moved rows* — rows above what its reference
    distribution expects, Σ_b max(0, live_b − n·ref_b), over the prediction bins — that lies in
    row c (counted against slice i's reference)."""

    def moved(c: int, i: int) -> float:
        n = live[c].sum()
        return float(np.maximum(live[c] - n * ref_p[i], 0.0).sum())

    def share(i: int, c: int | None) -> float | None:
        if c is None:
            return None
        total = moved(i, i)
        if not total > 0:
            return None
        return moved(c, i) / total

    return share


SYMPTOM_PSI = 0.1  # a cohort feature this far moved (PSI over its 5 bins) has symptom bins


Symptoms = dict[tuple[str, str], float]  # (feature, bin) → the feature's PSI


def drifted_bins(
    cands: Sequence[Candidate],
    live: pl.DataFrame,
    ref: pl.DataFrame | None,
    alpha: float,
) -> Symptoms:
    """The bins where a drifted feature's values land: for each cohort candidate (bins of a
    numeric feature) whose live distribution over its bins moved — PSI ≥ :data:`SYMPTOM_PSI`
    (the conventional "moderate shift"; five coarse bins understate the PSI of design §3)
    and significant at ``alpha`` — the bins that gained share. From the 1-predicate rows
    (``ROWS``) of the live and the reference long tables, the counts the slice pass already
    has; {} without reference counts."""
    names = [c.name for c in cands if c.kind == "cohort" and c.in_reference]
    if ref is None or not names or ROWS not in ref.columns:
        return {}

    def bins(t: pl.DataFrame) -> pl.DataFrame:
        return (
            t.filter((pl.col("b_col") == NO_KEY) & pl.col("a_col").is_in(names))
            .group_by("a_col", "a_val")
            .agg(pl.col(ROWS).sum().cast(pl.Float64))
        )

    j = bins(live).join(bins(ref), on=["a_col", "a_val"], how="full", coalesce=True, suffix="_r")
    j = j.fill_null(0.0).sort("a_col", "a_val")
    out: Symptoms = {}
    feats = sorted(set(j["a_col"].to_list()))
    if not feats:
        return out
    width = max(j.group_by("a_col").len()["len"].to_list())
    lm, rm = np.zeros((len(feats), width)), np.zeros((len(feats), width))
    vals: list[list[str]] = []
    for i, f in enumerate(feats):
        sub = j.filter(pl.col("a_col") == f)
        lm[i, : sub.height] = sub[ROWS].to_numpy()
        rm[i, : sub.height] = sub[f"{ROWS}_r"].to_numpy()
        vals.append(sub["a_val"].to_list())
    ok = (lm.sum(axis=1) > 0) & (rm.sum(axis=1) > 0)
    if not ok.any():
        return out
    psi, pval, _ = psi_row_pairs(rm[ok], lm[ok], alpha)
    for r, p, q in zip(np.flatnonzero(ok).tolist(), psi, pval, strict=True):
        if not (np.isfinite(p) and p >= SYMPTOM_PSI and q <= alpha):
            continue
        gained = lm[r] / lm[r].sum() > rm[r] / rm[r].sum()
        for b, v in enumerate(vals[r]):
            if gained[b]:
                out[(feats[r], v)] = float(p)
    return out


def symptom_of(k: Key, drifted: Symptoms) -> str | None:
    """The drifted feature (the most drifted) where one of slice ``k``'s predicates is a bin
    its values moved into, or None."""
    hit = [(p, c) for c, v in _preds(k).items() if (p := drifted.get((c, v))) is not None]
    return max(hit)[1] if hit else None


def tier(degraded: np.ndarray, keys: Sequence[Key], drifted: Symptoms) -> Callable[[int], Any]:
    """The first part of the order: degraded before not, segments before symptoms."""
    return lambda i: (not bool(degraded[i]), symptom_of(keys[i], drifted) is not None)


def story_order(
    ranked: Sequence[int],
    keys: Sequence[Key],
    degraded: np.ndarray,
    drifted: Symptoms,
) -> list[int]:
    """``ranked`` (the report's own ranking) reordered: degraded first, segments before
    symptoms within each, the ranking kept otherwise (a stable sort)."""
    return sorted(ranked, key=tier(degraded, keys, drifted))


def distinct_first(order: Sequence[int], explained: dict[int, int]) -> list[int]:
    """The distinct slices in order, then the ones explained by another, in order."""
    return [i for i in order if i not in explained] + [i for i in order if i in explained]
