"""Slices (design §5): planted slices are found, noise is not, numbers match numpy/scipy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import stats
from slice_data import frame, rates, where, write

from mlfail.binning import BinSpec
from mlfail.config import Roles
from mlfail.errors import MlfailError, UsageError
from mlfail.report.slices_model import SliceReport, slices_data
from mlfail.slices import SliceSettings, find_slices, fisher_p, welch_p

ROLES = Roles(timestamp="ts", label="y", prediction="score")


def find(report: SliceReport, sl: dict[str, Any]) -> int | None:
    for i, r in enumerate(report.slices):
        if r.slice == sl:
            return i
    return None


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, SliceReport]:
    """geo=BR at 50% accuracy in the live data; everything else at 93%."""
    tmp = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(1)
    ref = frame(rng, 6000, error_rate=0.07)
    live = frame(rng, 8000, error_rate=rates(0.07, ({"geo": "BR"}, 0.5)))
    r, lv = write(tmp, ref, live)
    return r, lv, find_slices(r, lv, roles=ROLES)


def test_planted_geo_is_ranked_first_while_global_looks_fine(
    planted: tuple[str, str, SliceReport],
) -> None:
    _, _, rep = planted
    g = rep.global_stats
    assert rep.mode == "labels" and rep.metric == "accuracy"
    assert 0.86 <= g.live <= 0.90  # type: ignore[operator]  # "global looks like 88%"
    top = rep.slices[0]
    assert top.slice == {"geo": "BR"}
    assert top.live == pytest.approx(0.5, abs=0.04)
    assert top.degraded and top.significant and top.baseline_source == "reference"
    assert top.reference == pytest.approx(0.93, abs=0.02)
    # no other slice is degraded except BR's own children
    assert all("geo" in r.slice and r.slice["geo"] == "BR" for r in rep.degraded())


def test_planted_two_predicate_slice_beats_its_parents(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ref = frame(rng, 6000, error_rate=0.07)
    live = frame(rng, 8000, error_rate=rates(0.07, ({"geo": "BR", "channel": "web"}, 0.55)))
    r, lv = write(tmp_path, ref, live)
    rep = find_slices(r, lv, roles=ROLES)
    child = find(rep, {"geo": "BR", "channel": "web"})
    assert child == 0
    assert rep.slices[0].degraded and rep.slices[0].predicates == 2
    for parent in ({"geo": "BR"}, {"channel": "web"}):
        i = find(rep, parent)
        assert i is None or i > child
    # the parent that carries the child's excess says so
    br = rep.slices[find(rep, {"geo": "BR"}) or 0]
    assert br.explained_by == {"geo": "BR", "channel": "web"}


def test_mean_scores_of_listed_slices_match_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ref = frame(rng, 6000, error_rate=0.07)
    live = frame(rng, 8000, error_rate=rates(0.07, ({"geo": "BR", "channel": "web"}, 0.55)))
    r, lv = write(tmp_path, ref, live)
    rep = find_slices(r, lv, roles=ROLES, settings=SliceSettings(top=0))

    def rows(df: pl.DataFrame, sl: dict[str, Any]) -> np.ndarray:
        m = np.ones(df.height, dtype=bool)
        for k, v in sl.items():
            col = df["ts"].dt.date() if k == "day(ts)" else df[k]
            m &= (col == v).to_numpy()
        return m

    checked: list[int] = []
    for s in rep.slices:
        if not set(s.slice) <= {"geo", "channel", "segment", "day(ts)"}:
            continue
        m = rows(live, s.slice)
        assert s.mean_score == pytest.approx(live["score"].to_numpy()[m].mean(), rel=1e-12)
        own = s.reference_slice or {}  # the reference's rows of the slice (no time cohort)
        rm = rows(ref, own)
        assert s.reference_mean_score == pytest.approx(
            ref["score"].to_numpy()[rm].mean(), rel=1e-12
        )
        checked.append(s.predicates)
    assert checked.count(1) >= 3 and checked.count(2) >= 1  # late sums of singles and pairs


def test_no_planted_slice_no_significant_slice_in_95_percent_of_runs(tmp_path: Path) -> None:
    # intrinsic heterogeneity (vip and IN harder) in both reference and live: still nothing
    hard = rates(0.08, ({"segment": "vip"}, 0.2), ({"geo": "IN"}, 0.15))
    runs_with_discovery = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        r, lv = write(
            tmp_path, frame(rng, 2500, error_rate=hard), frame(rng, 2500, error_rate=hard)
        )
        rep = find_slices(r, lv, roles=ROLES, settings=SliceSettings(top=0))
        assert rep.tested > 100
        if any(s.significant for s in rep.slices):
            runs_with_discovery += 1
    assert runs_with_discovery <= 2


def test_tiny_slice_with_all_errors_does_not_outrank_a_big_bad_slice(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n_tiny, n_big, n_rest = 40, 5000, 15000
    grp = np.array(["tiny"] * n_tiny + ["big"] * n_big + ["rest"] * n_rest)
    err = np.concatenate([np.ones(n_tiny), np.full(n_big, 0.30), np.full(n_rest, 0.12)])
    n = len(grp)
    y = (rng.random(n) < 0.3).astype(np.int64)
    wrong = rng.random(n) < err
    score = np.where((y == 1) ^ wrong, 0.9, 0.1)
    live = pl.DataFrame({"grp": grp, "y": y, "score": score})
    ref = live.drop("y")  # the reference has no labels: the baseline is the live complement
    r, lv = write(tmp_path, ref, live)
    rep = find_slices(
        r,
        lv,
        roles=Roles(label="y", prediction="score"),
        settings=SliceSettings(min_support=30, top=0),
    )
    order = [s.slice["grp"] for s in rep.slices]
    assert order.index("big") < order.index("tiny")
    tiny = rep.slices[order.index("tiny")]
    assert tiny.live == 0.0 and tiny.shrunken is not None and tiny.shrunken > 0.3  # shrunk
    assert tiny.baseline_source == "complement"
    assert rep.slices[0].slice == {"grp": "big"}


def test_intrinsically_harder_slice_is_not_degraded(tmp_path: Path) -> None:
    hard = rates(0.08, ({"geo": "IN"}, 0.30))
    rng = np.random.default_rng(9)
    ref, live = frame(rng, 6000, error_rate=hard), frame(rng, 8000, error_rate=hard)
    r, lv = write(tmp_path, ref, live)
    rep = find_slices(r, lv, roles=ROLES, settings=SliceSettings(top=0))
    i = find(rep, {"geo": "IN"})
    if i is not None:
        s = rep.slices[i]
        assert not s.degraded and not s.significant and s.baseline_source == "reference"
    assert not rep.degraded()
    # judged against the live complement (no reference labels), the same slice looks degraded:
    r2, _ = write(tmp_path, ref.drop("y"), live, "nolabels")
    rep2 = find_slices(r2, lv, roles=ROLES)
    assert rep2.slices[0].slice == {"geo": "IN"} and rep2.slices[0].degraded


def _ref_quantile_spec(ref: pl.DataFrame, col: str) -> BinSpec:
    edges = np.quantile(ref[col].to_numpy(), [0.2, 0.4, 0.6, 0.8])  # linear, as numpy does
    return BinSpec(feature=col, kind="numeric", edges=tuple(float(e) for e in edges))


def test_slice_numbers_match_an_independent_numpy_computation(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    ref = frame(rng, 5000, error_rate=rates(0.07, ({"channel": "pos"}, 0.12)))
    live = frame(rng, 7000, error_rate=rates(0.07, ({"geo": "MX"}, 0.4)))
    live = live.with_columns(  # a third of one day's labels have not arrived
        pl.when((pl.col("ts").dt.day() == 14) & (pl.int_range(pl.len()) % 3 == 0))
        .then(None)
        .otherwise(pl.col("y"))
        .alias("y")
    )
    r, lv = write(tmp_path, ref, live)
    kappa = 30.0
    rep = find_slices(r, lv, roles=ROLES, settings=SliceSettings(top=0, kappa=kappa))

    def err(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lab = df["y"].is_not_null().to_numpy()
        y = df["y"].fill_null(0).to_numpy()
        e = ((df["score"].to_numpy() >= 0.5) != (y == 1)) & lab
        return lab, e, y

    lab, e, y = err(live)
    rlab, re, _ = err(ref)
    gbar, rbar = e.sum() / lab.sum(), re.sum() / rlab.sum()
    x_spec = _ref_quantile_spec(ref, "x")
    x_labels = x_spec.labels()
    x_cohort = np.array(x_labels)[np.searchsorted(np.array(x_spec.edges), live["x"].to_numpy())]
    x_ref_cohort = np.array(x_labels)[np.searchsorted(np.array(x_spec.edges), ref["x"].to_numpy())]
    live_day = np.array([t.date() for t in live["ts"].to_list()])
    live_week = np.array(
        [f"{t.isocalendar()[0]}-W{t.isocalendar()[1]:02d}" for t in live["ts"].to_list()]
    )

    def masks(sl: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
        m = np.ones(live.height, dtype=bool)
        rm: np.ndarray | None = np.ones(ref.height, dtype=bool)
        for k, v in sl.items():
            if k == "x":
                m &= x_cohort == v
                rm = None if rm is None else rm & (x_ref_cohort == v)
            elif k == "day(ts)":
                m &= live_day == v
            elif k == "week(ts)":
                m &= live_week == v
            else:
                m &= live[k].to_numpy() == v
                rm = None if rm is None else rm & (ref[k].to_numpy() == v)
        return m, rm

    checked = 0
    for s in rep.slices:
        if s.predicates == 2 and not {"day(ts)", "week(ts)", "x"} & set(s.slice) and checked > 3:
            continue
        m, _ = masks(s.slice)
        n, k = int((m & lab).sum()), int((m & e).sum())
        assert s.rows == int(m.sum()) and s.labelled_rows == n
        assert s.live == pytest.approx(1 - k / n, abs=1e-12)
        nc, kc = int((~m & lab).sum()), int((~m & e).sum())
        assert s.complement == pytest.approx(1 - kc / nc, abs=1e-12)
        shr = (k + kappa * gbar) / (n + kappa)
        assert s.shrunken == pytest.approx(1 - shr, abs=1e-12)
        # the reference slice drops predicates the reference cannot evaluate (the day)
        ref_keys = {c: v for c, v in s.slice.items() if c not in ("day(ts)", "week(ts)")}
        assert s.reference_slice == ref_keys
        _, rmask = masks(ref_keys)
        assert rmask is not None
        rn, rk = int((rmask & rlab).sum()), int((rmask & re).sum())
        # baseline: own reference (shrunk) moved by as much as the rest of the traffic moved
        own = (rk + kappa * rbar) / (rn + kappa)
        r_rest, rk_rest = int(rlab.sum()) - rn, int(re.sum()) - rk
        rest_ref = rk_rest / r_rest if r_rest > 0 else rbar
        base = min(max(own + (kc / nc - rest_ref), 0.0), 1.0)
        assert s.baseline == pytest.approx(1 - base, abs=1e-12)
        assert s.excess_errors == pytest.approx(n * (shr - base), abs=1e-9)
        assert s.delta == pytest.approx(shr - base, abs=1e-12)

        def one_sided(table: list[list[int]]) -> float:
            a, b = table[0][0], table[1][0]
            n1, n2 = table[0][0] + table[0][1], table[1][0] + table[1][1]
            expected = n1 * (a + b) / (n1 + n2)
            if min(expected, n1 - expected) < 100:  # exact where mlfail is exact
                return float(stats.fisher_exact(table, alternative="greater").pvalue)
            _, p2, _, _ = stats.chi2_contingency(table, correction=False)
            return float(p2 / 2 if a / n1 > b / n2 else 1 - p2 / 2)

        p_ref = one_sided([[k, n - k], [rk, rn - rk]])
        p_comp = one_sided([[k, n - k], [kc, nc - kc]])
        assert s.p_value_reference == pytest.approx(p_ref, rel=1e-6, abs=1e-300)
        assert s.p_value_complement == pytest.approx(p_comp, rel=1e-6, abs=1e-300)
        assert s.p_value == pytest.approx(max(p_ref, p_comp), rel=1e-6, abs=1e-300)
        sel = m & lab
        yy, pp = y[sel], live["score"].to_numpy()[sel]
        u = stats.mannwhitneyu(pp[yy == 1], pp[yy == 0]).statistic
        assert s.auc == pytest.approx(u / ((yy == 1).sum() * (yy == 0).sum()), abs=1e-12)
        checked += 1
    assert checked >= 8
    assert rep.slices[0].slice == {"geo": "MX"}
    assert rep.global_stats.unlabelled_rows == int((~lab).sum())
    sc = live["score"].to_numpy()
    u = stats.mannwhitneyu(sc[lab & (y == 1)], sc[lab & (y == 0)]).statistic
    g_auc = u / ((lab & (y == 1)).sum() * (lab & (y == 0)).sum())
    assert rep.global_stats.auc == pytest.approx(g_auc, abs=1e-12)


def test_fisher_p_matches_scipy_exact_and_z_test_for_large_counts() -> None:
    rng = np.random.default_rng(0)
    n1 = rng.integers(30, 300, 50)
    n2 = rng.integers(100, 3000, 50)
    e1 = rng.binomial(n1, 0.15)
    e2 = rng.binomial(n2, 0.1)
    got = fisher_p(e1, n1, e2, n2)
    for i in range(50):
        table = [[e1[i], n1[i] - e1[i]], [e2[i], n2[i] - e2[i]]]
        want = stats.fisher_exact(table, alternative="greater").pvalue
        if min(n1[i] * (e1[i] + e2[i]) / (n1[i] + n2[i]), 1e9) < 100:
            assert got[i] == pytest.approx(want, rel=1e-9)
    big = fisher_p(np.array([3000]), np.array([20000]), np.array([2800]), np.array([20000]))
    _, p2, _, _ = stats.chi2_contingency([[3000, 17000], [2800, 17200]], correction=False)
    assert big[0] == pytest.approx(p2 / 2, rel=1e-9)


def test_welch_p_matches_scipy_on_raw_values() -> None:
    rng = np.random.default_rng(1)
    a, b = np.abs(rng.normal(1.3, 1, 200)), np.abs(rng.normal(1.0, 0.7, 900))
    got = welch_p(
        np.array([a.sum()]),
        np.array([(a * a).sum()]),
        np.array([len(a)]),
        np.array([b.sum()]),
        np.array([(b * b).sum()]),
        np.array([len(b)]),
    )
    want = stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue
    assert got[0] == pytest.approx(want, rel=1e-9)


def test_regression_slices_rank_by_excess_absolute_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)

    def reg(n: int, bad: bool) -> pl.DataFrame:
        df = frame(rng, n)
        y = rng.normal(100, 10, n)
        noise = np.where(where(df, geo="BR") & bad, 15.0, 5.0)
        return df.with_columns(
            pl.Series("y", y), pl.Series("score", y + rng.normal(0, 1, n) * noise)
        )

    ref, live = reg(4000, False), reg(6000, True)
    r, lv = write(tmp_path, ref, live)
    rep = find_slices(r, lv, roles=ROLES, task="regression")
    assert rep.metric == "mae" and rep.task == "regression"
    top = rep.slices[0]
    assert top.slice == {"geo": "BR"} and top.degraded
    m = where(live, geo="BR")
    ae = np.abs(live["y"].to_numpy() - live["score"].to_numpy())
    assert top.live == pytest.approx(ae[m].mean(), rel=1e-9)
    assert top.complement == pytest.approx(ae[~m].mean(), rel=1e-9)
    assert top.delta is not None and top.delta > 0  # MAE went up
    g = rep.global_stats
    assert g.live == pytest.approx(ae.mean(), rel=1e-9)


def test_without_labels_slices_are_ranked_by_prediction_psi(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    ref = frame(rng, 6000)
    live = frame(rng, 6000)
    br = where(live, geo="BR")
    live = live.with_columns(
        pl.Series(
            "score",
            np.where(br, np.clip(live["score"].to_numpy() + 0.3, 0, 1), live["score"].to_numpy()),
        )
    ).drop("y")
    r, lv = write(tmp_path, ref, live)
    rep = find_slices(r, lv, roles=Roles(timestamp="ts", prediction="score"))
    assert rep.mode == "no_labels" and rep.metric == "prediction_psi"
    assert any("no labels" in n for n in rep.notes)
    top = rep.slices[0]
    assert top.slice == {"geo": "BR"} and top.degraded
    # independent PSI: 10 reference-quantile bins (linear), right-closed, ε = 1e-4
    edges = np.quantile(ref["score"].to_numpy(), np.arange(1, 10) / 10)
    rb = where(ref, geo="BR")
    p = np.bincount(np.searchsorted(edges, ref["score"].to_numpy()[rb]), minlength=10) / rb.sum()
    q = np.bincount(np.searchsorted(edges, live["score"].to_numpy()[br]), minlength=10) / br.sum()
    p, q = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
    assert top.psi == pytest.approx(float(((q - p) * np.log(q / p)).sum()), rel=1e-9)
    assert top.mean_score == pytest.approx(live["score"].to_numpy()[br].mean(), rel=1e-9)
    assert top.reference_mean_score == pytest.approx(ref["score"].to_numpy()[rb].mean(), rel=1e-9)


def test_label_column_without_any_label_falls_back_to_prediction_drift(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    ref, live = frame(rng, 3000), frame(rng, 3000)
    live = live.with_columns(pl.lit(None, dtype=pl.Int64).alias("y"))
    r, lv = write(tmp_path, ref, live)
    rep = find_slices(r, lv, roles=ROLES)
    assert rep.mode == "no_labels"
    assert any("no labelled rows" in n for n in rep.notes)


def test_candidates_roles_identifiers_high_cardinality_and_segment(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    ref, live = frame(rng, 3000), frame(rng, 3000)

    def extra(df: pl.DataFrame) -> pl.DataFrame:
        n = df.height
        return df.with_columns(
            pl.Series("event_id", [f"e{i}" for i in range(n)]),
            pl.Series("merchant", [f"m{i % 80}" for i in range(n)]),  # 80 values: top 20
            pl.Series("hour", rng.integers(0, 24, n)),  # integer, 24 values: as is
            pl.col("ts").dt.date().alias("day"),  # a date column: the time cohort covers it
        )

    r, lv = write(tmp_path, extra(ref), extra(live))
    rep = find_slices(r, lv, roles=ROLES, settings=SliceSettings(top=0))
    kinds = {c["name"]: c["kind"] for c in rep.candidates}
    assert kinds == {
        "geo": "column",
        "channel": "column",
        "segment": "column",
        "merchant": "top",
        "hour": "column",
        "x": "cohort",
        "day(ts)": "day",
        "week(ts)": "week",
    }
    assert any(n.startswith("event_id: identifier (") for n in rep.notes)
    keys = {k for s in rep.slices for k in s.slice}
    assert not keys & {"y", "score", "ts", "event_id", "day"}
    others = [s for s in rep.slices if s.slice.get("merchant") == "__other__"]
    assert all(s.rows > 1000 for s in others if s.predicates == 1)
    seg = find_slices(r, lv, roles=ROLES, segments=["geo"])
    assert {c["name"] for c in seg.candidates} == {"geo", "day(ts)", "week(ts)"}
    with pytest.raises(UsageError, match="--segment score: that column is a role"):
        find_slices(r, lv, roles=ROLES, segments=["score"])
    with pytest.raises(MlfailError, match=r"column 'nope' \(from --segment\) does not exist"):
        find_slices(r, lv, roles=ROLES, segments=["nope"])


class FakeBaseline:
    """A saved baseline: no rows, only performance by single column (the protocol hook)."""

    name = "baseline.json"
    lazy = None

    def __init__(self, ref: pl.DataFrame):
        self.ref = ref
        self.specs: list[BinSpec] = [
            BinSpec(
                "x",
                "numeric",
                edges=tuple(float(v) for v in np.quantile(ref["x"], np.arange(1, 10) / 10)),
            )
        ]

    @property
    def columns(self) -> list[str]:
        return self.ref.columns

    def table(self, keys: Any = ()) -> None:
        return None

    def performance(self, keys: list[str]) -> pl.DataFrame:
        from mlfail.performance import infer_task, performance_table

        spec = infer_task(self.ref.schema, "y", "score")
        return performance_table(self.ref.lazy(), spec, keys)


def test_a_reference_without_rows_uses_its_performance_by_segment(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    ref = frame(rng, 5000, error_rate=rates(0.07, ({"geo": "IN"}, 0.3)))
    live = frame(rng, 6000, error_rate=rates(0.07, ({"geo": "IN"}, 0.3), ({"geo": "BR"}, 0.5)))
    _, lv = write(tmp_path, ref, live)
    rep = find_slices(FakeBaseline(ref), lv, roles=ROLES, settings=SliceSettings(top=0))  # type: ignore[arg-type]
    assert rep.slices[0].slice == {"geo": "BR"}
    i = find(rep, {"geo": "IN"})
    assert i is None or not rep.slices[i].degraded  # judged against its own (hard) reference
    ind = rep.slices[i] if i is not None else None
    if ind is not None:
        assert ind.baseline_source == "reference"
    assert {c["name"] for c in rep.candidates} >= {"x"}  # quintiles of the stored deciles


def test_settings_are_validated() -> None:
    with pytest.raises(UsageError, match="--max-predicates"):
        SliceSettings(max_predicates=3)
    with pytest.raises(UsageError, match="--min-support"):
        SliceSettings(min_support=0)
    with pytest.raises(UsageError, match="--fail-on-delta"):
        SliceSettings(fail_on_delta=-1)


def test_time_cohort_values_are_dates_and_iso_weeks(planted: tuple[str, str, SliceReport]) -> None:
    _, _, rep = planted
    data = slices_data(rep)
    assert data["schema_version"] == 1
    days = [s for s in rep.slices if "day(ts)" in s.slice]
    weeks = [s for s in rep.slices if "week(ts)" in s.slice]
    for s in days:
        assert isinstance(s.slice["day(ts)"], dt.date)
    for s in weeks:
        assert s.slice["week(ts)"].startswith("2026-W")


def test_class_predictions_null_keys_and_time_zones(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)

    def tweak(df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(
            pl.when(pl.col("channel") == "pos")
            .then(None)
            .otherwise(pl.col("channel"))
            .alias("channel"),
            pl.when(pl.col("score") >= 0.5)
            .then(pl.lit("fraud"))
            .otherwise(pl.lit("ok"))
            .alias("p"),
            pl.when(pl.col("y") == 1).then(pl.lit("fraud")).otherwise(pl.lit("ok")).alias("label"),
            pl.col("ts").dt.replace_time_zone("America/Sao_Paulo"),
        ).drop("y", "score")

    ref = tweak(frame(rng, 3000))
    planted = rates(0.07, ({"geo": "BR"}, 0.5), ({"channel": "pos"}, 0.2))  # pos → null below
    live = tweak(frame(rng, 4000, error_rate=planted))
    r, lv = write(tmp_path, ref, live)
    rep = find_slices(r, lv, roles=Roles(timestamp="ts", label="label", prediction="p"))
    assert rep.slices[0].slice == {"geo": "BR"} and rep.slices[0].auc is None
    m = live["geo"] == "BR"
    wrong = (live["p"] != live["label"]).filter(m)
    assert rep.slices[0].live == pytest.approx(1 - wrong.mean(), abs=1e-12)  # type: ignore[operator]
    all_slices = find_slices(
        r,
        lv,
        roles=Roles(timestamp="ts", label="label", prediction="p"),
        settings=SliceSettings(top=0, max_predicates=1),
    )
    null = find(all_slices, {"channel": None})
    assert null is not None and all_slices.slices[null].rows == live["channel"].null_count()
    assert all_slices.slices[null].reference_slice == {"channel": None}
    utc_days = {t.astimezone(dt.UTC).date() for t in live["ts"].to_list()}
    days = {s.slice["day(ts)"] for s in all_slices.slices if "day(ts)" in s.slice}
    assert days <= utc_days and len(utc_days) == 15  # São Paulo evenings fall on the next UTC day


def test_auc_for_matches_mann_whitney_on_continuous_scores() -> None:
    from mlfail.performance import infer_task
    from mlfail.slices import auc_for

    rng = np.random.default_rng(14)
    n = 20000
    y = (rng.random(n) < 0.3).astype(np.int64)
    score = 1 / (1 + np.exp(-(1.5 * y + rng.normal(0, 1, n) - 1)))  # continuous, no ties
    g = rng.choice(["a", "b", "c"], n)
    df = pl.DataFrame({"y": y, "p": score, "g": g})
    spec = infer_task(df.schema, "y", "p")
    got = auc_for(df.lazy(), spec, [pl.lit(True), pl.col("g") == "b", pl.col("g") == "zzz"])
    for value, m in ((got[0], np.ones(n, bool)), (got[1], g == "b")):
        u = stats.mannwhitneyu(score[m & (y == 1)], score[m & (y == 0)]).statistic
        assert value == pytest.approx(u / ((m & (y == 1)).sum() * (m & (y == 0)).sum()), abs=1e-5)
    assert got[2] is None


@pytest.mark.parametrize("chunk", [1 << 20, 700])  # one chunk; eleven chunks
def test_auc_for_ties_nulls_and_chunks_match_mann_whitney(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tied scores count ½; rows without a label or a (finite) score are in no AUC; the
    chunked pass adds its chunks to the same counts as one chunk would."""
    from mlfail.performance import infer_task
    from mlfail.slices import auc_for

    monkeypatch.setattr("mlfail.slices.stats.BATCH_ROWS", chunk)
    rng = np.random.default_rng(15)
    n = 7500
    y = (rng.random(n) < 0.4).astype(float)
    score = np.round(np.clip(0.3 * y + rng.normal(0.4, 0.2, n), 0, 1) * 40) / 40  # 41 values
    g = rng.choice(["a", "b"], n)
    y_col = pl.Series("y", y).scatter(np.arange(0, n, 17), None)  # unlabelled rows
    p_col = pl.Series("p", score).scatter(np.arange(5, n, 23), None)
    p_col = p_col.scatter(np.arange(7, n, 29), float("nan"))
    df = pl.DataFrame([y_col.cast(pl.Int64), p_col, pl.Series("g", g)])
    spec = infer_task(df.schema, "y", "p")
    got = auc_for(df.lazy(), spec, [pl.lit(True), pl.col("g") == "a"])
    ok = y_col.is_not_null().to_numpy() & p_col.is_not_null().to_numpy() & ~np.isnan(score)
    ok &= ~p_col.is_nan().fill_null(True).to_numpy()
    for value, m in ((got[0], ok), (got[1], ok & (g == "a"))):
        pos, neg = score[m & (y == 1)], score[m & (y == 0)]
        u = stats.mannwhitneyu(pos, neg).statistic  # ties count ½
        assert value == pytest.approx(u / (len(pos) * len(neg)), abs=1e-12)
