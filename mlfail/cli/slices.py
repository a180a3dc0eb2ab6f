"""``mlfail slices``: find the segment where the model fails while the global number looks
fine (design §5)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfail.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    deliver,
    handle_errors,
    use_storage_options,
    warn,
)
from mlfail.cli.options import (
    Baseline,
    EngineChoice,
    EngineOpt,
    Exclude,
    Force,
    Format,
    Ids,
    Label,
    Live,
    Meta,
    ModelOutputs,
    Output,
    Prediction,
    Ref,
    ReportFormat,
    Segment,
    StorageOption,
    Task,
    Threshold,
    Timestamp,
    Where,
)
from mlfail.config import Roles, split_list
from mlfail.engines import polars_only
from mlfail.io import open_source
from mlfail.outputs import check_output
from mlfail.report.slices_model import SliceReport, slices_json
from mlfail.report.slices_render import render_slices
from mlfail.slices import SliceSettings, find_slices


def exit_code_for(report: SliceReport) -> int:
    return EXIT_FINDINGS if report.degraded() else EXIT_OK


@handle_errors
def slices_command(
    live: Live,
    reference: Ref = None,
    baseline: Baseline = None,
    where: Where = None,
    storage_option: StorageOption = None,
    label: Label = None,
    prediction: Prediction = None,
    timestamp: Timestamp = None,
    meta: Meta = None,
    ids: Ids = None,
    model_output: ModelOutputs = None,
    exclude: Exclude = None,
    segment: Segment = None,
    task: Task = None,
    threshold: Threshold = 0.5,
    max_predicates: Annotated[
        int, typer.Option("--max-predicates", help="1 or 2 predicates per slice.")
    ] = 2,
    min_support: Annotated[
        int | None,
        typer.Option(
            "--min-support",
            help="Minimum labelled rows (rows without labels) in a slice "
            "(default: max(30, 0.5% of them)).",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Slices to list, worst first (0 = all).")] = 20,
    kappa: Annotated[
        float, typer.Option("--kappa", help="Shrinkage strength κ in ẽ = (e + κē)/(n + κ).")
    ] = 30.0,
    alpha: Annotated[
        float,
        typer.Option("--alpha", help="Benjamini–Hochberg false-discovery level across slices."),
    ] = 0.05,
    fail_on_delta: Annotated[
        float | None,
        typer.Option(
            "--fail-on-delta",
            help="Exit 1 when a significant slice is worse than its baseline by this much "
            "(default: 0.05 absolute accuracy; 0.20 relative MAE for --task regression).",
        ),
    ] = None,
    fmt: Format = ReportFormat.human,
    output: Output = None,
    force: Force = False,
    engine: EngineOpt = EngineChoice.polars,
) -> None:
    """Rank every 1- and 2-predicate slice by excess errors against its own reference: the
    segment the global number hides. Exit 1 when a slice is significantly degraded."""
    polars_only(engine.value, "slices")
    use_storage_options(storage_option)
    check_output(output, force=force)  # before any work
    roles = Roles.from_flags(
        timestamp=timestamp,
        label=label,
        prediction=prediction,
        meta=meta,
        ids=ids,
        outputs=model_output,
        exclude=exclude,
    )
    settings = SliceSettings(
        kappa=kappa,
        alpha=alpha,
        min_support=min_support,
        max_predicates=max_predicates,
        top=top,
        fail_on_delta=fail_on_delta,
    )
    report = find_slices(
        reference,
        open_source(live, role="--live", where=where),
        roles=roles,
        baseline=baseline,
        task=task.value if task is not None else None,
        threshold=threshold,
        segments=split_list(segment),
        settings=settings,
    )
    for w in report.warnings:
        warn(w)
    deliver(
        fmt.value,
        output,
        force=force,
        human=lambda c: render_slices(report, c),
        text={"json": lambda: slices_json(report)},
        width=160,
    )
    raise typer.Exit(exit_code_for(report))
