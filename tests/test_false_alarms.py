"""False alarms on no-drift data (issue 8): reference and live drawn from one distribution.

30 features — normal, lognormal, integer-valued (few values: categorical; many: numeric),
categoricals with Zipf-skewed frequencies up to 120 values, four with nulls — a 30k-row
reference and live logs of 200, 2k, 20k and 200k rows (fixed seeds). mlfail flags at most 5%
of them "drifted" at every size; the raw-threshold rule (PSI > 0.1 or > 0.25, no
significance) flags many more at 200 rows, which is why mlfail asks for both.

Measured (seeds below): mlfail 0 of 30 drifted at every size; raw PSI > 0.1 flags 13–23% of
the features at 200 rows and raw PSI > 0.25 7–13% (0 from 2k rows on). Before the sparse-bin
pooling of :func:`mlfail.psi.significance_bins`, one of the 30 (the 120-value categorical) was
"drifted" at 200 rows in 4 of 5 seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlfail.audit import psi
from mlfail.binning import BinSpec
from mlfail.psi import PsiSettings, assess_feature, significance_bins

ZIPF_SIZES = (8, 15, 30, 50, 80, 120)
NULL_RATES = {"norm_null": 0.1, "logn_null": 0.3, "int_null": 0.05, "cat_null": 0.2}


def no_drift_frame(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """30 features of one fixed distribution; only the sample changes with ``rng``."""
    cols: dict[str, np.ndarray] = {}
    for i in range(8):
        cols[f"norm{i}"] = rng.normal(i, 1 + i / 4, n)
    for i in range(6):
        cols[f"logn{i}"] = rng.lognormal(0, 0.5 + i / 4, n)
    for i in range(3):  # few distinct values: binned as categories
        cols[f"pois{i}"] = rng.poisson(2 + 3 * i, n).astype(np.int64)
    for i in range(3):  # many distinct values: quantile bins
        cols[f"count{i}"] = rng.negative_binomial(2, 0.02 + 0.02 * i, n).astype(np.int64)
    for i, k in enumerate(ZIPF_SIZES):
        w = 1.0 / np.arange(1, k + 1)
        cols[f"cat{i}"] = rng.choice([f"v{j}" for j in range(k)], n, p=w / w.sum())
    cols["norm_null"] = rng.normal(0, 1, n)
    cols["logn_null"] = rng.lognormal(1, 1, n)
    cols["int_null"] = rng.integers(0, 1000, n)
    cols["cat_null"] = rng.choice(["a", "b", "c", "d"], n, p=[0.6, 0.3, 0.08, 0.02])
    df = pl.DataFrame(cols)
    nulls = {c: pl.Series(rng.random(n) < r) for c, r in NULL_RATES.items()}
    return df.with_columns(
        [pl.when(m).then(None).otherwise(pl.col(c)).alias(c) for c, m in nulls.items()]
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("no_drift") / "reference.parquet"
    no_drift_frame(np.random.default_rng(1), 30_000).write_parquet(path)
    return path


# (live rows, seeds): every seed at 200 rows, where noise is largest and the run is cheap
CASES = [(200, range(100, 105)), (2_000, range(100, 102)), (20_000, (100,)), (200_000, (100,))]


@pytest.mark.parametrize(("rows", "seeds"), CASES, ids=[str(r) for r, _ in CASES])
def test_no_drift_flags_at_most_five_percent(reference: Path, rows: int, seeds: range) -> None:
    drifted: list[float] = []
    raw_01: list[float] = []
    raw_025: list[float] = []
    for seed in seeds:
        live = reference.parent / f"live_{rows}_{seed}.parquet"
        no_drift_frame(np.random.default_rng(seed), rows).write_parquet(live)
        report = psi(str(reference), str(live), progress=False)
        feats = report.features
        assert len(feats) == 30  # every feature audited, none skipped as an identifier
        assert all(f.psi is not None for f in feats)
        drifted.append(sum(f.status == "drifted" for f in feats) / len(feats))
        raw_01.append(sum(f.psi > 0.1 for f in feats if f.psi is not None) / len(feats))
        raw_025.append(sum(f.psi > 0.25 for f in feats if f.psi is not None) / len(feats))
    assert max(drifted) <= 0.05, f"drifted fractions {drifted} at {rows} live rows"
    # BH under no change at all: a run flags anything with probability ≤ α (the ε-inflated
    # p-values of sparse bins had one false alarm in 4 of the 5 runs at 200 rows)
    assert sum(d > 0 for d in drifted) <= max(1, len(drifted) // 5), drifted
    if rows == 200:
        # the raw thresholds, same PSI values, no significance: many false alarms
        assert np.mean(raw_01) >= 0.10, raw_01
        assert np.mean(raw_025) >= 0.05, raw_025
        assert min(raw_01) > max(drifted)


def test_sparse_bins_pooled_keep_p_values_calibrated() -> None:
    """A 38-bin categorical (Zipf over 120 values, the tail folded), 200 live rows vs 30k
    reference rows, 2000 multinomial draws under no change: p < 0.05 about 5% of the time
    (measured 8%; it was 66% with the ε-inflated PSI of every bin)."""
    rng = np.random.default_rng(0)
    w = 1.0 / np.arange(1, 121)
    w /= w.sum()
    kept = w >= 0.005
    probs = np.append(w[kept], w[~kept].sum())
    spec = BinSpec("c", "categorical", categories=tuple(f"v{i}" for i in range(kept.sum())))
    spec_bins = np.zeros(spec.n_bins - len(probs), dtype=np.int64)
    cfg = PsiSettings()
    p_values = []
    for _ in range(2000):
        ref = np.append(rng.multinomial(30_000, probs), spec_bins)
        live = np.append(rng.multinomial(200, probs), spec_bins)
        rec = assess_feature(spec, ref, live, cfg)
        assert rec.p_value is not None
        p_values.append(rec.p_value)
    frac = float(np.mean(np.asarray(p_values) < 0.05))
    assert frac <= 0.10, frac


def test_significance_bins_pool_only_sparse_bins() -> None:
    # every bin expects ≥ 5 rows: unchanged (empty bins dropped)
    r, lv = significance_bins(np.array([100, 100, 0, 100]), np.array([50, 40, 0, 60]))
    assert r.tolist() == [100, 100, 100] and lv.tolist() == [50, 40, 60]
    # min(N, M) = 100: bins 3 and 4 expect 100·(10 + 1)/1100 = 1 and 100·(0 + 2)/1100 ≈ 0.2 rows
    ref, live = np.array([500, 490, 10, 0]), np.array([50, 47, 1, 2])
    r, lv = significance_bins(ref, live)
    # pooled (13 rows, 1.2 expected) they are still sparse: they join the smallest other bin
    assert r.tolist() == [500, 500] and lv.tolist() == [50, 50]
    assert r.sum() == ref.sum() and lv.sum() == live.sum()


def _slice_frame(rng: np.random.Generator, n: int) -> pl.DataFrame:
    geo_p = np.r_[[0.3, 0.2, 0.1, 0.1], np.full(8, 0.3 / 8)]
    return pl.DataFrame(
        {
            "geo": rng.choice([f"g{i}" for i in range(12)], n, p=geo_p),
            "channel": rng.choice(["web", "app", "pos", "phone"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "seg": rng.choice([f"s{i}" for i in range(6)], n),
            "x": rng.normal(0, 1, n),
            "score": rng.beta(1, 6, n),
        }
    )


@pytest.mark.parametrize("rows", [1000, 3000])
def test_no_label_slices_do_not_cry_wolf(tmp_path: Path, rows: int) -> None:
    """Without labels, slices are ranked by prediction PSI against their own reference. On
    no-drift data at most 5% of the tested slices may be flagged. Measured: 0–3 of 106–171
    tested slices per run; before the per-slice test pooled sparse bins (as `mlfail psi`
    does), 12–15 of 106 at 1,000 rows (11–14%)."""
    from mlfail.config import Roles
    from mlfail.slices import SliceSettings, find_slices

    ref = tmp_path / "ref.parquet"
    _slice_frame(np.random.default_rng(1), 30_000).write_parquet(ref)
    for seed in range(3):
        live = tmp_path / f"live{seed}.parquet"
        _slice_frame(np.random.default_rng(100 + seed), rows).write_parquet(live)
        report = find_slices(
            str(ref), str(live), roles=Roles(prediction="score"), settings=SliceSettings()
        )
        flagged = sum(1 for s in report.slices if s.significant or s.degraded)
        assert report.mode == "no_labels"
        assert flagged <= 0.05 * report.tested, (seed, flagged, report.tested)
