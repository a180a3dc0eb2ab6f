"""Baselines: a small, mergeable profile of the reference, saved before launch.

``mlfail baseline create`` writes one JSON document (``kind: "mlfail-baseline"``) holding

* the frozen bin specs (design §2) of every feature and of the prediction column;
* the reference count tables (design §1) with no keys and by each ``--segment`` column, stored
  densely per feature (one list of bin counts per key value — never one object per row);
* per-feature statistics: rows, nulls (null or NaN: the missing bin), for numeric columns the
  finite count, ±inf counts, min/max, mean/std and the linear quantiles 0.01…0.99, for
  categorical features the category frequencies, and the counts of the usual default-fill values
  (0, −1, −999, "", "unknown", …, the training mean) used by ``mlfail check quality``;
* reference performance (``mlfail.performance.performance_table``) globally and per segment
  value, when ``--label`` and ``--prediction`` are given;
* the schema (column → dtype), roles, bin settings, segments, the sources' paths and sizes
  folded into a content hash, ``schema_version``, the mlfail version and the creation time.

Its size depends on the number of features, bins and segment values, never on the row count.

Merging (``merge_baselines``) requires identical bin specs, roles, segments and settings; counts,
row/null counts, frequencies and additive performance columns sum exactly; min/max, mean and
std merge exactly (Chan's parallel formula, to floating-point rounding). Quantiles cannot be
recomputed without the data: after a merge they are estimated from the merged counts and marked
``quantiles_exact: false`` with ``quantile_bounds`` — for each level an interval that is
guaranteed to contain the exact quantile (the bins holding the two order statistics it
interpolates, clamped to [min, max]). Integer features binned as categories keep exact
quantiles (their frequencies are exact). AUC is not additive and is null after a merge; the
count of values equal to the training mean (default-fill detection) is summed over the parts'
own means.
"""

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
from mlfail.binning import BinSettings, BinSpec
from mlfail.config import Roles, check_role_conflicts
from mlfail.counts import dense
from mlfail.counts import merge as merge_counts
from mlfail.engines import Engine, get_engine
from mlfail.engines.polars import PolarsEngine
from mlfail.errors import InputError, UsageError
from mlfail.io import Source, is_url, read_url_bytes
from mlfail.outputs import write_atomic
from mlfail.performance import Task, TaskSpec, finish, infer_task, performance_table
from mlfail.reference import SourceReference, coarsen
from mlfail.timekeys import normalize_timestamp

BASELINE_KIND = "mlfail-baseline"
BASELINE_SCHEMA_VERSION = 1
QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
NUMERIC_DEFAULTS: dict[str, float] = {"0": 0.0, "-1": -1.0, "-999": -999.0}
STRING_DEFAULTS = ("", "unknown", "none", "null", "n/a")
MEAN_DEFAULT = "mean"
MAX_FREQUENCIES = 1000
MAX_SEGMENT_VALUES = 1000
MAX_JOINT_GROUPS = 5000  # count all segments in one pass when their combinations are few
ADDITIVE_PERF = ("rows", "labelled", "errors", "positives", "abs_error_sum", "scored")


def level_key(level: float) -> str:
    return f"{level:g}"


def mean_tolerance(mean: float) -> float:
    """Values within this distance of the training mean count as "equal to the mean"."""
    return 1e-9 * max(1.0, abs(mean))


