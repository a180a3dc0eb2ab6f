from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import integrate, stats

from mlfail.baseline import profile_reference
from mlfail.config import Roles
from mlfail.errors import InputError
from mlfail.io import open_source
from mlfail.quality import (
    QualityReport,
    check_quality,
    outside_range_p_value,
    two_proportion_test,
)

N_REF, N_LIVE = 5000, 4000


def _data(seed: int, n: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(5, 1, n)
    z[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame(
        {
            "x": rng.normal(0, 1, n),  # never null in the reference
            "z": z,  # 5% missing in the reference
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "k": rng.integers(0, 10, n),  # integer categories 0..9
            "a": rng.integers(0, 1000, n),  # integer, numeric bins
            "y": rng.integers(0, 2, n),
        }
    ).with_columns(pl.col("z").fill_nan(None))


@pytest.fixture(scope="module")
def ref_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("q") / "ref.parquet"
    _data(1, N_REF).write_parquet(p)
    return p


@pytest.fixture(scope="module")
def profile(ref_path: Path):
    return profile_reference(str(ref_path), None, Roles(label="y"))


def clean() -> pl.DataFrame:
    return _data(2, N_LIVE)


def run(profile, df: pl.DataFrame, tmp_path: Path) -> QualityReport:
    p = tmp_path / "live.parquet"
    df.write_parquet(p)
    return check_quality(profile, open_source(str(p)))


def triples(r: QualityReport) -> list[tuple[str, str, str]]:
    return [(f.feature, f.rule, f.severity) for f in r.findings]


# ---- the statistics ----------------------------------------------------------------------


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(10, 500, 30, 600), (0, 5000, 7, 4000)])
def test_two_proportion_test_is_pearson_chi2_without_correction(
    x1: int, n1: int, x2: int, n2: int
) -> None:
    z, p = two_proportion_test(x1, n1, x2, n2)
    chi2, p_chi, _, _ = stats.chi2_contingency([[x1, n1 - x1], [x2, n2 - x2]], correction=False)
    assert z**2 == pytest.approx(chi2, rel=1e-10)
    assert p == pytest.approx(p_chi, rel=1e-10)
    z1, p1 = two_proportion_test(x1, n1, x2, n2, alternative="greater")
    assert z1 == z > 0 and p1 == pytest.approx(p_chi / 2, rel=1e-10)
    assert two_proportion_test(0, 10, 0, 10) == (0.0, 1.0)


def test_outside_range_p_value_mixes_the_binomial_over_the_beta_of_the_range() -> None:
    n_ref, k, m = 999, 6, 1000
    # independent computation: ∫ Binomial(m, u).sf(k-1) · Beta(2, n-1).pdf(u) du
    want, _ = integrate.quad(
        lambda u: stats.binom.sf(k - 1, m, u) * stats.beta.pdf(u, 2, n_ref - 1),
        0,
        1,
        points=[2 / (n_ref + 1)],
        limit=200,
    )
    assert outside_range_p_value(k, m, n_ref) == pytest.approx(want, rel=1e-6)
    # one new value lands outside the range of n exchangeable values with chance 2/(n+1)
    assert outside_range_p_value(1, 1, n_ref) == pytest.approx(2 / (n_ref + 1), rel=1e-12)
    assert outside_range_p_value(0, m, n_ref) == 1.0


# ---- one rule at a time --------------------------------------------------------------------


def test_clean_live_has_no_findings(profile, tmp_path: Path) -> None:
    r = run(profile, clean(), tmp_path)
    assert r.findings == []
    rules = {rule for _, rule in r.checks}
    assert rules == {
        "schema_missing_column",
        "schema_dtype_change",
        "schema_new_column",
        "null_rate",
        "unseen_categories",
        "out_of_range",
        "default_fill",
        "frozen",
    }
    assert r.live_rows == N_LIVE and r.reference_rows == N_REF


def test_schema_missing_column(profile, tmp_path: Path) -> None:
    r = run(profile, clean().drop("c"), tmp_path)
    assert triples(r) == [("c", "schema_missing_column", "error")]
    assert r.findings[0].reference == "String" and r.findings[0].live is None
    r = run(profile, clean().drop("y"), tmp_path)  # a role column: worth knowing, no more
    assert triples(r) == [("y", "schema_missing_column", "info")]


def test_schema_new_column(profile, tmp_path: Path) -> None:
    r = run(profile, clean().with_columns(pl.lit("v2").alias("model_version")), tmp_path)
    assert triples(r) == [("model_version", "schema_new_column", "info")]
    assert r.findings[0].live == "String"


def test_schema_dtype_change(profile, tmp_path: Path) -> None:
    r = run(profile, clean().with_columns(pl.col("a").cast(pl.Float64)), tmp_path)
    assert triples(r) == [("a", "schema_dtype_change", "warning")]
    assert (r.findings[0].reference, r.findings[0].live) == ("Int64", "Float64")
    r = run(profile, clean().with_columns(pl.col("a").cast(pl.Int32)), tmp_path)
    assert triples(r) == [("a", "schema_dtype_change", "info")]
    # integer categories logged as floats no longer match ("3.0" is not "3")
    r = run(profile, clean().with_columns(pl.col("k").cast(pl.Float64)), tmp_path)
    assert triples(r) == [("k", "schema_dtype_change", "error")]
    # a number logged as text cannot be binned: an error, and the other rules skip it
    r = run(profile, clean().with_columns(pl.col("x").cast(pl.String)), tmp_path)
    assert triples(r) == [("x", "schema_dtype_change", "error")]


