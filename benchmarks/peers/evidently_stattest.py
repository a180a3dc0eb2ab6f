"""Evidently 0.7.23, legacy API: ``psi_stat_test`` on every feature column."""

from __future__ import annotations

from _common import args, read, write
from evidently.legacy.calculations.stattests.psi import psi_stat_test
from evidently.legacy.core import ColumnType

a = args()
cols = a.numeric + a.categorical
ref, live = read(a.reference, cols), read(a.live, cols)
out = {}
for c in cols:
    kind = ColumnType.Numerical if c in a.numeric else ColumnType.Categorical
    # the legacy stattests expect NaN-free input (the Report drops NaN before calling them)
    out[c] = psi_stat_test(ref[c].dropna(), live[c].dropna(), kind, 0.1).drift_score
write(a.out, out)