def is_numeric_dtype(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and dtype != pl.Boolean


def is_string_dtype(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


@dataclass
class FeatureStats:
    """Per-feature reference statistics. Field names are the JSON contract (docs/baseline.md)."""

    feature: str
    kind: str
    dtype: str
    rows: int
    nulls: int  # null or NaN: the missing bin
    numeric: bool = False  # numeric dtype (booleans are not)
    count: int = 0  # finite values (numeric)
    neg_inf: int = 0
    pos_inf: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float | None] = field(default_factory=dict)
    quantiles_exact: bool = True
    quantile_bounds: dict[str, list[float]] = field(default_factory=dict)
    defaults: dict[str, int] = field(default_factory=dict)
    frequencies: dict[str, int] = field(default_factory=dict)
    frequencies_rest: int = 0  # non-null rows whose value is beyond the MAX_FREQUENCIES cap

    @property
    def null_rate(self) -> float | None:
        return self.nulls / self.rows if self.rows else None

    @property
    def distinct(self) -> int | None:
        """Distinct non-null values, when known exactly (categorical features)."""
        if self.kind != "categorical" or self.frequencies_rest:
            return None
        return len(self.frequencies)

    def has_variance(self) -> bool:
        """More than one distinct non-null value in the reference."""
        if self.numeric and self.min is not None and self.max is not None:
            return self.max > self.min
        return len(self.frequencies) + (1 if self.frequencies_rest else 0) >= 2

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "feature": self.feature,
            "kind": self.kind,
            "dtype": self.dtype,
            "rows": self.rows,
            "nulls": self.nulls,
            "numeric": self.numeric,
        }
        if self.numeric:
            d.update(
                count=self.count,
                neg_inf=self.neg_inf,
                pos_inf=self.pos_inf,
                min=self.min,
                max=self.max,
                mean=self.mean,
                std=self.std,
                quantiles=self.quantiles,
                quantiles_exact=self.quantiles_exact,
            )
            if self.quantile_bounds:
                d["quantile_bounds"] = self.quantile_bounds
        if self.defaults:
            d["defaults"] = self.defaults
        if self.kind == "categorical":
            d["frequencies"] = self.frequencies
            d["frequencies_rest"] = self.frequencies_rest
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureStats:
        def opt_float(v: Any) -> float | None:
            return None if v is None else float(v)

        return cls(
            feature=str(d["feature"]),
            kind=str(d["kind"]),
            dtype=str(d["dtype"]),
            rows=int(d["rows"]),
            nulls=int(d["nulls"]),
            numeric=bool(d.get("numeric", False)),
            count=int(d.get("count", 0)),
            neg_inf=int(d.get("neg_inf", 0)),
            pos_inf=int(d.get("pos_inf", 0)),
            min=opt_float(d.get("min")),
            max=opt_float(d.get("max")),
            mean=opt_float(d.get("mean")),
            std=opt_float(d.get("std")),
            quantiles={str(k): opt_float(v) for k, v in dict(d.get("quantiles", {})).items()},
            quantiles_exact=bool(d.get("quantiles_exact", True)),
            quantile_bounds={
                str(k): [float(v[0]), float(v[1])]
                for k, v in dict(d.get("quantile_bounds", {})).items()
            },
            defaults={str(k): int(v) for k, v in dict(d.get("defaults", {})).items()},
            frequencies={str(k): int(v) for k, v in dict(d.get("frequencies", {})).items()},
            frequencies_rest=int(d.get("frequencies_rest", 0)),
        )


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
            "roles": self.roles.to_dict(),
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


# ---- the Reference view ------------------------------------------------------------------


class BaselineReference:
    """A saved baseline seen as the reference side of a comparison (``Reference`` protocol).

    ``roles`` from the command line narrow the features (``--features``; a column given a role
    is not a feature) and fill in the baseline's stored roles where not given.
    """

    def __init__(self, baseline: Baseline, roles: Roles | None = None, *, name: str | None = None):
        roles = roles or Roles()
        self.baseline = baseline
        self.name = name or baseline.path or "baseline"
        stored = {s.feature: s for s in baseline.specs}
        if roles.features is not None:
            missing = [f for f in roles.features if f not in stored]
            if missing:
                raise UsageError(
                    f"--features {missing[0]}: not a feature of the baseline {self.name}; "
                    f"its features: {', '.join(stored)}"
                )
        for flag, cols, kind in (
            ("--categorical", roles.categorical, "categorical"),
            ("--numeric", roles.numeric, "numeric"),
        ):
            for c in cols:
                if c in stored and stored[c].kind != kind:
                    raise UsageError(
                        f"{flag} {c}: the baseline {self.name} froze {c!r} as "
                        f"{stored[c].kind}; rebuild the baseline with {flag} {c}"
                    )
        role_cols = set(roles.role_columns())
        wanted = set(roles.features) if roles.features is not None else None
        self.specs: list[BinSpec] = [
            s
            for s in baseline.specs
            if s.feature not in role_cols and (wanted is None or s.feature in wanted)
        ]
        self.skipped = list(baseline.skipped)
        b = baseline.roles
        self.roles = Roles(
            timestamp=roles.timestamp or b.timestamp,
            label=roles.label or b.label,
            prediction=roles.prediction or b.prediction,
            meta=roles.meta or b.meta,
            features=tuple(s.feature for s in self.specs),
            categorical=roles.categorical,
            numeric=roles.numeric,
        )

    @property
    def columns(self) -> list[str]:
        return list(self.baseline.schema)

    @property
    def lazy(self) -> pl.LazyFrame | None:
        return None

    @property
    def schema(self) -> dict[str, str]:
        """Reference column → dtype (as ``str(polars dtype)``)."""
        return self.baseline.schema

    @property
    def stats(self) -> dict[str, FeatureStats]:
        return {s.feature: self.baseline.stats[s.feature] for s in self.specs}

    @property
    def rows(self) -> int:
        return self.baseline.rows

    @property
    def segments(self) -> list[str]:
        return self.baseline.segments

    @property
    def task(self) -> TaskSpec | None:
        return self.baseline.task

    @property
    def prediction_spec(self) -> BinSpec | None:
        return self.baseline.prediction_spec

    def table(self, keys: Sequence[str] = ()) -> pl.DataFrame | None:
        keys = tuple(keys)
        if any(k not in self.columns for k in keys):
            return None
        t = self.baseline.count_table(keys)
        if t is None:
            return None
        return t.filter(pl.col("feature").is_in([s.feature for s in self.specs]))

    def prediction_table(self, keys: Sequence[str] = ()) -> pl.DataFrame | None:
        """Counts of the prediction column over its bin spec, by ``keys``."""
        spec = self.baseline.prediction_spec
        t = self.baseline.count_table(keys)
        if spec is None or t is None:
            return None
        return t.filter(pl.col("feature") == spec.feature)

    def performance(self, keys: Sequence[str] = ()) -> pl.DataFrame | None:
        """Reference performance by ``keys`` (``()`` or one segment column); None if absent."""
        return self.baseline.performance(keys)


