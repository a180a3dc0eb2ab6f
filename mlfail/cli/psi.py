"""``mlfail psi``: the ad-hoc PSI audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlfail.audit import load_reference, psi
from mlfail.binning import BinSettings
from mlfail.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    FailOn,
    PsiFormat,
    deliver,
    handle_errors,
    open_for_engine,
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
from mlfail.config import Roles, split_list
from mlfail.outputs import check_output
from mlfail.reference import Reference
from mlfail.report.human import render_psi
from mlfail.report.jsonout import psi_json
from mlfail.report.model import PsiReport
from mlfail.report.tables import psi_csv, psi_markdown


def exit_code_for(report: PsiReport, fail_on: FailOn) -> int:
    if fail_on == FailOn.never:
        return EXIT_OK
    bad = {"drifted"} if fail_on == FailOn.drift else {"drifted", "watch"}
    return EXIT_FINDINGS if any(f.status in bad for f in report.features) else EXIT_OK


@handle_errors
def psi_command(
    live: Live,
    reference: Ref = None,
    baseline: BaselinePath = None,
    where: Where = None,
    storage_option: StorageOption = None,
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by", help="Also audit each value of COL (repeatable: combinations of the columns)."
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
    threshold: Annotated[
        float,
        typer.Option("--threshold", help="PSI at/above which a significant feature is drifted."),
    ] = 0.25,
    watch: Annotated[
        float, typer.Option("--watch", help="PSI at/above which a feature is on watch.")
    ] = 0.1,
    alpha: Annotated[
        float,
        typer.Option("--alpha", help="Benjamini–Hochberg false-discovery level across all tests."),
    ] = 0.05,
    epsilon: Annotated[
        float, typer.Option("--epsilon", help="Proportion used in place of an empty bin's 0.")
    ] = 1e-4,
    fmt: Annotated[
        PsiFormat, typer.Option("--format", "-f", help="Output format.")
    ] = PsiFormat.human,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the report here (atomically) instead of stdout."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite --output if it exists.")
    ] = False,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when a feature is at/above this status.")
    ] = FailOn.drift,
    engine: EngineOpt = EngineChoice.polars,
) -> None:
    """PSI per feature, live vs reference or a saved baseline (optionally per slice), with
    sample-size-aware significance. Exit 1 when a feature is drifted (see --fail-on)."""
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
    from mlfail.psi import PsiSettings

    live_src = open_for_engine(live, engine.value, where, role="--live")

    ref: str | Reference
    if baseline is not None or reference is None:
        # a saved baseline (or the one-line error when neither is given)
        ref = load_reference(reference, baseline, roles)[0]
    else:
        ref = reference
    report = psi(
        ref,
        live_src,
        roles=roles,
        by=split_list(by),
        bin_settings=BinSettings(bins=bins),
        settings=PsiSettings(epsilon=epsilon, alpha=alpha, threshold=threshold, watch=watch),
        engine=engine.value,
    )
    for w in report.warnings:
        warn(w)
    deliver(
        fmt.value,
        output,
        force=force,
        human=lambda c: render_psi(report, c),
        text={
            "json": lambda: psi_json(report),
            "csv": lambda: psi_csv(report),
            "markdown": lambda: psi_markdown(report),
        },
    )
    raise typer.Exit(exit_code_for(report, fail_on))
