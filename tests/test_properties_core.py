"""Property tests of the core (issue 8): counting, bins, PSI.

Extends tests/test_counts.py (three-way merge, row totals), tests/test_psi.py (PSI ≥ 0 and
PSI(x, k·x) = 0 on random counts) and tests/test_binning.py (two fixed JSON round trips) with:
counts equal a per-row brute force for ANY partitioning of the rows and any merge order (in
memory and file by file through ``count_source``); every value of every numeric dtype —
±0.0, subnormals, the dtype's min/max, ±inf, NaN, null — lands in exactly one bin, the one a
per-row reference computation gives, and the slice cohorts' per-row ``bin_index`` agrees with
the count table; any bin spec round-trips through JSON and counts the same afterwards; PSI is
symmetric in (reference, live) when both are given as counts (every term (q − p)·ln(q/p) is
symmetric, and ε replaces a zero share on either side by the same rule), termwise ≥ 0, and
exactly 0 for identical counts whatever ε.
"""

from __future__ import annotations

import bisect
import itertools
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlfail.binning import BinSpec, build_specs, specs_from_json, specs_to_json
from mlfail.counts import bin_read, chunk_bins, count_frame, count_source, dense, merge
from mlfail.io import open_source
from mlfail.psi import (
    PsiSettings,
    assess_feature,
    psi_contributions,
    psi_rows,
    psi_value,
)
from mlfail.slices import bin_index

# ---------------------------------------------------------------- brute-force bin of one value


def brute_bin(spec: BinSpec, v: Any) -> int:
    """The bin of one value, computed per row in plain Python (design §2): numeric right-closed
    ``(a, b]`` on the value as a float, NaN/null missing; categorical by the value's text."""
    if spec.kind == "numeric":
        if v is None or math.isnan(float(v)):
            return spec.missing_index
        return bisect.bisect_left(list(spec.edges), float(v))
    if v is None:
        return spec.missing_index
    s = str(v).lower() if isinstance(v, bool) else str(v)
    if s in spec.categories:
        return spec.categories.index(s)
    if s in spec.other:
        return len(spec.categories)
    return len(spec.categories) + (1 if spec.other else 0)  # __unseen__


def brute_counts(spec: BinSpec, values: Sequence[Any]) -> list[int]:
    out = [0] * spec.n_bins
    for v in values:
        out[brute_bin(spec, v)] += 1
    return out


def canon(t: pl.DataFrame, keys: Sequence[str] = ()) -> list[tuple]:
    return sorted(t.filter(pl.col("n") > 0).select(*keys, "feature", "bin", "n").rows())


# ---------------------------------------------------------------- counting: any partitioning

EDGES = (-10.0, -1.0, 0.0, 0.5, 3.0, 1e6)
NUM = BinSpec("x", "numeric", edges=EDGES)
CAT = BinSpec("c", "categorical", categories=("a", "b"), other=("z",))
CATS = ["a", "b", "z", "q", None]

rows_st = st.lists(
    st.tuples(
        st.one_of(
            st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(EDGES)
        ),
        st.sampled_from(CATS),
        st.integers(0, 2),
    ),
    max_size=80,
)


