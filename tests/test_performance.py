from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from mlfail.errors import UsageError
from mlfail.performance import infer_task, performance_table


def _frame() -> pl.DataFrame:
    rng = np.random.default_rng(2)
    n = 3000
    y = rng.integers(0, 2, n).astype(float)
    score = np.clip(0.5 * y + rng.normal(0.25, 0.25, n), 0, 1).round(2)  # ties on purpose
    g = rng.choice(["a", "b"], n)
    y[rng.random(n) < 0.1] = np.nan  # unlabelled rows
    return pl.DataFrame({"y": y, "p": score, "g": g}).with_columns(pl.col("y").fill_nan(None))


def test_classification_metrics_match_numpy_and_scipy() -> None:
    df = _frame()
    spec = infer_task(df.schema, "y", "p")
    assert spec.task == "classification" and spec.is_score
    t = performance_table(df.lazy(), spec, ["g"]).sort("g")
    for row in t.iter_rows(named=True):
        sub = df.filter(pl.col("g") == row["g"])
        lab = sub.filter(pl.col("y").is_not_null())
        y, p = lab["y"].to_numpy(), lab["p"].to_numpy()
        assert row["rows"] == sub.height and row["labelled"] == lab.height
        assert row["errors"] == int(((p >= 0.5) != (y >= 0.5)).sum())
        assert row["accuracy"] == pytest.approx(((p >= 0.5) == (y >= 0.5)).mean(), abs=1e-12)
        u = stats.mannwhitneyu(p[y == 1], p[y == 0]).statistic
        assert row["auc"] == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()), abs=1e-12)
        assert row["mean_score"] == pytest.approx(sub["p"].mean(), abs=1e-12)


def test_class_predictions_compared_as_is_and_single_class_has_no_auc() -> None:
    df = pl.DataFrame({"y": ["cat", "dog", "cat", None], "p": ["cat", "cat", "cat", "dog"]})
    spec = infer_task(df.schema, "y", "p")
    assert not spec.is_score
    row = performance_table(df.lazy(), spec).row(0, named=True)
    assert (row["rows"], row["labelled"], row["errors"]) == (4, 3, 1)
    assert "auc" not in row
    one_class = pl.DataFrame({"y": [1.0, 1.0], "p": [0.9, 0.2]})
    row = performance_table(one_class.lazy(), infer_task(one_class.schema, "y", "p")).row(
        0, named=True
    )
    assert row["auc"] is None and row["accuracy"] == 0.5


def test_regression_mae() -> None:
    df = pl.DataFrame({"y": [1.0, 2.0, None, 4.0], "p": [1.5, 2.0, 9.0, 3.0]})
    spec = infer_task(df.schema, "y", "p", task="regression")
    row = performance_table(df.lazy(), spec).row(0, named=True)
    assert row["mae"] == pytest.approx((0.5 + 0 + 1.0) / 3)
    assert row["labelled"] == 3


def test_bad_roles() -> None:
    df = pl.DataFrame({"y": [1], "p": ["x"]})
    with pytest.raises(UsageError, match="--prediction q: no such column"):
        infer_task(df.schema, "y", "q")
    with pytest.raises(UsageError, match="--task regression needs numeric"):
        infer_task(df.schema, "y", "p", task="regression")
