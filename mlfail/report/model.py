"""Report models: built once, rendered by every format."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlfail.psi import STATUS_ORDER, FeaturePsi

if TYPE_CHECKING:
    import polars as pl

    from mlfail.owners import Owners
    from mlfail.roles import RoleAssignment

PSI_SCHEMA_VERSION = 1


@dataclass
class PsiReport:
    """The result of a PSI audit (``mlfail psi``); see docs/psi-json.md."""

    reference: str
    live: str
    settings: dict[str, Any]
    features: list[FeaturePsi]
    by: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema_version: int = PSI_SCHEMA_VERSION
    roles: RoleAssignment | None = None  # every column's role (JSON inputs.roles)

    def worst_status(self) -> str:
        worst = "ok"
        for f in self.features:
            if STATUS_ORDER[f.status] > STATUS_ORDER[worst]:
                worst = f.status
        return worst

    def count(self, status: str) -> int:
        return sum(1 for f in self.features if f.status == status)

    def global_records(self) -> list[FeaturePsi]:
        return [f for f in self.features if f.slice is None]

    def slice_records(self) -> list[FeaturePsi]:
        return [f for f in self.features if f.slice is not None]


@dataclass(frozen=True)
class ChangeEvent:
    """One event of ``--changes`` as the reports carry it (design §8); ``owner`` / ``pager``
    come from ``--owners`` when the event's component is listed there."""

    id: str
    ts: dt.datetime | None  # None: the file gave no time (never drawn)
    kind: str
    component: str | None
    description: str | None
    owner: str | None = None
    pager: str | None = None


def change_events(changes: pl.DataFrame | None, owners: Owners | None = None) -> list[ChangeEvent]:
    """Every row of a loaded changes table (:func:`mlfail.events.load_changes`), in time order,
    with the owner of its component when ``owners`` lists it."""
    if changes is None:
        return []
    out = []
    for row in changes.select("id", "ts", "kind", "component", "description").iter_rows():
        eid, ts, kind, component, description = row
        comp = owners.components.get(component) if owners is not None and component else None
        out.append(
            ChangeEvent(
                str(eid),
                ts,
                str(kind),
                component,
                description,
                comp.owner if comp else None,
                comp.pager if comp else None,
            )
        )
    return sorted(out, key=lambda e: (e.ts is None, e.ts or dt.datetime.min))
