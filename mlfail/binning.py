"""Bin specs (design §2): frozen from the reference, never re-derived from live data.

* Numeric: inner edges are the reference quantiles at k/B (k = 1..B-1) with **linear**
  interpolation over the finite, non-missing values, deduplicated; the outer edges are -inf and
  +inf; bins are right-closed ``(a, b]``. NaN and null go to the missing bin; ±inf fall in the
  outer bins.
* Categorical (string, categorical, boolean, and integer columns with at most
  ``max_int_categories`` distinct reference values): one bin per reference category (compared
  as strings); categories under ``fold_below`` of the reference, and any past
  ``max_categories``, are folded into ``__other__``; live values never seen in the reference go
  to ``__unseen__``; null to the missing bin.

Bin order (and so bin index) is: numeric — the B' value bins from low to high, then missing;
categorical — the kept categories by reference frequency, ``__other__`` (when anything was
folded), ``__unseen__``, missing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from mlfail.errors import InputError, UsageError

SPEC_VERSION = 1
MISSING = "__missing__"
OTHER = "__other__"
UNSEEN = "__unseen__"

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class BinSettings:
    bins: int = 10
    fold_below: float = 0.005
    max_categories: int = 200
    max_int_categories: int = 20

    def __post_init__(self) -> None:
        if self.bins < 2:
            raise UsageError(f"--bins must be at least 2 (got {self.bins})")
        if not 0 <= self.fold_below < 1:
            raise UsageError(f"fold threshold must be in [0, 1) (got {self.fold_below})")


@dataclass(frozen=True)
class BinSpec:
    """How one feature is binned. Pure data; JSON round-trips through to_dict/from_dict."""

    feature: str
    kind: Kind
    edges: tuple[float, ...] = ()  # inner edges, strictly increasing (numeric)
    categories: tuple[str, ...] = ()  # one bin each (categorical)
    other: tuple[str, ...] = ()  # reference categories folded into __other__
    has_missing: bool = True
    dtype: str = ""
    version: int = SPEC_VERSION
    _labels: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def n_bins(self) -> int:
        return len(self.labels())

    def labels(self) -> tuple[str, ...]:
        if self._labels:
            return self._labels
        if self.kind == "numeric":
            bounds = [-math.inf, *self.edges, math.inf]
            labels = [_interval(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
        else:
            labels = list(self.categories)
            if self.other:
                labels.append(OTHER)
            labels.append(UNSEEN)
        labels.append(MISSING)
        object.__setattr__(self, "_labels", tuple(labels))
        return self._labels

    @property
    def missing_index(self) -> int:
        return self.n_bins - 1

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "feature": self.feature,
            "kind": self.kind,
            "dtype": self.dtype,
            "has_missing": self.has_missing,
            "version": self.version,
        }
        if self.kind == "numeric":
            d["edges"] = list(self.edges)
        else:
            d["categories"] = list(self.categories)
            d["other"] = list(self.other)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BinSpec:
        try:
            kind = d["kind"]
            if kind not in ("numeric", "categorical"):
                raise ValueError(f"unknown kind {kind!r}")
            version = int(d.get("version", SPEC_VERSION))
            if version > SPEC_VERSION:
                raise ValueError(f"bin spec version {version} is newer than this mlfail")
            return cls(
                feature=str(d["feature"]),
                kind=kind,
                edges=tuple(float(e) for e in d.get("edges", ())),
                categories=tuple(str(c) for c in d.get("categories", ())),
                other=tuple(str(c) for c in d.get("other", ())),
                has_missing=bool(d.get("has_missing", True)),
                dtype=str(d.get("dtype", "")),
                version=version,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"invalid bin spec: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> BinSpec:
        return cls.from_dict(json.loads(text))


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.6g}"


def _interval(lo: float, hi: float) -> str:
    close = ")" if math.isinf(hi) else "]"
    return f"({_fmt(lo)}, {_fmt(hi)}{close}"


def infer_kind(dtype: pl.DataType, n_unique: int | None, settings: BinSettings) -> Kind:
    if dtype == pl.String or dtype == pl.Boolean or isinstance(dtype, pl.Categorical | pl.Enum):
        return "categorical"
    if dtype.is_integer() and n_unique is not None and n_unique <= settings.max_int_categories:
        return "categorical"
    return "numeric"


def numeric_edges(quantiles: Sequence[float | None]) -> tuple[float, ...]:
    """Deduplicated, sorted, finite inner edges from the reference quantiles."""
    vals = [float(q) for q in quantiles if q is not None and math.isfinite(float(q))]
    return tuple(float(v) for v in np.unique(np.asarray(vals, dtype=float)))


def quantile_levels(bins: int) -> list[float]:
    return [k / bins for k in range(1, bins)]


def categorical_vocabulary(
    value_counts: Mapping[str, int], settings: BinSettings
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split reference categories into kept (by frequency, ties by value) and folded."""
    total = sum(value_counts.values())
    ordered = sorted(value_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept: list[str] = []
    folded: list[str] = []
    for value, n in ordered:
        if len(kept) < settings.max_categories and (total == 0 or n / total >= settings.fold_below):
            kept.append(value)
        else:
            folded.append(value)
    if len(folded) == 1 and len(kept) < settings.max_categories:
        # Folding a single category changes nothing but its name; keep it as itself.
        kept.append(folded.pop())
    return tuple(kept), tuple(sorted(folded))


def looks_like_identifier(value_counts: Mapping[str, int]) -> bool:
    """More than 50 distinct values and over half of the non-null rows distinct."""
    distinct = len(value_counts)
    return distinct > 50 and distinct > 0.5 * sum(value_counts.values())


def _numeric_expr(name: str) -> pl.Expr:
    col = pl.col(name)
    return col.filter(col.is_finite())


def build_specs(
    lf: pl.LazyFrame,
    features: Sequence[str],
    *,
    settings: BinSettings | None = None,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    source_name: str = "--reference",
    explicit: bool = False,
    identifiers: list[str] | None = None,
) -> list[BinSpec]:
    """Compute a bin spec for each feature from the reference ``lf``.

    Quantiles are computed one column at a time so that memory stays at one column, never the
    whole frame. Unless ``explicit`` (the user named the features) a string column that looks
    like an identifier (more than 50 distinct values, over half of its non-null rows distinct)
    is left out and its name appended to ``identifiers``.
    """
    settings = settings or BinSettings()
    schema = lf.collect_schema()
    forced_cat, forced_num = set(categorical), set(numeric)

    ints = [
        f
        for f in features
        if schema[f].is_integer() and f not in forced_cat and f not in forced_num
    ]
    n_unique: dict[str, int] = {}
    if ints:
        row = (
            lf.select([pl.col(f).drop_nulls().n_unique().alias(f) for f in ints])
            .collect(engine="streaming")
            .row(0, named=True)
        )
        n_unique = {k: int(v) for k, v in row.items()}

    specs: list[BinSpec] = []
    levels = quantile_levels(settings.bins)
    for f in features:
        dtype = schema[f]
        if f in forced_cat:
            kind: Kind = "categorical"
        elif f in forced_num:
            if not (dtype.is_numeric() or dtype == pl.Boolean):
                raise UsageError(
                    f"--numeric {f}: column has type {dtype} in {source_name}; "
                    "only numeric columns can be binned by quantiles"
                )
            kind = "numeric"
        else:
            kind = infer_kind(dtype, n_unique.get(f), settings)

        if kind == "numeric":
            expr = _numeric_expr(f) if dtype.is_float() else pl.col(f).cast(pl.Float64)
            q = (
                lf.select(expr.drop_nulls().quantile(levels, interpolation="linear").alias(f))
                .collect(engine="streaming")
                .item()
            )
            edges = numeric_edges(list(q) if q is not None else [])
            specs.append(BinSpec(feature=f, kind="numeric", edges=edges, dtype=str(dtype)))
        else:
            vc = (
                lf.select(pl.col(f).cast(pl.String).alias("v"))
                .drop_nulls()
                .group_by("v")
                .len()
                .collect(engine="streaming")
            )
            counts = dict(zip(vc["v"].to_list(), vc["len"].to_list(), strict=True))
            if not explicit and f not in forced_cat and looks_like_identifier(counts):
                if identifiers is not None:
                    identifiers.append(f)
                continue
            kept, folded = categorical_vocabulary(counts, settings)
            specs.append(
                BinSpec(
                    feature=f, kind="categorical", categories=kept, other=folded, dtype=str(dtype)
                )
            )
    return specs


def specs_to_json(specs: Sequence[BinSpec]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in specs]


def specs_from_json(items: Sequence[Mapping[str, Any]]) -> list[BinSpec]:
    return [BinSpec.from_dict(d) for d in items]
