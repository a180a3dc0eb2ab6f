"""``mlfail check quality|owners``: pre-launch and on-call readiness checks."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlfail.audit import load_reference
from mlfail.baseline import profile_reference
from mlfail.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    emit,
    handle_errors,
    render_to_text,
    stdout_console,
    use_storage_options,
    warn,
)
from mlfail.cli.options import (
    BaselinePath,
    Categorical,
    EngineChoice,
    EngineOpt,
    Exclude,
    Features,
    Ids,
    Label,
    Live,
    Meta,
    ModelOutputs,
    Numeric,
    Prediction,
    Ref,
    StorageOption,
    Timestamp,
    Where,
)
from mlfail.config import Roles
from mlfail.engines import polars_only
from mlfail.io import open_source
from mlfail.outputs import append_once, check_output
from mlfail.owners import load_owners
from mlfail.owners_check import check_owners
from mlfail.quality import QualityReport, QualitySettings, check_quality
from mlfail.report.github import quality_github
from mlfail.report.junit import quality_junit
from mlfail.report.owners import owners_json, render_owners
from mlfail.report.quality import quality_json, quality_markdown, render_quality

check_app = typer.Typer(
    name="check",
    help="Readiness checks: data quality and schema (quality), ownership and paging (owners).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


class QualityFormat(StrEnum):
    human = "human"
    json = "json"
    markdown = "markdown"
    junit = "junit"
    github = "github"


class SeverityFailOn(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


class OwnersFormat(StrEnum):
    human = "human"
    json = "json"


Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the report here (atomically) instead of stdout."),
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite --output if it exists.")]


def _roles(
    timestamp: str | None,
    label: str | None,
    prediction: str | None,
    meta: list[str] | None,
    features: list[str] | None,
    categorical: list[str] | None,
    numeric: list[str] | None,
    ids: list[str] | None = None,
    outputs: list[str] | None = None,
    exclude: list[str] | None = None,
) -> Roles:
    return Roles.from_flags(
        timestamp=timestamp,
        label=label,
        prediction=prediction,
        meta=meta,
        features=features,
        categorical=categorical,
        numeric=numeric,
        ids=ids,
        outputs=outputs,
        exclude=exclude,
    )


def quality_exit_code(report: QualityReport, fail_on: SeverityFailOn) -> int:
    if fail_on == SeverityFailOn.never:
        return EXIT_OK
    return EXIT_FINDINGS if report.at_or_above(fail_on.value) else EXIT_OK


def _append_step_summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    append_once(path, markdown, what="$GITHUB_STEP_SUMMARY")


@check_app.command("quality")
@handle_errors
def quality_command(
    live: Live,
    reference: Ref = None,
    baseline: BaselinePath = None,
    where: Where = None,
    storage_option: StorageOption = None,
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
    fmt: Annotated[
        QualityFormat, typer.Option("--format", "-f", help="Output format.")
    ] = QualityFormat.human,
    output: Output = None,
    force: Force = False,
    fail_on: Annotated[
        SeverityFailOn,
        typer.Option("--fail-on", help="Exit 1 when a finding has at least this severity."),
    ] = SeverityFailOn.error,
    alpha: Annotated[
        float,
        typer.Option("--alpha", help="Benjamini–Hochberg level for the statistical rules."),
    ] = 0.05,
    engine: EngineOpt = EngineChoice.polars,
) -> None:
    """Data quality and schema, live vs a baseline or reference: missing/new columns, dtype
    changes, null rates, unseen categories, values outside the reference range, default fills,
    frozen columns (rules: docs/quality-rules.md). Exit 1 at/above --fail-on."""
    polars_only(engine.value, "check quality")
    use_storage_options(storage_option)
    check_output(output, force=force)  # before any work
    roles = _roles(
        timestamp,
        label,
        prediction,
        meta,
        features,
        categorical,
        numeric,
        ids,
        model_output,
        exclude,
    )
    settings = QualitySettings(alpha=alpha)
    ref = profile_reference(reference, baseline, roles)
    live_src = open_source(live, role="--live", where=where)
    report = check_quality(ref, live_src, settings, roles=roles)
    for w in report.warnings:
        warn(w)
    if fmt == QualityFormat.json:
        text = quality_json(report)
    elif fmt == QualityFormat.markdown:
        text = quality_markdown(report)
    elif fmt == QualityFormat.junit:
        text = quality_junit(report, fail_on=fail_on.value)
    elif fmt == QualityFormat.github:
        text = quality_github(report)
        _append_step_summary(quality_markdown(report))
    elif output is None:
        render_quality(report, stdout_console())
        text = None
    else:
        text = render_to_text(lambda c: render_quality(report, c))
    if text is not None:
        emit(text, output, force=force)
    raise typer.Exit(quality_exit_code(report, fail_on))


@check_app.command("owners")
@handle_errors
def owners_command(
    owners: Annotated[
        Path,
        typer.Option(
            "--owners", help="owners.toml: components, their features and pagers; layers."
        ),
    ],
    reference: Ref = None,
    baseline: BaselinePath = None,
    storage_option: StorageOption = None,
    features: Features = None,
    timestamp: Timestamp = None,
    label: Label = None,
    prediction: Prediction = None,
    meta: Meta = None,
    fmt: Annotated[
        OwnersFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OwnersFormat.human,
    output: Output = None,
    force: Force = False,
) -> None:
    """Who gets paged: every feature of the reference/baseline needs an owning component with
    an owner and a pager, every monitoring layer (infra, pipeline, model, business) an owner,
    and owners.toml must not list columns the reference lacks. Exit 1 on any gap."""
    use_storage_options(storage_option)
    check_output(output, force=force)  # before any work
    own = load_owners(owners)
    roles = _roles(timestamp, label, prediction, meta, features, None, None)
    feats: list[str] | None = None
    cols: list[str] | None = None
    name: str | None = None
    if reference is not None or baseline is not None:
        ref, _ = load_reference(reference, baseline, roles)
        feats, cols, name = [s.feature for s in ref.specs], ref.columns, ref.name
    report = check_owners(own, features=feats, columns=cols, reference=name)
    if fmt == OwnersFormat.json:
        emit(owners_json(report), output, force=force)
    elif output is None:
        render_owners(report, stdout_console())
    else:
        emit(render_to_text(lambda c: render_owners(report, c)), output, force=force)
    raise typer.Exit(EXIT_FINDINGS if report.gaps else EXIT_OK)