def load_baseline_reference(path: str, roles: Roles) -> BaselineReference:
    """``--baseline PATH`` as the reference side (used by ``mlfail.audit.load_reference``)."""
    return BaselineReference(load_baseline(path), roles)


# ---- building ----------------------------------------------------------------------------


def content_hash(files: Sequence[tuple[str, int]]) -> str:
    """Order-independent hash of (path, size) pairs: the sum of their SHA-256 mod 2²⁵⁶, so
    the hash of merged baselines over disjoint files is the hash of all the files together."""
    total = 0
    for path, size in files:
        h = hashlib.sha256(f"{path}\0{size}".encode()).digest()
        total = (total + int.from_bytes(h, "big")) % (1 << 256)
    return f"{total:064x}"


def _combine_hashes(hashes: Sequence[str]) -> str:
    total = sum(int(h, 16) for h in hashes if h) % (1 << 256)
    return f"{total:064x}"


def _now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
        if epoch and epoch.isdigit()
        else dt.datetime.now(tz=dt.UTC)
    )
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _file_sizes(source: Source) -> list[tuple[str, int]]:
    out = []
    for f in source.files:  # a Spark source lists the files its DataFrame reads
        try:
            out.append((f, os.path.getsize(f)))
        except OSError:
            out.append((f, -1))
    return out


def _scalar_stats(
    lf: pl.LazyFrame, specs: Sequence[BinSpec], schema: pl.Schema
) -> dict[str, dict[str, Any]]:
    """Null counts, ±inf counts, min/max/mean/std and default-value counts of every feature in
    one streaming select."""
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    for i, spec in enumerate(specs):
        dtype = schema[spec.feature]
        if is_numeric_dtype(dtype):
            x = pl.col(spec.feature).cast(pl.Float64)
            fin = x.filter(x.is_finite())
            exprs += [
                (x.is_null() | x.is_nan()).sum().alias(f"{i}|nulls"),
                (x == -math.inf).sum().alias(f"{i}|neg_inf"),
                (x == math.inf).sum().alias(f"{i}|pos_inf"),
                fin.count().alias(f"{i}|count"),
                fin.min().alias(f"{i}|min"),
                fin.max().alias(f"{i}|max"),
                fin.mean().alias(f"{i}|mean"),
                fin.std().alias(f"{i}|std"),
            ]
            exprs += [(x == v).sum().alias(f"{i}|d|{k}") for k, v in NUMERIC_DEFAULTS.items()]
        else:
            s = pl.col(spec.feature).cast(pl.String)
            exprs.append(s.is_null().sum().alias(f"{i}|nulls"))
    row = lf.select(exprs).collect(engine="streaming").row(0, named=True)
    out: dict[str, dict[str, Any]] = {"__rows": {"rows": int(row["__rows"])}}
    for i, spec in enumerate(specs):
        d: dict[str, Any] = {"defaults": {}}
        for k, v in row.items():
            if not k.startswith(f"{i}|"):
                continue
            name = k.split("|", 1)[1]
            if name.startswith("d|"):
                d["defaults"][name[2:]] = int(v)
            else:
                d[name] = v
        out[spec.feature] = d
    return out


