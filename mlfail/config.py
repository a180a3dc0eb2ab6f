"""Column roles and feature selection.

Roles (timestamp, label, prediction, metadata) are never model features. Features default to
every column of the reference that has no role and a type we can bin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from mlfail.errors import UsageError


@dataclass(frozen=True)
class Roles:
    """Which columns play which part. Everything here is a column name."""

    timestamp: str | None = None
    label: str | None = None
    prediction: str | None = None
    meta: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None  # None = infer from the reference
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    extra_roles: tuple[str, ...] = field(default=())  # other output columns never to profile

    def role_columns(self) -> list[str]:
        cols = [c for c in (self.timestamp, self.label, self.prediction) if c]
        return [*cols, *self.meta, *self.extra_roles]

    def to_dict(self) -> dict[str, object]:
        return {
            "timestamp": self.timestamp,
            "label": self.label,
            "prediction": self.prediction,
            "meta": list(self.meta),
            "features": list(self.features) if self.features is not None else None,
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Roles:
        def tup(v: object) -> tuple[str, ...]:
            return tuple(str(x) for x in v) if isinstance(v, list | tuple) else ()

        feats = d.get("features")
        return cls(
            timestamp=_opt_str(d.get("timestamp")),
            label=_opt_str(d.get("label")),
            prediction=_opt_str(d.get("prediction")),
            meta=tup(d.get("meta")),
            features=tup(feats) if feats is not None else None,
            categorical=tup(d.get("categorical")),
            numeric=tup(d.get("numeric")),
        )


def _opt_str(v: object) -> str | None:
    return None if v is None else str(v)


def split_list(values: Iterable[str] | None) -> tuple[str, ...]:
    """Flatten repeatable, comma-separated flag values: ``--features a,b --features c``."""
    out: list[str] = []
    for v in values or ():
        out.extend(p.strip() for p in str(v).split(",") if p.strip())
    return tuple(dict.fromkeys(out))


def is_binnable(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype in (pl.String, pl.Boolean) or _is_cat(dtype)


def _is_cat(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Categorical | pl.Enum)


def check_role_conflicts(roles: Roles) -> None:
    seen: dict[str, str] = {}
    for flag, col in (
        ("--timestamp", roles.timestamp),
        ("--label", roles.label),
        ("--prediction", roles.prediction),
    ):
        if col is None:
            continue
        if col in seen:
            raise UsageError(f"column {col!r} is given to both {seen[col]} and {flag}")
        seen[col] = flag
    if roles.features:
        for col in roles.features:
            if col in seen:
                raise UsageError(
                    f"column {col!r} is listed in --features but is the {seen[col]} column; "
                    "roles are never features"
                )
    both = set(roles.categorical) & set(roles.numeric)
    if both:
        raise UsageError(f"column {sorted(both)[0]!r} is given to both --categorical and --numeric")


def select_features(schema: pl.Schema, roles: Roles) -> tuple[list[str], list[str]]:
    """Return (features, skipped) for a reference schema.

    ``skipped`` lists columns left out because their type cannot be binned (dates, lists…).
    Explicitly requested features of such a type raise :class:`UsageError`.
    """
    check_role_conflicts(roles)
    if roles.features is not None:
        feats = list(roles.features)
        for f in feats:
            dt = schema.get(f)
            if dt is not None and not is_binnable(dt) and f not in roles.numeric:
                raise UsageError(
                    f"--features: column {f!r} has type {dt}, which mlfail cannot bin; "
                    "drop it or cast it to a number or string upstream"
                )
        return feats, []
    excluded = set(roles.role_columns())
    feats, skipped = [], []
    for name, dt in schema.items():
        if name in excluded:
            continue
        if is_binnable(dt):
            feats.append(name)
        else:
            skipped.append(f"{name} (type {dt} cannot be binned)")
    return feats, skipped


def as_tuple(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(values or ())
