"""Regenerate the committed sample data (seeded, deterministic): ``make sample-data``.

A chargeback-risk classifier ("is this card transaction fraud?"):

* ``reference.parquet`` — the training snapshot (July–August 2026) with labels and the scores
  the model gave on it.
* ``live/day=YYYY-MM-DD/part-0.parquet`` — 30 days of live feature logs (September 2026) with
  the model's score, late-arriving labels (the last three days have none yet) and metadata.
* ``candidate.parquet`` — ``event_id, score`` of a shadow run with the amount fix (step 7).
* ``offline.parquet`` — ``event_id`` and the features the offline pipeline computes for the
  same live requests (``mlfail skew``): ``amount`` is in units there, ×100 when served on the BR
  pipeline-1.5 rows.
* ``metrics.parquet`` — the monitoring system's daily series (design §8: ``ts, layer, metric,
  value``) for the same 30 days: infra (p99 latency, 5xx rate, CPU — green throughout, with the
  weekend traffic rhythm), pipeline (feature freshness lag, rows ingested, feature null rate —
  green: the release broke no pipeline check), model (accuracy on days with labels, mean score,
  decline rate, prediction PSI — computed from the live log as the monitor would) and business
  (support complaints, which follow the extra declines two days later as declined customers
  call in; chargeback rate, flat — chargebacks take weeks).

The incident: feature-pipeline release 1.5 (a rewrite of the amount normalisation) went live
on 2026-09-19 for Brazilian traffic only (the BR regional feature service). From then on
``amount`` for BR rows is logged in cents instead of units: ×100. The model scores those
transactions as high-risk; accuracy on geo=BR collapses while the global number barely moves.
Everything else changes only as real traffic does (weekly rhythm, a few new merchant codes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import polars as pl

SEED = 20260919
GEOS = ["US", "BR", "MX", "DE", "GB", "IN", "FR", "CA"]
GEO_P = [0.34, 0.13, 0.09, 0.1, 0.1, 0.1, 0.08, 0.06]
GEO_CCY = {
    "US": 1.0,
    "BR": 0.9,
    "MX": 0.8,
    "DE": 1.1,
    "GB": 1.15,
    "IN": 0.6,
    "FR": 1.05,
    "CA": 0.95,
}
CHANNELS = ["web", "app", "pos"]
SEGMENTS = ["new", "returning", "vip"]
MCC = [
    "grocery",
    "electronics",
    "travel",
    "fuel",
    "restaurants",
    "fashion",
    "digital_goods",
    "gambling",
    "pharmacy",
    "home",
    "entertainment",
    "utilities",
]
MCC_P = np.array([0.2, 0.1, 0.06, 0.1, 0.14, 0.1, 0.08, 0.02, 0.05, 0.07, 0.05, 0.03])
MCC_RISK = {
    "electronics": 0.6,
    "digital_goods": 0.9,
    "gambling": 1.1,
    "travel": 0.4,
    "fashion": 0.2,
}
INCIDENT_DAY = dt.date(2026, 9, 19)
LIVE_START = dt.date(2026, 9, 1)
LIVE_DAYS = 30
LABEL_DELAY_DAYS = 3
SHARPNESS = 2.0


def _features(rng: np.random.Generator, n: int, days: np.ndarray) -> dict[str, np.ndarray]:
    weekday = np.array([d.weekday() for d in days])
    weekend = weekday >= 5
    geo = rng.choice(GEOS, size=n, p=GEO_P)
    chan_p = np.where(weekend[:, None], [[0.3, 0.55, 0.15]], [[0.42, 0.38, 0.2]])
    u = rng.random(n)
    channel = np.where(
        u < chan_p[:, 0], "web", np.where(u < chan_p[:, 0] + chan_p[:, 1], "app", "pos")
    )
    segment = rng.choice(SEGMENTS, size=n, p=[0.25, 0.65, 0.10])
    device_os = np.where(
        channel == "pos",
        "none",
        rng.choice(["ios", "android", "desktop"], size=n, p=[0.4, 0.4, 0.2]),
    )
    ccy = np.array([GEO_CCY[g] for g in geo])
    amount = np.round(np.exp(rng.normal(3.6, 1.0, n)) * ccy, 2)
    account_age = np.where(
        segment == "new", rng.integers(0, 60, n), rng.integers(30, 3650, n)
    ).astype(np.int64)
    txn_24h = rng.poisson(np.where(segment == "vip", 4.0, 1.6), n).astype(np.int64)
    avg_30d = np.round(np.exp(rng.normal(3.5, 0.8, n)) * ccy, 2)
    distance = np.round(rng.lognormal(1.5, 1.3, n), 1)
    hour = ((rng.normal(14, 5, n)) % 24).astype(np.int64)
    mcc = rng.choice(MCC, size=n, p=MCC_P / MCC_P.sum())
    card_present = (channel == "pos") | (rng.random(n) < 0.05)
    ip_risk = np.clip(rng.beta(1.2, 6.0, n), 0, 1).round(4)
    ip_risk = np.where((channel == "pos") | (rng.random(n) < 0.01), np.nan, ip_risk)
    email_risk = np.clip(rng.beta(1.5, 5.0, n), 0, 1).round(4)
    return {
        "geo": geo,
        "channel": channel,
        "user_segment": segment,
        "device_os": device_os,
        "amount": amount,
        "account_age_days": account_age,
        "txn_count_24h": txn_24h,
        "avg_amount_30d": avg_30d,
        "distance_from_home_km": distance,
        "hour_of_day": hour,
        "merchant_category": mcc,
        "card_present": card_present,
        "ip_risk_score": ip_risk,
        "email_domain_risk": email_risk,
    }


def _logit(f: dict[str, np.ndarray]) -> np.ndarray:
    """The 'world' — and, with the same weights, the model (it was trained well)."""
    amt = np.clip((np.log(f["amount"] + 1.0) - 3.6) / 1.0, -2.5, 2.5)
    ratio = np.clip(np.log((f["amount"] + 1) / (f["avg_amount_30d"] + 1)), -2.5, 2.5)
    ip = np.nan_to_num(f["ip_risk_score"], nan=0.05)
    mcc = np.array([MCC_RISK.get(m, 0.0) for m in f["merchant_category"]])
    return (
        -2.1
        + 0.5 * amt
        + 0.3 * ratio
        + 4.0 * ip
        + 2.2 * f["email_domain_risk"]
        - 0.35 * np.log1p(f["account_age_days"])
        + 0.25 * np.log1p(f["distance_from_home_km"])
        + 0.12 * f["txn_count_24h"]
        - 0.9 * f["card_present"]
        + mcc
        + 0.3 * ((f["hour_of_day"] < 6) | (f["hour_of_day"] > 22))
        + 1.2
    )


def _frame(rng: np.random.Generator, days: np.ndarray, live: bool) -> pl.DataFrame:
    n = len(days)
    f = _features(rng, n, days)
    true_logit = SHARPNESS * _logit(f)
    is_fraud = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(np.int64)
    if live:
        after = np.array([d >= INCIDENT_DAY for d in days])
        br = f["geo"] == "BR"
        hit = after & br
        f["amount"] = np.where(hit, np.round(f["amount"] * 100, 2), f["amount"])
        pipeline = np.where(hit, "1.5", "1.4")
    else:
        pipeline = np.full(n, "1.4")
    score = 1 / (1 + np.exp(-(SHARPNESS * _logit(f) + rng.normal(0, 0.3, n))))
    secs = rng.integers(0, 86400, n)
    ts = [
        dt.datetime.combine(d, dt.time()) + dt.timedelta(seconds=int(s))
        for d, s in zip(days, secs, strict=True)
    ]
    label = is_fraud.astype(float)
    if live:
        cutoff = LIVE_START + dt.timedelta(days=LIVE_DAYS - LABEL_DELAY_DAYS)
        label = np.where(np.array([d >= cutoff for d in days]), np.nan, label)
    sdk = np.where(f["channel"] == "app", rng.choice(["4.2.0", "4.3.1"], n, p=[0.3, 0.7]), "n/a")
    df = pl.DataFrame(
        {
            "event_id": [f"{'L' if live else 'T'}{i:07d}" for i in range(n)],
            "ts": ts,
            **{k: f[k] for k in ("geo", "channel", "user_segment", "device_os")},
            "pipeline_version": pipeline,
            "sdk_version": sdk,
            **{
                k: f[k]
                for k in (
                    "amount",
                    "account_age_days",
                    "txn_count_24h",
                    "avg_amount_30d",
                    "distance_from_home_km",
                    "hour_of_day",
                    "merchant_category",
                    "card_present",
                    "ip_risk_score",
                    "email_domain_risk",
                )
            },
            "score": np.round(score, 5),
            "is_fraud": label,
        }
    )
    return df.with_columns(
        pl.col("is_fraud").fill_nan(None).cast(pl.Int8),
        pl.col("ip_risk_score").fill_nan(None),
        pl.col("ts").cast(pl.Datetime("ms")),
    ).sort("ts")


def _days(rng: np.random.Generator, start: dt.date, ndays: int, per_day: int) -> np.ndarray:
    out: list[dt.date] = []
    for i in range(ndays):
        d = start + dt.timedelta(days=i)
        k = int(per_day * (1.3 if d.weekday() >= 5 else 1.0) * rng.uniform(0.95, 1.05))
        out.extend([d] * k)
    return np.array(out, dtype=object)


def _psi(ref_counts: np.ndarray, live_counts: np.ndarray, eps: float = 1e-4) -> float:
    p = ref_counts / ref_counts.sum()
    q = live_counts / live_counts.sum()
    p, q = np.where(p == 0, eps, p), np.where(q == 0, eps, q)
    return float(((q - p) * np.log(q / p)).sum())


def _metrics(ref: pl.DataFrame, live: pl.DataFrame) -> pl.DataFrame:
    """Daily monitoring series consistent with the live log (its own seeded noise)."""
    rng = np.random.default_rng(SEED + 1)
    days = [LIVE_START + dt.timedelta(days=i) for i in range(LIVE_DAYS)]
    weekend = np.array([d.weekday() >= 5 for d in days], dtype=float)
    n = len(days)
    edges = np.quantile(ref["score"].to_numpy(), np.arange(1, 10) / 10)  # 10 bins, linear
    ref_counts = np.bincount(np.searchsorted(edges, ref["score"].to_numpy()), minlength=10)
    feats = [c for c in live.columns if c not in ("event_id", "ts", "score", "is_fraud")]
    daily = live.with_columns(pl.col("ts").dt.date().alias("d"))
    rows: list[tuple[dt.date, str, str, float]] = []
    accuracy, mean_score, decline, pred_psi, ingested, nulls = ([] for _ in range(6))
    for d in days:
        part = daily.filter(pl.col("d") == d)
        score = part["score"].to_numpy()
        lab = part.filter(pl.col("is_fraud").is_not_null())
        acc = (
            float(((lab["score"].to_numpy() >= 0.5) == (lab["is_fraud"].to_numpy() == 1)).mean())
            if lab.height
            else None
        )
        accuracy.append(acc)
        mean_score.append(float(score.mean()))
        decline.append(float((score >= 0.5).mean()))
        live_counts = np.bincount(np.searchsorted(edges, score), minlength=10)
        pred_psi.append(_psi(ref_counts, live_counts))
        ingested.append(float(part.height))
        nulls.append(
            float(part.select(feats).null_count().sum_horizontal()[0]) / (part.height * len(feats))
        )
    decline_arr = np.array(decline)
    excess = np.clip(decline_arr - np.median(decline_arr[:14]), 0, None)
    lagged = np.concatenate([np.zeros(2), excess[:-2]])  # declined customers call in 2 days later
    series: dict[tuple[str, str], list[float | None]] = {
        ("infra", "p99_latency_ms"): list(180 + 12 * weekend + rng.normal(0, 4, n)),
        ("infra", "http_5xx_rate_pct"): list(0.2 + rng.normal(0, 0.02, n)),
        ("infra", "cpu_util_pct"): list(52 + 7 * weekend + rng.normal(0, 1.5, n)),
        ("pipeline", "feature_freshness_lag_min"): list(4 + rng.normal(0, 0.4, n)),
        ("pipeline", "rows_ingested"): list(ingested),
        ("pipeline", "feature_null_rate"): list(nulls),
        ("model", "accuracy"): list(accuracy),
        ("model", "mean_score"): list(mean_score),
        ("model", "decline_rate"): list(decline),
        ("model", "prediction_psi"): list(pred_psi),
        ("business", "complaints_per_10k_txn"): list(6 + 250 * lagged + rng.normal(0, 0.6, n)),
        ("business", "chargeback_rate_pct"): list(0.9 + rng.normal(0, 0.04, n)),
    }
    for (layer, metric), values in series.items():
        for d, v in zip(days, values, strict=True):
            if v is not None:
                rows.append((d, layer, metric, round(float(v), 6)))
    return pl.DataFrame(
        rows,
        schema={"ts": pl.Date, "layer": pl.String, "metric": pl.String, "value": pl.Float64},
        orient="row",
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms")))


def generate(out: Path, *, ref_per_day: int = 500, live_per_day: int = 2500) -> None:
    rng = np.random.default_rng(SEED)
    ref = _frame(rng, _days(rng, dt.date(2026, 7, 1), 62, ref_per_day), live=False)
    live = _frame(rng, _days(rng, LIVE_START, LIVE_DAYS, live_per_day), live=True)
    out.mkdir(parents=True, exist_ok=True)
    ref.write_parquet(out / "reference.parquet", compression="zstd", statistics=True)
    live_dir = out / "live"
    if live_dir.exists():
        shutil.rmtree(live_dir)
    for (day,), part in live.with_columns(pl.col("ts").dt.date().alias("day")).group_by(
        "day", maintain_order=True
    ):
        d = live_dir / f"day={day}"
        d.mkdir(parents=True)
        part.drop("day").write_parquet(d / "part-0.parquet", compression="zstd", statistics=True)
    _metrics(ref, live).write_parquet(out / "metrics.parquet", compression="zstd", statistics=True)
    _candidate(live).write_parquet(out / "candidate.parquet", compression="zstd", statistics=True)
    _offline(live).write_parquet(out / "offline.parquet", compression="zstd", statistics=True)


def _candidate(live: pl.DataFrame) -> pl.DataFrame:
    """Step 7's shadow run: the same model scoring the *fixed* features (pipeline 1.5's amount
    divided back by 100), as the scoring service would with the transform rolled back. Its own
    seeded noise: a fresh scoring run, not a copy of the logged scores."""
    rng = np.random.default_rng(SEED + 7)
    fixed = live.with_columns(
        pl.when(pl.col("pipeline_version") == "1.5")
        .then((pl.col("amount") / 100).round(2))
        .otherwise(pl.col("amount"))
        .alias("amount"),
        pl.col("ip_risk_score").fill_null(float("nan")),
    )
    f = {c: fixed[c].to_numpy() for c in fixed.columns}
    noise = rng.normal(0, 0.3, fixed.height)
    score = 1 / (1 + np.exp(-(SHARPNESS * _logit(f) + noise)))
    return pl.DataFrame({"event_id": fixed["event_id"], "score": np.round(score, 5)})


OFFLINE_FEATURES = (
    "geo",
    "channel",
    "device_os",
    "amount",
    "account_age_days",
    "txn_count_24h",
    "avg_amount_30d",
    "merchant_category",
    "card_present",
    "ip_risk_score",
)


def _offline(live: pl.DataFrame) -> pl.DataFrame:
    """The offline feature store's values for the live requests (``mlfail skew``): the batch
    pipeline still runs the 1.4 transform, so ``amount`` is in units for every row — the
    served value is ×100 on exactly the BR pipeline-1.5 rows. The batch job dropped a seeded
    0.2% of the events (late arrivals), so the join has serving-only ids. Its own seed: the
    other files' bytes do not change."""
    rng = np.random.default_rng(SEED + 16)
    fixed = live.with_columns(
        pl.when(pl.col("pipeline_version") == "1.5")
        .then((pl.col("amount") / 100).round(2))
        .otherwise(pl.col("amount"))
        .alias("amount"),
    )
    keep = rng.random(fixed.height) >= 0.002
    return fixed.filter(pl.Series(keep)).select("event_id", *OFFLINE_FEATURES).sort("event_id")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = ap.parse_args()
    generate(args.out)


if __name__ == "__main__":
    main()
