"""Real datasets turned into reference/live pairs the way a new user would bring them.

Every dataset loads offline from an installed package (scikit-learn's bundled CSVs, river's
bundled files); nothing is downloaded. Each pair has what real exports have and what mlfail must
not blame: a row id, a model score from a simple model fitted on the reference half, a decision
``y_pred`` (score ≥ 0.5), and a live side written as a hive directory with a live-only ``year``
partition key. Each carries a documented shift (planted or natural) — see README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Pair:
    name: str
    reference: Path
    live: Path  # a hive directory: live/year=2024/…, live/year=2025/…
    label: str
    prediction: str
    id_col: str
    outputs: tuple[str, ...]  # columns derived from the prediction (decision, rounded score…)
    features: tuple[str, ...]  # the dataset's own feature columns
    shifted: tuple[str, ...]  # features carrying the documented shift
    shift: str
    given_outputs: tuple[str, ...] = field(default=())  # outputs a user names with --model-output


def _write(name: str, ref: pl.DataFrame, live: pl.DataFrame, root: Path) -> tuple[Path, Path]:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    r = d / "reference.parquet"
    ref.write_parquet(r)
    half = live.height // 2
    for year, part in ((2024, live.head(half)), (2025, live.slice(half))):
        p = d / "live" / f"year={year}"
        p.mkdir(parents=True, exist_ok=True)
        part.write_parquet(p / "part-0.parquet")
    return r, d / "live"


def _logistic(x_ref: np.ndarray, y_ref: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x_ref, y_ref)
    return lambda x: model.predict_proba(x)[:, 1]


def breast_cancer(root: Path) -> Pair:
    """569 tumours, 30 real-valued measurements. Shuffled (seed 0), 60% reference. Planted: on
    live rows with ``mean radius`` above its median, ``mean texture`` is ×100 (a unit bug on
    one segment)."""
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    names = [str(n) for n in b.feature_names]
    order = np.random.default_rng(0).permutation(len(b.target))
    x, y = b.data[order].copy(), b.target[order]
    n_ref = int(0.6 * len(y))
    live_x = x[n_ref:]
    tex, rad = names.index("mean texture"), names.index("mean radius")
    big = live_x[:, rad] > np.median(live_x[:, rad])
    live_x[big, tex] *= 100
    score = _logistic(x[:n_ref], y[:n_ref])

    def frame(xs: np.ndarray, ys: np.ndarray, start: int) -> pl.DataFrame:
        s = score(xs)
        df = pl.DataFrame({"id": np.arange(start, start + len(ys), dtype=np.int64)})
        df = df.with_columns(pl.from_numpy(xs, schema=names))
        return df.with_columns(
            pl.Series("diagnosis", ys.astype(np.int64)),
            pl.Series("score", s),
            pl.Series("y_pred", (s >= 0.5).astype(np.int64)),
        )

    r, lv = _write(
        "breast_cancer", frame(x[:n_ref], y[:n_ref], 1), frame(live_x, y[n_ref:], n_ref + 1), root
    )
    return Pair(
        "breast_cancer", r, lv, "diagnosis", "score", "id", ("y_pred",), tuple(names),
        ("mean texture",), "mean texture ×100 on live rows with mean radius above the median",
    )  # fmt: skip


def diabetes(root: Path) -> Pair:
    """442 patients, 10 baseline variables (raw units), disease progression after a year.
    Split on a natural column: reference = patients under 50, live = 50 and over (a natural
    covariate shift in ``age``). The model is a linear regression; its prediction is rounded
    to one decimal in ``pred_rounded`` and thresholded into ``y_pred`` (≥ 150)."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    b = load_diabetes(scaled=False)
    names = [str(n) for n in b.feature_names]
    x, y = b.data, b.target
    young = x[:, names.index("age")] < 50
    model = LinearRegression().fit(x[young], y[young])
    ints = {"age", "sex", "bp", "s1", "s3", "s6"}  # integer-valued in the raw file

    def frame(mask: np.ndarray) -> pl.DataFrame:
        p = model.predict(x[mask])
        df = pl.DataFrame({"row_id": np.flatnonzero(mask).astype(np.int64) + 1})
        df = df.with_columns(pl.from_numpy(x[mask], schema=names))
        df = df.with_columns([pl.col(c).round(0).cast(pl.Int64) for c in names if c in ints])
        return df.with_columns(
            pl.Series("progression", y[mask]),
            pl.Series("pred", p),
            pl.Series("pred_rounded", np.round(p, 1)),
            pl.Series("y_pred", p >= 150),
        )

    r, lv = _write("diabetes", frame(young), frame(~young), root)
    return Pair(
        "diabetes", r, lv, "progression", "pred", "row_id", ("pred_rounded", "y_pred"),
        tuple(names), ("age",), "split on age: reference under 50, live 50 and over",
    )  # fmt: skip


