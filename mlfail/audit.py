"""``mlfail.psi(...)``: the ad-hoc PSI audit, callable from Python (the CLI is a thin shell)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, cast

from mlfail.baseline import load_baseline_reference
from mlfail.binning import BinSettings
from mlfail.config import Roles
from mlfail.engines import Engine, get_engine
from mlfail.engines.polars import PolarsEngine
from mlfail.errors import UsageError
from mlfail.io import Source, open_source
from mlfail.psi import PsiSettings, compare_tables, preload
from mlfail.reference import Reference, reference_from_source
from mlfail.report.model import PsiReport
from mlfail.roles import resolve_roles


def _as_source(x: str | Source, role: str) -> Source:
    return x if isinstance(x, Source) else open_source(str(x), role=role)


def _engine_source(x: Any, role: str, engine: Engine) -> Any:
    """A source of ``engine``: strings are opened by it; a source object is used as given."""
    return engine.open(str(x), role=role) if isinstance(x, str) else x


def check_roles_exist(roles: Roles, sources: Sequence[tuple[str, list[str]]]) -> None:
    """Every column named by a role flag must exist in at least one source."""
    for flag, col in (
        ("--timestamp", roles.timestamp),
        ("--label", roles.label),
        ("--prediction", roles.prediction),
        *(("--meta", m) for m in roles.meta),
    ):
        if col and not any(col in cols for _, cols in sources):
            names = " or ".join(name for name, _ in sources)
            raise UsageError(f"{flag} {col}: no such column in {names}")


def load_reference(
    reference: str | Source | None,
    baseline: str | None,
    roles: Roles,
    *,
    bin_settings: BinSettings | None = None,
    progress: bool | None = None,
) -> tuple[Reference, list[str]]:
    """The reference side from ``--reference`` (data) or ``--baseline`` (a saved profile).

    Every command that compares against a reference goes through here, so a baseline and the
    data it was built from give the same numbers.
    """
    if reference is not None and baseline is not None:
        raise UsageError("give either --reference or --baseline, not both")
    if baseline is not None:
        return load_baseline_reference(baseline, roles), []
    if reference is None:
        raise UsageError(
            "--reference or --baseline is required: the training snapshot to compare against"
        )
    src = _as_source(reference, "--reference")
    return reference_from_source(
        src, roles, bin_settings=bin_settings or BinSettings(), progress=progress
    )


def reference_and_roles(
    reference: str | Source | None,
    baseline: str | None,
    live: Source,
    roles: Roles,
    *,
    bin_settings: BinSettings | None = None,
    progress: bool | None = None,
) -> tuple[Reference, list[str], Roles]:
    """:func:`load_reference` with the roles resolved first (§9): on reference data before its
    features are chosen; for a baseline, from the roles it stores checked against live.
    → (reference, skipped, resolved roles)."""
    if reference is not None and baseline is None and not roles.assignment:
        src = _as_source(reference, "--reference")
        check_roles_exist(roles, [(src.spec, src.columns), (live.spec, live.columns)])
        roles = resolve_roles(src, live, roles)
        reference = src
    ref, skipped = load_reference(
        reference, baseline, roles, bin_settings=bin_settings, progress=progress
    )
    roles = resolve_roles(ref, live, roles, getattr(ref, "assignment", None))
    return ref, skipped, roles


def psi(
    reference: str | Source | Reference,
    live: str | Source,
    *,
    roles: Roles | None = None,
    by: Sequence[str] = (),
    bin_settings: BinSettings | None = None,
    settings: PsiSettings | None = None,
    progress: bool | None = None,
    engine: Engine | str | None = None,
) -> PsiReport:
    """PSI of every feature, live vs reference, globally and per ``by`` slice value.

    ``engine`` (``"polars"``, the default, or ``"spark"``, or an engine object) computes the
    bin specs of a reference given as data and every count table; a saved baseline's specs and
    counts are used as stored."""
    preload()
    roles = roles or Roles()
    bin_settings = bin_settings or BinSettings()
    settings = settings or PsiSettings()
    eng = get_engine(engine) if engine is not None else PolarsEngine(progress=progress)
    live_src = _engine_source(live, "--live", eng)
    skipped: list[str] = []
    engine_settings: dict[str, Any] = {}
    if eng.name != "polars":
        engine_settings["engine"] = eng.name
    ref: Reference
    if isinstance(reference, str) or not hasattr(reference, "specs"):  # data, not a Reference
        ref_src = _engine_source(reference, "--reference", eng)
        check_roles_exist(
            roles, [(ref_src.spec, ref_src.columns), (live_src.spec, live_src.columns)]
        )
        roles = resolve_roles(ref_src, live_src, roles)
        ref, skipped = reference_from_source(
            ref_src, roles, bin_settings=bin_settings, progress=progress, engine=eng
        )
        if eng.name != "polars":  # how this run's quantile edges were made
            engine_settings.update(eng.describe())
    else:
        ref = cast(Reference, reference)
        skipped = list(getattr(ref, "skipped", []))  # a baseline remembers what it left out
        check_roles_exist(roles, [(ref.name, ref.columns), (live_src.spec, live_src.columns)])
        roles = resolve_roles(ref, live_src, roles, getattr(ref, "assignment", None))
    live_src.require(by, "--by")
    if roles.features is not None:
        live_src.require(roles.features, "--features")

    warnings = [
        f"feature {s.feature!r} is not in --live {live_src.spec}; counted as all missing"
        for s in ref.specs
        if s.feature not in live_src.columns
    ]
    if roles.assignment is not None:  # §9: one side only is a schema finding, not a drift
        warnings += [
            f"column {c.column!r} is on the {c.present} side only: a "
            f"{'new' if c.present == 'live' else 'missing'} column (mlfail check quality "
            "reports it), not a drift; not profiled"
            for c in roles.assignment.columns
            if c.role == "one_sided"
        ]
    ref_by = None
    if by and all(b in ref.columns for b in by):
        ref_by = ref.table(by)
        ref_table = ref.table(())
        if ref_by is None:
            warnings.append(
                f"--by {','.join(by)}: {ref.name} holds no reference counts by these columns "
                "(a baseline stores them only for its --segment columns); each slice is "
                "compared with the whole reference"
            )
    else:
        ref_table = ref.table(())
        if by:
            warnings.append(
                f"--by {','.join(by)}: not in the reference; each slice is compared with the "
                "whole reference"
            )
    assert ref_table is not None
    live_table = eng.count(live_src, ref.specs, list(by))
    records = compare_tables(ref.specs, ref_table, live_table, settings, by=by, ref_by_table=ref_by)
    return PsiReport(
        reference=ref.name,
        live=live_src.spec,
        settings={**asdict(bin_settings), **asdict(settings), **engine_settings},
        features=records,
        by=list(by),
        skipped=skipped,
        warnings=warnings,
        roles=roles.assignment,
    )
