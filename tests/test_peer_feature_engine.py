"""PSI agrees with feature-engine's DropHighPSIFeatures on a fixed dataset.

Provenance of the literals: feature-engine 1.9.4 (pandas 3.1.1, numpy 2.4.6), run on
2026-11-26 with::

    df = DataFrame({a, b, c: ref_* then live_*, "row": arange(9000)})
    DropHighPSIFeatures(split_col="row", cut_off=4999, bins=10, strategy="equal_frequency",
                        switch=False, threshold=0.1).fit(df).psi_values_

(basis = the 5000 reference rows, test = the 4000 live rows). feature-engine uses pd.qcut
(linear quantiles), ±inf outer edges, right-closed pd.cut and ε = 1e-4 for empty bins.
Column ``c`` has many values exactly on the integer edges, which checks right-closed bins:
a left-closed count gives 0.32509937798889843 instead. The peer is not a dependency.

Known, deliberate difference (not exercised here): when an inner decile equals the reference
minimum (say 15% exact zeros), feature-engine de-duplicates with the min/max still in the edge
list and so merges that mass into the next bin; mlfail keeps (-inf, min] as its own bin, as
design §2 specifies.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mlfail.binning import build_specs
from mlfail.counts import count_frame, dense
from mlfail.psi import psi_value

FEATURE_ENGINE_1_9_4 = {
    "a": 0.11795484988456356,
    "b": 0.034188766595924236,
    "c": 0.3236155439779175,
}


def _data() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(12345)
    ref_a = rng.normal(0.0, 1.0, 5000)
    live_a = rng.normal(0.3, 1.2, 4000)
    ref_b = rng.lognormal(1.0, 0.8, 5000)
    live_b = rng.lognormal(1.0, 0.8, 4000) * 1.15
    ref_c = rng.integers(0, 1000, 5000).astype(float)
    live_c = np.concatenate([rng.integers(0, 1000, 3000), rng.integers(900, 1000, 1000)]).astype(
        float
    )
    ref = pl.DataFrame({"a": ref_a, "b": ref_b, "c": ref_c})
    live = pl.DataFrame({"a": live_a, "b": live_b, "c": live_c})
    return ref, live


@pytest.mark.parametrize("feature", ["a", "b", "c"])
def test_psi_equals_feature_engine(feature: str) -> None:
    ref, live = _data()
    specs = build_specs(ref.lazy(), ["a", "b", "c"], numeric=["a", "b", "c"])
    spec = next(s for s in specs if s.feature == feature)
    r = dense(count_frame(ref.lazy(), specs), spec)
    lv = dense(count_frame(live.lazy(), specs), spec)
    assert psi_value(r, lv, 1e-4) == pytest.approx(FEATURE_ENGINE_1_9_4[feature], abs=1e-9)