def _profile_features(
    lf: pl.LazyFrame, specs: Sequence[BinSpec], schema: pl.Schema
) -> tuple[int, dict[str, FeatureStats]]:
    scal = _scalar_stats(lf, specs, schema)
    rows = int(scal["__rows"]["rows"])
    levels = list(QUANTILE_LEVELS)
    stats: dict[str, FeatureStats] = {}
    for spec in specs:
        d = scal[spec.feature]
        dtype = schema[spec.feature]
        st = FeatureStats(
            feature=spec.feature,
            kind=spec.kind,
            dtype=str(dtype),
            rows=rows,
            nulls=int(d["nulls"]),
            numeric=is_numeric_dtype(dtype),
            defaults=dict(d["defaults"]),
        )
        if st.numeric:
            st.count = int(d["count"])
            st.neg_inf, st.pos_inf = int(d["neg_inf"]), int(d["pos_inf"])
            st.min, st.max = _opt(d["min"]), _opt(d["max"])
            st.mean, st.std = _opt(d["mean"]), _opt(d["std"])
            # One column at a time: memory stays at one column, never the whole frame.
            x = pl.col(spec.feature).cast(pl.Float64)
            fin = x.filter(x.is_finite())
            sel = [fin.quantile(levels, interpolation="linear").alias("q")]
            if st.mean is not None:
                tol = mean_tolerance(st.mean)
                sel.append(((x - st.mean).abs() <= tol).sum().alias("m"))
            row = lf.select(sel).collect(engine="streaming").row(0, named=True)
            qs = list(row["q"]) if row["q"] is not None else [None] * len(levels)
            st.quantiles = {level_key(lv): _opt(q) for lv, q in zip(levels, qs, strict=True)}
            if st.mean is not None and not _is_default_value(st.mean):
                st.defaults[MEAN_DEFAULT] = int(row["m"])
        if spec.kind == "categorical":
            vc = (
                lf.select(pl.col(spec.feature).cast(pl.String).alias("v"))
                .drop_nulls()
                .group_by("v")
                .len()
                .collect(engine="streaming")
                .sort(["len", "v"], descending=[True, False])
            )
            st.frequencies = dict(
                zip(
                    vc["v"].head(MAX_FREQUENCIES).to_list(),
                    [int(n) for n in vc["len"].head(MAX_FREQUENCIES).to_list()],
                    strict=True,
                )
            )
            st.frequencies_rest = int(vc["len"].slice(MAX_FREQUENCIES).sum())
            if is_string_dtype(dtype):  # default-fill values, from the distinct values only
                norm = vc.select(
                    pl.col("v").str.strip_chars().str.to_lowercase().alias("n"), pl.col("len")
                )
                for c in STRING_DEFAULTS:
                    st.defaults[c] = int(norm.filter(pl.col("n") == c)["len"].sum())
        stats[spec.feature] = st
    return rows, stats


def _is_default_value(mean: float) -> bool:
    return any(abs(mean - v) <= mean_tolerance(mean) for v in NUMERIC_DEFAULTS.values())


