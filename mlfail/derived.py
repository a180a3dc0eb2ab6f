"""Columns derived from the model's prediction: decisions, rounded / clipped / rescaled scores,
relabelled classes (§9: model outputs are never features nor slice keys).

A column is an output when it is a deterministic function of ``--prediction`` on ≥ 99%
(:data:`OUTPUT_AGREE`) of the reference rows:

* a two-valued decision thresholded on the score: one class below t, the other above, the
  rows on the wrong side of the best t under 1% of all rows and under 10% of the smaller
  class (so a column that is 99.5% one value is not an output by default);
* the score rounded to 0–6 decimals (or 100 × score), clipped to the column's own range, or
  an affine function of it (residuals under 1e-6 of the column's spread);
* for a class prediction (integers or strings with at most 20 values): a relabelling (each
  predicted class maps to one value), or — for a two-class decision — the numeric score it
  thresholds.

One query reads the prediction and the candidate columns, at most :data:`OUTPUT_ROWS` rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from mlfail.config import is_binnable

OUTPUT_AGREE = 0.99
OUTPUT_ROWS = 200_000


def find_outputs(
    lf: pl.LazyFrame,
    prediction: str,
    candidates: Sequence[str],
    live: pl.LazyFrame | None = None,
) -> dict[str, str]:
    """{column: reason} for the candidates that are a deterministic function of the
    prediction (or, for a decision prediction, the score it thresholds) on ≥ 99% of rows —
    of the reference, and of ``live`` too when it has the columns (≥ 10 rows with both).

    The live check keeps an unflagged label out: a model fitted on the reference can agree
    with its labels on ≥ 99% of them (training accuracy), not on new rows; a real output is
    as deterministic on live as on the reference. One round of queries (one per side) on the
    prediction and the candidate columns."""
    schema = lf.collect_schema()
    pdt = schema[prediction]
    cols = [c for c in candidates if c != prediction and is_binnable(schema[c])]
    if not cols:
        return {}
    queries = [lf.select([prediction, *cols]).head(OUTPUT_ROWS)]
    live_cols: list[str] = []
    if live is not None and prediction in (ls := live.collect_schema()):
        live_cols = [c for c in cols if c in ls]
        queries.append(live.select([prediction, *live_cols]).head(OUTPUT_ROWS))
    frames = pl.collect_all(queries)
    # a float (or many-valued integer) prediction is a score; otherwise it is a class
    pred = frames[0][prediction]
    is_score = pdt.is_float() or (pdt.is_integer() and pred.drop_nulls().n_unique() > 20)
    out: dict[str, str] = {}
    seen: list[dict[str, object]] = [{}, {}]  # per frame: the prediction's rows, computed once
    for c in cols:
        reason = _on_frame(frames[0], prediction, c, is_score, cache=seen[0])
        if reason and c in live_cols:
            on_live = _on_frame(frames[1], prediction, c, is_score, missing="", cache=seen[1])
            if on_live is None:
                reason = None  # deterministic on the reference only: not an output
            elif on_live:
                reason += "; holds on live too"
        if reason:
            out[c] = reason
    return out


def _on_frame(
    frame: pl.DataFrame,
    prediction: str,
    c: str,
    is_score: bool,
    missing: str | None = None,
    cache: dict[str, object] | None = None,
) -> str | None:
    """The reason ``c`` is an output of ``prediction`` on ``frame`` (None when it is not);
    ``missing`` when there is nothing to judge: under 10 rows have both, or either is
    constant there (a live side where the model predicts one class). ``cache`` keeps the
    prediction's own rows, distinct count and scores for the next column without nulls."""
    pred, col = frame[prediction], frame[c]
    if cache is not None and col.null_count() == 0:
        if "p" not in cache:
            p0 = pred.drop_nulls()
            cache.update(p=p0, unique=p0.n_unique(), scores=None)
        p, p_unique = cache["p"], cache["unique"]
        assert isinstance(p, pl.Series) and isinstance(p_unique, int)
        v = col.filter(pred.is_not_null()) if pred.null_count() else col
    else:
        both = pred.is_not_null() & col.is_not_null()
        p, v = pred.filter(both), col.filter(both)
        p_unique, cache = p.n_unique(), None
    if len(p) < 10 or p_unique < 2:
        return missing
    v_unique = v.n_unique()  # a hash of every row: taken once, read by every rule below
    if v_unique < 2:
        return missing
    return _output_reason(prediction, c, p, v, v_unique, is_score=is_score, cache=cache)


