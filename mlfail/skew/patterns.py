"""Name the one explanation of a feature's mismatches (a *pattern*), from a bounded sample
of mismatched rows: a = served value, b = offline value.

Each candidate predicts the served value from the offline one; the first candidate that
explains at least ``pattern_coverage`` of the sampled mismatches wins. Numeric order:
null, clipped, constant_fill, rounding, scale, offset, affine; categorical: null,
constant_fill, category_map. Nothing fits → ``other`` (with example rows in the feature)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from mlfail.factors import snap_factor
from mlfail.skew.model import Pattern, SkewSettings

MAX_DECIMALS = 6
MAX_MAPPING = 20


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _null_pattern(a_null: np.ndarray, b_null: np.ndarray, s: SkewSettings) -> Pattern | None:
    """Nulls on one side explain the mismatches (``a_null``/``b_null``: per sampled row)."""
    n = len(a_null)
    served, offline = int((a_null & ~b_null).sum()), int((~a_null & b_null).sum())
    if n == 0 or (served + offline) / n < s.pattern_coverage:
        return None
    if served / n >= s.pattern_coverage:
        side, words = "serving", "null served where offline has a value"
    elif offline / n >= s.pattern_coverage:
        side, words = "offline", "null offline where a value was served"
    else:
        side, words = "both", "a null on one side or the other"
    return Pattern("null", words, coverage=(served + offline) / n, sampled=n, side=side)


def _numeric_candidates(
    x: np.ndarray, y: np.ndarray, offline_range: tuple[float, float] | None
) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """(kind, predicted served values, fields) per candidate, in precedence order."""
    out: list[tuple[str, np.ndarray, dict[str, Any]]] = []
    lo, hi = float(y.min()), float(y.max())
    omin, omax = offline_range if offline_range else (-np.inf, np.inf)
    # clipping: served at a bound that lies inside the offline range, offline beyond it
    up = (y == hi) & (x > hi) & (omin < hi)
    down = (y == lo) & (x < lo) & (omax > lo)
    if (up.any() or down.any()) and not (up.any() and down.any() and lo == hi):
        pred = np.clip(x, lo if down.any() else -np.inf, hi if up.any() else np.inf)
        bounds = {"lower": lo if down.any() else None, "upper": hi if up.any() else None}
        out.append(("clipped", pred, bounds))
    values, counts = np.unique(y, return_counts=True)
    top = values[np.argmax(counts)]
    out.append(("constant_fill", np.full_like(x, top), {"value": float(top)}))
    for p in range(MAX_DECIMALS + 1):
        out.append(("rounding", np.round(x, p), {"decimals": p}))
    nz = x != 0
    if nz.any():
        factor, name = snap_factor(float(np.median(y[nz] / x[nz])))
        if factor not in (0.0, 1.0):
            out.append(("scale", x * factor, {"factor": factor, "factor_name": name}))
    d = float(np.median(y - x))
    out.append(("offset", x + d, {"offset": d}))
    if len(np.unique(x)) >= 2:
        k, c = np.polyfit(x, y, 1)
        out.append(("affine", k * x + c, {"factor": float(k), "offset": float(c)}))
    return out


def _describe(kind: str, f: dict[str, Any]) -> str:
    if kind == "clipped":
        parts = [f"≥ {_fmt(f['lower'])}" if f["lower"] is not None else ""]
        parts.append(f"≤ {_fmt(f['upper'])}" if f["upper"] is not None else "")
        return "clipped to " + " and ".join(p for p in parts if p)
    if kind == "constant_fill":
        return f"constant {f['value']!r} served"
    if kind == "rounding":
        return f"rounded to {f['decimals']} decimal place{'s' if f['decimals'] != 1 else ''}"
    if kind == "scale":
        return str(f["factor_name"])
    if kind == "offset":
        return f"offset {f['offset']:+.6g}"
    if kind == "affine":
        return f"affine: served = {_fmt(f['factor'])}·offline {f['offset']:+.6g}"
    return kind


def numeric_pattern(
    a: np.ndarray,
    b: np.ndarray,
    s: SkewSettings,
    offline_range: tuple[float, float] | None = None,
) -> Pattern:
    """Pattern of numeric mismatches (``a`` served, ``b`` offline; NaN = null)."""
    an, bn = np.isnan(a), np.isnan(b)
    found = _null_pattern(an, bn, s)
    if found is not None:
        return found
    n = len(a)
    both = ~an & ~bn
    x, y = b[both], a[both]
    if len(x) == 0 or len(x) / n < s.pattern_coverage:
        return Pattern("other", "no single explanation", sampled=n)
    rtol, atol = max(s.rtol, 1e-6), max(s.atol, 1e-9)
    for kind, pred, fields in _numeric_candidates(x, y, offline_range):
        ok = np.abs(pred - y) <= atol + rtol * np.abs(y)
        cov = float(ok.sum()) / n
        if kind == "constant_fill" and len(np.unique(x[ok])) < 2:
            continue  # one offline value mapped to one served value: not a fill
        if cov >= s.pattern_coverage:
            return Pattern(kind, _describe(kind, fields), coverage=cov, sampled=n, **fields)
    return Pattern("other", "no single explanation", sampled=n)


def _subkind(mapping: dict[str, str]) -> str:
    if all(k.lower() == v.lower() for k, v in mapping.items()):
        return "case"
    if all(k.strip() == v.strip() for k, v in mapping.items()):
        return "whitespace"
    if all(k.strip().lower() == v.strip().lower() for k, v in mapping.items()):
        return "case_whitespace"
    return "renamed"


def categorical_pattern(a: list[Any], b: list[Any], s: SkewSettings) -> Pattern:
    """Pattern of categorical mismatches (``a`` served, ``b`` offline; None = null)."""
    an = np.array([v is None for v in a], dtype=bool)
    bn = np.array([v is None for v in b], dtype=bool)
    found = _null_pattern(an, bn, s)
    if found is not None:
        return found
    n = len(a)
    pairs = [(str(x), str(y)) for x, y, k in zip(b, a, ~an & ~bn, strict=True) if k]
    if not pairs or len(pairs) / n < s.pattern_coverage:
        return Pattern("other", "no single explanation", sampled=n)
    served = Counter(y for _, y in pairs)
    top, top_n = served.most_common(1)[0]
    if top_n / n >= s.pattern_coverage and len({x for x, _ in pairs}) >= 2:
        return Pattern("constant_fill", f"constant {top!r} served", top_n / n, n, value=top)
    by_offline: dict[str, Counter[str]] = {}
    for x, y in pairs:
        by_offline.setdefault(x, Counter())[y] += 1
    mode = {x: c.most_common(1)[0] for x, c in by_offline.items()}
    cov = sum(cnt for _, cnt in mode.values()) / n
    if cov < s.pattern_coverage:
        return Pattern("other", "no single explanation", sampled=n)
    ranked = sorted(mode.items(), key=lambda kv: -kv[1][1])
    mapping = {x: y for x, (y, _) in ranked[:MAX_MAPPING]}
    sub = _subkind(mapping)
    shown = ", ".join(f"{x}→{y}" for x, y in list(mapping.items())[:4])
    more = f" (+{len(ranked) - 4} more)" if len(ranked) > 4 else ""
    words = {"case": "recased", "whitespace": "whitespace changed"}.get(sub, "values renamed")
    return Pattern(
        "category_map",
        f"{words}: {shown}{more}",
        coverage=cov,
        sampled=n,
        subkind=sub,
        mapping=mapping,
    )
