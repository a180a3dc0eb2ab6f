"""``mlfail explain``: ranked root-cause hypotheses."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlfail.audit import check_roles_exist, reference_and_roles
from mlfail.binning import BinSettings
from mlfail.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    deliver,
    handle_errors,
    use_storage_options,
    warn,
)
from mlfail.cli.options import (
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
    Offline,
    Prediction,
    Ref,
    StorageOption,
    Timestamp,
    Where,
)
from mlfail.config import Roles
from mlfail.engines import polars_only
from mlfail.events import load_changes, load_metrics
from mlfail.io import open_source
from mlfail.outputs import check_output
from mlfail.owners import load_owners
from mlfail.psi import PsiSettings
from mlfail.report.explain_render import explain_json, explain_markdown, render_explain
from mlfail.rootcause import ExplainSettings, explain
from mlfail.rootcause.skewjoin import open_offline


class ExplainFormat(StrEnum):
    human = "human"
    json = "json"
    markdown = "markdown"


@handle_errors
def explain_command(
    live: Live,
    reference: Ref = None,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="A saved baseline instead of --reference.")
    ] = None,
    where: Where = None,
    storage_option: StorageOption = None,
    timestamp: Timestamp = None,
    label: Label = None,
    prediction: Prediction = None,
    meta: Meta = None,
    ids: Ids = None,
    model_output: ModelOutputs = None,
    exclude: Exclude = None,
    features: Features = None,
    categorical: Categorical = None,
    numeric: Numeric = None,
    changes: Annotated[
        Path | None, typer.Option("--changes", help="Change events (CSV, JSON or Parquet).")
    ] = None,
    owners: Annotated[Path | None, typer.Option("--owners", help="owners.toml.")] = None,
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", help="Monitoring metrics (ts, layer, metric, value)."),
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="PSI at/above which a feature is drifted.")
    ] = 0.25,
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", help="Hide hypotheses below this confidence.")
    ] = 0.3,
    fmt: Annotated[ExplainFormat, typer.Option("--format", "-f", help="Output format.")] = (
        ExplainFormat.human
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here (atomically).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --output.")] = False,
    engine: EngineOpt = EngineChoice.polars,
    offline: Offline = None,
) -> None:
    """Ranked root-cause hypotheses: each drifted feature tied to its onset, the cohort that
    carries it, the change event just before it and its signature, with a failure mode and
    the owner to page. Exit 1 when the verdict is model_incident."""
    polars_only(engine.value, "explain")
    use_storage_options(storage_option)
    check_output(output, force=force)  # before any work
    offline_src = open_offline(offline, ids)
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
    live_src = open_source(live, role="--live", where=where)
    ref, _, roles = reference_and_roles(
        reference, baseline, live_src, roles, bin_settings=BinSettings()
    )
    check_roles_exist(roles, [(ref.name, ref.columns), (live_src.spec, live_src.columns)])
    ex = explain(
        ref,
        live_src,
        roles,
        changes=load_changes(changes) if changes else None,
        owners=load_owners(owners) if owners else None,
        metrics=load_metrics(metrics) if metrics else None,
        settings=ExplainSettings(
            psi=PsiSettings(threshold=threshold), min_confidence=min_confidence
        ),
        offline=offline_src,
        ids=roles.ids,
    )
    for w in ex.warnings:
        warn(w)
    deliver(
        fmt.value,
        output,
        force=force,
        human=lambda c: render_explain(ex, c),
        text={"json": lambda: explain_json(ex), "markdown": lambda: explain_markdown(ex)},
    )
    raise typer.Exit(EXIT_FINDINGS if ex.verdict == "model_incident" else EXIT_OK)
