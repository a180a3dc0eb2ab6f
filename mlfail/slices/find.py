"""Slices (design §5): :func:`find_slices`, the entry point — roles, reference and candidates,
then the labelled or the no-label report.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from mlfail.audit import check_roles_exist, load_reference
from mlfail.config import Roles
from mlfail.errors import UsageError
from mlfail.io import Source, open_source
from mlfail.performance import Task, infer_task
from mlfail.psi import preload
from mlfail.reference import Reference, SourceReference
from mlfail.report.slices_model import SliceReport
from mlfail.roles import resolve_roles
from mlfail.slices.candidates import choose_candidates
from mlfail.slices.labelled import _labelled_report
from mlfail.slices.model import SliceInputs, SliceSettings
from mlfail.slices.unlabelled import _unlabelled_report
from mlfail.timekeys import normalize_timestamp


def find_slices(
    reference: str | Source | Reference | None,
    live: str | Source,
    *,
    roles: Roles,
    baseline: str | None = None,
    task: Task | None = None,
    threshold: float = 0.5,
    segments: Sequence[str] = (),
    settings: SliceSettings | None = None,
    progress: bool | None = None,
) -> SliceReport:
    """Every 1- and 2-predicate slice of the live log, ranked worst first (design §5)."""
    preload()  # scipy.special for the tests' tails (mlfail/tails.py), while data is read
    settings = settings or SliceSettings()
    live_src = live if isinstance(live, Source) else open_source(str(live), role="--live")
    live_src = normalize_timestamp(live_src, roles.timestamp)
    if roles.prediction is None:
        raise UsageError("--prediction is required: the model output column")
    ref: Reference
    if reference is None or isinstance(reference, str | Source):
        if isinstance(reference, Source):
            check_roles_exist(
                roles, [(reference.spec, reference.columns), (live_src.spec, live_src.columns)]
            )
        if reference is not None and baseline is None:
            # reference rows: slices bins its cohorts and prediction from them itself, so the
            # frozen bins of every feature (load_reference, a pass of quantiles) are not needed
            src = (
                reference
                if isinstance(reference, Source)
                else open_source(reference, role="--reference")
            )
            ref = SourceReference(src, [], progress=progress)
        else:
            ref, _ = load_reference(reference, baseline, roles, progress=progress)
    else:
        ref = reference
    for flag, col in (
        ("--prediction", roles.prediction),
        ("--label", roles.label),
        ("--timestamp", roles.timestamp),
    ):
        if col is not None and col not in live_src.columns:
            raise UsageError(f"{flag} {col}: no such column in --live {live_src.spec}")
    check_roles_exist(roles, [(ref.name, ref.columns), (live_src.spec, live_src.columns)])
    # §9: ids, outputs, time keys and one-sided columns are never slice keys (resolved once:
    # roles a caller resolved are kept)
    roles = resolve_roles(
        getattr(ref, "source", None), live_src, roles, getattr(ref, "assignment", None)
    )
    pred = roles.prediction
    assert pred is not None  # checked above
    pred_numeric = live_src.schema[pred].is_numeric()

    cands, notes, n_rows = choose_candidates(live_src, ref, roles, segments, settings)

    tspec = (
        infer_task(
            live_src.schema,
            roles.label,
            pred,
            task=task,
            threshold=threshold,
            data=live_src.lf,
            origin=f"--live {live_src.spec}",
        )
        if roles.label is not None
        else None
    )
    if tspec is None and task == "regression":
        raise UsageError("--task regression needs --label")
    labelled = 0
    if tspec is not None:
        labelled = int(
            live_src.lf.select(
                (pl.col(tspec.label).is_not_null() & pl.col(pred).is_not_null()).sum()
            )
            .collect(engine="streaming")
            .item()
        )
        if labelled == 0:
            notes.append(
                f"--label {tspec.label}: no labelled rows in the live data (labels arrive "
                "late); slices are ranked by the prediction distribution instead"
            )
    inputs = SliceInputs(
        live_src=live_src,
        ref=ref,
        cands=cands,
        settings=settings,
        notes=notes,
        n_rows=n_rows,
        pred=pred,
        pred_numeric=pred_numeric,
    )
    report = _labelled_report(inputs, tspec) if tspec is not None and labelled > 0 else None
    report = report or _unlabelled_report(inputs)
    report.roles = roles.assignment
    return report
