"""Per-feature reference statistics (:class:`FeatureStats`) and their shared constants.

Both engines produce these (the Polars profile in :mod:`mlfail.baseline.build`, the Spark one in
:mod:`mlfail.engines.spark_profile`), and baselines store them; this module sits below both so
that no engine imports :mod:`mlfail.baseline`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
NUMERIC_DEFAULTS: dict[str, float] = {"0": 0.0, "-1": -1.0, "-999": -999.0}
STRING_DEFAULTS = ("", "unknown", "none", "null", "n/a")
MEAN_DEFAULT = "mean"
MAX_FREQUENCIES = 1000


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


def is_default_value(mean: float) -> bool:
    return any(abs(mean - v) <= mean_tolerance(mean) for v in NUMERIC_DEFAULTS.values())


def finite_or_none(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None
