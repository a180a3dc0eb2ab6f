"""mlfail: triage production ML incidents from Parquet feature logs.

Python API (the CLI is a thin shell over these)::

    import mlfail
    report = mlfail.psi("train.parquet", "logs/", by=["geo"])
"""

from mlfail._version import __version__
from mlfail.audit import psi
from mlfail.baseline import Baseline, build_baseline, load_baseline, merge_baselines
from mlfail.binning import BinSettings, BinSpec, build_specs
from mlfail.config import Roles
from mlfail.counts import count_frame, count_source, merge
from mlfail.errors import InputError, MlfailError, UsageError
from mlfail.io import Source, open_source
from mlfail.psi import PsiSettings

__all__ = [
    "Baseline",
    "BinSettings",
    "BinSpec",
    "InputError",
    "MlfailError",
    "PsiSettings",
    "Roles",
    "Source",
    "UsageError",
    "__version__",
    "build_baseline",
    "build_specs",
    "count_frame",
    "count_source",
    "load_baseline",
    "merge",
    "merge_baselines",
    "open_source",
    "psi",
]
