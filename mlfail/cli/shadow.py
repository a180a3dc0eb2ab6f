"""``mlfail shadow``: validate a fix by comparing old and new model outputs (step 7)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlfail.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    deliver,
    handle_errors,
    use_storage_options,
)
from mlfail.cli.options import EngineChoice, EngineOpt, Label, Live, StorageOption
from mlfail.config import split_list
from mlfail.engines import polars_only
from mlfail.io import open_source
from mlfail.outputs import check_output
from mlfail.psi import PsiSettings
from mlfail.report.shadow_render import render_shadow, shadow_json, shadow_markdown
from mlfail.shadow import shadow


class ShadowFormat(StrEnum):
    human = "human"
    json = "json"
    markdown = "markdown"


@handle_errors
def shadow_command(
    live: Live,
    current_prediction: Annotated[
        str, typer.Option("--current-prediction", help="Column with the current model's output.")
    ],
    candidate_prediction: Annotated[
        str,
        typer.Option("--candidate-prediction", help="Column with the candidate model's output."),
    ],
    candidate_source: Annotated[
        str | None,
        typer.Option(
            "--candidate-source",
            help="Parquet with the candidate's outputs, joined to --live on --id.",
        ),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="Row id column joining --candidate-source.")
    ] = None,
    storage_option: StorageOption = None,
    label: Label = None,
    segment: Annotated[
        list[str] | None, typer.Option("--segment", help="Compare per value of COL (repeatable).")
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Score threshold for a positive decision.")
    ] = 0.5,
    psi_threshold: Annotated[
        float, typer.Option("--psi-threshold", help="Output PSI that blocks a blind promotion.")
    ] = 0.25,
    fmt: Annotated[ShadowFormat, typer.Option("--format", "-f", help="Output format.")] = (
        ShadowFormat.human
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here (atomically).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --output.")] = False,
    engine: EngineOpt = EngineChoice.polars,
) -> None:
    """Compare a candidate model's outputs with the current model's on live rows: output PSI,
    agreement, per-segment differences and paired label metrics. Verdict promote / hold;
    exit 1 on hold."""
    polars_only(engine.value, "shadow")
    use_storage_options(storage_option)
    check_output(output, force=force)  # before any work
    report = shadow(
        open_source(live, role="--live"),
        current_prediction,
        candidate_prediction,
        label=label,
        segments=split_list(segment),
        candidate_source=open_source(candidate_source, role="--candidate-source")
        if candidate_source
        else None,
        id_column=id_column,
        threshold=threshold,
        psi=PsiSettings(threshold=psi_threshold),
    )
    deliver(
        fmt.value,
        output,
        force=force,
        human=lambda c: render_shadow(report, c),
        text={"json": lambda: shadow_json(report), "markdown": lambda: shadow_markdown(report)},
    )
    raise typer.Exit(EXIT_FINDINGS if report.verdict == "hold" else EXIT_OK)