def frame_of(rows: Sequence[tuple[float | None, str | None, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"x": [r[0] for r in rows], "c": [r[1] for r in rows], "k": [r[2] for r in rows]},
        schema={"x": pl.Float64, "c": pl.String, "k": pl.Int64},
    )


def brute_table(rows: Sequence[tuple[float | None, str | None, int]]) -> list[tuple]:
    acc: dict[tuple, int] = {}
    for x, c, k in rows:
        for spec, v in ((NUM, x), (CAT, c)):
            key = (k, spec.feature, brute_bin(spec, v))
            acc[key] = acc.get(key, 0) + 1
    return sorted((*k, n) for k, n in acc.items())


@settings(max_examples=60, deadline=None)
@given(rows_st, st.data())
def test_counts_are_exact_for_any_partitioning_and_merge_order(
    rows: list[tuple[float | None, str | None, int]], data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=6)))
    bounds = [0, *cuts, len(rows)]
    parts = [rows[a:b] for a, b in itertools.pairwise(bounds)]  # empty parts too
    tables = [count_frame(frame_of(p).lazy(), [NUM, CAT], ["k"]) for p in parts]
    # merge in a random tree shape: pick two neighbours-or-not, merge, repeat
    pool = list(tables)
    while len(pool) > 1:
        i = data.draw(st.integers(0, len(pool) - 1))
        a = pool.pop(i)
        j = data.draw(st.integers(0, len(pool) - 1))
        b = pool.pop(j)
        pool.append(merge([a, b]))
    expected = brute_table(rows)
    assert canon(pool[0], ["k"]) == expected
    assert canon(count_frame(frame_of(rows).lazy(), [NUM, CAT], ["k"]), ["k"]) == expected
    assert canon(merge(tables), ["k"]) == expected  # one flat merge
    # and without keys: the per-feature totals are the row count
    whole = count_frame(frame_of(rows).lazy(), [NUM, CAT])
    assert int(dense(whole, NUM).sum()) == int(dense(whole, CAT).sum()) == len(rows)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows_st.filter(lambda r: len(r) > 0), st.data())
def test_counting_file_by_file_equals_one_pass(
    tmp_path: Path, rows: list[tuple[float | None, str | None, int]], data: st.DataObject
) -> None:
    """count_source's file-by-file path (progress bar / on_file) merges per-file tables: any
    split of the rows into Parquet files gives the counts of the single pass."""
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(rows)), max_size=4))))
    bounds = [0, *[c for c in cuts if c < len(rows)], len(rows)]
    d = Path(tempfile.mkdtemp(dir=tmp_path))  # one directory per example
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        frame_of(rows[a:b]).write_parquet(d / f"part-{i:03d}.parquet")
    src = open_source(str(d), role="--live")
    seen: list[tuple[int, int]] = []
    by_file = count_source(src, [NUM, CAT], ["k"], on_file=lambda i, n: seen.append((i, n)))
    one_pass = count_source(src, [NUM, CAT], ["k"], progress=False)
    assert canon(by_file, ["k"]) == canon(one_pass, ["k"]) == brute_table(rows)
    files = len(bounds) - 1
    if files > 1:
        assert seen == [(i, files) for i in range(1, files + 1)]


# ---------------------------------------------------------------- every value, every dtype

INTS = [pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64]
FLOATS = [pl.Float32, pl.Float64]


def extremes(dtype: Any) -> list[Any]:
    """The awkward values of a dtype: min, max, 0, ±1, null; floats also -0.0, the smallest
    subnormal (both signs), the smallest normal, ±inf and NaN."""
    if dtype in FLOATS:
        f = np.finfo(np.float32 if dtype == pl.Float32 else np.float64)
        sub = float(f.smallest_subnormal)
        return [float(f.min), float(f.max), 0.0, -0.0, sub, -sub, float(f.tiny), -float(f.tiny),
                1.0, -1.0, math.inf, -math.inf, math.nan, None]  # fmt: skip
    info = np.iinfo(str(dtype).lower())
    vals = [int(info.min), int(info.max), 0, 1, int(info.max) - 1, None]
    if info.min < 0:
        vals += [-1, int(info.min) + 1]
    return vals


def series(values: Sequence[Any], dtype: Any) -> pl.Series:
    return pl.Series("x", values, dtype=dtype, strict=False)


@pytest.mark.parametrize("dtype", INTS + FLOATS, ids=str)
def test_every_extreme_value_lands_in_exactly_its_bin(dtype: Any) -> None:
    vals = extremes(dtype)
    s = series(vals, dtype)
    native = s.to_list()  # the values as the column holds them (float32 rounding applied)
    df = s.to_frame()
    specs = [
        BinSpec("x", "numeric", edges=(-1.0, -0.0, 5e-324, 1.0, 1e30)),
        BinSpec("x", "numeric", edges=()),  # a constant reference: one value bin + missing
        *build_specs(df.lazy(), ["x"], numeric=["x"]),  # edges from the extremes themselves
    ]
    for spec in specs:
        got = dense(count_frame(df.lazy(), [spec]), spec).tolist()
        assert sum(got) == len(vals), (spec, got)
        assert got == brute_counts(spec, native), (spec, got)
        per_row = df.select(bin_index(spec).alias("b"))["b"].to_list()
        assert per_row == [brute_bin(spec, v) for v in native], spec
        # the chunked passes' numpy binning of the raw values: the same bin, row by row
        raw = df.select(bin_read(spec, df.schema, "b"))
        assert chunk_bins(raw, "b", spec).tolist() == per_row, spec
    # the reference's own profile as a categorical (what an integer with few values becomes):
    # still one bin per row, by the value's text
    (cat,) = build_specs(df.lazy(), ["x"], categorical=["x"])
    got = dense(count_frame(df.lazy(), [cat]), cat).tolist()
    assert sum(got) == len(vals)
    if dtype in INTS:
        assert got == brute_counts(cat, native)


