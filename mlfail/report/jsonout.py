"""JSON rendering: dataclasses → plain data, NaN/inf → null, stable key order."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from typing import Any

from mlfail._version import __version__
from mlfail.report.model import PsiReport

_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if not f.name.startswith("_"))
        _FIELDS[cls] = names
    return names


def plain(obj: Any) -> Any:
    if obj is None or isinstance(obj, str | bool | int):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {name: plain(getattr(obj, name)) for name in _fields(type(obj))}
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return plain(obj.item())
    return obj


def dumps(data: Any) -> str:
    return json.dumps(plain(data), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def psi_json(report: PsiReport) -> str:
    data = {
        "schema_version": report.schema_version,
        "mlfail_version": __version__,
        "reference": report.reference,
        "live": report.live,
        "settings": report.settings,
        "by": report.by,
        "summary": {s: report.count(s) for s in ("drifted", "watch", "ok", "too_few_rows")},
        "warnings": report.warnings,
        "skipped": report.skipped,
        "features": report.features,
        **inputs_roles(report.roles),
    }
    return dumps(data)


def inputs_roles(roles: Any) -> dict[str, Any]:
    """``{"inputs": {"roles": …}}`` for a report that carries a role assignment (§9), else
    nothing: every command's JSON shows the assumed roles the same way."""
    return {} if roles is None else {"inputs": {"roles": roles.to_dict()}}
