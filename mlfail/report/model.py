"""Report models: built once, rendered by every format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlfail.psi import STATUS_ORDER, FeaturePsi

if TYPE_CHECKING:
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
