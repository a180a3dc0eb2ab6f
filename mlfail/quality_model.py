"""The quality check's model (design §4): settings, findings, the report, and the statistics
and dtype rules the quality rules use. Re-exported by :mod:`mlfail.quality`, the public path.
Rules, severities and thresholds are documented in ``docs/quality-rules.md``; rule names are
the JSON contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from mlfail.baseline import is_string_dtype
from mlfail.binning import BinSpec
from mlfail.errors import UsageError

if TYPE_CHECKING:
    from mlfail.roles import RoleAssignment

QUALITY_SCHEMA_VERSION = 1
NORM = "__mlfail_norm_"  # temporary columns: normalised strings for default-fill counts
Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 3, "warning": 2, "info": 1}
RULES = (
    "schema_missing_column",
    "schema_new_column",
    "schema_dtype_change",
    "null_rate",
    "unseen_categories",
    "out_of_range",
    "default_fill",
    "frozen",
)


@dataclass(frozen=True)
class QualitySettings:
    alpha: float = 0.05  # BH level per rule family
    null_error: float = 0.01  # non-null in training, more than this live → error
    null_min_jump: float = 0.005  # a significant null-rate rise at least this big → warning
    unseen_warning: float = 0.01
    unseen_error: float = 0.05
    range_warning: float = 0.01
    range_error: float = 0.05
    default_warning: float = 0.05  # rise in the share of one default value
    default_error: float = 0.20
    frozen_chance: float = 1e-6  # bound on P(constant by chance) below which constant = frozen

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise UsageError(f"--alpha must be in (0, 1) (got {self.alpha})")


@dataclass
class QualityFinding:
    """One broken expectation. Field names are the JSON contract (docs/quality-rules.md)."""

    feature: str
    rule: str
    severity: Severity
    reference: Any
    live: Any
    message: str


@dataclass
class QualityReport:
    reference: str
    live: str
    reference_rows: int
    live_rows: int
    findings: list[QualityFinding]
    checks: list[tuple[str, str]]  # every (feature or column, rule) evaluated
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    schema_version: int = QUALITY_SCHEMA_VERSION
    roles: RoleAssignment | None = field(default=None, repr=False)  # JSON inputs.roles (§9)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def at_or_above(self, severity: str) -> list[QualityFinding]:
        level = SEVERITY_ORDER[severity]
        return [f for f in self.findings if SEVERITY_ORDER[f.severity] >= level]

    def findings_for(self, feature: str, rule: str) -> list[QualityFinding]:
        return [f for f in self.findings if f.feature == feature and f.rule == rule]


# ---- statistics ----------------------------------------------------------------------------


def two_proportion_test(
    x1: int, n1: int, x2: int, n2: int, *, alternative: str = "two-sided"
) -> tuple[float, float]:
    """Pooled two-proportion z-test of p2 vs p1: returns (z, p-value).

    ``alternative="greater"`` tests p2 > p1. Equivalent to Pearson's χ² test of the 2×2 table
    without continuity correction (z² = χ²). A degenerate table (pooled share 0 or 1) gives
    (0, 1).
    """
    from scipy import stats  # lazy: scipy.stats costs ~0.8 s to import

    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x2 / n2 - x1 / n1) / se
    if alternative == "greater":
        return z, float(stats.norm.sf(z))
    return z, float(2 * stats.norm.sf(abs(z)))


def outside_range_p_value(k: int, m: int, n_ref: int) -> float:
    """P(at least k of m live values fall outside the [min, max] of n_ref reference values)
    when live and reference come from the same continuous distribution.

    The probability mass outside the reference range is U = F(min) + 1 − F(max), the sum of two
    of the n+1 uniform spacings: U ~ Beta(2, n−1). Given U the count is Binomial(m, U), so the
    count is Beta-Binomial(m, 2, n−1) (mean 2m/(n+1)). A plain binomial with p = 2/(n+1) would
    ignore that all live values share the same reference extremes and cry wolf. With ties
    (discrete data) the test is conservative."""
    from scipy import stats  # lazy: scipy.stats costs ~0.8 s to import

    if m <= 0 or k <= 0 or n_ref < 2:
        return 1.0
    return float(stats.betabinom.sf(k - 1, m, 2, n_ref - 1))


# ---- schema ----------------------------------------------------------------------------------

_FAMILIES = (
    ("integer", lambda d: d.is_integer()),
    ("float", lambda d: d.is_float() or d.is_decimal()),
    ("boolean", lambda d: d == pl.Boolean),
    ("string", is_string_dtype),
    ("temporal", lambda d: d.is_temporal()),
)


def dtype_family(dtype: pl.DataType) -> str:
    for name, test in _FAMILIES:
        if test(dtype):
            return name
    return "other"


def _family_of(text: str) -> str:
    for prefix, fam in (
        ("Int", "integer"),
        ("UInt", "integer"),
        ("Float", "float"),
        ("Decimal", "float"),
        ("Boolean", "boolean"),
        ("String", "string"),
        ("Categorical", "string"),
        ("Enum", "string"),
        ("Date", "temporal"),
        ("Datetime", "temporal"),
        ("Duration", "temporal"),
        ("Time", "temporal"),
    ):
        if text.startswith(prefix):
            return fam
    return "other"


def dtype_change_severity(ref: str, live: pl.DataType, kind: str | None = None) -> Severity:
    """Same family, other width (Int32→Int64): info; integer↔float: warning for a numeric
    feature, error for an integer feature binned as categories (3 is logged as "3.0" and no
    longer matches its category); anything else (number↔string, …): error."""
    a, b = _family_of(ref), dtype_family(live)
    if a == b:
        return "info"
    if {a, b} == {"integer", "float"}:
        return "error" if kind == "categorical" else "warning"
    return "error"


def countable(spec: BinSpec, live: pl.DataType) -> bool:
    """Can the live column be counted over the reference spec (numeric specs need numbers)?"""
    if spec.kind == "numeric":
        return live.is_numeric() or live == pl.Boolean
    return True


# ---- formatting ----------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.6g}"


def pct(x: float) -> str:
    """A share as a percentage, with enough digits that a small non-zero share is not 0.00%."""
    if 0 < abs(x) < 0.001:
        return f"{100 * x:.2g}%"
    return f"{100 * x:.2f}%"