def value_strategy(dtype: Any) -> st.SearchStrategy[Any]:
    if dtype in FLOATS:
        width = 32 if dtype == pl.Float32 else 64
        return st.one_of(
            st.none(),
            st.sampled_from([v for v in extremes(dtype) if v is not None]),
            st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True),
        )
    info = np.iinfo(str(dtype).lower())
    return st.one_of(
        st.none(),
        st.sampled_from([v for v in extremes(dtype) if v is not None]),
        st.integers(int(info.min), int(info.max)),
    )


@pytest.mark.parametrize("dtype", INTS + FLOATS, ids=str)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_random_values_of_every_dtype_land_in_their_bin(dtype: Any, data: st.DataObject) -> None:
    ref = data.draw(st.lists(value_strategy(dtype), min_size=1, max_size=40), label="reference")
    live = data.draw(st.lists(value_strategy(dtype), max_size=40), label="live")
    (spec,) = build_specs(series(ref, dtype).to_frame().lazy(), ["x"], numeric=["x"])
    assert list(spec.edges) == sorted(set(spec.edges))  # strictly increasing, finite
    assert all(math.isfinite(e) for e in spec.edges)
    s = series(live, dtype)
    got = dense(count_frame(s.to_frame().lazy(), [spec]), spec).tolist()
    assert got == brute_counts(spec, s.to_list())
    raw = s.to_frame().select(bin_read(spec, s.to_frame().schema, "b"))
    assert chunk_bins(raw, "b", spec).tolist() == [brute_bin(spec, v) for v in s.to_list()]
    # the reference counted during build_specs (quantile brackets) = the counting core
    tables: list[pl.DataFrame] = []
    rs = series(ref, dtype).to_frame()
    build_specs(rs.lazy(), ["x"], numeric=["x"], counts=tables)
    assert canon(tables[0]) == canon(count_frame(rs.lazy(), [spec]))


# ---------------------------------------------------------------- bin specs through JSON

finite = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True)
text = st.text(min_size=1, max_size=12)


