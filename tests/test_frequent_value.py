"""The prediction spike's most frequent value (mlfail/rootcause/model_health.frequent_value),
read in chunks with bounded memory, against one group_by over every row."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

import mlfail.rootcause.model_health as mh


def _oracle(x: pl.Series, at_least: float) -> tuple[Any, int] | None:
    vc = x.to_frame("x").group_by("x").len()
    vc = vc.sort(["len", "x"], descending=[True, False], nulls_last=True)
    if vc.height == 0 or vc["len"][0] < at_least:
        return None
    return vc["x"][0], int(vc["len"][0])


@pytest.mark.parametrize("seed", range(8))
def test_frequent_value_in_chunks_equals_one_group_by(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mh, "BATCH_ROWS", 97)  # many chunks, of uneven fill
    rng = np.random.default_rng(seed)
    n = 2000
    x = np.round(rng.random(n), 2)  # ~100 values: none reaches 5% alone
    spot = rng.integers(0, n - 150)
    if seed % 2:  # a fallback value in one stretch of rows only: 7% of rows, one chunk's worth
        x[spot : spot + 140] = 0.5
    s = pl.Series("x", x)
    if seed % 4 == 3:
        s = s.scatter(rng.choice(n, 300, replace=False), None)  # nulls the most frequent
    for at_least in (0.05 * n, 0.02 * n, 0.3 * n):
        assert mh.frequent_value(s.to_frame().lazy(), "x", at_least) == _oracle(s, at_least)


def test_a_value_frequent_overall_is_frequent_in_some_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pigeonhole the chunked read rests on: a value at exactly the share overall, spread
    evenly over the chunks, is found; at one row less it is not."""
    monkeypatch.setattr(mh, "BATCH_ROWS", 100)
    x = np.arange(1000, dtype=np.float64)
    x[::20] = -1.0  # 50 rows: 5% of every chunk
    lf = pl.DataFrame({"x": x}).lazy()
    assert mh.frequent_value(lf, "x", 50) == (-1.0, 50)
    assert mh.frequent_value(lf, "x", 51) is None
    assert (
        mh.frequent_value(pl.DataFrame({"x": []}, schema={"x": pl.Float64}).lazy(), "x", 1) is None
    )
