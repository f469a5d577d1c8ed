"""Stratified log-rank test and BH q-values of the survival table (issue 13, item 5)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from icibiome.signatures import survival as sv


def test_one_stratum_equals_lifelines_logrank():
    from lifelines.statistics import logrank_test

    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(10, 60))
        t = np.round(rng.exponential(10, n))  # rounded: tied times
        t[t == 0] = 1
        e = rng.random(n) < 0.7
        g = np.where(rng.random(n) < 0.5, "high", "low")
        if len(set(g)) < 2 or not e.any():
            continue
        ours = sv.stratified_logrank(t, e, g)
        ref = logrank_test(t[g == "high"], t[g == "low"], e[g == "high"], e[g == "low"])
        assert ours["chi2"] == pytest.approx(ref.test_statistic, rel=1e-9)
        assert ours["p_value"] == pytest.approx(ref.p_value, rel=1e-9)


def test_two_strata_hand_computed():
    # stratum A: (time, event, group) (1,1,h) (2,1,l) (3,0,h) (4,1,l)
    #   t=1: n=4, n1=2, d=1, d1=1: O-E = 1 - 2/4 = 1/2, V = 1 (1/2)(1/2)(3/3) = 1/4
    #   t=2: n=3, n1=1, d=1, d1=0: O-E = -1/3,         V = (1/3)(2/3)(2/2) = 2/9
    #   t=4: n=1, n1=0: O-E = 0, no variance
    # stratum B: (1,1,l) (2,1,h) (2,1,l) (5,0,h)
    #   t=1: n=4, n1=2, d=1, d1=0: O-E = -1/2,          V = 1/4
    #   t=2: n=3, n1=2, d=2, d1=1: O-E = 1 - 4/3 = -1/3, V = 2 (2/3)(1/3)(1)/(2) = 2/9
    # total O-E = 1/6 - 5/6 = -2/3, V = 17/18, chi2 = (4/9) / (17/18) = 8/17
    t = [1, 2, 3, 4, 1, 2, 2, 5]
    e = [1, 1, 0, 1, 1, 1, 1, 0]
    g = ["h", "l", "h", "l", "l", "h", "l", "h"]
    s = ["A"] * 4 + ["B"] * 4
    r = sv.stratified_logrank(t, e, g, s)
    assert r["o_minus_e"] == pytest.approx(-2 / 3)
    assert r["variance"] == pytest.approx(17 / 18)
    assert r["chi2"] == pytest.approx(8 / 17)
    assert r["p_value"] == pytest.approx(stats.chi2.sf(8 / 17, 1))
    assert r["n_strata"] == 2
    assert sv.stratified_logrank(t, e, g)["chi2"] != pytest.approx(8 / 17)  # strata matter


def test_stratified_logrank_is_the_stratified_cox_score_test():
    """Without tied times it equals the score test of a stratified Cox model (statsmodels PHReg)."""
    from statsmodels.duration.hazard_regression import PHReg

    rng = np.random.default_rng(5)
    n = 90
    strata = rng.integers(0, 3, n)
    x = (rng.random(n) < 0.5).astype(float)
    t = rng.exponential(np.exp(0.6 * strata - 0.4 * x))  # continuous: no ties
    e = (rng.random(n) < 0.8).astype(float)
    model = PHReg(t, x[:, None], status=e, strata=strata, ties="breslow")
    u = model.score(np.zeros(1))[0]
    info = -model.hessian(np.zeros(1))[0, 0]
    ours = sv.stratified_logrank(t, e, np.where(x > 0, "a", "b"), strata)
    assert ours["o_minus_e"] == pytest.approx(u, rel=1e-9)
    assert ours["variance"] == pytest.approx(info, rel=1e-9)
    assert ours["chi2"] == pytest.approx(u**2 / info, rel=1e-9)


def test_cohort_confounding_removed_by_stratification():
    # group "high" is mostly in the cohort with long follow-up, with no effect within cohorts
    rng = np.random.default_rng(11)
    rows = []
    for cohort, scale, share_high in (("long", 30.0, 0.8), ("short", 5.0, 0.2)):
        for _ in range(150):
            rows.append({"cohort": cohort, "t": rng.exponential(scale),
                         "g": "high" if rng.random() < share_high else "low"})  # fmt: skip
    d = pd.DataFrame(rows)
    plain = sv.stratified_logrank(d["t"], np.ones(len(d)), d["g"])
    strat = sv.stratified_logrank(d["t"], np.ones(len(d)), d["g"], d["cohort"])
    assert plain["p_value"] < 1e-6  # confounded
    assert strat["p_value"] > 0.05


def _cohort_data(seed=3, n=120):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "cohort": rng.choice(["c1", "c2", "c3"], n),
        "good": rng.normal(size=n), "noise": rng.normal(size=n),
    })  # fmt: skip
    df["pfs_months"] = rng.exponential(np.exp(0.7 * df["good"]) * 10)
    df["pfs_event"] = (rng.random(n) < 0.8).astype(int)
    df["os_months"] = df["pfs_months"] * 1.5
    df["os_event"] = df["pfs_event"]
    return df


def test_survival_table_logrank_is_stratified_and_has_bh_q_values():
    df = _cohort_data()
    tab, _ = sv.survival_table(df, ["good", "noise"])
    assert len(tab) == 4 and (tab["logrank_strata"] == "cohort").all()
    for p, q in (("p_value", "q_value"), ("p_high_vs_low", "q_high_vs_low"),
                 ("logrank_p", "logrank_q")):  # fmt: skip
        np.testing.assert_allclose(tab[q], stats.false_discovery_control(tab[p], method="bh"))
    # the logrank p is the cohort-stratified one, recomputed here from the same groups
    d = df.dropna()
    grp = sv.score_groups(d["good"], d["cohort"])
    ref = sv.stratified_logrank(d["pfs_months"], d["pfs_event"], grp, d["cohort"])
    row = tab[(tab["score"] == "good") & (tab["endpoint"] == "PFS")].iloc[0]
    assert row["logrank_p"] == pytest.approx(ref["p_value"])
    assert row["logrank_p"] < 0.01
    unstrat, _ = sv.survival_table(df, ["good"], strata=None)
    assert (unstrat["logrank_strata"] == "none").all()