def _output_reason(
    prediction: str,
    c: str,
    p: pl.Series,
    v: pl.Series,
    v_unique: int,
    *,
    is_score: bool,
    cache: dict[str, object] | None = None,
) -> str | None:
    if is_score:
        scores = cache.get("scores") if cache is not None else None
        if not isinstance(scores, np.ndarray):
            scores = p.cast(pl.Float64).to_numpy()
            if cache is not None:
                cache["scores"] = scores
        return _function_of_score(scores, v, v_unique)
    classes = p.n_unique()
    if classes <= 2 and v.dtype.is_numeric() and v_unique > 2:
        t = _threshold_agreement(v.cast(pl.Float64).to_numpy(), _class_codes(p))
        if t is not None:
            return (
                f"the score behind --prediction ({prediction} follows {c} ≥ {t[0]:.4g} "
                f"on {t[1]:.1%} of rows)"
            )
    if classes <= 20 and v_unique <= 20:
        share = _mapping_agreement(p.cast(pl.String), v.cast(pl.String))
        if share is not None:
            return f"a relabelling of the predicted class on {share:.1%} of rows"
    return None


def _class_codes(x: pl.Series) -> np.ndarray:
    """Each row's class as an integer, in the order of the classes' text (as ``np.unique`` of
    the text would order them): cheap to compare, where an array of strings is not."""
    return x.cast(pl.String).rank("dense").to_numpy()


def _function_of_score(s: np.ndarray, v: pl.Series, v_unique: int) -> str | None:
    if v_unique <= 2:
        t = _threshold_agreement(s, _class_codes(v))
        return None if t is None else f"decision: score ≥ {t[0]:.4g} on {t[1]:.1%} of rows"
    if v.dtype.is_numeric():
        return _transform_of_score(s, v.cast(pl.Float64).to_numpy())
    return None


def _agree(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _transform_of_score(s: np.ndarray, x: np.ndarray) -> str | None:
    """The score rounded, clipped or affinely rescaled, on ≥ 99% of rows."""
    ok = np.isfinite(s) & np.isfinite(x)
    if not ok.all():  # a copy of both only when there is something to drop
        s, x = s[ok], x[ok]
    if s.size < 10:
        return None
    if np.ptp(s) == 0 or np.ptp(x) == 0 or abs(float(np.corrcoef(s, x)[0, 1])) < 0.9:
        return None  # rounding, clipping and rescaling all keep the correlation near 1
    tol = 1e-9 * np.maximum(1.0, np.abs(x))
    for scale in (1.0, 100.0):
        for k in range(7):
            share = _agree(np.abs(x - np.round(s * scale, k)) <= tol)
            if share >= OUTPUT_AGREE:
                what = "score" if scale == 1.0 else "100 × score"
                return f"{what} rounded to {k} decimal(s) on {share:.1%} of rows"
    lo, hi = float(x.min()), float(x.max())
    share = _agree(np.abs(x - np.clip(s, lo, hi)) <= tol)
    if share >= OUTPUT_AGREE:
        return f"score clipped to [{lo:.4g}, {hi:.4g}] on {share:.1%} of rows"
    b, a = np.polyfit(s, x, 1)
    share = _agree(np.abs(x - (a + b * s)) <= 1e-6 * float(np.std(x)))
    if share >= OUTPUT_AGREE:
        return f"affine in the score ({a:.4g} + {b:.4g} × score) on {share:.1%} of rows"
    return None


def _threshold_agreement(s: np.ndarray, d: np.ndarray) -> tuple[float, float] | None:
    """(t, share) when the two-valued ``d`` is ``s ≥ t`` (one class below, the other above)
    on ≥ 99% of rows, the disagreements also under 10% of the smaller class — else None."""
    ok = np.isfinite(s)
    s, d = s[ok], d[ok]
    classes = np.unique(d)
    if classes.size != 2 or s.size < 10:
        return None
    hi_cls = max(classes, key=lambda c: float(np.median(s[d == c])))
    order = np.argsort(s, kind="stable")
    is_hi = (d == hi_cls)[order]
    n, n_hi = s.size, int(is_hi.sum())
    # errors when the first k sorted rows are called low: highs among them + lows after them
    hi_before = np.concatenate([[0], np.cumsum(is_hi)])
    lo_after = (n - n_hi) - (np.arange(n + 1) - hi_before)
    errors = hi_before + lo_after
    k = int(np.argmin(errors))
    best = int(errors[k])
    minority = min(n_hi, n - n_hi)
    if best > (1 - OUTPUT_AGREE) * n or best > 0.1 * minority:
        return None
    sorted_s = s[order]
    t = float(sorted_s[k]) if k < n else math.inf
    return t, 1 - best / n


def _mapping_agreement(p: pl.Series, v: pl.Series) -> float | None:
    """Share of rows where ``v`` is the majority value of its prediction class, when ≥ 99%
    and the disagreements are under 10% of the rows outside ``v``'s commonest value."""
    pairs = pl.DataFrame({"p": p, "v": v}).group_by("p", "v").len()
    n = int(pairs["len"].sum())
    agree = int(pairs.group_by("p").agg(pl.col("len").max())["len"].sum())
    top = int(pairs.group_by("v").agg(pl.col("len").sum())["len"].max())  # type: ignore[arg-type]
    errors = n - agree
    if n - top == 0 or errors > (1 - OUTPUT_AGREE) * n or errors > 0.1 * (n - top):
        return None
    return agree / n
