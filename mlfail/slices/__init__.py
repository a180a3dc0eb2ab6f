"""Slices (design §5): the segment where the model fails while the global number looks fine.

Candidates
    every low-cardinality live column (≤ 50 distinct values; beyond that the top 20 values and
    ``__other__``; identifier-like columns are skipped), ``--meta`` columns included, roles
    (label, prediction, timestamp) never; the time cohorts ``day(TS)`` and ``week(TS)`` (ISO
    week) from ``--timestamp``; numeric columns cut into 5 reference-quantile cohorts (the
    bins of design §2 with B = 5). ``--segment`` names the columns instead.

Counting
    one streaming pass reads each row as small integers: every candidate key as a code (the
    index of its value among the live data's values; cohorts: the bin), consecutive keys packed
    into mixed-radix *block* codes, and a *state* code folding the row's 0/1 measures (labelled,
    error, has a score) and, without labels, its prediction bin; float measures (absolute and
    squared errors, score sums) are kept as they are. Every 1- and 2-predicate slice is then
    summed exactly by one ``np.bincount`` per block and per pair of blocks over each chunk of
    about a million coded rows (``BATCH_ROWS``), marginalised to each pair of keys and added
    chunk by chunk (:func:`count_slices`): memory is a chunk, whatever the rows. The reference
    is counted the same way with the live codes (a value only the reference has is never
    compared). Score sums (only shown: the mean score) are summed for the listed slices alone,
    in one more narrow pass. Cost and measurements: docs/slices-json.md, "How the slices are
    counted".

Statistics (with labels)
    error rate e/n (classification: the prediction thresholded, or the class as is) or MAE
    (regression); shrunken estimate ẽ = (e + κē)/(n + κ) toward the global live rate ē;
    one-sided p-value "worse than the complement" (two-proportion z-test; Welch's t-test from
    sums of absolute and squared errors for MAE); Benjamini–Hochberg across every slice tested.
    The baseline is the slice's own reference rate (shrunk toward the reference's global rate
    with the same κ) when the reference has labels for it, so an intrinsically harder slice is
    not "degraded"; otherwise the live complement. Excess errors = n·(ẽ − baseline), the
    ranking key. Guards: support ≥ max(30, 0.5% of labelled rows); a 2-predicate slice is shown
    only if it is significantly worse than the rest of each parent (one-sided p < α) and its
    shrunken rate is worse than both parents'. The listed order is the one step 4 of triage
    chooses in, and overlapping slices are grouped under the one that explains them
    (``explained_by``); a bin of a drifted feature is a *symptom* listed after the segments
    (:mod:`mlfail.slices.story`). A slice is *degraded* when significant, its excess is at least
    ``min_impact`` of the labelled rows (of the total absolute error for MAE) and it is worse
    than its baseline by ``fail_on_delta`` (0.05 accuracy; 20% relative MAE).

Without labels
    each slice's prediction distribution (10 reference-quantile bins) is compared with the
    same slice of the reference (the whole reference when the slice has no reference rows) by
    PSI with its χ² p-value (design §3), BH across slices; slices are ranked by PSI × share of
    live rows, with the mean-score shift alongside. Degraded = significant and PSI ≥ 0.25.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from mlfail.counts import bin_index  # re-exported: the slice cohorts' per-row bin
from mlfail.slices import codes
from mlfail.slices.candidates import choose_candidates, cohort_expr, quintile_spec
from mlfail.slices.codes import (
    BATCH_ROWS,
    BLOCK_CELLS,
    COUNTED,
    LATE_MASKS,
    PAIR_CELLS,
    SliceCounts,
    _measures,
    _slice_dict,
    count_slices,
    key_code,
    pair_list,
)
from mlfail.slices.find import find_slices
from mlfail.slices.labelled import rest_is_fine
from mlfail.slices.match import GLOBAL, RefMatch, match_frame, match_reference
from mlfail.slices.model import (
    ABS,
    ERR,
    KEY_COLS,
    LAB,
    NO_KEY,
    NULL_KEY,
    PBIN,
    ROWS,
    SN,
    SQ,
    SSUM,
    Candidate,
    SliceSettings,
)
from mlfail.slices.stats import (
    AUC_SIG_FIGS,
    EXACT_BELOW,
    auc_for,
    fisher_p,
    psi_row_pairs,
    shrink,
    welch_p,
)

__all__ = [
    "ABS",
    "AUC_SIG_FIGS",
    "BATCH_ROWS",
    "BLOCK_CELLS",
    "COUNTED",
    "ERR",
    "EXACT_BELOW",
    "GLOBAL",
    "KEY_COLS",
    "LAB",
    "LATE_MASKS",
    "NO_KEY",
    "NULL_KEY",
    "PAIR_CELLS",
    "PBIN",
    "ROWS",
    "SN",
    "SQ",
    "SSUM",
    "Candidate",
    "RefMatch",
    "SliceCounts",
    "SliceSettings",
    "_measures",
    "_slice_dict",
    "auc_for",
    "bin_index",
    "choose_candidates",
    "cohort_expr",
    "count_slices",
    "find_slices",
    "fisher_p",
    "key_code",
    "match_frame",
    "match_reference",
    "pair_list",
    "psi_row_pairs",
    "quintile_spec",
    "rest_is_fine",
    "shrink",
    "welch_p",
]

_COUNTING_LIMITS = ("BATCH_ROWS", "BLOCK_CELLS", "LATE_MASKS", "PAIR_CELLS")


class _Package(ModuleType):
    """The package module: setting a counting limit on it (``mlfail.slices.BLOCK_CELLS = …``,
    as tests do to force the block-pair, pair-by-pair, chunked and masked paths) sets it in
    :mod:`mlfail.slices.codes` too, where the counting reads it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _COUNTING_LIMITS:
            setattr(codes, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
