"""Seeded worlds for the slice story (issue 14): symptom vs cause, and separate problems."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

START = dt.datetime(2026, 9, 1)
GEOS = ["X", "US", "DE", "MX"]
GEO_P = [0.5, 0.2, 0.15, 0.15]
CHANNELS = ["Y", "web", "pos"]
CHANNEL_P = [0.6, 0.25, 0.15]


def _frame(rng: np.random.Generator, n: int, days: int = 14) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "geo": rng.choice(GEOS, n, p=GEO_P),
            "channel": rng.choice(CHANNELS, n, p=CHANNEL_P),
            "segment": rng.choice(["new", "returning", "vip"], n, p=[0.3, 0.6, 0.1]),
            "distance_km": np.round(rng.lognormal(2.0, 0.8, n), 1),
            "ts": [START + dt.timedelta(seconds=int(s)) for s in rng.integers(0, days * 86400, n)],
        }
    )


def _score(rng: np.random.Generator, df: pl.DataFrame, err: np.ndarray) -> pl.DataFrame:
    n = df.height
    y = (rng.random(n) < 0.3).astype(np.int64)
    positive = (y == 1) ^ (rng.random(n) < err)
    score = np.where(positive, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.5, n))
    return df.with_columns(pl.Series("y", y), pl.Series("score", np.round(score, 4)))


def _mask(df: pl.DataFrame, **preds: str) -> np.ndarray:
    m = np.ones(df.height, dtype=bool)
    for k, v in preds.items():
        m &= df[k].to_numpy() == v
    return m


def symptom_vs_cause(tmp: Path, seed: int = 41) -> tuple[str, str]:
    """``distance_km`` is damaged (÷20: the values land in its lowest bin) on geo=X &
    channel=Y rows only, and the model fails on those rows: both the pair and the feature's
    lowest bin diverge. The pair is the cause; the bin is where the damage lands. Short trips
    are also a little harder live (0.12 vs 0.07 errors), so the bin holds *more* excess errors
    than the pair: ranked by excess alone, the symptom would come first."""
    rng = np.random.default_rng(seed)
    ref = _score(rng, _frame(rng, 8000), np.full(8000, 0.07))
    live = _frame(rng, 10000)
    hit = _mask(live, geo="X", channel="Y")
    short = live["distance_km"].to_numpy() < np.quantile(ref["distance_km"].to_numpy(), 0.2)
    live = live.with_columns(
        pl.Series(
            "distance_km",
            np.where(
                hit, live["distance_km"].to_numpy() / 20, live["distance_km"].to_numpy()
            ).round(2),
        )
    )
    live = _score(rng, live, np.where(hit, 0.35, np.where(short, 0.12, 0.07)))
    r, lv = tmp / "ref_sc.parquet", tmp / "live_sc.parquet"
    ref.write_parquet(r)
    live.write_parquet(lv)
    return str(r), str(lv)


def two_problems(tmp: Path, seed: int = 42) -> tuple[str, str]:
    """Two unrelated broken segments: geo=MX (any channel) and segment=vip (any geo)."""
    rng = np.random.default_rng(seed)
    ref = _score(rng, _frame(rng, 8000), np.full(8000, 0.07))
    live = _frame(rng, 12000)
    err = np.full(live.height, 0.07)
    err[_mask(live, geo="MX")] = 0.4
    err[_mask(live, segment="vip")] = 0.4
    live = _score(rng, live, err)
    r, lv = tmp / "ref_two.parquet", tmp / "live_two.parquet"
    ref.write_parquet(r)
    live.write_parquet(lv)
    return str(r), str(lv)
