from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from mlfail.binning import (
    MISSING,
    OTHER,
    UNSEEN,
    BinSettings,
    BinSpec,
    build_specs,
    categorical_vocabulary,
    looks_like_identifier,
)
from mlfail.errors import InputError


def test_numeric_edges_match_numpy_linear_quantiles() -> None:
    rng = np.random.default_rng(0)
    x = rng.lognormal(0, 1, 1001)
    x[::50] = np.nan
    x[3] = np.inf
    df = pl.DataFrame({"x": x}).with_columns(pl.col("x").fill_nan(None).alias("x"))
    df = df.with_columns(pl.Series("x", x))  # keep NaN as NaN, not null
    (spec,) = build_specs(df.lazy(), ["x"])
    finite = x[np.isfinite(x)]
    expected = np.unique(np.quantile(finite, [k / 10 for k in range(1, 10)], method="linear"))
    np.testing.assert_allclose(spec.edges, expected, rtol=0, atol=0)
    assert spec.kind == "numeric"
    assert len(spec.labels()) == len(expected) + 2  # value bins + missing
    assert spec.labels()[0].startswith("(-inf, ") and spec.labels()[-2].endswith("inf)")
    assert spec.labels()[-1] == MISSING


def test_edges_are_deduplicated_for_heavy_ties() -> None:
    x = np.array([0.0] * 80 + list(range(1, 21)), dtype=float)
    (spec,) = build_specs(pl.DataFrame({"x": x}).lazy(), ["x"])
    expected = np.unique(np.quantile(x, [k / 10 for k in range(1, 10)], method="linear"))
    assert list(spec.edges) == list(expected)
    assert len(spec.edges) < 9  # the ties collapsed
    assert all(a < b for a, b in zip(spec.edges, spec.edges[1:], strict=False))


def test_bins_setting_changes_quantile_levels() -> None:
    x = np.arange(1, 101, dtype=float)
    (spec,) = build_specs(pl.DataFrame({"x": x}).lazy(), ["x"], settings=BinSettings(bins=4))
    assert list(spec.edges) == list(np.quantile(x, [0.25, 0.5, 0.75], method="linear"))


def test_type_inference() -> None:
    df = pl.DataFrame(
        {
            "s": ["a", "b"] * 50,
            "b": [True, False] * 50,
            "few_ints": list(range(5)) * 20,
            "many_ints": list(range(100)),
            "f": [0.5] * 100,
        }
    )
    specs = {s.feature: s for s in build_specs(df.lazy(), df.columns)}
    assert specs["s"].kind == "categorical"
    assert specs["b"].kind == "categorical"
    assert specs["few_ints"].kind == "categorical"
    assert specs["many_ints"].kind == "numeric"
    assert specs["f"].kind == "numeric"
    forced = build_specs(df.lazy(), ["few_ints"], numeric=["few_ints"])[0]
    assert forced.kind == "numeric"
    forced = build_specs(df.lazy(), ["many_ints"], categorical=["many_ints"])[0]
    assert forced.kind == "categorical"


def test_categorical_vocabulary_folds_rare_and_orders_by_frequency() -> None:
    counts = {"a": 600, "b": 390, "r1": 4, "r2": 3, "r3": 3}
    kept, folded = categorical_vocabulary(counts, BinSettings(fold_below=0.005))
    assert kept == ("a", "b")
    assert folded == ("r1", "r2", "r3")
    spec = BinSpec("c", "categorical", categories=kept, other=folded)
    assert spec.labels() == ("a", "b", OTHER, UNSEEN, MISSING)


def test_single_rare_category_is_not_renamed_other() -> None:
    kept, folded = categorical_vocabulary({"a": 995, "z": 4}, BinSettings())
    assert kept == ("a", "z") and folded == ()


def test_identifier_columns_are_detected() -> None:
    assert looks_like_identifier({f"id{i}": 1 for i in range(100)})
    assert not looks_like_identifier({f"c{i}": 30 for i in range(60)})
    df = pl.DataFrame({"id": [f"u{i}" for i in range(200)], "x": np.arange(200.0)})
    ids: list[str] = []
    specs = build_specs(df.lazy(), ["id", "x"], identifiers=ids)
    assert [s.feature for s in specs] == ["x"] and ids == ["id"]
    specs = build_specs(df.lazy(), ["id", "x"], explicit=True)
    assert [s.feature for s in specs] == ["id", "x"]


@pytest.mark.parametrize(
    "spec",
    [
        BinSpec("x", "numeric", edges=(-1.5, 0.0, 2.25), dtype="Float64"),
        BinSpec("c", "categorical", categories=("web", "app"), other=("pos",), dtype="String"),
    ],
)
def test_spec_json_round_trip(spec: BinSpec) -> None:
    again = BinSpec.from_json(spec.to_json())
    assert again == spec
    assert again.labels() == spec.labels()


def test_numeric_labels_are_right_closed() -> None:
    spec = BinSpec("x", "numeric", edges=(1.0, 2.0))
    assert spec.labels() == ("(-inf, 1]", "(1, 2]", "(2, inf)", MISSING)
    assert not any(math.isnan(e) for e in spec.edges)


def test_bad_spec_dict_is_an_input_error() -> None:
    with pytest.raises(InputError, match="invalid bin spec"):
        BinSpec.from_dict({"feature": "x", "kind": "histogram"})
    with pytest.raises(InputError, match="newer than this mlfail"):
        BinSpec.from_dict({"feature": "x", "kind": "numeric", "version": 99})
