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


@pytest.mark.parametrize(
    "pool, dtype",
    [
        ([0.25, 0.5, -0.0, 0.0, float("nan"), None, 1e300, -1.5], pl.Float64),
        ([0.25, 0.5, float("nan"), None, 3.0], pl.Float32),
        ([1, 2, 3, -(2**62), 2**62 + 1, None], pl.Int64),  # past 2**53: no float round trip
        (["a", "b", "c", None], pl.String),  # grouped, not sorted
        ([True, False, None], pl.Boolean),
    ],
    ids=["f64", "f32", "i64", "str", "bool"],
)
@pytest.mark.parametrize("seed", range(6))
def test_frequent_value_of_every_dtype_and_special_value(
    pool: list[Any], dtype: Any, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk's candidates come from a numpy sort for numbers: NaN (equal to nothing),
    nulls, signed zeros and integers past 2**53 still give the value one group_by gives."""
    monkeypatch.setattr(mh, "BATCH_ROWS", 61)
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(pool)) * 0.3)  # one value often dominates
    picks = rng.choice(len(pool), 700, p=weights)
    s = pl.Series("x", [pool[i] for i in picks], dtype=dtype, strict=False)
    for at_least in (0.05 * 700, 0.2 * 700, 0.6 * 700):
        got = mh.frequent_value(s.to_frame().lazy(), "x", at_least)
        want = _oracle(s, at_least)
        if want is not None and isinstance(want[0], float) and np.isnan(want[0]):
            assert got is not None and np.isnan(got[0]) and got[1] == want[1]
        else:
            assert got == want, (at_least, got, want)