def test_null_rate_error_when_never_null_in_training(profile, tmp_path: Path) -> None:
    df = clean().with_columns(
        pl.when(pl.int_range(pl.len()) % 20 == 0).then(None).otherwise(pl.col("x")).alias("x")
    )
    r = run(profile, df, tmp_path)
    assert triples(r) == [("x", "null_rate", "error")]
    f = r.findings[0]
    assert f.reference == 0.0 and f.live == pytest.approx(0.05)
    assert "never null in the reference" in f.message


def test_null_rate_warning_on_a_significant_jump(profile, tmp_path: Path) -> None:
    df = clean().with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("z")).alias("z")
    )
    r = run(profile, df, tmp_path)
    assert triples(r) == [("z", "null_rate", "warning")]
    f = r.findings[0]
    assert f.reference == pytest.approx(0.05, abs=0.01) and f.live > f.reference + 0.05


def test_unseen_categories(profile, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    c = clean()["c"].to_numpy().astype(object).copy()
    c[rng.random(N_LIVE) < 0.08] = "A"  # recased
    r = run(profile, clean().with_columns(pl.Series("c", c.tolist())), tmp_path)
    assert triples(r) == [("c", "unseen_categories", "error")]
    f = r.findings[0]
    assert f.reference == 0.0 and f.live == pytest.approx(0.08, abs=0.015)
    assert "'A'" in f.message and "'A'→'a'" in f.message


def test_out_of_range(profile, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    x = clean()["x"].to_numpy().copy()
    hit = rng.random(N_LIVE) < 0.1
    x[hit] = 10 + rng.random(hit.sum()) * 5  # far above the reference maximum
    r = run(profile, clean().with_columns(pl.Series("x", x)), tmp_path)
    assert triples(r) == [("x", "out_of_range", "error")]
    f = r.findings[0]
    lo, hi = f.reference
    assert lo < -3 and 3 < hi < 10
    assert f.live == pytest.approx(hit.mean(), abs=0.003)  # + the few chance outliers


def test_default_fill(profile, tmp_path: Path) -> None:
    x = clean()["x"].to_numpy().copy()
    x[: N_LIVE * 3 // 10] = 0.0  # 30% zeros: a fill, not data
    r = run(profile, clean().with_columns(pl.Series("x", x)), tmp_path)
    assert triples(r) == [("x", "default_fill", "error")]
    f = r.findings[0]
    assert f.reference == 0.0 and f.live == pytest.approx(0.3)
    assert "0 makes up 30.00%" in f.message


def test_default_fill_with_the_training_mean(profile, tmp_path: Path) -> None:
    mean = profile.stats["z"].mean
    z = clean()["z"].to_numpy().copy()
    z[: N_LIVE // 10] = mean  # mean imputation upstream
    r = run(profile, clean().with_columns(pl.Series("z", z)), tmp_path)
    assert triples(r) == [("z", "default_fill", "warning")]
    assert "training mean" in r.findings[0].message


def test_frozen(profile, tmp_path: Path) -> None:
    r = run(profile, clean().with_columns(pl.lit(0.731).alias("x")), tmp_path)
    assert triples(r) == [("x", "frozen", "warning")]
    f = r.findings[0]
    assert f.live == 0.731 and f.reference == pytest.approx(1.0, abs=0.05)  # reference std
    r = run(profile, clean().with_columns(pl.lit("b").alias("c")), tmp_path)
    assert triples(r) == [("c", "frozen", "warning")]


def test_a_few_rows_that_happen_to_agree_are_not_frozen(profile, tmp_path: Path) -> None:
    r = run(profile, clean().head(3).with_columns(pl.lit("a").alias("c")), tmp_path)
    assert ("c", "frozen", "warning") not in triples(r)


def test_baseline_and_reference_give_the_same_findings(
    ref_path: Path, tmp_path: Path, profile
) -> None:
    from mlfail.baseline import build_baseline, load_baseline_reference

    b = build_baseline(str(ref_path), Roles(label="y"))
    bp = tmp_path / "b.json"
    b.save(bp)
    df = clean().with_columns(
        pl.when(pl.int_range(pl.len()) % 20 == 0).then(None).otherwise(pl.col("x")).alias("x"),
        pl.lit("b").alias("c"),
    )
    via_ref = run(profile, df, tmp_path)
    via_base = run(load_baseline_reference(str(bp), Roles(label="y")), df, tmp_path)
    assert via_ref.findings == via_base.findings and via_ref.checks == via_base.checks
    assert triples(via_ref) == [("x", "null_rate", "error"), ("c", "frozen", "warning")]


def test_string_default_fill_in_a_known_category(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    ref = pl.DataFrame({"src": rng.choice(["web", "app", ""], 4000, p=[0.6, 0.35, 0.05])})
    rp = tmp_path / "r.parquet"
    ref.write_parquet(rp)
    live = pl.DataFrame({"src": rng.choice(["web", "app", ""], 3000, p=[0.4, 0.25, 0.35])})
    r = run(profile_reference(str(rp), None, Roles()), live, tmp_path)
    assert triples(r) == [("src", "default_fill", "error")]
    f = r.findings[0]
    assert f.reference == pytest.approx(0.05, abs=0.01) and f.live == pytest.approx(0.35, abs=0.03)
    assert "'' makes up" in f.message


def test_empty_live_is_an_error(profile, tmp_path: Path) -> None:
    # An empty export must fail loudly, not pass a quality gate with "no findings".
    with pytest.raises(InputError, match="has no rows"):
        run(profile, clean().head(0), tmp_path)
