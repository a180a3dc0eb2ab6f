"""Evidently 0.7.23, the Report API: ``DataDriftPreset(method="psi")`` over every feature."""

from __future__ import annotations

from _common import args, read, write
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

a = args()
cols = a.numeric + a.categorical
definition = DataDefinition(numerical_columns=a.numeric, categorical_columns=a.categorical)
ref = Dataset.from_pandas(read(a.reference, cols), data_definition=definition)
live = Dataset.from_pandas(read(a.live, cols), data_definition=definition)
snapshot = Report([DataDriftPreset(columns=cols, method="psi")]).run(
    current_data=live, reference_data=ref
)
result = snapshot.dict()
values = {}
for m in result.get("metrics", []):
    cfg = m.get("config", {})
    if cfg.get("type", "").endswith("ValueDrift") and isinstance(m.get("value"), int | float):
        values[cfg.get("column")] = m["value"]
write(a.out, values)
