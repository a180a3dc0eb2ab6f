"""Records of a skew comparison (``mlfail skew``); field names are the JSON contract
(docs/skew-json.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SKEW_SCHEMA_VERSION = 1
Duplicates = Literal["first", "all"]


@dataclass(frozen=True)
class SkewSettings:
    rtol: float = 1e-6  # numbers are equal when |a − b| ≤ atol + rtol·|b| (b = offline)
    atol: float = 1e-9
    max_mismatch: float = 0.001  # a feature is skewed at/above this mismatch rate
    duplicates: Duplicates = "first"  # compare the first row per id on each side, or all pairs
    sample_rows: int = 100_000  # mismatched rows collected (once) for pattern detection
    examples: int = 5
    pattern_coverage: float = 0.95  # a pattern must explain this share of the sampled mismatches
    max_segment_values: int = 50  # per --segment column, in the report
    memory_budget_bytes: int = 640 << 20  # features of one join pass (features are batched)


@dataclass
class Pattern:
    """The one explanation of a feature's mismatches (``kind`` says which; the other fields
    are set by the kinds that use them)."""

    kind: str  # scale | offset | affine | null | rounding | category_map | constant_fill |
    # clipped | other | none
    description: str
    coverage: float | None = None  # share of the sampled mismatches the pattern explains
    sampled: int = 0  # mismatched rows it was judged on
    factor: float | None = None  # scale, affine
    factor_name: str | None = None  # scale: "×100 (units→cents?)", …
    offset: float | None = None  # offset, affine
    side: str | None = None  # null: which side holds the null
    decimals: int | None = None  # rounding
    subkind: str | None = None  # category_map: case | whitespace | renamed
    mapping: dict[str, Any] | None = None  # category_map: offline value → served value
    value: Any = None  # constant_fill
    lower: float | None = None  # clipped
    upper: float | None = None


@dataclass
class SegmentRate:
    slice: dict[str, Any]
    rows: int
    mismatches: int
    mismatch_rate: float


@dataclass
class Example:
    id: dict[str, Any]
    serving: Any
    offline: Any


@dataclass
class FeatureSkew:
    feature: str
    kind: str  # numeric | categorical
    compared: int
    mismatches: int
    mismatch_rate: float
    serving_null_only: int
    offline_null_only: int
    status: Literal["skewed", "mismatch", "ok"]  # mismatch: some, below --max-mismatch
    pattern: Pattern | None
    segments: list[SegmentRate] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    concentrated_in: list[dict[str, Any]] = field(default_factory=list)  # hold all mismatches
    summary: str = ""  # the pattern in words, for people


@dataclass
class JoinReport:
    serving_rows: int
    offline_rows: int
    matched: int  # ids present on both sides (pairs compared, with duplicates="all")
    serving_only: int  # distinct ids on the serving side only
    offline_only: int
    duplicate_ids_serving: int  # ids that occur more than once
    duplicate_ids_offline: int
    duplicate_rows_serving: int = 0  # rows beyond the first of each duplicated id
    duplicate_rows_offline: int = 0
    null_ids_serving: int = 0  # rows whose id has a null: they join nothing
    null_ids_offline: int = 0
    duplicate_examples_serving: list[dict[str, Any]] = field(default_factory=list)
    duplicate_examples_offline: list[dict[str, Any]] = field(default_factory=list)
    compared_duplicates: Duplicates = "first"
    pairs: int = 0  # rows of the joined table every feature was compared on


@dataclass
class SkewReport:
    serving: str
    offline: str
    ids: list[str]
    join: JoinReport
    features: list[FeatureSkew]
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    schema_version: int = SKEW_SCHEMA_VERSION

    @property
    def skewed(self) -> list[FeatureSkew]:
        return [f for f in self.features if f.status == "skewed"]
