"""``mlfail baseline create|show|merge``: the reference profile saved before launch."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlfail.baseline import build_baseline, load_baseline, merge_baselines
from mlfail.binning import BinSettings
from mlfail.cli.common import (
    EXIT_OK,
    emit,
    err_console,
    handle_errors,
    open_for_engine,
    render_to_text,
    stdout_console,
    use_storage_options,
)
from mlfail.cli.options import (
    Categorical,
    EngineChoice,
    EngineOpt,
    Exclude,
    Features,
    Ids,
    Label,
    Meta,
    ModelOutputs,
    Numeric,
    Prediction,
    Ref,
    StorageOption,
    Timestamp,
)
from mlfail.config import Roles, split_list
from mlfail.errors import UsageError
from mlfail.outputs import check_output
from mlfail.report.baseline import render_baseline
from mlfail.report.roles_render import roles_human

baseline_app = typer.Typer(
    name="baseline",
    help=(
        "Baselines before launch: save the reference's bins, counts, quantiles, prediction "
        "distribution and segment performance in one small JSON file; every command accepts "
        "it with --baseline instead of --reference."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


class TaskOpt(StrEnum):
    classification = "classification"
    regression = "regression"


Out = Annotated[
    Path | None, typer.Option("--out", "-o", help="Where to write the baseline JSON (atomically).")
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")]


def _kb(path: Path) -> str:
    return f"{path.stat().st_size / 1024:.0f} KB"


@baseline_app.command("create")
@handle_errors
def create_command(
    reference: Ref = None,
    out: Out = None,
    force: Force = False,
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            help="Profile only the --reference rows where this SQL condition holds, e.g. "
            "\"day < '2026-09-01'\" (pushed into the scan; recorded in the baseline's sources).",
        ),
    ] = None,
    storage_option: StorageOption = None,
    segment: Annotated[
        list[str] | None,
        typer.Option(
            "--segment",
            help="Also store counts and performance per value of COL (repeatable; "
            "low-cardinality columns such as geo or channel).",
        ),
    ] = None,
    features: Features = None,
    timestamp: Timestamp = None,
    label: Label = None,
    prediction: Prediction = None,
    meta: Meta = None,
    ids: Ids = None,
    model_output: ModelOutputs = None,
    exclude: Exclude = None,
    categorical: Categorical = None,
    numeric: Numeric = None,
    bins: Annotated[int, typer.Option("--bins", help="Quantile bins per numeric feature.")] = 10,
    task: Annotated[
        TaskOpt | None,
        typer.Option(
            "--task", help="How --label and --prediction compare (default: classification)."
        ),
    ] = None,
    specs_from: Annotated[
        str | None,  # a str, not a Path: Path() turns s3://… into s3:/…
        typer.Option(
            "--specs-from",
            help="Reuse the bin specs of this baseline (to build mergeable baselines of "
            "partitions); fixes the features and bins.",
        ),
    ] = None,
    engine: EngineOpt = EngineChoice.polars,
) -> None:
    """Profile --reference into a baseline file: bin specs, count tables (overall and per
    --segment value), per-feature quantiles/mean/std/null counts/category frequencies, the
    prediction distribution and reference performance."""
    use_storage_options(storage_option)
    if reference is None:
        raise UsageError("--reference is required: the training snapshot to profile")
    if out is None:
        raise UsageError("--out is required: where to write the baseline JSON")
    check_output(out, force=force, flag="--out")  # fail before the work, not after
    roles = Roles.from_flags(
        timestamp=timestamp,
        label=label,
        prediction=prediction,
        meta=meta,
        features=features,
        categorical=categorical,
        numeric=numeric,
        ids=ids,
        outputs=model_output,
        exclude=exclude,
    )
    base = load_baseline(specs_from, flag="--specs-from") if specs_from is not None else None
    b = build_baseline(
        open_for_engine(reference, engine.value, where, role="--reference"),
        roles,
        segments=split_list(segment),
        bin_settings=BinSettings(bins=bins),
        task=task.value if task is not None else None,
        specs_from=base,
        engine=engine.value,
    )
    b.save(out, force=force)
    err_console().print(
        f"[dim]wrote {out} ({_kb(out)}): {len(b.specs)} features, {b.rows} rows"
        + (f", segments {', '.join(b.segments)}" if b.segments else "")
        + "[/dim]"
    )
    roles_human(b.roles.assignment, err_console())  # stored in the baseline (§9)
    raise typer.Exit(EXIT_OK)


@baseline_app.command("show")
@handle_errors
def show_command(
    path: Annotated[
        str, typer.Argument(help="Baseline JSON file (or s3://… object).", show_default=False)
    ],
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the text here instead of stdout.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --output.")] = False,
    storage_option: StorageOption = None,
) -> None:
    """Print a baseline readably: sources, roles, features with quantiles or categories, the
    prediction distribution and reference performance per segment."""
    use_storage_options(storage_option)
    check_output(output, force=force)  # before any work
    b = load_baseline(path, flag="baseline")
    if output is None:
        render_baseline(b, stdout_console())
    else:
        emit(render_to_text(lambda c: render_baseline(b, c)), output, force=force)


@baseline_app.command("merge")
@handle_errors
def merge_command(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Two or more baselines built with the same bin specs (files or s3://… objects)."
        ),
    ],
    out: Out = None,
    force: Force = False,
    storage_option: StorageOption = None,
) -> None:
    """Merge baselines of partitions (built with --specs-from the first): counts sum exactly;
    quantiles become estimates with stored error bounds (docs/baseline.md)."""
    use_storage_options(storage_option)
    if out is None:
        raise UsageError("--out is required: where to write the merged baseline")
    if len(paths) < 2:
        raise UsageError("baseline merge needs at least two baselines")
    check_output(out, force=force, flag="--out")
    merged = merge_baselines([load_baseline(p, flag="baseline") for p in paths])
    merged.save(out, force=force)
    err_console().print(
        f"[dim]wrote {out} ({_kb(out)}): {len(paths)} baselines, {merged.rows} rows"
        + (f"; approximate: {', '.join(merged.approximate)}" if merged.approximate else "")
        + "[/dim]"
    )
