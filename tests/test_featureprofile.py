"""The feature profiles made by the bin specs' read (mlfail/featureprofile.py) against the
per-feature queries they replace (baseline.build._profile_features with nothing done), and the
roles' value-count tables standing in for build_specs' own categorical counts."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from mlfail import featureprofile, quantiles
from mlfail.baseline.build import _profile_features, build_baseline
from mlfail.binning import BinSettings, build_specs
from mlfail.config import Roles
from mlfail.featurestats import FeatureStats
from mlfail.io import Source
from mlfail.roles import resolve_roles


def _frame(n: int = 3000) -> pl.DataFrame:
    """Floats with nulls, NaN, ±inf and default fills; a sparse integer, a few-valued integer
    (binned as categories), text with default fills and nulls, a boolean, an all-null float."""
    rng = np.random.default_rng(7)
    x = rng.normal(5, 2, n)
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[rng.random(n) < 0.01] = -np.inf
    x[rng.random(n) < 0.03] = -999.0
    x[rng.random(n) < 0.02] = 0.0
    xs = pl.Series("x", x).scatter(np.flatnonzero(rng.random(n) < 0.04), None)
    words = np.array(["a", "b", "c", " Unknown", "", "N/A", "d"], dtype=object)
    cat = words[rng.integers(0, len(words), n)]
    cat[rng.random(n) < 0.05] = None
    filled = rng.normal(2.5, 1, n)  # a fifth filled with the mean of the rest (2.5)
    fill = rng.random(n) < 0.2
    filled[~fill] += 2.5 - filled[~fill].mean()
    filled[fill] = 2.5
    return pl.DataFrame(
        {
            "x": xs,
            "amount": pl.Series(rng.integers(0, 10**6, n) * 7, dtype=pl.Int64),
            "tier": pl.Series(rng.integers(-1, 3, n), dtype=pl.Int32),
            "cat": pl.Series(cat.tolist(), dtype=pl.String),
            "flag": pl.Series(rng.random(n) < 0.3),
            "empty": pl.Series([None] * n, dtype=pl.Float64),
            "mean_fill": pl.Series(filled),
        }
    )


def _source(df: pl.DataFrame) -> Source:
    return Source(spec="mem", role="--reference", files=[], lf=df.lazy(), schema=df.schema)


def _same(a: FeatureStats, b: FeatureStats) -> None:
    """Equal field by field; mean and std to 1e-12 (a sum's order), the rest exactly."""
    da, db = a.to_dict(), b.to_dict()
    for k in ("mean", "std"):
        va, vb = da.pop(k, None), db.pop(k, None)
        assert (va is None) == (vb is None), k
        if va is not None:
            assert math.isclose(va, vb, rel_tol=1e-12), (a.feature, k, va, vb)
    assert da == db, a.feature


@pytest.mark.parametrize("select", [False, True])  # Polars' sort, or the selection path
def test_profiles_from_the_spec_read_equal_the_per_feature_queries(
    select: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if select:
        monkeypatch.setattr(quantiles, "SELECT_MIN", 1)
        monkeypatch.setattr(quantiles, "_SAMPLE", 64)
        monkeypatch.setattr(featureprofile, "CHUNK", 7)  # the mean-fill count in many chunks
    df = _frame()
    lf = df.lazy()
    feats = df.columns
    profile: dict[str, FeatureStats] = {}
    specs = build_specs(lf, feats, settings=BinSettings(), explicit=True, profile=profile)
    assert {s.kind for s in specs} == {"numeric", "categorical"}
    assert next(s for s in specs if s.feature == "tier").kind == "categorical"  # few integers
    assert sorted(profile) == sorted(feats)  # every feature profiled by the same read
    rows, want = _profile_features(lf, specs, df.schema)  # nothing done: the old queries
    assert rows == df.height
    for f in feats:
        _same(profile[f], want[f])
    # what the fixtures are for: each branch really ran
    x = profile["x"]
    assert x.nulls > 0 and x.neg_inf > 0 and x.pos_inf > 0 and x.defaults["-999"] > 0
    assert profile["mean_fill"].defaults["mean"] > 0
    assert profile["cat"].defaults["unknown"] > 0 and profile["cat"].defaults["n/a"] > 0
    assert profile["tier"].frequencies and profile["tier"].quantiles["0.5"] is not None
    assert profile["empty"].count == 0 and profile["empty"].quantiles["0.5"] is None


def test_a_forced_categorical_number_is_profiled_by_the_old_path() -> None:
    """A numeric column counted only by value (--categorical) has no values in memory: its
    profile is left to the per-feature queries, and the baseline still has it."""
    df = _frame()
    profile: dict[str, FeatureStats] = {}
    build_specs(df.lazy(), ["x", "amount"], categorical=["amount"], explicit=True, profile=profile)
    assert "amount" not in profile and "x" in profile
    b = build_baseline(_source(df), Roles(categorical=("amount",)))
    st = b.stats["amount"]
    assert st.numeric and st.quantiles["0.5"] is not None and st.frequencies


def test_build_specs_takes_the_roles_value_counts_of_that_very_frame() -> None:
    df = _frame()
    src = _source(df)
    roles = resolve_roles(src, None, Roles())
    assert roles.assignment is not None
    given = roles.assignment.values_of(src)
    assert given is not None and {"cat", "flag"} <= set(given)
    # another frame over the same rows is not that frame: its rows may differ
    assert roles.assignment.values_of(df.lazy()) is None
    plain: list[pl.DataFrame] = []
    reused: list[pl.DataFrame] = []
    a = build_specs(src.lf, ["cat", "flag", "x"], explicit=True, counts=plain)
    b = build_specs(src.lf, ["cat", "flag", "x"], explicit=True, counts=reused, value_counts=given)
    assert a == b and plain[0].equals(reused[0])
    # and they are really used: a doctored table shows through in the vocabulary
    doctored = {
        "cat": pl.DataFrame(
            {"cat": ["zz", None], "__count": [5, 1]},
            schema={"cat": pl.String, "__count": pl.UInt32},
        )
    }
    (spec,) = build_specs(src.lf, ["cat"], explicit=True, value_counts=doctored)
    assert spec.categories == ("zz",)


def test_segment_checks_count_nothing_the_roles_query_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """baseline create's segment check reads the distinct counts off the roles query's
    value-count tables of the same frame (a null counts as one value) instead of counting the
    segment columns again; the limit's error still names the exact count."""
    import mlfail.baseline.build as build
    from mlfail.errors import UsageError

    def no_pass(*_a: object, **_k: object) -> dict[str, int]:
        raise AssertionError("segments counted again")

    monkeypatch.setattr(build, "distinct_counts", no_pass)
    n = 3000
    rng = np.random.default_rng(5)
    df = _frame(n).with_columns(
        pl.Series("geo", rng.choice(["a", "b", "c"], n)).scatter([0, 1], None),
        pl.Series("shop", rng.permutation(n) % 1001),
    )
    b = build_baseline(_source(df), Roles(), segments=["geo"])
    assert sorted(b.tables[("geo",)]["geo"].unique().to_list(), key=str) == [None, "a", "b", "c"]
    with pytest.raises(UsageError, match="1001 distinct values"):
        build_baseline(_source(df), Roles(), segments=["shop"])
