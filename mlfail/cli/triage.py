"""``mlfail triage``: the guided seven-step walk (interactive at a terminal) and the incident
report in every format."""

from __future__ import annotations

import datetime as dt
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mlfail.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    emit,
    handle_errors,
    render_to_text,
    use_storage_options,
)
from mlfail.cli.common import stdout_console as _stdout_console
from mlfail.cli.options import (
    Baseline,
    EngineChoice,
    EngineOpt,
    Exclude,
    Features,
    Force,
    Ids,
    Label,
    Live,
    Meta,
    ModelOutputs,
    Offline,
    Prediction,
    Ref,
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
from mlfail.outputs import check_output, write_atomic
from mlfail.psi import PsiSettings
from mlfail.report.explain_render import _hyp_panel
from mlfail.report.slices_model import SliceRecord
from mlfail.report.triage_render import (
    ranked_table,
    render_header,
    render_triage,
    signal_sparklines,
    slice_table,
    step_panel,
    triage_html,
    triage_json,
    triage_markdown,
)
from mlfail.rootcause import ExplainSettings
from mlfail.rootcause.skewjoin import open_offline
from mlfail.triage import Step, TriageReport, TriageSettings, triage


class TriageFormat(StrEnum):
    human = "human"
    json = "json"
    markdown = "markdown"
    html = "html"


EXT = {"human": "txt", "json": "json", "markdown": "md", "html": "html"}


def interactive_wanted(no_input: bool, force: bool) -> bool:
    """A TTY on both ends, no --no-input and no CI — or --interactive."""
    if force:
        return True
    if no_input or os.environ.get("CI"):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def render(report: TriageReport, fmt: TriageFormat) -> str:
    if fmt == TriageFormat.json:
        return triage_json(report)
    if fmt == TriageFormat.markdown:
        return triage_markdown(report)
    if fmt == TriageFormat.html:
        return triage_html(report)
    return render_to_text(lambda c: render_triage(report, c))


class Walk:
    """The interactive walk: one panel per step, Enter to go on, pick a slice and a hypothesis."""

    def __init__(self, console: Console):
        self.console = console

    def pause(self) -> None:
        typer.prompt(
            "press Enter to go on", default="", show_default=False, prompt_suffix=" ", err=True
        )

    def on_step(self, step: Step) -> None:
        self.console.print(step_panel(step, signal_sparklines(step)))
        if step.name != "slices":
            self.pause()

    def choose_slice(self, ranked: list[SliceRecord]) -> int | None:
        n = min(len(ranked), 20)
        self.console.print(ranked_table(ranked[:n]))
        while True:
            raw = typer.prompt(f"drill into which slice? [1-{n}]", default="1", err=True)
            if raw.strip().isdigit() and 1 <= int(raw) <= n:
                return int(raw) - 1
            self.console.print(f"[yellow]type a number from 1 to {n}[/yellow]")

    def expand(self, report: TriageReport) -> None:
        hyps = report.root_causes
        if not hyps:
            return
        for i, h in enumerate(hyps[:9], 1):
            self.console.print(
                f"  {i}. {h.feature or h.failure_mode} — "
                f"{h.failure_mode.replace('_', ' ')} ({h.confidence:.2f})"
            )
        raw = typer.prompt(
            "expand which hypothesis? [1, or Enter to skip]",
            default="",
            show_default=False,
            err=True,
        )
        if raw.strip().isdigit() and 1 <= int(raw) <= min(len(hyps), 9):
            self.console.print(_hyp_panel(int(raw), hyps[int(raw) - 1]))


@handle_errors
def triage_command(
    live: Live,
    reference: Ref = None,
    baseline: Baseline = None,
    where: Where = None,
    storage_option: StorageOption = None,
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", help="Monitoring metrics file (ts, layer, metric, value)."),
    ] = None,
    changes: Annotated[
        Path | None, typer.Option("--changes", help="Change events (CSV, JSON or Parquet).")
    ] = None,
    owners: Annotated[
        Path | None, typer.Option("--owners", help="owners.toml: components, lineage, pagers.")
    ] = None,
    timestamp: Timestamp = None,
    label: Label = None,
    prediction: Prediction = None,
    meta: Meta = None,
    model_output: ModelOutputs = None,
    exclude: Exclude = None,
    segment: Segment = None,
    features: Features = None,
    task: Task = None,
    threshold: Threshold = 0.5,
    psi_threshold: Annotated[
        float,
        typer.Option(
            "--psi-threshold", help="PSI at/above which a significant feature is drifted."
        ),
    ] = 0.25,
    candidate_prediction: Annotated[
        str | None,
        typer.Option(
            "--candidate-prediction",
            help="Step 7: the candidate model's output column (runs the shadow test).",
        ),
    ] = None,
    candidate_source: Annotated[
        str | None,
        typer.Option(
            "--candidate-source",
            help="Step 7: Parquet with the candidate's outputs, joined on --id.",
        ),
    ] = None,
    id_column: Ids = None,
    offline: Offline = None,
    config: Annotated[
        str | None, typer.Option("--config", help="Config file (see mlfail --help).")
    ] = None,
    fmt: Annotated[
        TriageFormat, typer.Option("--format", "-f", help="Report format.")
    ] = TriageFormat.human,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here (atomically).")
    ] = None,
    force: Force = False,
    no_input: Annotated[
        bool,
        typer.Option(
            "--no-input", help="Never prompt (implied when not at a terminal or when CI is set)."
        ),
    ] = False,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Prompt even when not at a terminal.", hidden=True)
    ] = False,
    engine: EngineOpt = EngineChoice.polars,
) -> None:
    """The seven-step walk: signal → infra → global → slices → PSI on the broken slice → root
    cause → shadow. Interactive at a terminal; otherwise the whole report goes to stdout (or
    --output). Exit 1 when the verdict is model_incident."""
    polars_only(engine.value, "triage")
    use_storage_options(storage_option)
    check_output(output, force=force)  # before any work
    offline_src = open_offline(offline, id_column)
    roles = Roles.from_flags(
        timestamp=timestamp,
        label=label,
        prediction=prediction,
        meta=meta,
        features=features,
        ids=id_column,
        outputs=model_output,
        exclude=exclude,
    )
    settings = TriageSettings(
        psi=PsiSettings(threshold=psi_threshold),
        explain=ExplainSettings(
            psi=PsiSettings(threshold=psi_threshold),
            task=task.value if task else None,
            threshold=threshold,
        ),
        task=task.value if task else None,
        threshold=threshold,
    )
    walk = interactive_wanted(no_input, interactive)
    console = _stdout_console()
    w = Walk(console) if walk else None
    err = Console(stderr=True, highlight=False)

    def on_progress(msg: str) -> None:
        if w is not None or sys.stderr.isatty():
            err.print(f"[dim]… {msg}[/dim]")

    if w is not None:
        console.print("[bold]mlfail triage[/bold] — the seven-step walk. Counting the sources…")
    report = triage(
        open_source(live, role="--live", where=where),
        roles=roles,
        reference=reference,
        baseline=baseline,
        metrics=metrics,
        changes=changes,
        owners=owners,
        segments=split_list(segment),
        candidate_prediction=candidate_prediction,
        candidate_source=candidate_source,
        id_column=roles.ids[0] if roles.ids else None,
        offline=offline_src,
        ids=roles.ids,
        settings=settings,
        choose_slice=w.choose_slice if w else None,
        on_step=w.on_step if w else None,
    )
    if w is None:
        if fmt == TriageFormat.human and output is None:
            render_triage(report, console)
        else:
            emit(render(report, fmt), output, force=force)
    else:
        w.expand(report)
        render_header(report, console)
        if report.slices is not None and report.slices.slices:
            console.print(slice_table(report, limit=5))
        path = output or Path(
            f"mlfail-triage-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.{EXT[fmt.value]}"
        )
        saved = write_atomic(path, render(report, fmt), force=force)
        console.print(f"report saved to [bold]{saved}[/bold]")
        console.print(f"step 7, when the fix is ready: [bold]{report.shadow_command}[/bold]")
    raise typer.Exit(EXIT_FINDINGS if report.verdict == "model_incident" else EXIT_OK)
