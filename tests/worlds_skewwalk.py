"""Seeded worlds for the walk's skew evidence (``explain``/``triage --offline``): a scenario
of tests/scenarios.py written with an ``event_id`` join key and an offline table that either
recomputes the served values exactly (the drift is in the data) or differs from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
from scenarios import Scenario, pipeline_x100, serving_skew

ID = "event_id"


def _write(
    sc: Scenario, root: Path, offline: Callable[[pl.DataFrame], pl.DataFrame]
) -> dict[str, Path]:
    sc = Scenario(
        sc.name,
        sc.reference,
        sc.live.with_row_index(ID).with_columns(pl.col(ID).cast(pl.Int64)),
        sc.changes,
        sc.metrics,
        sc.expected,
        sc.has_labels,
    )
    paths = sc.write(root)
    paths["offline"] = root / "offline.parquet"
    offline(sc.live).drop("score", "label", "ts").write_parquet(paths["offline"])
    return paths


def data_drift_same_offline(root: Path) -> dict[str, Path]:
    """session_len shifted from the first live day (scenarios.serving_skew), but the offline
    pipeline computes exactly the served values: the shift is in the data, not a skew."""
    return _write(serving_skew(), root, lambda live: live)


def day_one_skew(root: Path) -> dict[str, Path]:
    """The same shift, but offline recomputes session_len as training saw it: served =
    offline/1.2 + 120 on every request from the first day — training-serving skew."""
    return _write(
        serving_skew(),
        root,
        lambda live: live.with_columns((pl.col("session_len") - 120) * 1.2),
    )


def pipeline_cohort_skew(root: Path) -> dict[str, Path]:
    """amount ×100 on pipeline_version=1.5 from day 12 (scenarios.pipeline_x100); offline
    holds the true amount: a mismatch that starts inside the window, in a pipeline cohort."""
    return _write(
        pipeline_x100(),
        root,
        lambda live: live.with_columns(
            pl.when(pl.col("pipeline_version") == "1.5")
            .then(pl.col("amount") / 100)
            .otherwise(pl.col("amount"))
            .alias("amount")
        ),
    )
