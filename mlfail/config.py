"""Column roles and feature selection.

Roles (timestamp, label, prediction, metadata) are never model features. Features default to
every column of the reference that has no role and a type we can bin.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from mlfail.errors import UsageError

if TYPE_CHECKING:
    from mlfail.roles import RoleAssignment


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
    outputs: tuple[str, ...] = field(default=())  # other model outputs (--model-output)
    ids: tuple[str, ...] = ()  # identifiers (--id); the first is triage's shadow join key
    exclude: tuple[str, ...] = ()  # --exclude: never profiled, never a slice key
    # every column's role, once resolved (mlfail.roles.resolve_roles); None = not yet
    assignment: RoleAssignment | None = field(default=None, compare=False)

    @property
    def extra_roles(self) -> tuple[str, ...]:
        """The former name of :attr:`outputs`."""
        return self.outputs

    def role_columns(self) -> list[str]:
        """Every column that is never a feature: the role flags, and once resolved every
        column the assignment does not call a feature."""
        cols = [c for c in (self.timestamp, self.label, self.prediction) if c]
        cols = [*cols, *self.meta, *self.outputs, *self.ids, *self.exclude]
        if self.assignment is not None:
            cols += self.assignment.never_features()
        return list(dict.fromkeys(cols))

    def never_slice_keys(self) -> set[str]:
        """Columns that are never a slice key: ids, outputs, excluded (and, once resolved,
        every identifier / output / time / one-sided / constant column)."""
        out = {c for c in (self.timestamp, self.label, self.prediction) if c}
        out |= {*self.outputs, *self.ids, *self.exclude}
        if self.assignment is not None:
            out |= set(self.assignment.never_slice_keys())
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "timestamp": self.timestamp,
            "label": self.label,
            "prediction": self.prediction,
            "meta": list(self.meta),
            "features": list(self.features) if self.features is not None else None,
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
            "ids": list(self.ids),
            "outputs": list(self.outputs),
            "exclude": list(self.exclude),
        }

    @classmethod
    def from_flags(
        cls,
        *,
        timestamp: str | None = None,
        label: str | None = None,
        prediction: str | None = None,
        meta: Iterable[str] | None = None,
        features: Iterable[str] | None = None,
        categorical: Iterable[str] | None = None,
        numeric: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
        outputs: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
    ) -> Roles:
        """Roles from CLI flags: repeatable / comma-separated lists flattened, no --features
        meaning "infer from the reference"."""
        return cls(
            ids=split_list(ids),
            outputs=split_list(outputs),
            exclude=split_list(exclude),
            timestamp=timestamp,
            label=label,
            prediction=prediction,
            meta=split_list(meta),
            features=split_list(features) or None,
            categorical=split_list(categorical),
            numeric=split_list(numeric),
        )

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
            ids=tup(d.get("ids")),
            outputs=tup(d.get("outputs")),
            exclude=tup(d.get("exclude")),
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
    if roles.assignment is not None:
        # what inference left out, with its reason (flag-given roles are the user's own)
        skipped += [
            f"{c.column} ({c.role.replace('_', ' ')}: {c.reason})"
            for c in roles.assignment.columns
            if c.source == "inferred" and c.role != "feature" and c.column in schema
        ]
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


# ---- mlfail.toml / [tool.mlfail] / MLFAIL_* ---------------------------------------------
#
# Every flag can be set in a config file so that `mlfail triage` alone works in a configured
# repository. Precedence: flags > environment (MLFAIL_<FLAG>, e.g. MLFAIL_THRESHOLD=0.2,
# MLFAIL_META=pipeline_version,sdk_version) > file. Top-level keys apply to every command that
# has the flag; a table named after a command ([triage], [psi], [check.quality] …) overrides
# them for that command. Keys are flag names without dashes, '-' or '_' alike
# (fail-on = fail_on). Object-store options are a table, `[storage_options]` (or
# `storage_options = {…}`, also inside a command's table), merged key by key with
# MLFAIL_STORAGE_OPTION=KEY=VALUE,… and then with the --storage-option flags.


def _find_config_arg(argv: Sequence[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def find_config(argv: Sequence[str], env: dict[str, str], cwd: str) -> tuple[str | None, bool]:
    """(path, explicit). Explicit: --config or MLFAIL_CONFIG; else ./mlfail.toml, else
    ./pyproject.toml when it has a [tool.mlfail] table."""
    arg = _find_config_arg(argv) or env.get("MLFAIL_CONFIG")
    if arg:
        return arg, True
    for name in ("mlfail.toml", "pyproject.toml"):
        p = os.path.join(cwd, name)
        if os.path.isfile(p):
            return p, False
    return None, False


def load_config_file(path: str, *, explicit: bool = True) -> dict[str, object]:
    """Parse mlfail.toml (or pyproject.toml's [tool.mlfail]); problems are one InputError line."""
    import re
    import tomllib

    from mlfail.errors import InputError

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"--config {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{path}:{m.group(1)}" if m else path
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise InputError(f"--config {where}: invalid TOML: {msg}") from None
    except OSError as exc:
        raise InputError(f"--config {path}: cannot read ({exc.strerror})") from None
    if path.endswith("pyproject.toml"):
        tool = data.get("tool", {})
        cfg = tool.get("mlfail", {}) if isinstance(tool, dict) else {}
        if not cfg and explicit:
            raise InputError(f"--config {path}: no [tool.mlfail] table")
        data = cfg if isinstance(cfg, dict) else {}
    return _resolve_paths(data, os.path.dirname(os.path.abspath(path)))


# Flags whose values are paths: relative paths in a config file are relative to the file.
PATH_FLAGS = (
    "reference",
    "live",
    "baseline",
    "metrics",
    "changes",
    "owners",
    "candidate_source",
    "out",
    "specs_from",
)


def _resolve_paths(data: dict[str, object], base: str) -> dict[str, object]:
    import re

    out: dict[str, object] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out[k] = _resolve_paths(v, base)
        elif (
            _norm(k) in PATH_FLAGS
            and isinstance(v, str)
            and v
            and not (os.path.isabs(v) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", v))
        ):
            out[k] = os.path.normpath(os.path.join(base, v))
        else:
            out[k] = v
    return out


def _norm(key: str) -> str:
    return key.replace("-", "_").lower()


def default_map_for(
    tree: dict[str, object], cfg: dict[str, object], env: dict[str, str]
) -> dict[str, object]:
    """Build Click's ``default_map`` for a command tree
    ``{name: {flag: (param, multiple)} | subtree}``
    from the config file ``cfg`` and ``MLFAIL_*`` environment variables (env wins)."""
    top = {_norm(k): v for k, v in cfg.items() if not isinstance(v, dict)}
    out: dict[str, object] = {}

    def storage(section: dict[str, object]) -> list[str]:
        """[storage_options] of the file (top level, then the command's table), then the
        environment, merged key by key, as KEY=VALUE strings (the flag's own form)."""
        from mlfail.io import parse_storage_options

        opts: dict[str, object] = {}
        for table in (cfg, section):
            for k, v in table.items():
                if _norm(k) == "storage_options":
                    if not isinstance(v, dict):
                        raise UsageError(
                            "config: storage_options must be a table of KEY = VALUE, e.g. "
                            '[storage_options] aws_endpoint_url = "http://127.0.0.1:9000"'
                        )
                    opts.update(parse_storage_options(v, flag="config storage_options"))
        ev = env.get("MLFAIL_STORAGE_OPTION")
        if ev:
            pairs = [p.strip() for p in ev.split(",") if p.strip()]
            opts.update(parse_storage_options(pairs, flag="MLFAIL_STORAGE_OPTION"))
        return [f"{k}={v}" for k, v in opts.items()]

    def leaf(params: dict[str, tuple[str, bool]], section: dict[str, object]) -> dict[str, object]:
        vals: dict[str, object] = {}
        merged = {**top, **{_norm(k): v for k, v in section.items() if not isinstance(v, dict)}}
        for flag, (param, multiple) in params.items():
            if flag == "storage_option":
                so = storage(section)
                if so:
                    vals[param] = so
                continue
            if flag in merged:
                v = merged[flag]
                vals[param] = (list(v) if isinstance(v, list) else [v]) if multiple else v
            ev = env.get(f"MLFAIL_{flag.upper()}")
            if ev is not None:
                vals[param] = [p.strip() for p in ev.split(",") if p.strip()] if multiple else ev
        return vals

    def walk(node: dict[str, object], section: dict[str, object], dst: dict[str, object]) -> None:
        for name, sub in node.items():
            sec = section.get(name, {}) if isinstance(section.get(name), dict) else {}
            assert isinstance(sub, dict)
            if sub and all(isinstance(v, tuple) for v in sub.values()):
                vals = leaf(sub, sec)  # type: ignore[arg-type]
                if vals:
                    dst[name] = vals
            else:
                child: dict[str, object] = {}
                walk(sub, sec, child)  # type: ignore[arg-type]
                if child:
                    dst[name] = child

    walk(tree, cfg, out)
    return out
