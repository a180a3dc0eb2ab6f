"""The bin spec model (design §2): how one feature is binned, as pure data.

Split out of :mod:`mlfail.binning` so that the counting core (:mod:`mlfail.counts`) and the
spec builder both depend on it and neither on the other; :mod:`mlfail.binning` re-exports every
name here. Bin order (and so bin index): numeric — the value bins from low to high, right-closed
``(a, b]`` between -inf, the inner edges and +inf, then missing; categorical — the kept
categories by reference frequency, ``__other__`` (when anything was folded), ``__unseen__``,
missing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mlfail.errors import InputError

SPEC_VERSION = 1
MISSING = "__missing__"
OTHER = "__other__"
UNSEEN = "__unseen__"

Kind = Literal["numeric", "categorical"]


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
