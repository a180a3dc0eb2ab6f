"""feature-engine 1.9.4: ``DropHighPSIFeatures`` (equal-frequency bins from the reference).

The reference and live frames are stacked with a row number as ``split_col`` and
``cut_off = len(reference) - 1``, so the basis is exactly the reference (as in
tests/test_peer_feature_engine.py). ``missing_values="ignore"``: feature-engine drops NaN
per column (mlfail counts them in a missing bin, so only null-free numeric columns are
comparable).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import args, read, write
from feature_engine.selection import DropHighPSIFeatures

a = args()
cols = a.numeric + a.categorical
ref, live = read(a.reference, cols), read(a.live, cols)
df = pd.concat([ref, live], ignore_index=True)
del ref
df["__row"] = np.arange(len(df))
sel = DropHighPSIFeatures(
    split_col="__row",
    cut_off=len(df) - len(live) - 1,
    bins=10,
    strategy="equal_frequency",
    threshold=0.25,
    variables=cols,
    missing_values="ignore",
    switch=False,
)
sel.fit(df)
write(a.out, sel.psi_values_)
