"""Baselines: a small, mergeable profile of the reference, saved before launch.

``mlfail baseline create`` writes one JSON document (``kind: "mlfail-baseline"``) holding

* the frozen bin specs (design §2) of every feature and of the prediction column;
* the reference count tables (design §1) with no keys and by each ``--segment`` column, stored
  densely per feature (one list of bin counts per key value — never one object per row);
* per-feature statistics: rows, nulls (null or NaN: the missing bin), for numeric columns the
  finite count, ±inf counts, min/max, mean/std and the linear quantiles 0.01…0.99, for
  categorical features the category frequencies, and the counts of the usual default-fill values
  (0, −1, −999, "", "unknown", …, the training mean) used by ``mlfail check quality``;
* reference performance (``mlfail.performance.performance_table``) globally and per segment
  value, when ``--label`` and ``--prediction`` are given;
* the schema (column → dtype), roles, bin settings, segments, the sources' paths and sizes
  folded into a content hash, ``schema_version``, the mlfail version and the creation time.

Its size depends on the number of features, bins and segment values, never on the row count.

Merging (``merge_baselines``) requires identical bin specs, roles, segments and settings; counts,
row/null counts, frequencies and additive performance columns sum exactly; min/max, mean and
std merge exactly (Chan's parallel formula, to floating-point rounding). Quantiles cannot be
recomputed without the data: after a merge they are estimated from the merged counts and marked
``quantiles_exact: false`` with ``quantile_bounds`` — for each level an interval that is
guaranteed to contain the exact quantile (the bins holding the two order statistics it
interpolates, clamped to [min, max]). Integer features binned as categories keep exact
quantiles (their frequencies are exact). AUC is not additive and is null after a merge; the
count of values equal to the training mean (default-fill detection) is summed over the parts'
own means.
"""

from mlfail.baseline.build import (
    ADDITIVE_PERF,
    MAX_JOINT_GROUPS,
    MAX_SEGMENT_VALUES,
    build_baseline,
    profile_reference,
)
from mlfail.baseline.merge import merge_baselines, quantiles_from_bins, quantiles_from_values
from mlfail.baseline.model import (
    BASELINE_KIND,
    BASELINE_SCHEMA_VERSION,
    Baseline,
    content_hash,
    load_baseline,
    pretty_json,
    segment_dtype_ok,
)
from mlfail.baseline.reference import BaselineReference, load_baseline_reference
from mlfail.featurestats import (
    MAX_FREQUENCIES,
    MEAN_DEFAULT,
    NUMERIC_DEFAULTS,
    QUANTILE_LEVELS,
    STRING_DEFAULTS,
    FeatureStats,
    is_numeric_dtype,
    is_string_dtype,
    level_key,
    mean_tolerance,
)

__all__ = [
    "ADDITIVE_PERF",
    "BASELINE_KIND",
    "BASELINE_SCHEMA_VERSION",
    "MAX_FREQUENCIES",
    "MAX_JOINT_GROUPS",
    "MAX_SEGMENT_VALUES",
    "MEAN_DEFAULT",
    "NUMERIC_DEFAULTS",
    "QUANTILE_LEVELS",
    "STRING_DEFAULTS",
    "Baseline",
    "BaselineReference",
    "FeatureStats",
    "build_baseline",
    "content_hash",
    "is_numeric_dtype",
    "is_string_dtype",
    "level_key",
    "load_baseline",
    "load_baseline_reference",
    "mean_tolerance",
    "merge_baselines",
    "pretty_json",
    "profile_reference",
    "quantiles_from_bins",
    "quantiles_from_values",
    "segment_dtype_ok",
]
