"""Seeded, small incident scenarios — one per failure mode — for root-cause and triage tests.

Each scenario is a small world: a reference (training) frame, 30 days of live logs, change
events (the cause plus distractors: other components, after the onset), an owners.toml, an
optional metrics frame, and the expected finding. The model scores the *logged* features; the
labels come from the *true* ones, so a broken pipeline really costs accuracy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

LIVE_START = dt.date(2026, 9, 1)
DAYS = 30
REF_ROWS = 6000
PER_DAY = 400
GEOS = ["US", "BR", "IN", "DE", "MX"]
GEO_P = [0.4, 0.15, 0.15, 0.15, 0.15]

OWNERS = """
[components.feature-pipeline]
owner = "data-eng"
pager = "pd:data-eng"
features = ["amount", "avg_amount", "session_len"]

[components.ingest-b]
owner = "ingest-team"
pager = "pd:ingest"
features = ["ratio"]

[components.bureau-feed]
owner = "credit-data"
pager = "pd:credit-data"
features = ["account_age"]

[components.client-sdk]
owner = "mobile-team"
pager = "pd:mobile"
features = ["channel"]

[components.device-fleet]
owner = "iot-team"
pager = "pd:iot"
features = ["sensor_reading"]

[components.traffic]
owner = "growth"
pager = "pd:growth"
features = ["geo", "num_items"]

[components.model-serving]
owner = "ml-platform"
pager = "pd:ml-platform"
features = []

