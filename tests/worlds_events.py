"""Seeded worlds for change events on every kind of hypothesis and several problems at once
(issue 14, items 5a–5d).

Each world reuses tests/scenarios.py's generator (same reference, live logs, model and labels)
and adds its own change log and owners.toml:

* ``infra_serving_deploy`` — latency and error rate step up on day 14 right after a deploy on
  ``serving-api`` (owners.toml: ``layer = "infra"``, team sre); decoys: a deploy on the same
  component after the onset, a nearer deploy on an unrelated component and a nearer library
  upgrade on a platform component (named like serving, not the serving component);
* ``concept_policy`` — the input→label relationship flips on day 15, one day after a policy
  change; decoys: a policy change after the onset, and the usual distractors;
* ``three_problems`` — a null spike on ``ratio`` (source b) from day 5 after a schema migration,
  a default fill of ``account_age`` (geo BR) from day 8 after a vendor switch, and a
  pipeline-version ×100 scale bug on ``amount`` from day 12 after a pipeline deploy;
* ``no_event`` — the null spike with no change log entry before it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scenarios as S

SERVING_OWNERS = (
    S.OWNERS
    + """
[components.serving-api]
owner = "sre"
pager = "pd:sre"
layer = "infra"
features = []

[components.billing-service]
owner = "payments"
pager = "pd:payments"
features = []
"""
)


@dataclass
class EventWorld(S.Scenario):
    owners: str | None = S.OWNERS

    def write(self, root: Path) -> dict[str, Path]:
        paths = super().write(root)
        if self.owners is None:
            paths["owners"].unlink()
            del paths["owners"]
        else:
            paths["owners"].write_text(self.owners)
        return paths


def infra_serving_deploy(seed: int = 21, *, owners: bool = True) -> EventWorld:
    def mutate(rng, idx, true, logged):
        fallback = (idx >= 15) & (rng.random(len(idx)) < 0.25)
        return {"score_override": np.where(fallback, 0.5, np.nan)}

    ref, live = S._live(seed, mutate)
    rng = np.random.default_rng(seed + 100)
    rows = []
    for i in range(S.DAYS):
        ts = dt.datetime.combine(S.day(i), dt.time())
        rows.append(
            (ts, "infra", "p99_latency_ms", 110 + rng.normal(0, 5) + (240 if i >= 14 else 0))
        )
        rows.append(
            (ts, "infra", "error_rate", 0.003 + rng.normal(0, 0.0005) + (0.2 if i >= 14 else 0))
        )
    metrics = pl.DataFrame(rows, schema=["ts", "layer", "metric", "value"], orient="row")
    ch = S._changes(
        [
            ("CHG-700", S.at(13, 22), "deploy", "serving-api", "serving-api v3.2: new thread pool"),
            ("CHG-703", S.at(14, 6), "library_upgrade", "ml-platform", "bump grpc"),
            ("CHG-701", S.at(14, 3), "deploy", "billing-service", "billing retry tweak"),
            ("CHG-702", S.at(18, 9), "deploy", "serving-api", "serving-api v3.3: hotfix"),
            *S.DISTRACTORS[1:],
        ]
    )
    return EventWorld(
        "infra_serving_deploy" + ("" if owners else "_no_owners"),
        ref,
        live,
        ch,
        metrics=metrics,
        expected={"mode": "infrastructure", "event": "CHG-700", "owner": "sre"},
        owners=SERVING_OWNERS if owners else None,
    )


def concept_policy(seed: int = 22) -> EventWorld:
    rng0 = np.random.default_rng(seed)
    ref = S.reference(rng0)
    days = S._days(S.DAYS, S.PER_DAY, S.LIVE_START)
    idx = np.array([(d - S.LIVE_START).days for d in days])
    f = S._base(rng0, len(days))
    live = S._finish(rng0, f, f, days, ratio_sign=np.where(idx >= 15, -1.0, 1.0))
    ch = S._changes(
        [
            ("CHG-800", S.at(14, 8), "policy", "risk-policy", "new approval policy for ratio"),
            ("CHG-801", S.at(20, 8), "policy", "risk-policy", "policy wording update"),
            *S.DISTRACTORS,
        ]
    )
    return EventWorld(
        "concept_policy",
        ref,
        live,
        ch,
        expected={"mode": "concept_drift", "event": "CHG-800", "onset": S.day(15)},
    )


def _three_mutate(rng, idx, true, logged):
    nulls = (idx >= 5) & (logged["source"] == "b") & (rng.random(len(idx)) < 0.6)
    logged["ratio"] = np.where(nulls, np.nan, logged["ratio"])
    fill = (idx >= 8) & (logged["geo"] == "BR")
    logged["account_age"] = np.where(fill, 0, logged["account_age"])
    scale = idx >= 12
    logged["pipeline_version"] = np.where(scale, "1.5", "1.4")
    logged["amount"] = np.where(scale, logged["amount"] * 100, logged["amount"])


def three_problems(seed: int = 23) -> EventWorld:
    ref, live = S._live(seed, _three_mutate)
    ch = S._changes(
        [
            ("CHG-330", S.at(5, 1), "schema_migration", "ingest-b", "source b schema v7"),
            ("CHG-450", S.at(8, 3), "data_source", "bureau-feed", "switch BR bureau vendor"),
            ("CHG-104", S.at(12), "deploy", "feature-pipeline", "pipeline 1.5: amount rewrite"),
            *S.DISTRACTORS,
        ]
    )
    return EventWorld(
        "three_problems",
        ref,
        live,
        ch,
        expected={
            "problems": {"ratio": "CHG-330", "account_age": "CHG-450", "amount": "CHG-104"},
        },
    )


def no_event(seed: int = 24) -> EventWorld:
    sc = S.null_spike(seed)
    return EventWorld(
        "no_event",
        sc.reference,
        sc.live,
        S._changes([S.DISTRACTORS[1], S.DISTRACTORS[2]]),  # nothing before day 14 on ingest-b
        expected={"feature": "ratio"},
    )
