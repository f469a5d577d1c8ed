"""Nested log-ratio balance (icibiome.signatures.balance) on synthetic cohorts."""

import numpy as np
import pandas as pd
import pytest

from icibiome.signatures import balance as bl
from icibiome.signatures import differential as da
from icibiome.taxonomy.harmonise import NameMap


def _cohorts(n_cohorts=5, n=40, n_feat=60, signal=4.0, seed=0):
    """Fractions (samples x s__ features), info; s__f0..f2 up in R, s__f3..f5 up in NR."""
    rng = np.random.default_rng(seed)
    rows, info = [], []
    for c in range(n_cohorts):
        y = np.array([1] * (n // 2) + [0] * (n - n // 2))
        base = rng.dirichlet(np.full(n_feat, 2.0), n)
        base[rng.random(base.shape) < 0.1] = 0.0  # sparse, as microbiome profiles
        base[y == 1, 0:3] *= signal
        base[y == 0, 3:6] *= signal
        base = base / base.sum(axis=1, keepdims=True)
        ids = [f"c{c}_s{i}" for i in range(n)]
        rows.append(pd.DataFrame(base, index=ids, columns=[f"s__f{j}" for j in range(n_feat)]))
        info.append(pd.DataFrame({"cohort": f"C{c}", "response": np.where(y == 1, "R", "NR")},
                                 index=ids))  # fmt: skip
    return pd.concat(rows), pd.concat(info)


@pytest.fixture(scope="module")
def data():
    return _cohorts()


def test_cohort_effects_agree_with_the_linda_step_of_differential(data):
    frac, info = data
    ids = info.index[info["cohort"] == "C0"]
    ref = da.differential_cohort(frac.loc[ids], info.loc[ids], min_prevalence=0.1)
    ref = ref.set_index("feature")
    y = (info.loc[ids, "response"] == "R").to_numpy()
    eff, se = bl.cohort_effects(frac.loc[ids].to_numpy(), y, np.array(["species"] * 60), 0.1)
    got = pd.DataFrame({"effect": eff, "se": se}, index=frac.columns).dropna()
    assert list(got.index) == list(ref.index)
    np.testing.assert_allclose(got["effect"], ref["effect"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got["se"], ref["se"], rtol=1e-9)
    # vectorised over permutations: row p equals the single-labelling call
    perms = np.array([np.random.default_rng(s).permutation(y) for s in range(3)])
    ep, sp = bl.cohort_effects(frac.loc[ids].to_numpy(), perms, np.array(["species"] * 60), 0.1)
    for p in range(3):
        e1, s1 = bl.cohort_effects(frac.loc[ids].to_numpy(), perms[p], np.array(["species"] * 60))
        np.testing.assert_allclose(ep[p], e1, atol=1e-12)
        np.testing.assert_allclose(sp[p], s1, atol=1e-12)


def test_balance_model_finds_the_planted_markers(data):
    frac, info = data
    m = bl.BalanceModel().fit(frac, info["response"] == "R", info["cohort"])
    mk = m.markers_.set_index("feature")["direction"]
    assert {"s__f0", "s__f1", "s__f2"} <= set(mk[mk == "R"].index)
    assert {"s__f3", "s__f4", "s__f5"} <= set(mk[mk == "NR"].index)
    assert m.coef_ > 0 and m.params_["inner_auc"] > 0.8


def test_new_patient_scored_alone_equals_batch_and_shuffled_mix(data):
    frac, info = data
    m = bl.BalanceModel().fit(frac, info["response"] == "R", info["cohort"])
    other, _ = _cohorts(n_cohorts=1, seed=7)
    other.index = "new_" + other.index
    batch = m.predict_proba(frac)[:, 1]
    alone = np.array([m.predict_proba(frac.iloc[[i]])[0, 1] for i in range(len(frac))])
    mix = pd.concat([frac, other]).sample(frac=1.0, random_state=3)
    mix = mix[list(reversed(mix.columns))]  # column order does not matter either
    mixed = pd.Series(m.predict_proba(mix)[:, 1], index=mix.index).loc[frac.index].to_numpy()
    assert np.array_equal(alone, batch) and np.array_equal(batch, mixed)
    # frozen form: a dict (YAML) round trip scores exactly the same
    import yaml

    m2 = bl.BalanceModel.from_dict(yaml.safe_load(yaml.safe_dump(m.to_dict())))
    assert np.array_equal(m2.predict_proba(frac)[:, 1], batch)


def test_held_out_labels_never_used_bit_identical_predictions():
    frac, info = _cohorts(n_cohorts=4, signal=1.5, seed=2)
    res = bl.balance_loco(frac, info, n_permutations=0)
    perm = info.copy()
    ids = perm.index[perm["cohort"] == "C1"]
    perm.loc[ids, "response"] = np.random.default_rng(5).permutation(perm.loc[ids, "response"])
    res2 = bl.balance_loco(frac, perm, n_permutations=0)
    a = res.predictions.set_index("sample_id").loc[ids, "probability"].to_numpy()
    b = res2.predictions.set_index("sample_id").loc[ids, "probability"].to_numpy()
    assert np.array_equal(a, b)
    # the held-out fold equals a model fitted on the training cohorts only
    tr = info.index[info["cohort"] != "C1"]
    m = bl.BalanceModel().fit(frac.loc[tr], info.loc[tr, "response"] == "R",
                              info.loc[tr, "cohort"])  # fmt: skip
    assert np.array_equal(m.predict_proba(frac.loc[ids])[:, 1], a)


def test_loco_table_null_and_p_value():
    frac, info = _cohorts(n_cohorts=4, seed=4)
    res = bl.balance_loco(frac, info, n_permutations=9, seed=3)
    tab = res.table.set_index(["model", "held_out"])
    assert list(res.table.columns[: len(bl.AUC_COLUMNS)]) == bl.AUC_COLUMNS
    mean = tab.loc[("balance", "mean")]
    assert mean["auc"] > 0.8 and mean["n_permutations"] == 9
    null = res.null.loc[res.null["model"] == "balance", "mean"].to_numpy()
    assert mean["perm_p"] == (1 + (null >= mean["auc"]).sum()) / 10 == 0.1
    assert abs(null.mean() - 0.5) < 0.1  # the null centres on 0.5
    assert (tab.xs("balance", level="model").drop(["mean", "pooled"])["ci_low"] > 0).all()
    # seeded: the same null again
    again = bl.balance_loco(frac, info, n_permutations=9, seed=3)
    pd.testing.assert_frame_equal(res.null, again.null)


def test_null_has_no_signal_when_labels_are_random():
    # no planted signal: the observed mean AUC is an ordinary draw of the null (measured
    # p = 0.55, 0.80, 0.40 for these seeds; a leak would push every p towards 1/20)
    ps = []
    for seed in (1, 2, 3):
        frac, info = _cohorts(n_cohorts=4, signal=1.0, seed=seed)
        res = bl.balance_loco(frac, info, n_permutations=19, seed=1)
        ps.append(res.table.set_index(["model", "held_out"]).loc[("balance", "mean"), "perm_p"])
    assert min(ps) > 0.1 and np.mean(ps) > 0.3


def test_empty_model_is_reported_and_not_averaged():
    frac, info = _cohorts(n_cohorts=3, signal=1.0, seed=11)
    res = bl.balance_loco(frac, info, grid={"min_agree": (3,), "min_effect": (50.0,)})
    tab = res.table.set_index("held_out")
    assert tab.loc[["C0", "C1", "C2"], "auc"].isna().all()
    assert tab.loc["C0", "note"].startswith("empty model")
    assert np.isnan(tab.loc["mean", "auc"]) and res.predictions.empty


def test_several_ranks_and_stack():
    frac, info = _cohorts(n_cohorts=4, seed=5)
    genus = pd.DataFrame({"g__A": frac.iloc[:, :30].sum(axis=1), "g__B": frac.iloc[:, 30:].sum(
        axis=1)})  # fmt: skip
    both = pd.concat([frac, genus], axis=1)
    res = bl.balance_loco(both, info, extra=pd.DataFrame({"x": np.random.default_rng(0).normal(
        size=len(info))}, index=info.index))  # fmt: skip
    assert set(res.table["model"]) == {"balance", "stack"}
    assert res.table["features"].iloc[0] == "species+genus"
    st = res.table.set_index(["model", "held_out"]).loc[("stack", "mean"), "auc"]
    assert st > 0.75
    m = bl.StackModel().fit(both, info["response"] == "R", info["cohort"],
                            pd.DataFrame({"x": 0.0}, index=info.index))  # fmt: skip
    assert m.predict_proba(both.iloc[:3], pd.DataFrame({"x": 0.0}, index=both.index)).shape == (
        3,
        2,
    )


def test_harmonised_names_score_like_the_original(data, caplog):
    frac, info = data
    m = bl.BalanceModel().fit(frac, info["response"] == "R", info["cohort"])
    mpa = [c for c in frac.columns]
    gtdb = [f"s__GTDB {c[3:]}_A" for c in mpa]
    nm = NameMap(pd.DataFrame({"mpa": [c[3:] for c in mpa], "gtdb": gtdb}))
    renamed = frac.set_axis(gtdb, axis=1)
    assert np.array_equal(m.score_samples(renamed, name_map=nm), m.score_samples(frac))
    assert m.marker_share_ == 1.0
    # without the map the markers are not found: loud warning, share reported
    with caplog.at_level("WARNING"):
        m.score_samples(renamed)
    assert m.marker_share_ == 0.0 and "markers are in the profile" in caplog.text


def test_validate_leaves_empty_l1_folds_out_of_the_mean():
    from icibiome.signatures.predict import AUC_COLUMNS
    from icibiome.validation.cohorts import flag_empty_models

    tab = pd.DataFrame([
        {"model": "lasso", "held_out": "A", "n_R": 2, "n_NR": 2, "auc": 1.0, "ci_low": 1.0,
         "ci_high": 1.0},
        {"model": "lasso", "held_out": "B", "n_R": 2, "n_NR": 2, "auc": 0.5, "ci_low": 0.5,
         "ci_high": 0.5},
        {"model": "lasso", "held_out": "mean", "auc": 0.75},
        {"model": "lasso", "held_out": "pooled", "auc": 0.7},
    ]).reindex(columns=AUC_COLUMNS)  # fmt: skip
    preds = pd.DataFrame({"cohort": list("AAAABBBB"), "response": ["R", "R", "NR", "NR"] * 2,
                          "probability": [0.9, 0.8, 0.2, 0.1] + [0.4] * 4})  # fmt: skip
    out = flag_empty_models(tab, preds).set_index("held_out")
    assert np.isnan(out.loc["B", "auc"]) and out.loc["B", "note"].startswith("empty model")
    assert out.loc["mean", "auc"] == 1.0 and "1 empty models not counted" in out.loc["mean", "note"]
    assert out.loc["pooled", "auc"] == 1.0 and out.loc["pooled", "n_R"] == 2


def test_validate_fixed_score_table_has_ci_and_seeded_null(data):
    from icibiome.validation.cohorts import fixed_score_loco

    frac, info = data
    score = np.log(frac["s__f0"] + 1e-5) - np.log(frac["s__f3"] + 1e-5)
    tab = fixed_score_loco(score, info, "toy", 19, seed=2).set_index("held_out")
    assert tab.loc["mean", "auc"] > 0.7 and tab.loc["mean", "perm_p"] == 0.05
    assert (tab.drop(["mean", "pooled"])["ci_low"] < tab.drop(["mean", "pooled"])["auc"]).all()
    again = fixed_score_loco(score, info, "toy", 19, seed=2).set_index("held_out")
    assert tab["null_mean"].equals(again["null_mean"])


def test_user_errors_are_one_line_and_named(data):
    from icibiome.errors import UserError

    frac, info = data
    with pytest.raises(UserError, match="no 'cohort' column"):
        bl.balance_loco(frac, info.drop(columns="cohort"))
    with pytest.raises(UserError, match="one class only"):
        bl.BalanceModel().fit(frac, np.ones(len(frac)), info["cohort"])
    bad = frac.copy()
    bad.iloc[0, 4] = np.nan
    with pytest.raises(UserError, match="column 's__f4'"):
        bl.BalanceModel().fit(bad, info["response"] == "R", info["cohort"])
    with pytest.raises(UserError, match="not a balance model"):
        bl.BalanceModel.from_dict({"model": "lasso"})
