"""Training-serving skew, proven row by row (``mlfail skew``, design §10): join the features a
model was served to the values the offline pipeline computes for the same request and count,
per feature, the requests that were served a different value — and how (the pattern)."""

from mlfail.skew.model import (
    SKEW_SCHEMA_VERSION,
    Example,
    FeatureSkew,
    JoinReport,
    Pattern,
    SegmentRate,
    SkewReport,
    SkewSettings,
)
from mlfail.skew.run import compare

skew = compare

__all__ = [
    "SKEW_SCHEMA_VERSION",
    "Example",
    "FeatureSkew",
    "JoinReport",
    "Pattern",
    "SegmentRate",
    "SkewReport",
    "SkewSettings",
    "compare",
    "skew",
]
