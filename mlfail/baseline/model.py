"""The baseline artifact: the :class:`Baseline` model, its JSON form (compact dense count
tables, :func:`pretty_json`) and :func:`load_baseline`, which validates a file into one
:class:`~mlfail.errors.InputError` line. See :mod:`mlfail.baseline` for what a baseline holds."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlfail._version import __version__
from mlfail.binning import BinSpec
from mlfail.config import Roles
from mlfail.errors import InputError
from mlfail.featurestats import FeatureStats, is_string_dtype
from mlfail.io import is_url, read_url_bytes
from mlfail.outputs import write_atomic
from mlfail.performance import TaskSpec
from mlfail.reference import coarsen
from mlfail.roles import RoleAssignment

BASELINE_KIND = "mlfail-baseline"
BASELINE_SCHEMA_VERSION = 1


@dataclass
class Baseline:
    """A saved reference profile (see the module docstring and docs/baseline.md)."""

    specs: list[BinSpec]
    prediction_spec: BinSpec | None
    rows: int
    schema: dict[str, str]
    roles: Roles
    segments: list[str]
    key_dtypes: dict[str, str]
    bin_settings: dict[str, Any]
    stats: dict[str, FeatureStats]
    tables: dict[tuple[str, ...], pl.DataFrame]  # features and prediction, long form
    task: TaskSpec | None
    perf: dict[tuple[str, ...], pl.DataFrame]  # performance_table columns + "scored"
    sources: list[dict[str, Any]]
    content_hash: str
    created_at: str
    mlfail_version: str = __version__
    approximate: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    schema_version: int = BASELINE_SCHEMA_VERSION
    path: str | None = None

    # ---- derived views ---------------------------------------------------------------------

    def count_table(self, keys: Sequence[str] = ()) -> pl.DataFrame | None:
        """The stored count table by ``keys`` (coarsened from a finer stored one), or None."""
        keys = tuple(keys)
        if keys in self.tables:
            return self.tables[keys]
        for have, t in self.tables.items():
            if set(keys) <= set(have):
                return coarsen(t, keys)
        return None

    def performance(self, keys: Sequence[str] = ()) -> pl.DataFrame | None:
        """Reference performance by ``keys`` (``()`` or one segment column), with the columns
        :func:`mlfail.performance.performance_table` produces; None when not stored."""
        t = self.perf.get(tuple(keys))
        if t is None:
            return None
        return t.drop("scored", strict=False)

    # ---- JSON ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        all_specs = self.all_specs()
        return {
            "kind": BASELINE_KIND,
            "schema_version": self.schema_version,
            "mlfail_version": self.mlfail_version,
            "created_at": self.created_at,
            "content_hash": self.content_hash,
            "sources": self.sources,
            "rows": self.rows,
            "roles": {
                **self.roles.to_dict(),
                # every column's role as resolved at creation (§9); absent in older baselines
                **(
                    {"assignment": self.roles.assignment.to_dict()}
                    if self.roles.assignment is not None
                    else {}
                ),
            },
            "segments": self.segments,
            "bin_settings": self.bin_settings,
            "approximate": self.approximate,
            "skipped": self.skipped,
            "schema": self.schema,
            "specs": [s.to_dict() for s in self.specs],
            "prediction": None if self.prediction_spec is None else self.prediction_spec.to_dict(),
            "stats": [s.to_dict() for s in self.stats.values()],
            "counts": [
                _table_to_json(t, list(k), self.key_dtypes, all_specs)
                for k, t in self.tables.items()
            ],
            "task": None if self.task is None else _task_to_dict(self.task),
            "performance": [
                _perf_to_json(t, list(k), self.key_dtypes) for k, t in self.perf.items()
            ],
        }

    def to_json(self) -> str:
        return pretty_json(self.to_dict())

    def all_specs(self) -> list[BinSpec]:
        return [*self.specs, *([self.prediction_spec] if self.prediction_spec else [])]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, path: str | None = None) -> Baseline:
        specs = [BinSpec.from_dict(s) for s in d["specs"]]
        pred = BinSpec.from_dict(d["prediction"]) if d.get("prediction") else None
        all_specs = [*specs, *([pred] if pred else [])]
        key_dtypes: dict[str, str] = {}
        tables: dict[tuple[str, ...], pl.DataFrame] = {}
        for item in d["counts"]:
            keys, t = _table_from_json(item, all_specs, key_dtypes)
            tables[keys] = t
        if () not in tables:
            raise ValueError("no count table without keys")
        task = _task_from_dict(d["task"]) if d.get("task") else None
        perf: dict[tuple[str, ...], pl.DataFrame] = {}
        for item in d.get("performance", []):
            keys, t = _perf_from_json(item, key_dtypes)
            perf[keys] = t
        roles = Roles.from_dict(dict(d["roles"]))
        stored = dict(d["roles"]).get("assignment")
        if isinstance(stored, dict):
            roles = replace(roles, assignment=RoleAssignment.from_dict(stored))
        return cls(
            specs=specs,
            prediction_spec=pred,
            rows=int(d["rows"]),
            schema={str(k): str(v) for k, v in dict(d["schema"]).items()},
            roles=roles,
            segments=[str(s) for s in d.get("segments", [])],
            key_dtypes=key_dtypes,
            bin_settings=dict(d.get("bin_settings", {})),
            stats={s["feature"]: FeatureStats.from_dict(s) for s in d["stats"]},
            tables=tables,
            task=task,
            perf=perf,
            sources=list(d.get("sources", [])),
            content_hash=str(d.get("content_hash", "")),
            created_at=str(d.get("created_at", "")),
            mlfail_version=str(d.get("mlfail_version", "")),
            approximate=[str(a) for a in d.get("approximate", [])],
            skipped=[str(s) for s in d.get("skipped", [])],
            schema_version=int(d["schema_version"]),
            path=path,
        )

    def save(self, path: str | Path, *, force: bool = False, flag: str = "--out") -> Path:
        """Write atomically; an existing file is kept unless ``force``."""
        return write_atomic(path, self.to_json(), force=force, flag=flag)


# ---- JSON helpers ------------------------------------------------------------------------


def _json_scalar(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, np.generic):
        return _json_scalar(v.item())
    return v


def pretty_json(obj: Any) -> str:
    """Indented JSON with lists of scalars (and lists of such lists' items) kept on one line,
    so count tables stay compact and diffs stay readable."""

    def scalar_list(x: Any) -> bool:
        return isinstance(x, list) and all(not isinstance(v, dict | list) for v in x)

    def dump(x: Any, depth: int) -> str:
        pad = "  " * depth
        if isinstance(x, dict):
            if not x:
                return "{}"
            items = [f"{pad}  {json.dumps(str(k))}: {dump(v, depth + 1)}" for k, v in x.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(x, list | tuple):
            x = list(x)
            if scalar_list(x):
                return json.dumps([_json_scalar(v) for v in x], allow_nan=False)
            items = [f"{pad}  {dump(v, depth + 1)}" for v in x]
            return "[\n" + ",\n".join(items) + f"\n{pad}]"
        return json.dumps(_json_scalar(x), allow_nan=False)

    return dump(obj, 0) + "\n"


_SIMPLE_DTYPES: dict[str, pl.DataType] = {
    str(t): t
    for t in (
        pl.Int8(),
        pl.Int16(),
        pl.Int32(),
        pl.Int64(),
        pl.UInt8(),
        pl.UInt16(),
        pl.UInt32(),
        pl.UInt64(),
        pl.Float32(),
        pl.Float64(),
        pl.Boolean(),
        pl.String(),
        pl.Date(),
    )
}


def segment_dtype_ok(dtype: pl.DataType) -> bool:
    return str(dtype) in _SIMPLE_DTYPES or is_string_dtype(dtype)


def _key_series(name: str, values: list[Any], dtype: str) -> pl.Series:
    if dtype == "Date":
        return pl.Series(name, values, dtype=pl.String).str.to_date()
    return pl.Series(name, values, dtype=_SIMPLE_DTYPES.get(dtype, pl.String()))


def _groups(t: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    if not keys:
        return pl.DataFrame({"__g": [0]}, schema={"__g": pl.UInt32})
    g = t.select(keys).unique().sort(keys, nulls_last=True)
    return g.with_row_index("__g")


def _table_to_json(
    t: pl.DataFrame, keys: list[str], key_dtypes: Mapping[str, str], specs: Sequence[BinSpec]
) -> dict[str, Any]:
    groups = _groups(t, keys)
    if keys:
        t = t.join(groups, on=keys, how="left", nulls_equal=True)
    else:
        t = t.with_columns(pl.lit(0, dtype=pl.UInt32).alias("__g"))
    out: dict[str, list[list[int]]] = {}
    for spec in specs:
        sub = t.filter(pl.col("feature") == spec.feature)
        mat = np.zeros((groups.height, spec.n_bins), dtype=np.int64)
        np.add.at(
            mat,
            (sub["__g"].to_numpy().astype(np.int64), sub["bin"].to_numpy().astype(np.int64)),
            sub["n"].to_numpy().astype(np.int64),
        )
        out[spec.feature] = mat.tolist()
    return {
        "keys": keys,
        "key_dtypes": [key_dtypes[k] for k in keys],
        "groups": [[_json_scalar(v) for v in row] for row in groups.select(keys).rows()]
        if keys
        else [[]],
        "bins": out,
    }


def _table_from_json(
    item: Mapping[str, Any], specs: Sequence[BinSpec], key_dtypes: dict[str, str]
) -> tuple[tuple[str, ...], pl.DataFrame]:
    keys = [str(k) for k in item["keys"]]
    dtypes = [str(x) for x in item.get("key_dtypes", ["String"] * len(keys))]
    if len(dtypes) != len(keys):
        raise ValueError("key_dtypes do not match keys")
    key_dtypes.update(zip(keys, dtypes, strict=True))
    groups = [list(g) for g in item["groups"]]
    if any(len(g) != len(keys) for g in groups):
        raise ValueError(f"a group of the count table by {keys} has the wrong number of values")
    bins = dict(item["bins"])
    parts: list[pl.DataFrame] = []
    for spec in specs:
        if spec.feature not in bins:
            raise ValueError(f"count table by {keys} lacks feature {spec.feature!r}")
        mat = np.asarray(bins[spec.feature], dtype=np.int64)
        if mat.shape != (len(groups), spec.n_bins) or (mat < 0).any():
            raise ValueError(
                f"count table by {keys}: feature {spec.feature!r} needs {len(groups)} lists of "
                f"{spec.n_bins} non-negative counts"
            )
        gi, bi = np.nonzero(mat)
        cols: dict[str, pl.Series] = {}
        for j, k in enumerate(keys):
            cols[k] = _key_series(k, [groups[g][j] for g in gi.tolist()], dtypes[j])
        cols["feature"] = pl.Series("feature", [spec.feature] * len(gi), dtype=pl.String)
        cols["bin"] = pl.Series("bin", bi.astype(np.uint32), dtype=pl.UInt32)
        cols["n"] = pl.Series("n", mat[gi, bi].astype(np.uint64), dtype=pl.UInt64)
        parts.append(pl.DataFrame(cols))
    return tuple(keys), pl.concat(parts, how="vertical")


def _task_to_dict(t: TaskSpec) -> dict[str, Any]:
    return {
        "task": t.task,
        "label": t.label,
        "prediction": t.prediction,
        "threshold": t.threshold,
        "is_score": t.is_score,
    }


def _task_from_dict(d: Mapping[str, Any]) -> TaskSpec:
    task = str(d["task"])
    if task not in ("classification", "regression"):
        raise ValueError(f"unknown task {task!r}")
    return TaskSpec(
        task="classification" if task == "classification" else "regression",
        label=str(d["label"]),
        prediction=str(d["prediction"]),
        threshold=float(d.get("threshold", 0.5)),
        is_score=bool(d.get("is_score", True)),
    )


def _perf_to_json(t: pl.DataFrame, keys: list[str], key_dtypes: Mapping[str, str]) -> dict:
    if keys:
        t = t.sort(keys, nulls_last=True)
    return {
        "keys": keys,
        "key_dtypes": [key_dtypes[k] for k in keys],
        "columns": {c: [_json_scalar(v) for v in t[c].to_list()] for c in t.columns},
    }


def _perf_from_json(
    item: Mapping[str, Any], key_dtypes: dict[str, str]
) -> tuple[tuple[str, ...], pl.DataFrame]:
    keys = [str(k) for k in item["keys"]]
    dtypes = [str(x) for x in item.get("key_dtypes", ["String"] * len(keys))]
    key_dtypes.update(zip(keys, dtypes, strict=True))
    cols: dict[str, pl.Series] = {}
    for c, values in dict(item["columns"]).items():
        if c in keys:
            cols[c] = _key_series(c, list(values), dtypes[keys.index(c)])
        elif c in ("rows", "labelled", "errors", "positives", "scored"):
            cols[c] = pl.Series(c, list(values), dtype=pl.Int64)
        else:
            cols[c] = pl.Series(c, list(values), dtype=pl.Float64)
    return tuple(keys), pl.DataFrame(cols)


# ---- loading -----------------------------------------------------------------------------


def load_baseline(path: str | Path, *, flag: str = "--baseline") -> Baseline:
    """Read a baseline; anything wrong with the file is one :class:`InputError` line."""
    where = f"{flag} {path}" if flag else str(path)
    p = Path(path)
    try:
        if is_url(str(path)):  # s3://bucket/baseline.json: fetched with the storage options
            text = read_url_bytes(str(path), flag=flag or "baseline").decode("utf-8")
        else:
            text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{where}: is a directory; give the baseline JSON file") from None
    except UnicodeDecodeError:
        raise InputError(
            f"{where}: not a baseline (not UTF-8 JSON); create one with `mlfail baseline create`"
        ) from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where}: not a baseline (invalid JSON at line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); create one with `mlfail baseline create`"
        ) from None
    if not isinstance(data, dict) or data.get("kind") != BASELINE_KIND:
        raise InputError(
            f'{where}: not an mlfail baseline (no "kind": "{BASELINE_KIND}"); '
            "create one with `mlfail baseline create`"
        )
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise InputError(f"{where}: malformed baseline (schema_version is not an integer)")
    if version > BASELINE_SCHEMA_VERSION:
        raise InputError(
            f"{where}: baseline schema_version {version} is newer than this mlfail "
            f"({__version__}) reads ({BASELINE_SCHEMA_VERSION}); upgrade mlfail"
        )
    try:
        return Baseline.from_dict(data, path=str(path))
    except InputError as exc:
        raise InputError(f"{where}: malformed baseline ({exc})") from None
    except KeyError as exc:
        raise InputError(f"{where}: malformed baseline (missing field {exc})") from None
    except (TypeError, ValueError, AttributeError, IndexError, pl.exceptions.PolarsError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{where}: malformed baseline ({first})") from None


# ---- provenance --------------------------------------------------------------------------


def content_hash(files: Sequence[tuple[str, int]]) -> str:
    """Order-independent hash of (path, size) pairs: the sum of their SHA-256 mod 2²⁵⁶, so
    the hash of merged baselines over disjoint files is the hash of all the files together."""
    total = 0
    for path, size in files:
        h = hashlib.sha256(f"{path}\0{size}".encode()).digest()
        total = (total + int.from_bytes(h, "big")) % (1 << 256)
    return f"{total:064x}"


def combine_hashes(hashes: Sequence[str]) -> str:
    total = sum(int(h, 16) for h in hashes if h) % (1 << 256)
    return f"{total:064x}"


def now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
        if epoch and epoch.isdigit()
        else dt.datetime.now(tz=dt.UTC)
    )
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