def wine(root: Path) -> Pair:
    """178 wines, 13 chemical measurements, 3 cultivars. Shuffled (seed 1), 60% reference;
    string sample ids (``W0001``). The prediction is the class (multinomial logistic); the
    top class probability ``confidence`` is another output, named with ``--model-output``; the
    decision ``is_class_0`` relabels the prediction. Planted: ``magnesium`` ×100 on all live
    rows (a unit change)."""
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    b = load_wine()
    names = [str(n) for n in b.feature_names]
    order = np.random.default_rng(1).permutation(len(b.target))
    x, y = b.data[order].copy(), b.target[order]
    n_ref = int(0.6 * len(y))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x[:n_ref], y[:n_ref])
    x[n_ref:, names.index("magnesium")] *= 100

    def frame(lo: int, hi: int) -> pl.DataFrame:
        proba = model.predict_proba(x[lo:hi])
        cls = proba.argmax(axis=1).astype(np.int64)
        df = pl.DataFrame({"sample_id": [f"W{i:04d}" for i in range(lo + 1, hi + 1)]})
        df = df.with_columns(pl.from_numpy(x[lo:hi], schema=names))
        return df.with_columns(
            pl.Series("cultivar", y[lo:hi].astype(np.int64)),
            pl.Series("pred_class", cls),
            pl.Series("confidence", proba.max(axis=1)),
            pl.Series("is_class_0", np.where(cls == 0, "yes", "no")),
        )

    r, lv = _write("wine", frame(0, n_ref), frame(n_ref, len(y)), root)
    return Pair(
        "wine", r, lv, "cultivar", "pred_class", "sample_id", ("is_class_0",), tuple(names),
        ("magnesium",), "magnesium ×100 on every live row", given_outputs=("confidence",),
    )  # fmt: skip


def phishing(root: Path) -> Pair:
    """1,250 web pages (river's bundled Phishing stream), 9 page features, phishing or not.
    Split by stream order: first 60% reference. ``request_id`` counts from 100,001. Planted:
    ``https`` is filled with 0 on the last half of the live rows (a default-fill break)."""
    from river.datasets import Phishing

    rows = [{**xd, "is_phishing": int(yv)} for xd, yv in Phishing()]
    df = pl.DataFrame(rows).with_columns(pl.col("age_of_domain", "ip_in_url").cast(pl.Int64))
    names = [c for c in df.columns if c != "is_phishing"]
    n_ref = int(0.6 * df.height)
    x = df.select(names).to_numpy().astype(float)
    y = df["is_phishing"].to_numpy()
    n_live = df.height - n_ref
    https = df["https"].to_numpy().copy()
    https[n_ref + n_live // 2 :] = 0.0
    df = df.with_columns(pl.Series("https", https))
    x[:, names.index("https")] = https
    score = _logistic(x[:n_ref], y[:n_ref])(x)
    df = df.with_columns(
        pl.Series("score", score),
        pl.Series("y_pred", score >= 0.5),
    ).with_row_index("request_id", offset=100_001)
    df = df.with_columns(pl.col("request_id").cast(pl.Int64))
    r, lv = _write("phishing", df.head(n_ref), df.slice(n_ref), root)
    return Pair(
        "phishing", r, lv, "is_phishing", "score", "request_id", ("y_pred",), tuple(names),
        ("https",), "https filled with 0 on the last half of live",
    )  # fmt: skip


ALL: dict[str, Callable[[Path], Pair]] = {
    "breast_cancer": breast_cancer,
    "diabetes": diabetes,
    "wine": wine,
    "phishing": phishing,
}


def timed(pair: Pair, root: Path) -> Pair:
    """The pair with an event time ``ts`` added (the real files have none): the reference
    over January 2024, the live rows over March 2024 in their order, so ``timeline``,
    ``explain`` and ``triage`` can run on the same real rows (``year`` stays live only)."""
    import datetime as dt

    def stamp(df: pl.DataFrame, start: dt.datetime) -> pl.DataFrame:
        step = dt.timedelta(days=28) / max(df.height, 1)
        return df.with_columns(
            ts=pl.datetime_range(start, start + step * (df.height - 1), step, eager=True)
            if df.height > 1
            else pl.lit(start)
        )

    ref = stamp(pl.read_parquet(pair.reference), dt.datetime(2024, 1, 1))
    live = stamp(
        pl.read_parquet(pair.live, hive_partitioning=True).sort("year").drop("year"),
        dt.datetime(2024, 3, 1),
    )
    r, lv = _write(f"{pair.name}_timed", ref, live, root)
    return replace(pair, reference=r, live=lv)