@st.composite
def bin_specs(draw: st.DrawFn) -> BinSpec:
    feature = draw(text)
    if draw(st.booleans()):
        edges = tuple(sorted(set(draw(st.lists(finite, max_size=12)))))
        # -0.0 and 0.0 are one edge (set() keeps whichever came first): both round-trip
        return BinSpec(
            feature,
            "numeric",
            edges=edges,
            dtype=draw(st.sampled_from(["Float64", "Int8", "UInt64", ""])),
        )
    values = draw(st.lists(text, unique=True, max_size=12))
    k = draw(st.integers(0, len(values)))
    return BinSpec(
        feature,
        "categorical",
        categories=tuple(values[:k]),
        other=tuple(sorted(values[k:])),
        has_missing=draw(st.booleans()),
        dtype="String",
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(bin_specs())
def test_any_bin_spec_round_trips_through_json(spec: BinSpec) -> None:
    again = BinSpec.from_json(spec.to_json())
    assert again == spec
    assert again.labels() == spec.labels() and again.n_bins == spec.n_bins
    assert [e.hex() for e in again.edges] == [e.hex() for e in spec.edges]  # to the bit
    (listed,) = specs_from_json(specs_to_json([spec]))
    assert listed == spec


@settings(max_examples=40, deadline=None)
@given(bin_specs(), st.lists(st.one_of(st.none(), finite, text), max_size=30))
def test_a_round_tripped_spec_counts_the_same(spec: BinSpec, values: list[Any]) -> None:
    again = BinSpec.from_json(spec.to_json())
    if spec.kind == "numeric":
        col = pl.Series("v", [v for v in values if not isinstance(v, str)], dtype=pl.Float64)
    else:
        col = pl.Series("v", [v for v in values if not isinstance(v, float)], dtype=pl.String)
    df = col.to_frame(spec.feature).lazy()
    a = dense(count_frame(df, [spec]), spec)
    b = dense(count_frame(df, [again]), again)
    assert a.tolist() == b.tolist() == brute_counts(spec, col.to_list())


# ---------------------------------------------------------------- PSI

counts_st = st.lists(st.integers(0, 5_000), min_size=2, max_size=20)
eps_st = st.sampled_from([1e-6, 1e-4, 1e-3, 0.01, 0.5])


def paired(data: st.DataObject, ref: list[int]) -> np.ndarray:
    return np.array(
        data.draw(st.lists(st.integers(0, 5_000), min_size=len(ref), max_size=len(ref)))
    )


@settings(max_examples=200, deadline=None)
@given(counts_st, eps_st, st.data())
def test_psi_is_symmetric_and_termwise_non_negative(
    ref: list[int], eps: float, data: st.DataObject
) -> None:
    r, lv = np.array(ref), paired(data, ref)
    if r.sum() == 0 or lv.sum() == 0:
        return
    fwd = psi_contributions(r, lv, eps)
    back = psi_contributions(lv, r, eps)
    assert np.all(fwd >= 0) and np.all(back >= 0)  # (q − p) and ln(q/p) share a sign
    # equal up to rounding: a term with q ≈ p carries ln(q/p) ≈ 0, whose relative rounding
    # error is ~1e-16/|ln(q/p)| (seen: 4e-12 on a 6e-11 term), so terms are compared relative
    # to 1e-9 and the total to 1e-12 of the largest term
    np.testing.assert_allclose(fwd, back, rtol=1e-9, atol=1e-12 * float(fwd.max()))
    assert psi_value(r, lv, eps) == pytest.approx(
        psi_value(lv, r, eps), rel=1e-12, abs=1e-12 * float(fwd.max())
    )
    # and the test around it: same p-value, critical PSI and populated bins either way round
    spec = BinSpec("x", "numeric", edges=tuple(float(i) for i in range(len(ref) - 2)))
    cfg = PsiSettings(epsilon=eps if eps < 1 else 0.5)
    a, b = assess_feature(spec, r, lv, cfg), assess_feature(spec, lv, r, cfg)
    assert a.populated_bins == b.populated_bins
    assert a.psi == pytest.approx(b.psi, rel=1e-12, abs=1e-15)
    assert a.p_value == pytest.approx(b.p_value, rel=1e-9, abs=1e-300)
    assert a.critical_psi == b.critical_psi


@settings(max_examples=200, deadline=None)
@given(counts_st, eps_st)
def test_psi_of_identical_counts_is_exactly_zero(ref: list[int], eps: float) -> None:
    r = np.array(ref)
    if r.sum() == 0:
        return
    assert psi_value(r, r.copy(), eps) == 0.0  # every term is (p − p)·ln 1, empty bins ε vs ε
    spec = BinSpec("x", "numeric", edges=tuple(float(i) for i in range(len(ref) - 2)))
    rec = assess_feature(spec, r, r.copy(), PsiSettings(epsilon=eps))
    assert rec.psi == 0.0 and rec.p_value == 1.0


@settings(max_examples=100, deadline=None)
@given(counts_st, st.integers(1, 6), st.data())
def test_psi_rows_equals_psi_value_row_by_row(
    ref: list[int], rows: int, data: st.DataObject
) -> None:
    r = np.array(ref)
    if r.sum() == 0:
        return
    mat = np.array([paired(data, ref) for _ in range(rows)])
    got = psi_rows(r, mat)
    for i in range(rows):
        if mat[i].sum() == 0:
            assert math.isnan(got[i])
        else:
            assert got[i] == pytest.approx(psi_value(r, mat[i]), rel=1e-12, abs=1e-15)
