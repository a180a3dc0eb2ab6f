"""Synthetic reference/live frames for the slice and timeline tests (small, seeded)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

GEOS = ["US", "BR", "MX", "DE", "GB", "IN"]
GEO_P = [0.35, 0.12, 0.13, 0.14, 0.13, 0.13]
START = dt.datetime(2026, 9, 1)

ErrFn = Callable[[pl.DataFrame], np.ndarray]


def frame(
    rng: np.random.Generator,
    n: int,
    *,
    error_rate: float | ErrFn = 0.08,
    days: int = 14,
    start: dt.datetime = START,
) -> pl.DataFrame:
    """Rows with slice keys (geo, channel, segment, x, ts), a 0/1 label and a score whose
    thresholded class is wrong with the given per-row probability."""
    df = pl.DataFrame(
        {
            "geo": rng.choice(GEOS, n, p=GEO_P),
            "channel": rng.choice(["web", "app", "pos"], n, p=[0.4, 0.4, 0.2]),
            "segment": rng.choice(["new", "returning", "vip"], n, p=[0.3, 0.6, 0.1]),
            "x": rng.normal(0, 1, n),
            "ts": [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, days * 86400, n)],
        }
    )
    err = np.full(n, error_rate) if isinstance(error_rate, float) else error_rate(df)
    y = (rng.random(n) < 0.3).astype(np.int64)
    wrong = rng.random(n) < err
    positive = (y == 1) ^ wrong
    score = np.where(positive, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.5, n))
    return df.with_columns(pl.Series("y", y), pl.Series("score", np.round(score, 4)))


def where(df: pl.DataFrame, **preds: str) -> np.ndarray:
    m = np.ones(df.height, dtype=bool)
    for k, v in preds.items():
        m &= df[k].to_numpy() == v
    return m


def rates(base: float, *planted: tuple[dict[str, str], float]) -> ErrFn:
    def fn(df: pl.DataFrame) -> np.ndarray:
        out = np.full(df.height, base)
        for preds, rate in planted:
            out[where(df, **preds)] = rate
        return out

    return fn


def write(tmp: Path, ref: pl.DataFrame, live: pl.DataFrame, tag: str = "") -> tuple[str, str]:
    r, lv = tmp / f"ref{tag}.parquet", tmp / f"live{tag}.parquet"
    ref.write_parquet(r)
    live.write_parquet(lv)
    return str(r), str(lv)
