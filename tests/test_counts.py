from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlfail.binning import BinSpec
from mlfail.counts import count_frame, dense, merge


def right_closed_counts(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Independent count: numpy searchsorted gives the right-closed bin; NaN → missing."""
    out = np.zeros(len(edges) + 2, dtype=np.int64)
    nan = np.isnan(x)
    idx = np.searchsorted(np.asarray(edges), x[~nan], side="left")
    np.add.at(out, idx, 1)
    out[-1] = int(nan.sum())
    return out


def test_numeric_counts_right_closed_inf_and_missing() -> None:
    spec = BinSpec("x", "numeric", edges=(0.0, 1.0, 2.0))
    x = [-np.inf, -5.0, 0.0, 0.5, 1.0, 1.0000001, 2.0, 3.0, np.inf, np.nan, None]
    df = pl.DataFrame({"x": x}, schema={"x": pl.Float64}, strict=False)
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 9).then(float("nan")).otherwise(pl.col("x")).alias("x")
    )
    got = dense(count_frame(df.lazy(), [spec]), spec)
    # (-inf,0]: -inf,-5,0 | (0,1]: .5,1 | (1,2]: 1.0000001, 2 | (2,inf): 3, inf | missing: nan, None
    assert got.tolist() == [3, 2, 2, 2, 2]


def test_numeric_counts_match_numpy_on_random_data() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=5000)
    x[rng.random(5000) < 0.03] = np.nan
    edges = tuple(np.unique(np.quantile(x[~np.isnan(x)], np.arange(1, 10) / 10)))
    spec = BinSpec("x", "numeric", edges=edges)
    got = dense(count_frame(pl.DataFrame({"x": x}).lazy(), [spec]), spec)
    assert got.tolist() == right_closed_counts(x, edges).tolist()
    inner = np.histogram(x[~np.isnan(x)], bins=[-np.inf, *edges, np.inf])[0]
    # numpy.histogram is left-closed; with continuous data no value sits on an edge except
    # the quantile points themselves, so totals agree and each bin is off by at most a tie.
    assert inner.sum() == got[:-1].sum()


def test_integer_column_counts_with_float_edges() -> None:
    spec = BinSpec("k", "numeric", edges=(1.5, 3.0))
    df = pl.DataFrame({"k": [1, 2, 3, 4, None]})
    assert dense(count_frame(df.lazy(), [spec]), spec).tolist() == [1, 2, 1, 1]


def test_categorical_counts_other_unseen_missing() -> None:
    spec = BinSpec("c", "categorical", categories=("web", "app"), other=("pos", "kiosk"))
    df = pl.DataFrame({"c": ["web", "web", "app", "pos", "kiosk", "WEB", "tv", None]})
    got = dense(count_frame(df.lazy(), [spec]), spec)
    assert dict(zip(spec.labels(), got.tolist(), strict=True)) == {
        "web": 2,
        "app": 1,
        "__other__": 2,
        "__unseen__": 2,
        "__missing__": 1,
    }


def test_boolean_and_integer_categories_compare_as_strings() -> None:
    spec_b = BinSpec("b", "categorical", categories=("true", "false"))
    spec_i = BinSpec("i", "categorical", categories=("1", "2"))
    df = pl.DataFrame({"b": [True, False, True, None], "i": [1, 2, 3, 1]})
    t = count_frame(df.lazy(), [spec_b, spec_i])
    assert dense(t, spec_b).tolist() == [2, 1, 0, 1]
    assert dense(t, spec_i).tolist() == [2, 1, 1, 0]


def test_grouped_counts_sum_to_global() -> None:
    rng = np.random.default_rng(5)
    df = pl.DataFrame({"x": rng.normal(size=1000), "g": rng.choice(["a", "b", "c"], 1000)})
    spec = BinSpec("x", "numeric", edges=(-1.0, 0.0, 1.0))
    by_g = count_frame(df.lazy(), [spec], ["g"])
    whole = count_frame(df.lazy(), [spec])
    assert dense(by_g, spec).tolist() == dense(whole, spec).tolist()
    for g in ("a", "b", "c"):
        sub = df.filter(pl.col("g") == g)["x"].to_numpy()
        expected = right_closed_counts(sub, spec.edges)
        assert dense(by_g, spec, pl.col("g") == g).tolist() == expected.tolist()


def test_absent_feature_counts_as_missing() -> None:
    spec = BinSpec("gone", "numeric", edges=(0.0,))
    df = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    assert dense(count_frame(df.lazy(), [spec]), spec).tolist() == [0, 0, 3]


values = st.lists(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()), min_size=0, max_size=60
)
EDGES = (-10.0, -1.0, 0.0, 0.5, 3.0, 1e6)
SPEC = BinSpec("x", "numeric", edges=EDGES)
CAT = BinSpec("c", "categorical", categories=("a", "b"), other=("z",))


def _frame(xs: list[float | None], offset: int = 0) -> pl.DataFrame:
    cats = ["a", "b", "z", "q", None]
    idx = range(offset, offset + len(xs))
    return pl.DataFrame(
        {"x": xs, "c": [cats[i % 5] for i in idx], "k": [i % 3 for i in idx]},
        schema={"x": pl.Float64, "c": pl.String, "k": pl.Int64},
    )


@settings(max_examples=60, deadline=None)
@given(values)
def test_every_row_lands_in_exactly_one_bin(xs: list[float | None]) -> None:
    t = count_frame(_frame(xs).lazy(), [SPEC, CAT])
    assert int(dense(t, SPEC).sum()) == len(xs)
    assert int(dense(t, CAT).sum()) == len(xs)


@settings(max_examples=40, deadline=None)
@given(values, values, values)
def test_merge_is_associative_and_partitions_equal_whole(a: list, b: list, c: list) -> None:
    offsets = (0, len(a), len(a) + len(b))
    ta, tb, tc = (
        count_frame(_frame(v, o).lazy(), [SPEC, CAT], ["k"])
        for v, o in zip((a, b, c), offsets, strict=True)
    )
    left = merge([merge([ta, tb]), tc])
    right = merge([ta, merge([tb, tc])])
    whole = count_frame(_frame(a + b + c).lazy(), [SPEC, CAT], ["k"])

    def canon(t: pl.DataFrame) -> list[tuple]:
        return sorted(t.filter(pl.col("n") > 0).select("k", "feature", "bin", "n").rows())

    assert canon(left) == canon(right) == canon(whole)


def test_streamed_counting_equals_count_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """count_streamed (how object-store sources are read: once, in row batches) gives the
    same table as count_frame, with string and expression keys, nulls and many batches."""
    import mlfail.counts as counts_mod
    from mlfail.binning import BinSettings, build_specs
    from mlfail.counts import count_streamed

    rng = np.random.default_rng(3)
    n = 20_000
    df = pl.DataFrame(
        {
            "x": np.where(rng.random(n) < 0.05, np.nan, rng.normal(0, 1, n)),
            "c": rng.choice(["a", "b", "c", None], n),
            "g": rng.choice(["US", "BR", None], n),
            "t": rng.integers(0, 10, n),
        }
    )
    specs = build_specs(df.lazy(), ["x", "c"], settings=BinSettings())
    keys = ["g", (pl.col("t") % 3).alias("t3")]
    monkeypatch.setattr(counts_mod, "STREAM_BYTES", 8 * 3 * 1000)  # ~1,000-row batches
    got = count_streamed(df.lazy(), specs, keys)
    want = count_frame(df.lazy(), specs, keys)
    assert got.sort(got.columns).equals(want.sort(want.columns))
    empty = count_streamed(df.lazy().filter(pl.lit(False)), specs, keys)
    assert empty.height == 0 and empty.columns == want.columns


def _few_and_many(n: int = 3000) -> pl.DataFrame:
    """Columns of every kind with few values (text with nulls, booleans, dates) and an integer
    with ~600 of them."""
    rng = np.random.default_rng(3)
    return pl.DataFrame(
        {
            "s": rng.choice(["a", "b", "c", None], n).tolist(),
            "i": rng.integers(0, 700, n),
            "b": rng.random(n) > 0.5,
            "d": pl.date_range(pl.date(2026, 1, 1), pl.date(2026, 1, 10), eager=True).sample(
                n, with_replacement=True, seed=1
            ),
        }
    )


def test_distinct_counts_equal_n_unique_nulls_included() -> None:
    """The streaming distinct count is ``n_unique`` (a null is one value) on every type."""
    from mlfail.counts import distinct_counts

    df = _few_and_many()
    got = distinct_counts(df.lazy(), df.columns)
    assert got == {c: df[c].n_unique() for c in df.columns}
    assert got["s"] == 4 and 600 < got["i"] <= 700  # the null counted; many integer values
    assert distinct_counts(df.lazy(), []) == {}


def test_value_counts_are_the_group_by_tables_of_the_columns_with_few_values() -> None:
    """The tables kept are ``group_by(col).len()`` exactly (nulls a value); a column with
    more than ``keep`` values gets its distinct count only."""
    from mlfail.counts import VALUE_COUNT, value_counts

    df = _few_and_many()
    distinct, tables = value_counts(df.lazy(), df.columns, keep=10)
    assert distinct == {c: df[c].n_unique() for c in df.columns}
    assert set(tables) == {"s", "b", "d"}  # "i" has ~600 values
    for c, got in tables.items():
        want = df.group_by(c).len(name=VALUE_COUNT)
        assert got.schema == want.schema
        assert got.sort(c, nulls_last=True).equals(want.sort(c, nulls_last=True))
    assert value_counts(df.lazy(), ["i"], keep=700)[1]["i"][VALUE_COUNT].sum() == df.height


@pytest.mark.parametrize("fold", [0.0, 0.05])  # every category kept; the rare ones folded
def test_categorical_bin_index_per_row_sums_to_the_count_table(fold: float) -> None:
    """bin_index (an Enum lookup) puts each row where the count core counts it: kept
    categories, __other__ for folded ones, __unseen__ for values the reference lacks, missing
    for null — on text, on an integer counted by value and on a boolean."""
    from mlfail.binning import BinSettings, build_specs
    from mlfail.counts import bin_index

    rng = np.random.default_rng(3)
    n = 4000
    words = np.array([f"w{i}" for i in range(30)], dtype=object)
    ref = pl.DataFrame(
        {
            "t": words[np.minimum(rng.geometric(0.15, n), 29)].tolist(),
            "k": rng.integers(0, 6, n),
            "b": rng.random(n) < 0.4,
        }
    )
    live_t = words[np.minimum(rng.geometric(0.15, n), 29)].astype(object)
    live_t[rng.random(n) < 0.05] = "never-seen"
    live_t[rng.random(n) < 0.05] = None
    live = pl.DataFrame(
        {
            "t": live_t.tolist(),
            "k": pl.Series(rng.integers(0, 8, n)).scatter([0, 1], None),
            "b": pl.Series(rng.random(n) < 0.5).scatter([2], None),
        }
    )
    specs = build_specs(
        ref.lazy(), ["t", "k", "b"], settings=BinSettings(fold_below=fold), categorical=["k"]
    )
    assert all(s.kind == "categorical" for s in specs)
    assert bool(specs[0].other) == (fold > 0)
    for spec in specs:
        rows = live.select(bin_index(spec).alias("i"))["i"].to_numpy()
        per_row = np.bincount(rows, minlength=spec.n_bins)
        want = dense(count_frame(live.lazy(), [spec]), spec)
        assert per_row.tolist() == want.tolist(), spec.feature
    t = specs[0]
    assert per_row_of(live, t)[t.missing_index] > 0  # nulls, unseen values really occur
    assert per_row_of(live, t)[len(t.categories) + (1 if t.other else 0)] > 0


def per_row_of(df: pl.DataFrame, spec: BinSpec) -> np.ndarray:
    from mlfail.counts import bin_index

    return np.bincount(df.select(bin_index(spec).alias("i"))["i"].to_numpy(), minlength=spec.n_bins)


def test_chunk_bins_reads_raw_numbers_and_bins_them_as_bin_index() -> None:
    """The chunked passes read a numeric column raw (Float64) and bin it with numpy: per row the
    bin of ``bin_index``, in its narrow dtype (two bytes past 256 bins); a categorical spec's
    bin and an absent column's missing bin come from the query itself."""
    from mlfail.counts import bin_index, bin_read, chunk_bins, narrow

    rng = np.random.default_rng(3)
    x = rng.normal(size=5000)
    x[::7] = np.nan
    x[::11] = np.inf
    x[::13] = -np.inf
    df = pl.DataFrame(
        {"x": pl.Series(x).scatter([1, 2, 3], None), "c": ["a", "b", None, "z"] * 1250}
    )
    df = df.with_columns(pl.col("x").round(0).cast(pl.Int32, strict=False).alias("i"))
    wide = BinSpec("x", "numeric", edges=tuple(np.linspace(-3, 3, 300)))
    specs = [
        BinSpec("x", "numeric", edges=(-1.0, 0.0, 0.5)),
        wide,
        BinSpec("i", "numeric", edges=(-1.0, 0.0, 1.0)),  # an integer column, read as Float64
        BinSpec("c", "categorical", categories=("a", "b")),
        BinSpec("gone", "numeric", edges=(0.0,)),  # not in the frame: every row missing
    ]
    raw = df.select(bin_read(s, df.schema, f"b{k}") for k, s in enumerate(specs))
    assert raw["b0"].dtype == pl.Float64 and raw["b2"].dtype == pl.Float64
    for k, s in enumerate(specs):
        got = chunk_bins(raw, f"b{k}", s)
        if s.feature in df.columns:
            want = df.select(narrow(bin_index(s), s.n_bins).alias("w"))["w"].to_numpy()
        else:
            want = np.full(df.height, s.missing_index)
        assert got.tolist() == want.tolist(), s.feature
        assert got.dtype == (np.uint16 if s is wide else np.uint8)
    assert set(chunk_bins(raw, "b0", specs[0]).tolist()) == {0, 1, 2, 3, 4}  # every bin met


def test_raw_rows_keeps_a_chunk_of_raw_values_under_its_budget() -> None:
    from mlfail.counts import BATCH_ROWS, RAW_BYTES, raw_rows

    assert raw_rows(0) == raw_rows(5) == BATCH_ROWS
    assert raw_rows(30) == BATCH_ROWS // 2
    assert raw_rows(30) * 8 * 30 <= RAW_BYTES < 2 * raw_rows(30) * 8 * 30
    assert raw_rows(100_000) == 1 << 16  # a floor: a chunk is never a handful of rows


def test_chunk_rows_counts_the_columns_bin_read_reads_raw() -> None:
    """Only a numeric spec whose column is there comes raw: an absent one is a literal and a
    categorical one a byte, and neither shortens the chunk."""
    from mlfail.counts import BATCH_ROWS, bin_read, chunk_rows, raw_rows

    schema = pl.Schema({f"x{i}": pl.Float64 for i in range(30)} | {"c": pl.String})
    nums = [BinSpec(f"x{i}", "numeric", edges=(0.0,)) for i in range(40)]  # x30..x39 absent
    cat = BinSpec("c", "categorical", categories=("a", "b"))
    specs = [*nums, cat]
    raw = [s for s in specs if bin_read(s, schema, "b").meta.root_names() == [s.feature]]
    raw = [s for s in raw if s.kind == "numeric"]
    assert len(raw) == 30
    assert chunk_rows(specs, schema, BATCH_ROWS) == raw_rows(30) == BATCH_ROWS // 2
    assert chunk_rows(specs[30:], schema, BATCH_ROWS) == BATCH_ROWS  # absent and categorical
    assert chunk_rows(specs, schema, 1000) == 1000  # never more than asked
