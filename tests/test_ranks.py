"""The numpy rank sums behind the AUC (mlfail/ranks.py) against Polars' own rank — what
performance_tables' AUC sums within each group — to the bit: ties, NaN, -0.0, empty and
one-row groups, groups with no positive or no negative."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlfail.ranks import rank_sums, tie_blocks


def _polars(score: np.ndarray, positive: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    df = pl.DataFrame({"s": score, "p": positive, "g": codes.astype(np.int64)})
    got = df.group_by("g").agg(pl.col("s").rank("average").filter(pl.col("p")).sum().alias("r"))
    out = np.zeros(k)
    out[got["g"].to_numpy()] = got["r"].to_numpy()
    return out


_value = st.sampled_from([0.0, -0.0, 0.25, 0.5, 1.0, float("nan"), float("inf"), -1.5])


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(_value, st.floats(allow_nan=True, allow_infinity=True)),
            st.booleans(),
            st.integers(0, 4),
        ),
        max_size=60,
    )
)
def test_rank_sums_equal_polars_rank_per_group(rows: list[tuple[float, bool, int]]) -> None:
    score = np.array([r[0] for r in rows], dtype=np.float64)
    positive = np.array([r[1] for r in rows], dtype=bool)
    codes = np.array([r[2] for r in rows], dtype=np.uint16)
    grouped, whole = rank_sums(score, positive, [(codes, 6), (np.zeros(len(rows), np.uint8), 1)])
    assert np.array_equal(grouped, _polars(score, positive, codes, 6))  # group 5: empty → 0
    assert np.array_equal(whole, _polars(score, positive, np.zeros(len(rows), np.uint8), 1))


def test_rank_sums_at_scale_with_ties_equal_polars() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    score = np.round(rng.random(n), 3)  # about 200 rows a tie
    score[rng.random(n) < 0.01] = np.nan
    positive = rng.random(n) < 0.2
    codes = rng.integers(0, 300, n).astype(np.uint16)
    (got,) = rank_sums(score, positive, [(codes, 300)])
    assert np.array_equal(got, _polars(score, positive, codes, 300))
    # a hand check of one group: the Mann–Whitney U from pairs gives the same rank sum
    g = codes == 7
    s, p = score[g], positive[g]
    s = np.where(np.isnan(s), np.inf, s)  # NaN ranks above every number, like an inf here
    assert not np.isinf(score[g][~np.isnan(score[g])]).any()
    pos, neg = s[p], s[~p]
    u = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    npos = len(pos)
    assert got[7] == u + npos * (npos + 1) / 2


def test_rank_sums_without_ties_at_scale_equal_polars() -> None:
    """Distinct scores take the short path (no run arithmetic): still Polars' sums exactly,
    and tie_blocks says whether any two scores tie."""
    rng = np.random.default_rng(11)
    n = 200_000
    score = rng.random(n)
    positive = rng.random(n) < 0.3
    codes = rng.integers(0, 40, n).astype(np.uint8)
    assert len(np.unique(score)) == n
    assert tie_blocks(score)[1] is False
    assert tie_blocks(np.array([0.5, -0.0, 0.0]))[1] is True  # -0.0 ties with 0.0
    assert tie_blocks(np.array([np.nan, 1.0, np.nan]))[1] is True  # NaN ties with NaN
    (got,) = rank_sums(score, positive, [(codes, 41)])
    assert np.array_equal(got, _polars(score, positive, codes, 41))  # code 40: empty → 0


def test_rank_sums_on_threads_keep_each_grouping_in_place() -> None:
    """The groupings are ranked on two threads, each with its own buffers: five groupings of
    different sizes and ties still come back in their order, each Polars' sums exactly."""
    rng = np.random.default_rng(5)
    n = 50_000
    score = np.round(rng.random(n), 2)
    positive = rng.random(n) < 0.4
    groupings = [(rng.integers(0, k, n).astype(np.uint8), k) for k in (2, 9, 3, 17, 1)]
    got = rank_sums(score, positive, iter(groupings))
    assert len(got) == len(groupings)
    for sums, (codes, k) in zip(got, groupings, strict=True):
        assert np.array_equal(sums, _polars(score, positive, codes, k))


def test_rank_sums_take_groupings_at_most_workers_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """A baseline makes each grouping's codes only when it is taken: the threads never hold
    more than WORKERS groupings that are not ranked yet."""
    import mlfail.ranks as ranks

    done: list[int] = []
    grouped = ranks._grouped

    def counted(*args: Any) -> np.ndarray:
        out = grouped(*args)
        done.append(1)
        return out

    monkeypatch.setattr(ranks, "_grouped", counted)
    rng = np.random.default_rng(8)
    n = 20_000
    score, positive = rng.random(n), rng.random(n) < 0.5
    ahead: list[int] = []

    def groupings() -> Iterator[tuple[np.ndarray, int]]:
        for j in range(7):
            ahead.append(j - len(done))  # made, not yet ranked: at most WORKERS, this one too
            yield rng.integers(0, 3, n).astype(np.uint8), 3

    got = rank_sums(score, positive, groupings())
    assert len(got) == 7 and len(done) == 7
    assert max(ahead) <= ranks.WORKERS
