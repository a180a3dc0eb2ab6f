"""Typer option declarations shared by every command (one definition, same help text)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

Ref = Annotated[
    str | None,
    typer.Option(
        "--reference", "-r", help="Training snapshot: Parquet file, glob, hive directory or URL."
    ),
]
BaselinePath = Annotated[
    str | None,
    typer.Option(
        "--baseline",
        "-b",
        help="Saved baseline (mlfail baseline create) to compare against instead of "
        "--reference; its features and bins are used as frozen.",
    ),
]
Live = Annotated[
    str,
    typer.Option(
        "--live", "-l", help="Live feature log: Parquet file, glob, hive directory or URL."
    ),
]
Features = Annotated[
    list[str] | None,
    typer.Option(
        "--features",
        help="Features to audit, comma-separated or repeated (default: every reference column without a role).",
    ),
]
Timestamp = Annotated[
    str | None, typer.Option("--timestamp", help="Event-time column (a role, never a feature).")
]
Label = Annotated[str | None, typer.Option("--label", help="Ground-truth label column (a role).")]
Prediction = Annotated[
    str | None, typer.Option("--prediction", help="Model output column (a role).")
]
Meta = Annotated[
    list[str] | None,
    typer.Option(
        "--meta", help="Metadata column such as pipeline_version (repeatable; never a feature)."
    ),
]
Categorical = Annotated[
    list[str] | None, typer.Option("--categorical", help="Treat COL as categorical (repeatable).")
]
Numeric = Annotated[
    list[str] | None, typer.Option("--numeric", help="Treat COL as numeric (repeatable).")
]
Baseline = BaselinePath
Segment = Annotated[
    list[str] | None,
    typer.Option(
        "--segment",
        help="Slice by these columns only (comma-separated or repeated; default: every "
        "low-cardinality column, numeric quantile cohorts and the time cohorts).",
    ),
]


class TaskChoice(StrEnum):
    classification = "classification"
    regression = "regression"


class ReportFormat(StrEnum):
    human = "human"
    json = "json"


Task = Annotated[
    TaskChoice | None,
    typer.Option(
        "--task",
        help="classification (default; a float prediction is a score, thresholded) or "
        "regression (metric: MAE).",
    ),
]
Threshold = Annotated[
    float,
    typer.Option("--threshold", help="Score at/above which a prediction is the positive class."),
]
Format = Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")]
Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the report here (atomically) instead of stdout."),
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite --output if it exists.")]


class EngineChoice(StrEnum):
    polars = "polars"
    spark = "spark"


EngineOpt = Annotated[
    EngineChoice,
    typer.Option(
        "--engine",
        help="What reads the data and counts: polars (this machine) or spark (the active "
        "Spark session, or a new local one; pip install 'mlfail[spark]'; sources may then "
        "be table:db.name). docs/scale.md.",
    ),
]
