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


def _merge_storage_options(
    ctx: typer.Context, param: typer.CallbackParam, value: list[str] | None
) -> list[str]:
    """Flags override the config file / MLFAIL_STORAGE_OPTION key by key (not wholesale, as
    Click does for a repeated option): ``--storage-option aws_region=x`` keeps the endpoint
    and keys of ``[storage_options]``."""
    defaults = ctx.lookup_default(param.name or "storage_option")
    merged: dict[str, str] = {}
    for i, pair in enumerate([*(defaults if isinstance(defaults, list) else []), *(value or [])]):
        key, sep, _ = str(pair).partition("=")
        # malformed pairs are kept (under a key of their own) for the command to report
        merged[key.strip().lower() if sep else f"\0{i}"] = str(pair)
    return list(merged.values())


StorageOption = Annotated[
    list[str] | None,
    typer.Option(
        "--storage-option",
        callback=_merge_storage_options,
        help="Object-store option KEY=VALUE for s3:// (gs://, az://) sources, e.g. "
        "aws_endpoint_url=http://127.0.0.1:9000 or aws_region=eu-west-1 (repeatable; also "
        "[storage_options] in mlfail.toml). Credentials otherwise come from the AWS_* "
        "environment variables.",
    ),
]
Where = Annotated[
    str | None,
    typer.Option(
        "--where",
        help="Keep only --live rows where this SQL condition holds, e.g. \"day >= '2026-09-19'\"; "
        "pushed into the scan, so hive partitions outside it are not read.",
    ),
]


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
Ids = Annotated[
    list[str] | None,
    typer.Option(
        "--id",
        help="Identifier column (repeatable): never a feature nor a slice key. Ids are also "
        "inferred (nearly all values distinct, a counter…; see 'assumed roles').",
    ),
]
ModelOutputs = Annotated[
    list[str] | None,
    typer.Option(
        "--model-output",
        help="Another model output column besides --prediction (repeatable): never a feature "
        "nor a slice key.",
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude", help="Leave COL out everywhere: not a feature, not a slice key (repeatable)."
    ),
]
Offline = Annotated[
    str | None,
    typer.Option(
        "--offline",
        help="The offline pipeline's features for the same requests (file, glob, hive "
        "directory or URL), joined row by row to --live on --id: the drifted features get "
        "skew evidence (mlfail skew).",
    ),
]
