"""``mlfail skew``: prove training-serving skew row by row (design §10)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mlfail.cli.common import EXIT_FINDINGS, EXIT_OK, deliver, handle_errors, use_storage_options
from mlfail.cli.options import Features, Force, Output, StorageOption
from mlfail.config import split_list
from mlfail.io import open_source
from mlfail.outputs import check_output
from mlfail.report.skew_render import render_skew, skew_json, skew_markdown
from mlfail.skew import SkewSettings, compare


class SkewFormat(StrEnum):
    human = "human"
    json = "json"
    markdown = "markdown"


class SkewFailOn(StrEnum):
    skew = "skew"
    never = "never"


@handle_errors
def skew_command(
    serving: Annotated[
        str,
        typer.Option(
            "--serving", help="Features as served (logged at inference): file, glob, dir or URL."
        ),
    ],
    offline: Annotated[
        str,
        typer.Option(
            "--offline", help="The same requests' features as the offline pipeline computes them."
        ),
    ],
    id_column: Annotated[
        list[str],
        typer.Option("--id", help="Join key column; repeat for a composite key."),
    ],
    features: Features = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", help="Shared columns not to compare (comma-separated or repeated)."
        ),
    ] = None,
    segment: Annotated[
        list[str] | None,
        typer.Option("--segment", help="Mismatch rate per value of COL (repeatable)."),
    ] = None,
    rtol: Annotated[
        float, typer.Option("--rtol", help="Numbers are equal when |a−b| ≤ atol + rtol·|b|.")
    ] = 1e-6,
    atol: Annotated[float, typer.Option("--atol", help="Absolute tolerance (see --rtol).")] = 1e-9,
    max_mismatch: Annotated[
        float,
        typer.Option("--max-mismatch", help="A feature is skewed at/above this mismatch rate."),
    ] = 0.001,
    all_duplicates: Annotated[
        bool,
        typer.Option(
            "--all-duplicates",
            help="Compare every serving × offline pair of a duplicated id (default: the first "
            "row of each id on each side).",
        ),
    ] = False,
    where: Annotated[
        str | None,
        typer.Option("--where", help="Keep only --serving rows where this SQL condition holds."),
    ] = None,
    offline_where: Annotated[
        str | None,
        typer.Option("--offline-where", help="Keep only --offline rows where this SQL holds."),
    ] = None,
    storage_option: StorageOption = None,
    fmt: Annotated[SkewFormat, typer.Option("--format", "-f", help="Output format.")] = (
        SkewFormat.human
    ),
    output: Output = None,
    force: Force = False,
    fail_on: Annotated[
        SkewFailOn, typer.Option("--fail-on", help="Exit 1 when a feature is skewed (or never).")
    ] = SkewFailOn.skew,
) -> None:
    """Join served features to their offline values on --id and count, per feature, the
    requests served a different value, with the pattern (scale, offset, rounding, null,
    category map, constant fill, clipping). Exit 1 when a feature is skewed."""
    use_storage_options(storage_option)
    check_output(output, force=force)  # before any work
    report = compare(
        open_source(serving, role="--serving", where=where),
        open_source(offline, role="--offline", where=offline_where),
        split_list(id_column),
        features=split_list(features) or None,
        exclude=split_list(exclude),
        segments=split_list(segment),
        settings=SkewSettings(
            rtol=rtol,
            atol=atol,
            max_mismatch=max_mismatch,
            duplicates="all" if all_duplicates else "first",
        ),
    )
    deliver(
        fmt.value,
        output,
        force=force,
        human=lambda c: render_skew(report, c),
        text={"json": lambda: skew_json(report), "markdown": lambda: skew_markdown(report)},
    )
    failed = fail_on == SkewFailOn.skew and report.skewed
    raise typer.Exit(EXIT_FINDINGS if failed else EXIT_OK)
