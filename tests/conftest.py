from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest


@pytest.fixture
def drift_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A reference and a live file where ``x`` drifts strongly and ``y``/``c`` do not."""
    rng = np.random.default_rng(7)
    n, m = 4000, 3000
    ref = pl.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "y": rng.normal(5, 2, n),
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "geo": rng.choice(["US", "BR"], n),
            "label": rng.integers(0, 2, n),
        }
    )
    live = pl.DataFrame(
        {
            "x": rng.normal(1.5, 1, m),
            "y": rng.normal(5, 2, m),
            "c": rng.choice(["a", "b", "c"], m, p=[0.5, 0.3, 0.2]),
            "geo": rng.choice(["US", "BR"], m),
            "label": rng.integers(0, 2, m),
        }
    )
    r, lv = tmp_path / "ref.parquet", tmp_path / "live.parquet"
    ref.write_parquet(r)
    live.write_parquet(lv)
    return r, lv


@pytest.fixture
def same_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Reference and live drawn from the same distribution (nothing should drift)."""
    rng = np.random.default_rng(11)
    frames = []
    for n in (5000, 5000):
        frames.append(
            pl.DataFrame(
                {
                    "x": rng.normal(0, 1, n),
                    "c": rng.choice(["a", "b", "c"], n),
                }
            )
        )
    (tmp_path / "same").mkdir()
    r, lv = tmp_path / "same" / "ref.parquet", tmp_path / "same" / "live.parquet"
    frames[0].write_parquet(r)
    frames[1].write_parquet(lv)
    return r, lv
