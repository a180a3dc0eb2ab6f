"""Column roles: every column has exactly one, decided by flags first, inferred otherwise (§9).

A column is one of the :data:`ROLES`. Flags decide first (``--exclude``, ``--timestamp``,
``--label``, ``--prediction``, ``--model-output``, ``--id``, ``--meta``, ``--segment``,
``--features``); inference fills the rest, in this order, and every decision carries its reason
and the flag that changes it:

1. **one_sided** – present on one side only: a schema finding (new / missing column), never a
   drift. A time-valued hive partition key present on one side only is a **time_key** instead.
2. **time_key** – Date/Datetime columns other than ``--timestamp``; time-valued hive partition
   keys (year, month, day, date, dt, ds, hour…) whose values parse as such; integer epochs with
   a time-like name (``ts``, ``*_ts``, ``*_time``, ``*_at``, ``epoch``…) and epoch-sized values;
   strings whose smallest and largest values both parse as ISO dates.
3. **excluded** – a type that cannot be binned (lists, structs, binary…).
4. **constant** – one distinct non-null value on the reference (or none): skipped with a note.
5. **identifier** – floats never are. An integer or string column with a distinct ratio ≥ 0.95
   over ≥ 50 non-null reference rows is an id when it is a string, or an integer that is
   *dense* (its range is at most 4× its distinct count: independent draws from a range that
   small repeat values, so ≥ 95% distinct means a near-permutation, a counter) or whose live
   values all lie above the reference's (a growing counter; a time key instead when its values
  are epoch-sized, 1973–2100 in s/ms/µs/ns). A name like ``id``, ``*_id``,
   ``*Id``, ``uuid``, ``key``, ``index`` with over half its values distinct is an id too.
   Amounts in cents, ages in days and sensor readings are sparse in their range: features.
6. **output** – with ``--prediction``: a column that is a deterministic function of it on
   ≥ 99% of reference rows: a decision thresholded on the score (one class below t, the other
   above), the score rounded, clipped or affinely rescaled, a relabelled class, or — when the
   prediction is itself a decision — the score it thresholds.
7. **excluded** – not named when ``--features`` lists the features; else **feature**.

Costs: per source, one after the other, one collection of the non-float columns' value counts
(:func:`mlfail.counts.value_counts`: exact distinct counts, and the nulls, min and max of the
columns with few values; not of a column whose flag-given role nothing reads, such as
``--timestamp``) and streaming aggregations of a dozen other columns each (row count, and per
column null count, min, max) — on the reference not of a column a flag gives its role, on live
not of a float that varies on the reference (no rule reads those); and, for output detection,
one query on the prediction and the candidate columns (at most :data:`OUTPUT_ROWS` reference
rows).

``RoleAssignment.to_dict()`` is the JSON object reports carry as ``inputs.roles``::

    {"columns": [{"column": "row_id", "role": "identifier", "source": "inferred",
                  "reason": "integer, 100% of 284 values distinct, dense (range 284)",
                  "flag": "--features row_id", "present": "both"}, ...],
     "features": ["mean radius", ...],
     "counts": {"feature": 30, "identifier": 1, ...}}

``source`` is ``"flag"`` or ``"inferred"``; ``present`` is ``"both"``, ``"reference"`` or
``"live"``; ``flag`` is null where no flag changes the role (a one-sided column).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Literal, get_args

import polars as pl

from mlfail.config import Roles, is_binnable, split_list
from mlfail.derived import find_outputs
from mlfail.errors import UsageError
from mlfail.io import Source
from mlfail.rolestats import ColumnStats, collect_stats

# fmt: off
Role = Literal[
    "feature", "identifier", "timestamp", "time_key", "label", "prediction", "output",
    "metadata", "segment", "excluded", "constant", "one_sided",
]
# fmt: on
ROLES: tuple[Role, ...] = get_args(Role)
# Roles whose columns are never profiled as features nor used as slice keys.
# (A constant column is no slice key either, but its live values decide that: one constant
# on the reference that varies on live is a feature, e.g. a pipeline version rolled out.)
NEVER_SLICE_KEYS = frozenset(
    {"identifier", "timestamp", "time_key", "label", "prediction", "output", "excluded"}
    | {"one_sided", "constant"}
)


def _constant_live(st: ColumnStats, lst: ColumnStats | None) -> bool:
    """A reference-constant column is constant (skipped) only when live holds the same one
    value or none: a value live adds is a drift, and the column stays a feature (so does it
    when there is no live side to judge by)."""
    if lst is None:  # no live side to judge by (baseline create): keep it as a feature
        return False
    if lst.distinct == 0:
        return True
    return lst.distinct <= 1 and (st.distinct == 0 or lst.lo == st.lo)


ID_MIN_ROWS = 50
LINE_WIDTH = 96  # the human block's lines stay on one terminal line
ID_DISTINCT = 0.95
ID_NAMED_DISTINCT = 0.5
ID_DENSE_RANGE = 4.0

_ID_NAME = re.compile(
    r"(?i:^(id|uuid|guid|key|index|idx|row|rownum|row_?number|unnamed: ?0|__index_level_\d+__)$)"
    r"|(?i:[_\-. ](id|uuid|guid|key|idx)$)|[a-z0-9](Id|ID|Uuid|UUID|Key)$"
)
_TIME_NAME = re.compile(
    r"(?i:^(ts|time|timestamp|epoch|datetime|date|dt|ds)$|[_\-. ](ts|time|timestamp|epoch|at)$)"
    r"|[a-z0-9](Ts|Time|Timestamp|At)$"
)
_EPOCH_MIN = 1e8  # 1973-03-03 in seconds; smaller integers are not epochs
# Epoch instants between 1973 and 2100 in seconds, milliseconds, microseconds or nanoseconds.
_EPOCH_SPANS = ((1e8, 4.2e9), (1e11, 4.2e12), (1e14, 4.2e15), (1e17, 4.2e18))


def _epoch_sized(lo: float, hi: float) -> bool:
    return any(a <= lo and hi <= b for a, b in _EPOCH_SPANS)


_PARTITION_RANGES = {
    "year": (1900, 2200),
    "month": (1, 12),
    "day": (1, 31),
    "hour": (0, 23),
    "minute": (0, 59),
    "week": (1, 53),
}
_PARTITION_DATES = ("date", "dt", "ds", "day", "partition_date", "event_date")


@dataclass(frozen=True)
class RoleFlags:
    """What the user said about columns. Everything here is a column name."""

    timestamp: str | None = None
    label: str | None = None
    prediction: str | None = None
    meta: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None  # None = infer

    @classmethod
    def from_flags(
        cls,
        *,
        timestamp: str | None = None,
        label: str | None = None,
        prediction: str | None = None,
        meta: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
        outputs: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        segments: Iterable[str] | None = None,
        features: Iterable[str] | None = None,
    ) -> RoleFlags:
        """Repeatable / comma-separated flag values flattened (see :func:`split_list`)."""
        return cls(
            timestamp=timestamp,
            label=label,
            prediction=prediction,
            meta=split_list(meta),
            ids=split_list(ids),
            outputs=split_list(outputs),
            exclude=split_list(exclude),
            segments=split_list(segments),
            features=split_list(features) or None,
        )

    @classmethod
    def from_roles(cls, roles: Roles, **more: Iterable[str]) -> RoleFlags:
        """The flags held by today's :class:`mlfail.config.Roles` (its ``extra_roles`` are
        other outputs), plus ``ids`` / ``outputs`` / ``exclude`` / ``segments`` given here."""
        extra = {k: split_list(v) for k, v in more.items()}

        def both(mine: tuple[str, ...], key: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys([*mine, *extra.get(key, ())]))

        return cls(
            timestamp=roles.timestamp,
            label=roles.label,
            prediction=roles.prediction,
            meta=roles.meta,
            ids=both(roles.ids, "ids"),
            outputs=both(roles.outputs, "outputs"),
            exclude=both(roles.exclude, "exclude"),
            segments=extra.get("segments", ()),
            features=roles.features,
        )

    def assigned(self) -> list[tuple[str, Role, str]]:
        """(column, role, flag) for every column a flag names, in precedence order."""
        out: list[tuple[str, Role, str]] = [(c, "excluded", "--exclude") for c in self.exclude]
        for col, role, flag in (
            (self.timestamp, "timestamp", "--timestamp"),
            (self.label, "label", "--label"),
            (self.prediction, "prediction", "--prediction"),
        ):
            if col:
                out.append((col, role, flag))  # type: ignore[arg-type]
        out += [(c, "output", "--model-output") for c in self.outputs]
        out += [(c, "identifier", "--id") for c in self.ids]
        out += [(c, "metadata", "--meta") for c in self.meta]
        out += [(c, "segment", "--segment") for c in self.segments]
        out += [(c, "feature", "--features") for c in self.features or ()]
        return out


@dataclass(frozen=True)
class ColumnRole:
    column: str
    role: Role
    source: Literal["flag", "inferred"]
    reason: str
    flag: str | None
    present: Literal["both", "reference", "live"] = "both"


@dataclass
class RoleAssignment:
    """Every column of the reference and live sources with its role, in schema order."""

    columns: list[ColumnRole] = field(default_factory=list)
    # exact distinct values (a null counts as one) of the live side's non-float columns, from
    # the roles query or a step of the walk (remember): root cause's cohort candidates reuse
    # them instead of counting again; read through live_counts, for live_frame only.
    # Not stored with a baseline, not in the JSON.
    live_distinct: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    # and their value counts (col, __count) where they have few values: the slices' probe
    # reuses them (same live source: roles are resolved once per walk). Not stored either.
    live_values: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False, compare=False)
    # the reference side's, with the frame they were counted on: the bin specs reuse them for
    # that very frame (values_of). Not stored either.
    ref_values: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False, compare=False)
    ref_frame: pl.LazyFrame | None = field(default=None, repr=False, compare=False)
    # the live frame live_distinct and live_values were counted on (None: not known)
    live_frame: pl.LazyFrame | None = field(default=None, repr=False, compare=False)

    def live_counts(self, source: object) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
        """(value-count tables, distinct counts) of the live columns counted so far in this
        walk, when ``source`` is the live frame they were counted on; else nothing."""
        lf = getattr(source, "lf", source)
        if self.live_frame is None or lf is not self.live_frame:
            return {}, {}
        return self.live_values, self.live_distinct

    def remember(self, source: object, tables: dict[str, pl.DataFrame], keep: int = 10_000) -> None:
        """Keep value-count tables (col, __count; the null row included) a step counted on
        the live frame, so that a later step of the same walk does not count them again: every
        column's distinct count, the tables of those with at most ``keep`` values."""
        lf = getattr(source, "lf", source)
        if self.live_frame is None or lf is not self.live_frame:
            return
        for c, t in tables.items():
            self.live_distinct.setdefault(c, t.height)
            if t.height <= keep:
                self.live_values.setdefault(c, t)

    def values_of(self, source: object) -> dict[str, pl.DataFrame] | None:
        """The reference value-count tables when ``source`` is the frame they were counted on
        (the same object: a source opened or normalised again may read other rows)."""
        lf = getattr(source, "lf", source)
        return self.ref_values if self.ref_frame is not None and lf is self.ref_frame else None

    def get(self, column: str) -> ColumnRole | None:
        return next((c for c in self.columns if c.column == column), None)

    def of(self, *roles: Role) -> list[str]:
        return [c.column for c in self.columns if c.role in roles]

    def features(self) -> list[str]:
        return self.of("feature")

    def never_features(self) -> list[str]:
        """Every column that must not be profiled as a feature."""
        return [c.column for c in self.columns if c.role != "feature"]

    def never_slice_keys(self) -> list[str]:
        """Identifiers, outputs, label, time, excluded, one-sided and constant columns."""
        return [c.column for c in self.columns if c.role in NEVER_SLICE_KEYS]

    def to_dict(self) -> dict[str, object]:
        counts: Counter[str] = Counter(c.role for c in self.columns)
        return {
            "columns": [asdict(c) for c in self.columns],
            "features": self.features(),
            "counts": {r: counts[r] for r in ROLES if counts[r]},
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> RoleAssignment:
        items = d.get("columns")
        rows = items if isinstance(items, list) else []
        return cls([ColumnRole(**c) for c in rows if isinstance(c, dict)])

    def note_lines(self, max_features: int = 8, max_columns: int | None = None) -> list[str]:
        """The human "assumed roles" block: one line per inferred column that is not a
        feature (at most ``max_columns``, then "+N more"), one line for the columns flags
        gave a role, then the features in one line."""
        lines = ["assumed roles (→ the flag that changes one):"]
        inferred = [c for c in self.columns if c.source == "inferred" and c.role != "feature"]
        shown = inferred if max_columns is None else inferred[:max_columns]
        width = max((len(c.column) for c in shown), default=0)
        for c in shown:
            tail = f"  → {c.flag}" if c.flag else ""
            lines.append(f"  {c.column:<{width}}  {c.role.replace('_', ' ')}: {c.reason}{tail}")
        if len(shown) < len(inferred):
            more = Counter(c.role.replace("_", " ") for c in inferred[len(shown) :])
            what = ", ".join(f"{n} {r}" for r, n in more.items())
            lines.append(f"  +{len(inferred) - len(shown)} more ({what}; --format json lists all)")
        given = [c for c in self.columns if c.source == "flag" and c.role != "feature"]
        if given:
            parts = [f"{c.column} ({c.flag})" for c in given]
            line = "  by flags: " + ", ".join(parts)
            while len(line) > LINE_WIDTH and len(parts) > 1:
                parts.pop()
                line = f"  by flags: {', '.join(parts)}, +{len(given) - len(parts)} more"
            lines.append(line)
        feats = self.features()
        names = ", ".join(feats[:max_features])
        more_f = f", … +{len(feats) - max_features}" if len(feats) > max_features else ""
        lines.append(f"  features ({len(feats)}): {names}{more_f}  → --exclude COL, --id COL")
        return lines


# flag-given roles whose statistics nothing reads (never features, cohorts, slice keys)
_FIXED_UNREAD = ("timestamp", "label", "prediction", "identifier", "output", "excluded")


def hive_keys(source: Source | pl.LazyFrame) -> dict[str, list[str]]:
    """Hive partition keys of a source and their directory values (``year=2024/`` → year)."""
    if not isinstance(source, Source) or not source.hive:
        return {}
    base = Path(source.spec) if Path(source.spec).is_dir() else None
    keys: dict[str, list[str]] = {}
    for f in source.files:
        parts = Path(f).relative_to(base).parts[:-1] if base else Path(f).parts[:-1]
        for p in parts:
            if "=" in p:
                k, v = p.split("=", 1)
                keys.setdefault(k, [])
                if v not in keys[k]:
                    keys[k].append(v)
    return {k: v for k, v in keys.items() if k in source.schema}


def _parses_as_date(value: object) -> bool:
    s = str(value)
    if re.fullmatch(r"\d{8}", s):
        s = f"{s[:4]}-{s[4:6]}-{s[6:]}"
    try:
        (datetime if len(s) > 10 else date).fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _time_partition(name: str, values: Sequence[str]) -> str | None:
    """Why the hive key ``name`` is time-valued, or None."""
    key = name.lower()
    if not values:
        return None
    if key in _PARTITION_RANGES:
        lo, hi = _PARTITION_RANGES[key]
        if all(re.fullmatch(r"\d{1,4}", v) and lo <= int(v) <= hi for v in values):
            return f"hive partition key ({key} {min(values)}…{max(values)})"
    if key in _PARTITION_DATES and all(_parses_as_date(v) for v in values):
        return f"hive partition key (dates {min(values)}…{max(values)})"
    return None


def _time_reason(name: str, dtype: pl.DataType, st: ColumnStats | None) -> str | None:
    if dtype in (pl.Date,) or isinstance(dtype, pl.Datetime):
        return f"a {dtype.base_type()} column other than --timestamp"
    if st is None or st.lo is None or st.hi is None:
        return None
    if dtype.is_integer() and _TIME_NAME.search(name):
        lo, hi = float(st.lo), float(st.hi)  # type: ignore[arg-type]
        if lo >= _EPOCH_MIN and hi < 1e19:
            return "integer epoch time (time-like name, epoch-sized values)"
    if dtype == pl.String and _parses_as_date(st.lo) and _parses_as_date(st.hi):
        return f"strings that parse as dates ({st.lo}…{st.hi})"
    return None


def _id_reason(
    name: str, dtype: pl.DataType, ref: ColumnStats, live: ColumnStats | None
) -> str | None:
    """Why an integer or string column is an identifier, or None (floats never are)."""
    if not (dtype.is_integer() or dtype == pl.String) or ref.non_null < ID_MIN_ROWS:
        return None
    pct = f"{ref.ratio:.0%} of {ref.non_null:,} values distinct"
    kind = "integer" if dtype.is_integer() else "string"
    if _ID_NAME.search(name) and ref.ratio > ID_NAMED_DISTINCT:
        return f"id-like name, {kind}, {pct}"
    if ref.ratio < ID_DISTINCT:
        return None
    if dtype == pl.String:
        return f"string, {pct}"
    lo, hi = int(ref.lo), int(ref.hi)  # type: ignore[call-overload]
    span = hi - lo + 1
    if span <= ID_DENSE_RANGE * ref.distinct:
        return f"integer, {pct}, dense (range {span:,}): a counter"
    if (
        live is not None
        and live.lo is not None
        and live.non_null >= ID_MIN_ROWS
        and live.ratio >= ID_DISTINCT
        and int(live.lo) > hi  # type: ignore[call-overload]
    ):
        return f"integer, {pct}, live values all above the reference's: a growing counter"
    return None


def infer_roles(
    reference: Source | pl.LazyFrame,
    live: Source | pl.LazyFrame | None,
    flags: RoleFlags | None = None,
) -> RoleAssignment:
    """Decide every column's role (see the module docstring for the rules, in order)."""
    flags = flags or RoleFlags()
    ref_lf = reference.lf if isinstance(reference, Source) else reference
    live_lf = live.lf if isinstance(live, Source) else live
    ref_schema = ref_lf.collect_schema()
    live_schema = live_lf.collect_schema() if live_lf is not None else ref_schema
    names = list(dict.fromkeys([*ref_schema.names(), *live_schema.names()]))
    given = _check_flags(flags, names)
    values: list[dict[str, pl.DataFrame]] = []
    # a column whose role a flag fixes, and that no rule or later step reads the statistics
    # of, is not counted (cohorts and slices never use these roles)
    fixed = {c for c, (r, _) in given.items() if r in _FIXED_UNREAD}
    # No rule reads a flag-given column's reference statistics, and a float's live ones only
    # matter when it is constant on the reference (_constant_live): the others are not taken.
    # (Live's other columns are: their distinct counts feed live_distinct.) Nor does any step
    # read the reference value counts of an integer given by --features: its spec counts its
    # own values (binning._numeric_or_int_spec); a string's feed its categorical spec.
    given_ints = {
        c for c, (r, _) in given.items()
        if r == "feature" and c in ref_schema and ref_schema[c].is_integer()
    }  # fmt: skip
    (ref_st,) = collect_stats([ref_lf], values, fixed | given_ints, [set(given)])
    live_st = None
    if live_lf is not None:
        idle = {
            n for n, t in live_schema.items()
            if t.is_float() and not (n in ref_st and ref_st[n].distinct <= 1)
        }  # fmt: skip
        (live_st,) = collect_stats([live_lf], values, fixed, [idle])
    partitions = {**hive_keys(reference), **(hive_keys(live) if live is not None else {})}

    decided: dict[str, ColumnRole] = {}
    for name in names:
        present = _present(name, ref_schema, live_schema)
        if name in given:
            role, flag = given[name]
            decided[name] = ColumnRole(name, role, "flag", f"given by {flag}", flag, present)
            continue
        dtype = ref_schema.get(name) or live_schema[name]
        st = ref_st.get(name) if name in ref_schema else None
        lst = live_st.get(name) if live_st is not None else None
        decided[name] = _infer_one(name, dtype, present, st, lst, partitions.get(name))
    if flags.prediction and flags.prediction in ref_schema:
        todo = [n for n, c in decided.items() if c.role == "feature" and c.source == "inferred"]
        for name, reason in find_outputs(ref_lf, flags.prediction, todo, live_lf).items():
            decided[name] = ColumnRole(name, "output", "inferred", reason, f"--features {name}")
    if flags.features is not None:
        for name, c in decided.items():
            if c.role == "feature" and c.source == "inferred":
                decided[name] = ColumnRole(
                    name, "excluded", "inferred", "not named in --features",
                    f"--features {name}", c.present,
                )  # fmt: skip
    distinct = (
        {
            n: s.distinct + (1 if s.nulls else 0)
            for n, s in live_st.items()
            if not live_schema[n].is_float()
        }
        if live_st is not None
        else {}
    )
    return RoleAssignment(
        [decided[n] for n in names],
        live_distinct=distinct,
        live_values=values[-1] if live_st is not None else {},
        ref_values=values[0],
        ref_frame=ref_lf,
        live_frame=live_lf,
    )


def _present(name: str, ref: pl.Schema, live: pl.Schema) -> Literal["both", "reference", "live"]:
    if name in ref and name in live:
        return "both"
    return "reference" if name in ref else "live"


def _check_flags(flags: RoleFlags, names: Sequence[str]) -> dict[str, tuple[Role, str]]:
    """{column: (role, flag)}; a column given two roles or absent from both sides is one
    usage-error line."""
    given: dict[str, tuple[Role, str]] = {}
    have = set(names)
    for col, role, flag in flags.assigned():
        if col not in have and flag != "--features":  # --features: its own check and message
            raise UsageError(f"{flag} {col}: no such column in the reference or the live data")
        if col in given and given[col][1] != flag:
            raise UsageError(f"column {col!r} is given to both {given[col][1]} and {flag}")
        given.setdefault(col, (role, flag))
    return given


def _infer_one(
    name: str,
    dtype: pl.DataType,
    present: Literal["both", "reference", "live"],
    st: ColumnStats | None,
    lst: ColumnStats | None,
    partition: list[str] | None,
) -> ColumnRole:
    def role(r: Role, reason: str, flag: str | None) -> ColumnRole:
        return ColumnRole(name, r, "inferred", reason, flag, present)

    time = _time_partition(name, partition) if partition is not None else None
    if present != "both":
        side = "live" if present == "live" else "reference"
        if time:
            return role("time_key", f"{time}, {side} only", None)
        what = "new column" if present == "live" else "missing column"
        return role("one_sided", f"{side} only: a {what} (schema finding), not a drift", None)
    time = time or _time_reason(name, dtype, st)
    if time:
        return role("time_key", time, f"--timestamp {name} to use it as event time")
    if not is_binnable(dtype) or st is None:
        return role("excluded", f"type {dtype} cannot be binned", None)
    if st.distinct <= 1 and _constant_live(st, lst):
        what = (
            "no values"
            if st.distinct == 0
            else f"one value ({st.lo if st.lo is not None else 'a single value'})"
        )
        return role("constant", f"{what} on both sides", f"--features {name}")
    reason = _id_reason(name, dtype, st, lst)
    if reason and "growing" in reason and _epoch_sized(float(st.lo), float(st.hi)):  # type: ignore[arg-type]
        reason = "epoch-sized integers, live all later than the reference: a time, not a value"
        return role("time_key", reason, f"--timestamp {name} to use it as event time")
    if reason:
        return role("identifier", reason, f"--features {name}")
    return role("feature", "profiled", f"--exclude {name} or --id {name}")


def resolve_roles(
    reference: object,
    live: object | None,
    roles: Roles,
    stored: RoleAssignment | None = None,
) -> Roles:
    """``roles`` with every column's role decided (:attr:`Roles.assignment`): the one
    resolution point each command calls at its library entry, before any bin spec is built.
    Already resolved roles are returned as they are (triage resolves once for every step).

    ``reference`` and ``live`` are sources or lazy frames; a reference that is not (a saved
    baseline) contributes its ``stored`` assignment instead, and the live schema is checked
    against it: a live column the baseline does not know is a new column. Sources of another
    engine (Spark) are not inferred on: the flags alone decide there.
    """
    if roles.assignment is not None:
        return roles
    flags = RoleFlags.from_roles(roles)
    ref = reference if isinstance(reference, Source | pl.LazyFrame) else None
    lv = live if isinstance(live, Source | pl.LazyFrame) else None
    if ref is not None:
        return replace(roles, assignment=infer_roles(ref, lv, flags))
    if stored is not None and lv is not None:
        return replace(roles, assignment=_with_live(stored, lv, flags))
    if lv is not None:  # a baseline older than stored roles: infer on the live side
        return replace(roles, assignment=infer_roles(lv, None, flags))
    return roles


def _with_live(
    stored: RoleAssignment, live: Source | pl.LazyFrame, flags: RoleFlags
) -> RoleAssignment:
    """A baseline's stored roles, with this run's flags on top and the live schema checked:
    columns only on the live side are new columns, stored columns absent from live missing."""
    lf = live.lf if isinstance(live, Source) else live
    names = lf.collect_schema().names()
    known = {c.column for c in stored.columns}
    given = _check_flags(flags, [*known, *names])
    cols: list[ColumnRole] = []
    for c in stored.columns:
        present: Literal["both", "reference", "live"] = "both" if c.column in names else "reference"
        if c.column in given:
            role, flag = given[c.column]
            cols.append(ColumnRole(c.column, role, "flag", f"given by {flag}", flag, present))
        elif present == "reference" and c.role == "feature":
            why = "reference only: a missing column (schema finding), not a drift"
            cols.append(ColumnRole(c.column, "one_sided", "inferred", why, None, present))
        else:
            cols.append(replace(c, present=present))
    partitions = hive_keys(live)
    for n in names:
        if n not in known:
            why = "live only: a new column (schema finding), not a drift"
            time = _time_partition(n, partitions[n]) if n in partitions else None
            if time and n not in given:
                cols.append(
                    ColumnRole(n, "time_key", "inferred", f"{time}, live only", None, "live")
                )
            elif n in given:
                role, flag = given[n]
                cols.append(ColumnRole(n, role, "flag", f"given by {flag}", flag, "live"))
            else:
                cols.append(ColumnRole(n, "one_sided", "inferred", why, None, "live"))
    return RoleAssignment(cols, live_frame=lf)  # counted on later in the walk (remember)
