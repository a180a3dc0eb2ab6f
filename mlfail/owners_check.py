"""``mlfail check owners``: "if you can't answer who gets paged for any alert, you're not ready
to deploy". Every model feature needs an owning component with a pager, every monitoring layer
an owner, and owners.toml must not name columns the reference does not have."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mlfail.owners import LAYERS, Owners

OWNERS_SCHEMA_VERSION = 1
GapKind = Literal["unowned_feature", "no_owner", "no_pager", "layer_unowned", "unknown_feature"]


@dataclass
class OwnerGap:
    kind: GapKind
    subject: str  # the feature, component or layer
    message: str


@dataclass
class FeatureOwner:
    feature: str
    component: str | None
    owner: str | None
    pager: str | None


@dataclass
class OwnersReport:
    owners: str
    reference: str | None
    features: list[FeatureOwner]
    layers: dict[str, dict[str, str | None]]  # layer → {"owner", "pager"}
    gaps: list[OwnerGap] = field(default_factory=list)
    schema_version: int = OWNERS_SCHEMA_VERSION


def check_owners(
    owners: Owners,
    *,
    features: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    reference: str | None = None,
) -> OwnersReport:
    """Gaps in ``owners`` for the reference's ``features`` (every column in ``columns`` may be
    named in owners.toml; other names are unknown). Without a reference only components and
    layers are checked."""
    gaps: list[OwnerGap] = []
    rows: list[FeatureOwner] = []
    for f in features or ():
        comp = owners.component_for(f)
        rows.append(
            FeatureOwner(
                f,
                comp.name if comp else None,
                comp.owner if comp else None,
                comp.pager if comp else None,
            )
        )
        if comp is None:
            gaps.append(
                OwnerGap(
                    "unowned_feature",
                    f,
                    f"feature {f!r} comes from no component: add it to the features of a "
                    "[components.NAME] table",
                )
            )
    for comp in owners.components.values():
        if not comp.owner:
            gaps.append(OwnerGap("no_owner", comp.name, f"component {comp.name!r} has no owner"))
        if not comp.pager:
            gaps.append(
                OwnerGap(
                    "no_pager",
                    comp.name,
                    f"component {comp.name!r} has no pager: nobody is paged when its features "
                    "break",
                )
            )
    layers: dict[str, dict[str, str | None]] = {}
    for layer in LAYERS:
        lo = owners.layer(layer)
        layers[layer] = {"owner": lo.owner if lo else None, "pager": lo.pager if lo else None}
        if lo is None or not lo.owner:
            gaps.append(
                OwnerGap(
                    "layer_unowned",
                    layer,
                    f'monitoring layer {layer!r} has no owner: add {layer} = "team" under [layers]',
                )
            )
    if columns is not None:
        known = set(columns)
        for comp in owners.components.values():
            for f in comp.features:
                if f not in known:
                    gaps.append(
                        OwnerGap(
                            "unknown_feature",
                            f,
                            f"component {comp.name!r} lists {f!r}, which is not a column of "
                            f"{reference or 'the reference'}",
                        )
                    )
    return OwnersReport(
        owners=owners.path,
        reference=reference,
        features=rows,
        layers=layers,
        gaps=gaps,
    )
