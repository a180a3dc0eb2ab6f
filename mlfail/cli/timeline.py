"""``mlfail timeline``: when did it break, and which layer fired first (design §6)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfail.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    deliver,
    handle_errors,
    open_for_engine,
    use_storage_options,
    warn,
)
from mlfail.cli.options import (
    Baseline,
    Categorical,
    EngineChoice,
    EngineOpt,
    Exclude,
    Features,
    Force,
    Format,
    Ids,
    Label,
    Live,
    Meta,
    ModelOutputs,
    Numeric,
    Output,
    Prediction,
    Ref,
    ReportFormat,
    StorageOption,
    Task,
    Threshold,
    Where,
)
from mlfail.config import Roles
from mlfail.outputs import check_output
from mlfail.report.timeline_model import TimelineReport, timeline_json
from mlfail.report.timeline_render import render_timeline
from mlfail.timeline import build_timeline


def exit_code_for(report: TimelineReport) -> int:
    """1 when any series changed level (an onset) or infra is anomalous."""
    if report.onsets() or report.infra.status == "anomalous":
        return EXIT_FINDINGS
    return EXIT_OK


@handle_errors
def timeline_command(
    live: Live,
    timestamp: Annotated[
        str | None, typer.Option("--timestamp", help="Event-time column of the live log.")
    ] = None,
    reference: Ref = None,
    baseline: Baseline = None,
    where: Where = None,
    storage_option: StorageOption = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="Monitoring series (Parquet or CSV: ts, layer, metric, value[, segment]; "
            "layer = infra|pipeline|model|business).",
        ),
    ] = None,
    window: Annotated[
        str, typer.Option("--window", help="Window length: 1d (default), 7d, 12h, 1w…")
    ] = "1d",
    features: Features = None,
    label: Label = None,
    prediction: Prediction = None,
    meta: Meta = None,
    ids: Ids = None,
    model_output: ModelOutputs = None,
    exclude: Exclude = None,
    categorical: Categorical = None,
    numeric: Numeric = None,
    task: Task = None,
    threshold: Threshold = 0.5,
    fmt: Format = ReportFormat.human,
    output: Output = None,
    force: Force = False,
    engine: EngineOpt = EngineChoice.polars,
) -> None:
    """Per-window rows, null rates, PSI, prediction PSI, mean score and label metrics; each
    series' onset; which layer (infra, pipeline, model, business) fired first; the infra
    check. Exit 1 when a series changed level or infra is anomalous. With --engine spark the
    daily windows (--window 1d only) are computed on Spark, without the per-window AUC."""
    use_storage_options(storage_option)
    check_output(output, force=force)  # before any work
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
    live_src = open_for_engine(live, engine.value, where, role="--live")
    report = build_timeline(
        live_src,
        roles=roles,
        reference=reference,
        baseline=baseline,
        metrics=metrics,
        window=window,
        task=task.value if task is not None else None,
        threshold=threshold,
        engine=engine.value,
    )
    for w in report.warnings:
        warn(w)
    deliver(
        fmt.value,
        output,
        force=force,
        human=lambda c: render_timeline(report, c),
        text={"json": lambda: timeline_json(report)},
        width=140,
    )
    raise typer.Exit(exit_code_for(report))
