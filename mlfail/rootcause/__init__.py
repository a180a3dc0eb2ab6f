"""Root cause (design §7): tie each drifted feature to its onset, the cohort that carries it,
the change event just before it and its signature; classify the failure mode; name the owner.

Everything is computed from count tables and group_by aggregates:

* one pass over live keyed by day → per-day PSI per feature (onset, day-one skew), the global
  and post-onset PSI;
* one pass keyed by the cohort columns (``--meta`` and low-cardinality columns) → within-cohort
  PSI, explained fraction EF(m) = 1 − PSI(ref, live | M≠m)/PSI(ref, live), and the two-player
  Shapley split of PSI into *mix* (the cohort shares moved) and *conditional* (X | M moved);
* performance aggregates by (day, cohort) → whether the drifted rows perform worse;
* for the few candidate features only, one small query on the affected rows for signatures
  (null spike, unseen/recased categories, scale/affine change, default fill, clipping, frozen,
  out-of-range).

Failure-mode rules are written down in docs/failure-modes.md. The package, one step a module:

* ``evidence`` — settings and the typed records (the JSON contract);
* ``common`` — the day column, per-feature state, two-proportion test, noisy-OR, BH, formatting;
* ``cohorts`` — cohort counting and attribution (EF, Shapley mix/conditional);
* ``events`` — change-event ranking;
* ``signatures`` — one function per signature, registered in ``SIGNATURES``;
* ``model_health`` — prediction drift, global performance, performance on the cohort;
* ``modes`` — failure-mode classification and precedence, next actions;
* ``hypotheses`` / ``infra`` / ``concept`` — the three hypothesis builders;
* ``verdict`` — model incident or not;
* ``analysis`` — ``explain()``, the composition.
"""

from __future__ import annotations

from mlfail.factors import NAMED_FACTORS, name_factor
from mlfail.rootcause.analysis import explain
from mlfail.rootcause.cohorts import CohortTables, cohort_candidates, shapley_mix_conditional
from mlfail.rootcause.common import DAY, noisy_or, two_proportion_p
from mlfail.rootcause.events import PIPELINE_TOKENS
from mlfail.rootcause.evidence import (
    EXPLAIN_SCHEMA_VERSION,
    ChangeEventEvidence,
    CohortEvidence,
    Evidence,
    ExplainSettings,
    Explanation,
    FailureMode,
    Hypothesis,
    InfraEvidence,
    OnsetEvidence,
    OwnershipEvidence,
    PerformanceEvidence,
    PsiEvidence,
    SignatureEvidence,
)
from mlfail.rootcause.infra import SERVING_TOKENS
from mlfail.rootcause.modes import DQ_SIGNATURES, NEXT_ACTION, UPSTREAM_TOKENS
from mlfail.rootcause.signatures import (
    DECILES,
    DEFAULT_FILLS_CAT,
    DEFAULT_FILLS_NUM,
    SIGNATURES,
)

__all__ = [
    "DAY",
    "DECILES",
    "DEFAULT_FILLS_CAT",
    "DEFAULT_FILLS_NUM",
    "DQ_SIGNATURES",
    "EXPLAIN_SCHEMA_VERSION",
    "NAMED_FACTORS",
    "NEXT_ACTION",
    "PIPELINE_TOKENS",
    "SERVING_TOKENS",
    "SIGNATURES",
    "UPSTREAM_TOKENS",
    "ChangeEventEvidence",
    "CohortEvidence",
    "CohortTables",
    "Evidence",
    "ExplainSettings",
    "Explanation",
    "FailureMode",
    "Hypothesis",
    "InfraEvidence",
    "OnsetEvidence",
    "OwnershipEvidence",
    "PerformanceEvidence",
    "PsiEvidence",
    "SignatureEvidence",
    "cohort_candidates",
    "explain",
    "name_factor",
    "noisy_or",
    "shapley_mix_conditional",
    "two_proportion_p",
]
