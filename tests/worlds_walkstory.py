"""Seeded worlds for the headline's one story (issue 14, items 4 and 5).

One generator: a reference and a live frame with a label, a score, a ``segment`` (the cohort
that carries a planted drift of ``x1``) and a ``channel``; the live side can degrade the model
on a chosen set of rows. ``layout`` decides how the degraded rows relate to the drift's cohort:

- ``same``: the degraded rows are segment=B, the cohort of x1's drift;
- ``separate``: the degraded rows are channel=web, which barely meets segment=B;
- ``inside``: the degraded rows are channel=kiosk, which exists only inside segment=B.

``with_time=False`` writes no time column at all (triage without event time).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

Layout = Literal["same", "separate", "inside"]
REF_ROWS = 6000
LIVE_ROWS = 6000


def _frame(rng: np.random.Generator, n: int, live: bool, layout: Layout) -> pl.DataFrame:
    segment = rng.choice(["A", "B", "C"], size=n, p=[0.4, 0.3, 0.3])
    in_b = segment == "B"
    channel = np.where(
        in_b,
        rng.choice(["app", "web", "kiosk"], size=n, p=[0.7, 0.02, 0.28]),
        rng.choice(["app", "web"], size=n, p=[0.5, 0.5]),
    )
    x1 = rng.normal(0.0, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    # the true relation: label from x1 and x2; the score is the model's belief
    p_true = 1 / (1 + np.exp(-(1.6 * x1 + 1.2 * x2)))
    label = (rng.random(n) < p_true).astype(np.int64)
    score = 1 / (1 + np.exp(-(1.6 * x1 + 1.2 * x2)))
    if live:
        # the planted drift: x1 moves on segment B only (a covariate shift, labels follow)
        x1 = np.where(in_b, x1 + 1.5, x1)
        p_true = 1 / (1 + np.exp(-(1.6 * x1 + 1.2 * x2)))
        label = (rng.random(n) < p_true).astype(np.int64)
        score = 1 / (1 + np.exp(-(1.6 * x1 + 1.2 * x2)))
        broken = {
            "same": in_b,
            "separate": channel == "web",
            "inside": channel == "kiosk",
        }[layout]
        # on the broken rows the labels no longer follow the score
        flip = broken & (rng.random(n) < 0.45)
        label = np.where(flip, 1 - label, label)
    return pl.DataFrame(
        {
            "segment": segment,
            "channel": channel,
            "x1": x1,
            "x2": x2,
            "label": label,
            "score": score,
        }
    )


def write_world(
    tmp: Path, layout: Layout = "same", *, with_time: bool = True, seed: int = 14
) -> dict[str, Path]:
    """Write reference.parquet and live.parquet under ``tmp``; → their paths."""
    rng = np.random.default_rng(seed)
    ref = _frame(rng, REF_ROWS, False, layout)
    live = _frame(rng, LIVE_ROWS, True, layout)
    if with_time:
        start = dt.datetime(2026, 9, 1)
        ref = ref.with_columns(
            ts=pl.Series([start - dt.timedelta(days=40 - i % 30) for i in range(REF_ROWS)])
        )
        live = live.with_columns(
            ts=pl.Series([start + dt.timedelta(days=i % 20, hours=3) for i in range(LIVE_ROWS)])
        )
    tmp.mkdir(parents=True, exist_ok=True)
    out = {"reference": tmp / "reference.parquet", "live": tmp / "live.parquet"}
    ref.write_parquet(out["reference"])
    live.write_parquet(out["live"])
    return out
