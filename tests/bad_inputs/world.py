"""A small, valid incident world that each bad-input case then breaks in one place.

Every file is generated (seeded) into a temporary directory; nothing binary is committed.
The world is small on purpose (1,200 reference rows, 1,600 live rows over ten days) so that
every command runs in well under a second or two on it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

N_REF, N_LIVE, DAYS = 1200, 1600, 10
START = dt.datetime(2026, 9, 1)

ROLES = [
    "--timestamp",
    "ts",
    "--label",
    "is_fraud",
    "--prediction",
    "score",
    "--meta",
    "pipeline_version",
]


def _frame(rng: np.random.Generator, n: int, *, live: bool) -> pl.DataFrame:
    geo = rng.choice(["US", "BR", "DE", "IN"], n, p=[0.4, 0.25, 0.2, 0.15])
    channel = rng.choice(["web", "app", "pos"], n, p=[0.5, 0.3, 0.2])
    amount = rng.lognormal(3.5, 0.8, n)
    age = rng.integers(0, 3000, n)
    risk = rng.beta(2, 5, n)
    if live:
        seconds = np.sort(rng.integers(0, DAYS * 86_400, n))
        ts = [START + dt.timedelta(seconds=int(s)) for s in seconds]
        late = seconds >= 6 * 86_400
        version = np.where(late & (geo == "BR"), "1.5", "1.4")
        amount = np.where(version == "1.5", amount * 100, amount)
    else:
        seconds = rng.integers(0, 60 * 86_400, n)
        ts = [START - dt.timedelta(days=90) + dt.timedelta(seconds=int(s)) for s in seconds]
        version = np.full(n, "1.4")
    logit = -2.0 + 2.5 * risk + 0.3 * (channel == "web")
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.int8)
    score = np.clip(p + rng.normal(0, 0.05, n), 0, 1)
    score = np.where(version == "1.5", rng.random(n), score)
    return pl.DataFrame(
        {
            "event_id": [f"{'L' if live else 'R'}{i:06d}" for i in range(n)],
            "ts": ts,
            "geo": geo,
            "channel": channel,
            "amount": amount,
            "account_age_days": age,
            "ip_risk_score": risk,
            "pipeline_version": version,
            "score": score,
            "is_fraud": y,
        }
    )


_CACHE: dict[str, pl.DataFrame] = {}


def base_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(reference, live) — the same frames every time (seeded), built once per process."""
    if not _CACHE:
        rng = np.random.default_rng(20261127)
        _CACHE["ref"] = _frame(rng, N_REF, live=False)
        _CACHE["live"] = _frame(rng, N_LIVE, live=True)
    return _CACHE["ref"], _CACHE["live"]


def write_hive(df: pl.DataFrame, root: Path, ts: str = "ts") -> None:
    """Write ``df`` as ``root/day=YYYY-MM-DD/part-0.parquet`` (hive layout, like the sample)."""
    if root.exists():
        shutil.rmtree(root)
    days = df.with_columns(pl.col(ts).dt.date().alias("_day"))
    for (day,), part in days.group_by("_day", maintain_order=True):
        d = root / f"day={day}"
        d.mkdir(parents=True, exist_ok=True)
        part.drop("_day").write_parquet(d / "part-0.parquet")


@dataclass
class World:
    """Paths of one incident world. Cases overwrite or replace any of them."""

    root: Path
    reference: str = ""
    live: str = ""
    metrics: str = ""
    changes: str = ""
    owners: str = ""
    baseline: str = ""
    candidate: str = ""
    out: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.root / name


def _metrics() -> pl.DataFrame:
    rows = []
    rng = np.random.default_rng(5)
    for d in range(DAYS):
        ts = START + dt.timedelta(days=d)
        rows.append((ts, "infra", "p99_latency_ms", 180 + rng.normal(0, 3)))
        rows.append((ts, "model", "auc", 0.85 - (0.1 if d >= 6 else 0) + rng.normal(0, 0.004)))
        rows.append((ts, "business", "chargeback_rate", 0.01 + (0.004 if d >= 7 else 0)))
    return pl.DataFrame(rows, schema=["ts", "layer", "metric", "value"], orient="row")


CHANGES = """id,ts,kind,component,description
CHG-1,2026-09-03T10:00:00,library_upgrade,model-serving,bump scikit-learn
CHG-2,2026-09-07T02:00:00,deploy,feature-pipeline,feature pipeline 1.5 on BR: amount rewrite
"""

OWNERS = """[components.feature-pipeline]
owner = "data-eng"
pager = "pagerduty:data-eng"
features = ["amount", "account_age_days", "pipeline_version"]

[components.customer-profile]
owner = "crm"
pager = "pagerduty:crm"
features = ["geo", "channel"]

[components.risk-signals]
owner = "trust-safety"
pager = "pagerduty:ts"
features = ["ip_risk_score"]

[components.model-serving]
owner = "ml-platform"
pager = "pagerduty:ml"
features = ["score"]
"""


def make_world(root: Path) -> World:
    """Write the valid world into ``root`` and return its paths."""
    root.mkdir(parents=True, exist_ok=True)
    ref, live = base_frames()
    w = World(root=root)
    w.reference = str(root / "reference.parquet")
    ref.write_parquet(w.reference)
    w.live = str(root / "live")
    write_hive(live, Path(w.live))
    w.metrics = str(root / "metrics.parquet")
    _metrics().write_parquet(w.metrics)
    w.changes = str(root / "changes.csv")
    Path(w.changes).write_text(CHANGES)
    w.owners = str(root / "owners.toml")
    Path(w.owners).write_text(OWNERS)
    w.candidate = str(root / "candidate.parquet")
    live.select("event_id", (pl.col("score") * 0.9).alias("score")).write_parquet(w.candidate)
    out = root / "out"
    out.mkdir()
    w.out = str(out)
    return w
