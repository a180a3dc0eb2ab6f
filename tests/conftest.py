from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest


@pytest.fixture
def drift_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A reference and a live file where ``x`` drifts strongly and ``y``/``c`` do not."""
    rng = np.random.default_rng(7)
    n, m = 4000, 3000
    ref = pl.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "y": rng.normal(5, 2, n),
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "geo": rng.choice(["US", "BR"], n),
            "label": rng.integers(0, 2, n),
        }
    )
    live = pl.DataFrame(
        {
            "x": rng.normal(1.5, 1, m),
            "y": rng.normal(5, 2, m),
            "c": rng.choice(["a", "b", "c"], m, p=[0.5, 0.3, 0.2]),
            "geo": rng.choice(["US", "BR"], m),
            "label": rng.integers(0, 2, m),
        }
    )
    r, lv = tmp_path / "ref.parquet", tmp_path / "live.parquet"
    ref.write_parquet(r)
    live.write_parquet(lv)
    return r, lv


@pytest.fixture
def same_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Reference and live drawn from the same distribution (nothing should drift)."""
    rng = np.random.default_rng(11)
    frames = []
    for n in (5000, 5000):
        frames.append(
            pl.DataFrame(
                {
                    "x": rng.normal(0, 1, n),
                    "c": rng.choice(["a", "b", "c"], n),
                }
            )
        )
    (tmp_path / "same").mkdir()
    r, lv = tmp_path / "same" / "ref.parquet", tmp_path / "same" / "live.parquet"
    frames[0].write_parquet(r)
    frames[1].write_parquet(lv)
    return r, lv


# ---- Spark (the --engine spark equivalence tests) ------------------------------------------


def spark_missing() -> str | None:
    """Why the Spark tests cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[dev]' installs it)"
    from mlfail.engines.spark import java_executable

    if java_executable() is None:
        return "no Java 17+ (set JAVA_HOME or put java on PATH): PySpark cannot start"
    return None


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole run: 2 cores, 2 shuffle partitions, no UI, UTC.
    Skipped with the reason when PySpark or Java is absent — unless MLFAIL_REQUIRE_SPARK is set
    (CI sets it), where a missing Spark is a failure, not a skip."""
    import os

    reason = spark_missing()
    if reason is not None:
        if os.environ.get("MLFAIL_REQUIRE_SPARK"):
            pytest.fail(f"MLFAIL_REQUIRE_SPARK is set but {reason}")
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("mlfail-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