def _opt(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _add_scored(
    perf: pl.DataFrame, counts: pl.DataFrame, keys: list[str], pred: BinSpec
) -> pl.DataFrame:
    """Rows with a prediction per key group (from the prediction counts), so that mean_score
    can be merged exactly."""
    sc = (
        counts.filter((pl.col("feature") == pred.feature) & (pl.col("bin") != pred.missing_index))
        .group_by(keys or [pl.lit(0).alias("__k")])
        .agg(pl.col("n").sum().cast(pl.Int64).alias("scored"))
    )
    if not keys:
        value = int(sc["scored"].sum()) if sc.height else 0
        return perf.with_columns(pl.lit(value, dtype=pl.Int64).alias("scored"))
    out = perf.join(sc, on=keys, how="left", nulls_equal=True)
    return out.with_columns(pl.col("scored").fill_null(0))


def build_baseline(
    reference: str | Source | Any,
    roles: Roles | None = None,
    *,
    segments: Sequence[str] = (),
    bin_settings: BinSettings | None = None,
    task: Task | None = None,
    specs_from: Baseline | None = None,
    with_performance: bool = True,
    progress: bool | None = None,
    engine: Engine | str | None = None,
) -> Baseline:
    """Profile a reference source into a :class:`Baseline` (see the module docstring).

    ``specs_from`` reuses another baseline's bin specs (features, edges, categories and the
    prediction spec) so that baselines of partitions can be merged.

    ``engine="spark"`` reads and counts on Spark (:mod:`mlfail.engines.spark`): the specs,
    count tables and feature statistics are computed there (quantiles within Spark's stated
    rank error); reference performance (``--label`` with ``--prediction``) is Polars-only.
    """
    roles = roles or Roles()
    bin_settings = bin_settings or BinSettings()
    eng = get_engine(engine) if engine is not None else PolarsEngine(progress=progress)
    on_polars = eng.name == "polars"
    if not on_polars and with_performance and roles.label and roles.prediction:
        raise UsageError(
            f"--engine {eng.name}: reference performance (--label with --prediction) is "
            "computed on the Polars engine only for now; drop --label to build the counts, "
            "statistics and prediction distribution on Spark, or use --engine polars"
        )
    # a Polars Source or, with --engine spark, a SparkSource (mlfail.engines.spark)
    source: Any = (
        eng.open(reference, role="--reference") if isinstance(reference, str) else reference
    )
    check_role_conflicts(roles)
    source = normalize_timestamp(source, roles.timestamp)
    for flag, col in (
        ("--timestamp", roles.timestamp),
        ("--label", roles.label),
        ("--prediction", roles.prediction),
        *(("--meta", m) for m in roles.meta),
    ):
        if col:
            source.require([col], flag)
    segments = list(dict.fromkeys(segments))
    source.require(segments, "--segment")
    for seg in segments:
        if seg in (roles.prediction, roles.label, roles.timestamp):
            raise UsageError(
                f"--segment {seg}: a model output, label or timestamp is not a segment"
            )
        if not segment_dtype_ok(source.schema[seg]):
            raise UsageError(
                f"--segment {seg}: column has type {source.schema[seg]}; a segment must be a "
                "low-cardinality string, integer, boolean or date column"
            )
    n_values: dict[str, int] = {}
    if segments:
        if on_polars:
            nu = (
                source.lf.select([pl.col(s).n_unique().alias(s) for s in segments])
                .collect(engine="streaming")
                .row(0, named=True)
            )
        else:
            nu = source.n_unique(segments)
        for s in segments:
            n_values[s] = int(nu[s])
            if nu[s] > MAX_SEGMENT_VALUES:
                raise UsageError(
                    f"--segment {s}: {nu[s]} distinct values in {source.spec}; a segment column "
                    f"must have at most {MAX_SEGMENT_VALUES}"
                )

    skipped: list[str] = []
    if specs_from is not None:
        if roles.features is not None or roles.categorical or roles.numeric:
            raise UsageError(
                "--specs-from fixes the features and their bins; drop --features, "
                "--categorical and --numeric"
            )
        specs = list(specs_from.specs)
        source.require([s.feature for s in specs], "--specs-from")
        pred_spec = specs_from.prediction_spec
        if pred_spec is not None and roles.prediction != pred_spec.feature:
            raise UsageError(
                f"--specs-from {specs_from.path}: it bins the prediction column "
                f"{pred_spec.feature!r}; pass --prediction {pred_spec.feature}"
            )
        if pred_spec is None and roles.prediction:
            raise UsageError(
                f"--specs-from {specs_from.path}: it has no prediction column; "
                f"drop --prediction {roles.prediction} or rebuild it with the same flag"
            )
        settings_dict = dict(specs_from.bin_settings)
        skipped = list(specs_from.skipped)
    else:
        from mlfail.audit import reference_from_source

        ref, skipped = reference_from_source(
            source, roles, bin_settings=bin_settings, progress=progress, engine=eng
        )
        specs = ref.specs
        pred_spec = None
        if roles.prediction:
            pred_spec = eng.build_specs(
                source,
                [roles.prediction],
                settings=bin_settings,
                explicit=True,
            )[0]
        settings_dict = {
            "bins": bin_settings.bins,
            "fold_below": bin_settings.fold_below,
            "max_categories": bin_settings.max_categories,
            "max_int_categories": bin_settings.max_int_categories,
        }
        if not on_polars:  # how the edges were made, with their rank-error bound
            settings_dict.update(eng.describe())
    counter = SourceReference(
        source, [*specs, *([pred_spec] if pred_spec else [])], progress=progress, engine=eng
    )
    tables: dict[tuple[str, ...], pl.DataFrame] = {}
    if len(segments) > 1 and math.prod(n_values.values()) <= MAX_JOINT_GROUPS:
        # one pass by every segment together; each single segment and () are sums of it
        counter.prefetch(segments)
    for seg in segments:
        t = counter.table((seg,))
        assert t is not None
        tables[(seg,)] = t
    t0 = counter.table(())
    assert t0 is not None
    tables = {(): t0, **tables}

    if on_polars:
        rows, stats = _profile_features(source.lf, specs, source.schema)
    else:
        from mlfail.engines.spark import SparkEngine, profile

        assert isinstance(eng, SparkEngine)
        rows, stats = profile(eng, source, specs)
    task_spec: TaskSpec | None = None
    perf: dict[tuple[str, ...], pl.DataFrame] = {}
    if with_performance and roles.label and roles.prediction and pred_spec is not None:
        task_spec = infer_task(
            source.schema,
            roles.label,
            roles.prediction,
            task=task,
            data=source.lf,
            origin=f"--reference {source.spec}",
        )
        for keys in [[], *([s] for s in segments)]:
            p = performance_table(source.lf, task_spec, keys)
            p = p.with_columns(
                pl.col(c).cast(pl.Int64) for c in ADDITIVE_PERF[:4] if c in p.columns
            )
            perf[tuple(keys)] = _add_scored(p, tables[tuple(keys)], keys, pred_spec)
    elif task is not None:
        raise UsageError("--task needs --label and --prediction")

    files = _file_sizes(source)
    return Baseline(
        specs=list(specs),
        prediction_spec=pred_spec,
        rows=rows,
        schema={k: str(v) for k, v in source.schema.items()},
        roles=roles,
        segments=segments,
        key_dtypes={s: _key_dtype_name(source.schema[s]) for s in segments},
        bin_settings=settings_dict,
        stats=stats,
        tables=tables,
        task=task_spec,
        perf=perf,
        sources=[
            {
                "spec": source.spec,
                "files": len(files),
                "bytes": sum(max(s, 0) for _, s in files),
                **({"where": w} if (w := getattr(source, "where", None)) else {}),
            }
        ],
        content_hash=content_hash(files),
        created_at=_now(),
        skipped=skipped,
    )


def _key_dtype_name(dtype: pl.DataType) -> str:
    return "String" if is_string_dtype(dtype) else str(dtype)


def profile_reference(
    reference: str | Source | None,
    baseline: str | None,
    roles: Roles,
    *,
    bin_settings: BinSettings | None = None,
    progress: bool | None = None,
) -> BaselineReference:
    """The reference side as a profile: a saved baseline, or one built in memory from data
    (no segments, no performance) — what ``mlfail check quality`` compares against."""
    if reference is not None and baseline is not None:
        raise UsageError("give either --reference or --baseline, not both")
    if baseline is not None:
        return load_baseline_reference(baseline, roles)
    if reference is None:
        raise UsageError(
            "--reference or --baseline is required: the training snapshot to compare against"
        )
    b = build_baseline(
        reference,
        roles,
        bin_settings=bin_settings,
        with_performance=False,
        progress=progress,
    )
    src_name = reference.spec if isinstance(reference, Source) else str(reference)
    return BaselineReference(b, roles, name=src_name)


# ---- merging -----------------------------------------------------------------------------


def _same(a: Baseline, b: Baseline, what: str, va: Any, vb: Any) -> None:
    if va != vb:
        raise UsageError(
            f"cannot merge {a.path or 'baseline'} and {b.path or 'baseline'}: different {what}; "
            "build every part with the same flags and --specs-from the first part"
        )


def _check_mergeable(a: Baseline, b: Baseline) -> None:
    fa = {s.feature: s for s in a.specs}
    fb = {s.feature: s for s in b.specs}
    _same(a, b, "features", list(fa), list(fb))
    for name, sa in fa.items():
        if sa != fb[name]:
            raise UsageError(
                f"cannot merge {a.path or 'baseline'} and {b.path or 'baseline'}: the bin specs "
                f"of {name!r} differ (edges or categories); build the second with "
                f"`mlfail baseline create --specs-from {a.path or 'FIRST.json'}`"
            )
    _same(a, b, "prediction bin spec", a.prediction_spec, b.prediction_spec)
    _same(a, b, "roles", a.roles, b.roles)
    _same(a, b, "segments", a.segments, b.segments)
    _same(a, b, "bin settings", a.bin_settings, b.bin_settings)
    _same(a, b, "task", a.task, b.task)
    for col in set(a.schema) & set(b.schema):
        if a.schema[col] != b.schema[col]:
            raise UsageError(
                f"cannot merge {a.path or 'baseline'} and {b.path or 'baseline'}: column {col!r} "
                f"is {a.schema[col]} in one and {b.schema[col]} in the other"
            )


def _merge_moments(
    na: int, ma: float | None, sa: float | None, nb: int, mb: float | None, sb: float | None
) -> tuple[float | None, float | None]:
    """Mean and sample std of the union (Chan et al.'s pairwise update)."""
    if nb == 0 or mb is None:
        return ma, sa
    if na == 0 or ma is None:
        return mb, sb
    n = na + nb
    delta = mb - ma
    mean = ma + delta * nb / n
    m2 = (sa or 0.0) ** 2 * (na - 1) + (sb or 0.0) ** 2 * (nb - 1) + delta**2 * na * nb / n
    std = math.sqrt(m2 / (n - 1)) if n > 1 else None
    return mean, std


def quantiles_from_values(
    values: np.ndarray, counts: np.ndarray, levels: Sequence[float]
) -> list[float | None]:
    """Linear-interpolation quantiles (numpy's default) of data given as value counts."""
    keep = counts > 0
    v, c = values[keep], counts[keep]
    if len(v) == 0:
        return [None] * len(levels)
    order = np.argsort(v)
    v, c = v[order], c[order]
    cum = np.cumsum(c)
    n = int(cum[-1])
    out: list[float | None] = []
    for p in levels:
        h = (n - 1) * p
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        x_lo = float(v[np.searchsorted(cum, lo, side="right")])
        x_hi = float(v[np.searchsorted(cum, hi, side="right")])
        out.append(x_lo + (h - lo) * (x_hi - x_lo))
    return out


def quantiles_from_bins(
    spec: BinSpec,
    counts: np.ndarray,
    *,
    neg_inf: int,
    pos_inf: int,
    vmin: float | None,
    vmax: float | None,
    levels: Sequence[float],
) -> tuple[list[float | None], list[list[float] | None]]:
    """Estimated quantiles of the finite values of a numeric feature from its bin counts.

    Returns (estimates, bounds): each bound [lo, hi] certainly contains the exact linear
    quantile, since the two order statistics it interpolates lie in known bins (clamped to the
    exact [min, max]). The estimate spreads each bin's values evenly over the bin.
    """
    c = np.asarray(counts[:-1], dtype=np.int64).copy()  # drop the missing bin
    c[0] -= neg_inf
    c[-1] -= pos_inf
    n = int(c.sum())
    if n <= 0 or vmin is None or vmax is None:
        return [None] * len(levels), [None] * len(levels)
    lows = np.clip(np.array([vmin, *spec.edges], dtype=float), vmin, vmax)
    highs = np.clip(np.array([*spec.edges, vmax], dtype=float), vmin, vmax)
    cum = np.cumsum(c)

    def locate(i: int) -> tuple[int, float]:
        j = int(np.searchsorted(cum, i, side="right"))
        before = int(cum[j - 1]) if j else 0
        frac = (i - before + 0.5) / c[j]
        return j, float(lows[j] + frac * (highs[j] - lows[j]))

    est: list[float | None] = []
    bounds: list[list[float] | None] = []
    for p in levels:
        h = (n - 1) * p
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        ja, xa = locate(lo)
        jb, xb = locate(hi)
        est.append(xa + (h - lo) * (xb - xa))
        bounds.append([float(lows[ja]), float(highs[jb])])
    return est, bounds


def _merge_stats(
    a: FeatureStats, b: FeatureStats, spec: BinSpec, merged_counts: np.ndarray
) -> tuple[FeatureStats, bool]:
    """Merge two features' stats; the bool says whether quantiles became approximate."""
    freqs = dict(a.frequencies)
    for k, v in b.frequencies.items():
        freqs[k] = freqs.get(k, 0) + v
    ordered = sorted(freqs.items(), key=lambda kv: (-kv[1], kv[0]))
    rest = a.frequencies_rest + b.frequencies_rest + sum(n for _, n in ordered[MAX_FREQUENCIES:])
    defaults = {
        k: a.defaults.get(k, 0) + b.defaults.get(k, 0) for k in {**a.defaults, **b.defaults}
    }
    out = replace(
        a,
        rows=a.rows + b.rows,
        nulls=a.nulls + b.nulls,
        defaults=defaults,
        frequencies=dict(ordered[:MAX_FREQUENCIES]),
        frequencies_rest=rest,
        quantile_bounds={},
    )
    approx = False
    if a.numeric:
        out.count = a.count + b.count
        out.neg_inf, out.pos_inf = a.neg_inf + b.neg_inf, a.pos_inf + b.pos_inf
        mins = [x for x in (a.min, b.min) if x is not None]
        maxs = [x for x in (a.max, b.max) if x is not None]
        out.min = min(mins) if mins else None
        out.max = max(maxs) if maxs else None
        out.mean, out.std = _merge_moments(a.count, a.mean, a.std, b.count, b.mean, b.std)
        levels = list(QUANTILE_LEVELS)
        if spec.kind == "categorical" and not rest:
            vals = np.array([float(k) for k in freqs], dtype=float)
            cnts = np.array(list(freqs.values()), dtype=np.int64)
            fin = np.isfinite(vals)
            qs = quantiles_from_values(vals[fin], cnts[fin], levels)
            out.quantiles = {level_key(lv): q for lv, q in zip(levels, qs, strict=True)}
            out.quantiles_exact = a.quantiles_exact and b.quantiles_exact
        elif spec.kind == "numeric":
            qs, bounds = quantiles_from_bins(
                spec,
                merged_counts,
                neg_inf=out.neg_inf,
                pos_inf=out.pos_inf,
                vmin=out.min,
                vmax=out.max,
                levels=levels,
            )
            out.quantiles = {level_key(lv): q for lv, q in zip(levels, qs, strict=True)}
            out.quantile_bounds = {
                level_key(lv): bd for lv, bd in zip(levels, bounds, strict=True) if bd is not None
            }
            out.quantiles_exact = False
            approx = True
        else:  # not reachable with the default settings; be honest rather than stale
            out.quantiles = {level_key(lv): None for lv in levels}
            out.quantiles_exact = False
            approx = True
    return out, approx


def _merge_perf(a: pl.DataFrame, b: pl.DataFrame, keys: list[str], task: TaskSpec) -> pl.DataFrame:
    cols = a.columns
    both = pl.concat([a, b], how="vertical_relaxed")
    additive = [c for c in ADDITIVE_PERF if c in cols]
    aggs = [pl.col(c).sum() for c in additive]
    if "mean_score" in cols:
        if "scored" in cols:
            w = pl.col("scored")
            num = (pl.col("mean_score") * w).sum()
            den = w.filter(pl.col("mean_score").is_not_null()).sum()
            aggs.append(pl.when(den > 0).then(num / den).alias("mean_score"))
        else:
            aggs.append(pl.col("mean_score").mean())
    if keys:
        merged = both.group_by(keys, maintain_order=True).agg(aggs).sort(keys, nulls_last=True)
    else:
        merged = both.select(aggs)
    merged = finish(merged, task)
    if "auc" in cols:  # AUC is not additive: unknown after a merge
        merged = merged.with_columns(pl.lit(None, dtype=pl.Float64).alias("auc"))
    return merged.select(cols)


def merge_baselines(parts: Sequence[Baseline]) -> Baseline:
    """Merge baselines built with the same bin specs (e.g. one per partition)."""
    if len(parts) < 2:
        raise UsageError("baseline merge needs at least two baselines")
    out = parts[0]
    for b in parts[1:]:
        out = _merge_two(out, b)
    return out


def _merge_two(a: Baseline, b: Baseline) -> Baseline:
    _check_mergeable(a, b)
    tables = {k: merge_counts([t, b.tables[k]]) for k, t in a.tables.items() if k in b.tables}
    stats: dict[str, FeatureStats] = {}
    approx = set(a.approximate) | set(b.approximate)
    for spec in a.specs:
        merged, was_approx = _merge_stats(
            a.stats[spec.feature], b.stats[spec.feature], spec, dense(tables[()], spec)
        )
        stats[spec.feature] = merged
        if was_approx:
            approx.add("quantiles")
        if MEAN_DEFAULT in merged.defaults:
            approx.add("defaults.mean")
    perf: dict[tuple[str, ...], pl.DataFrame] = {}
    if a.task is not None:
        for k, t in a.perf.items():
            if k in b.perf:
                perf[k] = _merge_perf(t, b.perf[k], list(k), a.task)
                if "auc" in t.columns:
                    approx.add("performance.auc")
    schema = {**a.schema, **{k: v for k, v in b.schema.items() if k not in a.schema}}
    return Baseline(
        specs=list(a.specs),
        prediction_spec=a.prediction_spec,
        rows=a.rows + b.rows,
        schema=schema,
        roles=a.roles,
        segments=list(a.segments),
        key_dtypes={**b.key_dtypes, **a.key_dtypes},
        bin_settings=dict(a.bin_settings),
        stats=stats,
        tables=tables,
        task=a.task,
        perf=perf,
        sources=[*a.sources, *b.sources],
        content_hash=_combine_hashes([a.content_hash, b.content_hash]),
        created_at=_now(),
        approximate=sorted(approx),
        skipped=sorted(set(a.skipped) | set(b.skipped)),
    )
