"""A saved baseline as the reference side of a comparison (the ``Reference`` protocol)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from mlfail.baseline.model import Baseline, load_baseline
from mlfail.binning import BinSpec
from mlfail.config import Roles
from mlfail.errors import UsageError
from mlfail.featurestats import FeatureStats
from mlfail.performance import TaskSpec
from mlfail.roles import RoleAssignment


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
    def assignment(self) -> RoleAssignment | None:
        """The roles stored when the baseline was created (None for older baselines)."""
        return self.baseline.roles.assignment

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
