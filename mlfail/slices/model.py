"""Slices (design §5): the settings, a slice key (:class:`Candidate`) and the column names
of the long slice table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from mlfail.binning import BinSpec
from mlfail.errors import UsageError
from mlfail.io import Source
from mlfail.reference import Reference

NULL_KEY = "\x00null"  # a null key value in the long slice table (decoded back to None)


NO_KEY = ""  # b_col / b_val of a 1-predicate slice


ROWS, LAB, ERR, ABS, SQ, SSUM, SN, PBIN = (
    "__rows",
    "__labelled",
    "__errors",
    "__abs",
    "__sq",
    "__score_sum",
    "__score_n",
    "__pbin",
)


KEY_COLS = ["a_col", "a_val", "b_col", "b_val"]


EXPLAINED_SHARE = 0.8  # share of a slice's excess inside another listed slice that explains it


@dataclass(frozen=True)
class SliceSettings:
    kappa: float = 30.0
    alpha: float = 0.05
    min_support: int | None = None  # None: max(30, 0.5% of the (labelled) rows)
    min_impact: float = 0.0025
    max_predicates: int = 2
    top: int = 20
    max_values: int = 50
    top_values: int = 20
    cohort_bins: int = 5
    fail_on_delta: float | None = None  # None: 0.05 (accuracy) / 0.20 relative (MAE)
    psi_threshold: float = 0.25
    auc_slices: int = 50  # AUC for this many listed slices (one mask column each)

    def __post_init__(self) -> None:
        if self.kappa < 0:
            raise UsageError(f"--kappa must be ≥ 0 (got {self.kappa})")
        if not 0 < self.alpha < 1:
            raise UsageError(f"--alpha must be in (0, 1) (got {self.alpha})")
        if self.max_predicates not in (1, 2):
            raise UsageError(f"--max-predicates must be 1 or 2 (got {self.max_predicates})")
        if self.min_support is not None and self.min_support < 1:
            raise UsageError(f"--min-support must be at least 1 (got {self.min_support})")
        if self.top < 0:
            raise UsageError(f"--top must be ≥ 0 (got {self.top}; 0 lists every slice)")
        if self.fail_on_delta is not None and self.fail_on_delta <= 0:
            raise UsageError(f"--fail-on-delta must be positive (got {self.fail_on_delta})")
        if self.cohort_bins < 2:
            raise UsageError(f"cohort bins must be at least 2 (got {self.cohort_bins})")

    def delta_for(self, task: str) -> float:
        if self.fail_on_delta is not None:
            return self.fail_on_delta
        return 0.20 if task == "regression" else 0.05


@dataclass(frozen=True)
class Candidate:
    """One slice key: a column (as is, top values + other, or quantile cohorts) or a time
    cohort. ``expr`` computes the key value from a row; it is aliased to ``name``."""

    name: str
    kind: str  # column | top | cohort | day | week
    expr: pl.Expr
    in_reference: bool
    values: int  # distinct key values in the live data (cohorts: bins)
    spec: BinSpec | None = None
    # the key values of the live data in code order (see :func:`key_code`); a null last
    levels: pl.Series | None = None
    # when the codes come from another expression than ``expr`` (week: the week's index)
    code_expr: pl.Expr | None = None
    code_levels: pl.Series | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "values": self.values}


@dataclass(frozen=True)
class SliceInputs:
    """What both reports start from (:func:`~mlfail.slices.find.find_slices` gathers it)."""

    live_src: Source
    ref: Reference
    cands: list[Candidate]
    settings: SliceSettings
    notes: list[str]
    n_rows: int
    pred: str
    pred_numeric: bool


def _settings_dict(settings: SliceSettings, **extra: Any) -> dict[str, Any]:
    d = asdict(settings)
    d.pop("auc_slices", None)
    d["explained_share"] = EXPLAINED_SHARE
    d.update(extra)
    return d