[layers]
infra = { owner = "sre", pager = "pd:sre" }
pipeline = { owner = "data-eng", pager = "pd:data-eng" }
model = { owner = "ml-team", pager = "pd:ml-team" }
business = { owner = "risk-analytics", pager = "pd:risk" }
"""


@dataclass
class Scenario:
    name: str
    reference: pl.DataFrame
    live: pl.DataFrame
    changes: pl.DataFrame
    metrics: pl.DataFrame | None = None
    expected: dict[str, Any] = field(default_factory=dict)
    has_labels: bool = True

    def write(self, root: Path) -> dict[str, Path]:
        root.mkdir(parents=True, exist_ok=True)
        paths = {
            "reference": root / "reference.parquet",
            "live": root / "live.parquet",
            "changes": root / "changes.csv",
            "owners": root / "owners.toml",
        }
        self.reference.write_parquet(paths["reference"])
        self.live.write_parquet(paths["live"])
        self.changes.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S")).write_csv(
            paths["changes"]
        )
        paths["owners"].write_text(OWNERS)
        if self.metrics is not None:
            paths["metrics"] = root / "metrics.csv"
            self.metrics.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d")).write_csv(
                paths["metrics"]
            )
        return paths


def day(i: int) -> dt.date:
    return LIVE_START + dt.timedelta(days=i)


def _base(
    rng: np.random.Generator, n: int, geo_p: list[float] | None = None
) -> dict[str, np.ndarray]:
    geo = rng.choice(GEOS, n, p=geo_p or GEO_P)
    geo_scale = np.where(geo == "IN", 0.45, np.where(geo == "BR", 0.9, 1.0))
    return {
        "geo": geo,
        "source": rng.choice(["a", "b"], n, p=[0.6, 0.4]),
        "device_model": rng.choice(["m1", "m2", "m3", "m4"], n),
        "firmware_version": np.full(n, "3.1"),
        "pipeline_version": np.full(n, "1.4"),
        "sdk_version": np.full(n, "4.0"),
        "amount": np.round(np.exp(rng.normal(3.5, 0.9, n)) * geo_scale, 2),
        "avg_amount": np.round(np.exp(rng.normal(3.4, 0.7, n)) * geo_scale, 2),
        "session_len": np.round(rng.normal(300, 60, n), 1),
        "ratio": np.round(rng.beta(2, 5, n), 4),
        "account_age": rng.integers(1, 3000, n).astype(np.int64),
        "sensor_reading": np.round(rng.normal(50, 10, n), 2),
        "channel": rng.choice(["web", "app", "pos"], n, p=[0.45, 0.4, 0.15]),
        "num_items": rng.poisson(2.0, n).astype(np.int64),
    }


def logit(f: dict[str, np.ndarray], *, ratio_sign: float = 1.0) -> np.ndarray:
    amt = np.clip(np.log(np.maximum(f["amount"], 0) + 1) - 3.5, -3, 3)
    rel = np.clip(
        np.log((np.maximum(f["amount"], 0) + 1) / (np.maximum(f["avg_amount"], 0) + 1)), -3, 3
    )
    ratio = np.nan_to_num(f["ratio"], nan=0.28)
    chan = np.select([f["channel"] == "web", f["channel"] == "pos"], [0.4, -0.6], 0.0)
    return (
        -1.2
        + 0.9 * amt
        + 0.5 * rel
        + ratio_sign * 3.0 * (ratio - 0.28)
        - 0.0006 * (f["account_age"] - 1500)
        + 0.012 * (f["session_len"] - 300)
        + 0.05 * (f["sensor_reading"] - 50)
        + chan
        + 0.1 * (f["num_items"] - 2)
    )


SHARP = 2.5


def _finish(
    rng: np.random.Generator,
    logged: dict[str, np.ndarray],
    true: dict[str, np.ndarray],
    days: np.ndarray,
    *,
    ratio_sign: np.ndarray | float = 1.0,
    labels: bool = True,
    score_override: np.ndarray | None = None,
) -> pl.DataFrame:
    n = len(days)
    tl = SHARP * logit(true, ratio_sign=1.0)
    if not np.isscalar(ratio_sign):
        tl = np.where(np.asarray(ratio_sign) < 0, SHARP * logit(true, ratio_sign=-1.0), tl)
    y = (rng.random(n) < 1 / (1 + np.exp(-tl))).astype(float)
    score = 1 / (1 + np.exp(-(SHARP * logit(logged) + rng.normal(0, 0.2, n))))
    if score_override is not None:
        score = np.where(np.isnan(score_override), score, score_override)
    secs = rng.integers(0, 86400, n)
    ts = [
        dt.datetime.combine(d, dt.time()) + dt.timedelta(seconds=int(s))
        for d, s in zip(days, secs, strict=True)
    ]
    if not labels:
        y = np.full(n, np.nan)
    df = pl.DataFrame({"ts": ts, **logged, "score": np.round(score, 5), "label": y})
    return df.with_columns(
        pl.col("label").fill_nan(None).cast(pl.Int8), pl.col("ratio").fill_nan(None)
    ).sort("ts")


def _days(n_days: int, per_day: int, start: dt.date) -> np.ndarray:
    return np.array(
        [start + dt.timedelta(days=i) for i in range(n_days) for _ in range(per_day)], dtype=object
    )


def reference(rng: np.random.Generator) -> pl.DataFrame:
    days = _days(60, REF_ROWS // 60, dt.date(2026, 7, 1))
    f = _base(rng, len(days))
    return _finish(rng, f, f, days)


def _changes(rows: list[tuple[str, dt.datetime, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["id", "ts", "kind", "component", "description"], orient="row"
    ).with_columns(pl.col("ts").cast(pl.Datetime("us")))


def at(i: int, hour: int = 2) -> dt.datetime:
    return dt.datetime.combine(day(i), dt.time(hour))


DISTRACTORS = [
    ("CHG-900", at(4, 10), "library_upgrade", "model-serving", "bump numpy 2.3 -> 2.4"),
    ("CHG-901", at(9, 15), "config", "search-ranking", "raise cache TTL"),
    ("CHG-902", at(26, 11), "deploy", "feature-pipeline", "backfill job tweak"),
]


def _live(
    seed: int, mutate, *, geo_p_after: tuple[int, list[float]] | None = None, labels: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = reference(rng)
    days = _days(DAYS, PER_DAY, LIVE_START)
    n = len(days)
    idx = np.array([(d - LIVE_START).days for d in days])
    true = _base(rng, n)
    if geo_p_after is not None:
        start, p = geo_p_after
        alt = _base(rng, n, p)
        sel = idx >= start
        true = {k: np.where(sel, alt[k], v) for k, v in true.items()}
    logged = {k: v.copy() for k, v in true.items()}
    extra = mutate(rng, idx, true, logged) or {}
    return ref, _finish(rng, logged, true, days, labels=labels, **extra)


def pipeline_x100(seed: int = 1, labels: bool = True) -> Scenario:
    def mutate(rng, idx, true, logged):
        hit = idx >= 12
        logged["pipeline_version"] = np.where(hit, "1.5", "1.4")
        logged["amount"] = np.where(hit, logged["amount"] * 100, logged["amount"])

    ref, live = _live(seed, mutate, labels=labels)
    ch = _changes(
        [
            (
                "CHG-104",
                at(12),
                "deploy",
                "feature-pipeline",
                "pipeline 1.5: amount normalisation rewrite",
            ),
            *DISTRACTORS,
        ]
    )
    return Scenario(
        "pipeline_x100" + ("" if labels else "_nolabels"),
        ref,
        live,
        ch,
        has_labels=labels,
        expected={
            "feature": "amount",
            "mode": "pipeline_drift",
            "event": "CHG-104",
            "cohort": ("pipeline_version", "1.5"),
            "onset": day(12),
            "owner": "data-eng",
            "verdict": "model_incident",
        },
    )


def pipeline_x2(seed: int = 2) -> Scenario:
    def mutate(rng, idx, true, logged):
        hit = (idx >= 15) & (rng.random(len(idx)) < 0.5)
        logged["pipeline_version"] = np.where(hit, "1.5", "1.4")
        logged["avg_amount"] = np.where(hit, logged["avg_amount"] * 2, logged["avg_amount"])

    ref, live = _live(seed, mutate)
    ch = _changes(
        [
            (
                "CHG-210",
                at(15),
                "deploy",
                "feature-pipeline",
                "pipeline 1.5 canary (50%): normalise avg_amount by active days",
            ),
            *DISTRACTORS,
        ]
    )
    return Scenario(
        "pipeline_x2",
        ref,
        live,
        ch,
        expected={
            "feature": "avg_amount",
            "mode": "pipeline_drift",
            "event": "CHG-210",
            "cohort": ("pipeline_version", "1.5"),
            "onset": day(15),
            "owner": "data-eng",
            "verdict": "model_incident",
        },
    )


def null_spike(seed: int = 3) -> Scenario:
    def mutate(rng, idx, true, logged):
        hit = (idx >= 14) & (logged["source"] == "b") & (rng.random(len(idx)) < 0.6)
        logged["ratio"] = np.where(hit, np.nan, logged["ratio"])

    ref, live = _live(seed, mutate)
    ch = _changes(
        [
            (
                "CHG-330",
                at(14, 1),
                "schema_migration",
                "ingest-b",
                "migrate source b events to schema v7 (ratio renamed upstream)",
            ),
            *DISTRACTORS,
        ]
    )
    return Scenario(
        "null_spike",
        ref,
        live,
        ch,
        expected={
            "feature": "ratio",
            "mode": "data_quality",
            "event": "CHG-330",
            "cohort": ("source", "b"),
            "onset": day(14),
            "owner": "ingest-team",
            "signature": "null_spike",
            "verdict": "model_incident",
        },
    )


def serving_skew(seed: int = 4) -> Scenario:
    def mutate(rng, idx, true, logged):
        logged["session_len"] = np.round(logged["session_len"] / 60.0 * 50 + 120, 1)

    ref, live = _live(seed, mutate)
    return Scenario(
        "serving_skew",
        ref,
        live,
        _changes(list(DISTRACTORS)),
        expected={
            "feature": "session_len",
            "mode": "training_serving_skew",
            "event": None,
            "onset": day(0),
            "owner": "data-eng",
            "verdict": "model_incident",
        },
    )


def default_fill(seed: int = 5) -> Scenario:
    def mutate(rng, idx, true, logged):
        hit = (idx >= 18) & (logged["geo"] == "BR")
        logged["account_age"] = np.where(hit, 0, logged["account_age"])

    ref, live = _live(seed, mutate)
    ch = _changes(
        [
            (
                "CHG-450",
                at(18, 3),
                "data_source",
                "bureau-feed",
                "switch BR credit bureau to new vendor",
            ),
            *DISTRACTORS,
        ]
    )
    return Scenario(
        "default_fill",
        ref,
        live,
        ch,
        expected={
            "feature": "account_age",
            "mode": "data_quality",
            "event": "CHG-450",
            "cohort": ("geo", "BR"),
            "onset": day(18),
            "owner": "credit-data",
            "signature": "default_fill",
            "verdict": "model_incident",
        },
    )


def sdk_recasing(seed: int = 6) -> Scenario:
    def mutate(rng, idx, true, logged):
        share = np.clip((idx - 10 + 1) / 10.0, 0, 0.9)  # gradual rollout from day 10
        new_sdk = rng.random(len(idx)) < share
        logged["sdk_version"] = np.where(new_sdk, "5.0", "4.0")
        logged["channel"] = np.where(
            new_sdk, np.char.upper(logged["channel"].astype(str)), logged["channel"]
        )

    ref, live = _live(seed, mutate)
    ch = _changes(
        [
            (
                "CHG-560",
                at(10, 9),
                "library_upgrade",
                "client-sdk",
                "client SDK 5.0 staged rollout",
            ),
            *DISTRACTORS,
        ]
    )
    return Scenario(
        "sdk_recasing",
        ref,
        live,
        ch,
        expected={
            "feature": "channel",
            "mode": "data_quality",
            "event": "CHG-560",
            "cohort": ("sdk_version", "5.0"),
            "onset": day(10),
            "owner": "mobile-team",
            "signature": "recasing",
            "verdict": "model_incident",
        },
    )


def concept_drift(seed: int = 7) -> Scenario:
    rng0 = np.random.default_rng(seed)
    ref = reference(rng0)
    days = _days(DAYS, PER_DAY, LIVE_START)
    idx = np.array([(d - LIVE_START).days for d in days])
    f = _base(rng0, len(days))
    live = _finish(rng0, f, f, days, ratio_sign=np.where(idx >= 15, -1.0, 1.0))
    return Scenario(
        "concept_drift",
        ref,
        live,
        _changes(list(DISTRACTORS)),
        expected={
            "feature": None,
            "mode": "concept_drift",
            "event": None,
            "onset": day(15),
            "owner": "ml-team",
            "verdict": "model_incident",
        },
    )


def population_mix(seed: int = 8) -> Scenario:
    ref, live = _live(seed, lambda *a: None, geo_p_after=(10, [0.2, 0.1, 0.5, 0.1, 0.1]))
    ch = _changes(
        [("CHG-700", at(10), "external", "marketing", "India launch campaign"), *DISTRACTORS]
    )
    return Scenario(
        "population_mix",
        ref,
        live,
        ch,
        expected={
            "feature": "geo",
            "mode": "data_drift",
            "onset": day(10),
            "verdict": "no_model_incident",
            "not_top": "amount",
            "event": "CHG-700",
        },
    )


def firmware_rollout(seed: int = 9) -> Scenario:
    def mutate(rng, idx, true, logged):
        hit = (idx >= 14) & (logged["device_model"] == "m2") & (rng.random(len(idx)) < 0.8)
        logged["firmware_version"] = np.where(hit, "3.2", "3.1")
        logged["sensor_reading"] = np.where(
            hit, np.round(logged["sensor_reading"] * 1.6 + 8, 2), logged["sensor_reading"]
        )

    ref, live = _live(seed, mutate)
    ch = _changes(
        [
            ("CHG-810", at(14, 6), "firmware", "device-fleet", "firmware 3.2 OTA for m2 devices"),
            *DISTRACTORS,
        ]
    )
    return Scenario(
        "firmware_rollout",
        ref,
        live,
        ch,
        expected={
            "feature": "sensor_reading",
            "mode": "data_quality",
            "event": "CHG-810",
            "cohort": ("firmware_version", "3.2"),
            "onset": day(14),
            "owner": "iot-team",
            "verdict": "model_incident",
        },
    )


def infrastructure(seed: int = 10) -> Scenario:
    def mutate(rng, idx, true, logged):
        timeouts = (idx >= 16) & (rng.random(len(idx)) < 0.3)
        return {"score_override": np.where(timeouts, 0.5, np.nan)}

    ref, live = _live(seed, mutate)
    rng = np.random.default_rng(seed + 100)
    rows = []
    for i in range(DAYS):
        ts = dt.datetime.combine(day(i), dt.time())
        lat = 120 + rng.normal(0, 6) + (260 if i >= 14 else 0)  # slower from the deploy on
        rows.append((ts, "infra", "p99_latency_ms", lat))
        rows.append(
            (ts, "infra", "timeout_rate", 0.002 + rng.normal(0, 0.0005) + (0.3 if i >= 16 else 0))
        )
        rows.append(
            (ts, "business", "approval_rate", 0.8 + rng.normal(0, 0.005) - (0.05 if i >= 17 else 0))
        )
    metrics = pl.DataFrame(rows, schema=["ts", "layer", "metric", "value"], orient="row")
    ch = _changes(
        [
            ("CHG-920", at(14, 1), "deploy", "model-serving", "serving v2.8: new batching"),
            *DISTRACTORS[1:],
        ]
    )
    return Scenario(
        "infrastructure",
        ref,
        live,
        ch,
        metrics=metrics,
        expected={
            "feature": None,
            "mode": "infrastructure",
            "event": "CHG-920",
            "onset": day(14),
            "owner": "sre",
            "verdict": "model_incident",
        },
    )


def quiet(seed: int = 11) -> Scenario:
    ref, live = _live(seed, lambda *a: None)
    return Scenario(
        "quiet", ref, live, _changes(list(DISTRACTORS)), expected={"verdict": "no_model_incident"}
    )


ALL = [
    pipeline_x100,
    pipeline_x2,
    null_spike,
    serving_skew,
    default_fill,
    sdk_recasing,
    concept_drift,
    population_mix,
    firmware_rollout,
    infrastructure,
    quiet,
]
