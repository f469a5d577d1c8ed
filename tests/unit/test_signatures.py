"""Response-signature library: differential abundance, meta-analysis, prediction, survival.

Small synthetic data with known answers; the demo ground truth is in
tests/integration/test_signatures_demo.py and the real cohorts in test_signatures_real.py.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from icibiome.signatures import differential as da
from icibiome.signatures import meta as mt
from icibiome.signatures import models
from icibiome.signatures import predict as pr
from icibiome.signatures import survival as sv


def _cohorts(n_cohorts=3, n=40, p=30, effect=1.5, signal=(0, 1, 2), seed=0, alternate=True):
    """Log-normal compositions; features in ``signal`` are exp(effect) higher in R (every second
    one lower when ``alternate``); cohorts shift every feature by N(0, 0.3)."""
    rng = np.random.default_rng(seed)
    rows, info = [], []
    common = rng.normal(0, 1, p)
    for c in range(n_cohorts):
        resp = np.array(["R", "NR"] * (n // 2))
        base = common + rng.normal(0, 0.3, p)
        x = rng.normal(base, 1.0, (n, p))
        for j, f in enumerate(signal):
            sign = -1 if alternate and j % 2 else 1
            x[:, f] += np.where(resp == "R", 1, 0) * effect * sign
        ab = np.exp(x)
        zero = rng.random((n, p)) < 0.1
        zero[:, list(signal)] = False  # structural zeros in the other features only
        ab[zero] = 0
        ab = 100 * ab / ab.sum(axis=1, keepdims=True)
        ids = [f"c{c}_s{i}" for i in range(n)]
        rows.append(pd.DataFrame(ab, index=ids, columns=[f"s__t{j}" for j in range(p)]))
        info.append(pd.DataFrame({"cohort": f"C{c}", "response": resp,
                                  "age": rng.normal(60, 10, n)}, index=ids))  # fmt: skip
    return pd.concat(rows), pd.concat(info)


# ---------------------------------------------------------------------------------- differential
def test_bh_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(1).random(50) ** 2
    assert np.allclose(da.bh(p), multipletests(p, method="fdr_bh")[1])


def test_linda_ols_matches_statsmodels_and_bias_correction_recovers_null_features():
    import statsmodels.api as sm

    ab, info = _cohorts(n_cohorts=1, n=60, p=40, signal=(0,), effect=2.0)
    cl = da.linda_log2clr(ab, winsor=0)
    X, used, notes = da.design_matrix(info, info["response"], ["age"])
    assert used == ["age"] and notes == []
    res = da.linda(cl, X, bias_correct=False)
    fit = sm.OLS(cl["s__t5"].to_numpy(), X).fit()
    assert res.loc["s__t5", "effect"] == pytest.approx(fit.params[1])
    assert res.loc["s__t5", "se"] == pytest.approx(fit.bse[1])
    assert res.loc["s__t5", "p_value"] == pytest.approx(fit.pvalues[1])


def test_linda_bias_correction_removes_the_compositional_shift():
    # 30 of 200 features up e^2 in R: every other raw CLR effect shifts by -30 * 2.885 / 200 =
    # -0.43 log2 units; the mode correction brings the null features back to about 0
    ab, info = _cohorts(
        n_cohorts=1, n=100, p=200, signal=range(0, 60, 2), effect=2.0, seed=3, alternate=False
    )
    X, _, _ = da.design_matrix(info, info["response"], [])
    cl = da.linda_log2clr(ab, winsor=0)
    null = [f"s__t{j}" for j in range(60, 200)]
    raw = da.linda(cl, X, bias_correct=False)
    cor = da.linda(cl, X, bias_correct=True)
    assert raw.loc[null, "effect"].median() == pytest.approx(-0.43, abs=0.1)
    assert abs(cor.loc[null, "effect"].median()) < 0.1
    assert (cor.loc[[f"s__t{j}" for j in range(0, 60, 4)], "effect"] > 2).all()


def test_differential_finds_planted_features_and_skips_small_cohorts():
    ab, info = _cohorts(n_cohorts=3, n=60, p=30, effect=2.0)
    info.loc[info.index[(info["cohort"] == "C2")][:56], "response"] = "NR"  # C2: 2 R
    res = da.differential_abundance(ab, info, covariates=["age", "sex"], min_per_class=5)
    skipped = res[res["cohort"] == "C2"]
    assert len(skipped) == 1 and skipped["note"].iloc[0].startswith("skipped: 2 R / 58 NR")
    c0 = res[res["cohort"] == "C0"].set_index("feature")
    assert c0.loc["s__t0", "effect"] > 0 and c0.loc["s__t1", "effect"] < 0
    assert c0.loc[["s__t0", "s__t1", "s__t2"], "q_value"].max() < 0.05
    assert (c0.drop(index=["s__t0", "s__t1", "s__t2"])["q_value"] < 0.05).sum() <= 1
    assert (
        c0["note"].iloc[0] == "sex: not in the sample sheet" and c0["covariates"].iloc[0] == "age"
    )
    assert c0.loc["s__t0", "auroc"] > 0.8 and c0.loc["s__t1", "auroc"] < 0.2


def test_sensitivity_methods_agree_with_linda_on_planted_features():
    # scikit-bio ANCOM-BC and dirmult_ttest beside LinDA: same signs on the planted features,
    # the meta-analysis reports the share of cohorts agreeing with the pooled sign
    ab, info = _cohorts(n_cohorts=2, n=40, p=20, effect=2.0)
    res = da.differential_abundance(ab, info, covariates=["age"], min_per_class=5,
                                    sensitivity=["ancombc", "dirmult"])  # fmt: skip
    c0 = res[res["cohort"] == "C0"].set_index("feature")
    for m in ("ancombc", "dirmult"):
        assert c0[f"{m}_effect"].notna().all() and c0[f"{m}_q"].between(0, 1).all()
        assert c0.loc["s__t0", f"{m}_effect"] > 0.5 and c0.loc["s__t1", f"{m}_effect"] < -0.5
        assert c0.loc["s__t0", f"{m}_q"] < 0.05
    # ANCOM-BC log fold change is reported as log2, like the LinDA effect
    assert np.corrcoef(c0["effect"], c0["ancombc_effect"])[0, 1] > 0.8
    meta = mt.meta_analysis(res, "DL").set_index("feature")
    assert meta.loc[["s__t0", "s__t1", "s__t2"], ["agreement_ancombc", "agreement_dirmult"]
                    ].eq(1.0).all().all()  # fmt: skip
    plain = mt.meta_analysis(da.differential_abundance(ab, info, min_per_class=5), "DL")
    assert plain["agreement_ancombc"].isna().all()
    with pytest.raises(ValueError, match="unknown DA sensitivity"):
        da.differential_abundance(ab, info, min_per_class=5, sensitivity=["maaslin"])


def test_sensitivity_failure_on_a_tiny_cohort_is_a_note_not_a_crash():
    ab, info = _cohorts(n_cohorts=1, n=4, p=10, effect=2.0)
    res = da.differential_abundance(ab, info, min_per_class=2, sensitivity=["ancombc"])
    assert len(res) == 10 and np.isfinite(res["effect"]).all()
    ok = res["ancombc_effect"].notna().all()
    assert ok or res["note"].iloc[0].startswith("ancombc failed")


# ---------------------------------------------------------------------------------- meta
@pytest.mark.parametrize("method,sm_method", [("DL", "chi2"), ("PM", "iterated")])
def test_random_effects_match_statsmodels(method, sm_method):
    from statsmodels.stats.meta_analysis import combine_effects

    rng = np.random.default_rng(3)
    b = rng.normal(0.4, 0.5, 7)
    v = rng.uniform(0.02, 0.2, 7)
    ours = mt.random_effects(b, v, method, ci="wald")  # statsmodels sd_eff_w_re: Wald
    ref = combine_effects(b, v, method_re=sm_method)
    assert ours["tau2"] == pytest.approx(ref.tau2, rel=1e-6, abs=1e-10)
    assert ours["effect"] == pytest.approx(ref.mean_effect_re, rel=1e-6)
    assert ours["se"] == pytest.approx(ref.sd_eff_w_re, rel=1e-6)
    assert ours["Q"] == pytest.approx(ref.q, rel=1e-6)
    assert ours["I2"] == pytest.approx(ref.i2, rel=1e-6)


def test_reml_maximises_the_restricted_likelihood():
    rng = np.random.default_rng(5)
    b = rng.normal(0.2, 0.6, 9)
    v = rng.uniform(0.05, 0.3, 9)

    def neg_rll(t2):
        w = 1 / (v + t2)
        mu = (w * b).sum() / w.sum()
        return 0.5 * (np.log(v + t2).sum() + np.log(w.sum()) + (w * (b - mu) ** 2).sum())

    best = optimize.minimize_scalar(neg_rll, bounds=(0, 10), method="bounded",
                                    options={"xatol": 1e-10}).x  # fmt: skip
    assert mt.random_effects(b, v, "REML")["tau2"] == pytest.approx(best, abs=1e-5)


def test_meta_analysis_direction_and_forest_rows():
    da_tab = pd.DataFrame({
        "cohort": ["A", "B", "C", "A", "B", "C", "D"],
        "feature": ["x", "x", "x", "y", "y", "y", ""],
        "effect": [1.0, 0.8, 1.2, 0.5, -0.4, 0.1, np.nan],
        "se": [0.3, 0.3, 0.4, 0.3, 0.3, 0.3, np.nan],
        "q_value": [0.01, 0.2, 0.05, 0.5, 0.5, 0.9, np.nan],
    })  # fmt: skip
    m = mt.meta_analysis(da_tab, ci="wald").set_index("feature")  # 3 cohorts: default HKSJ
    assert list(m.index) == ["x", "y"]
    assert m.loc["x", "direction_consistency"] == 1.0 and m.loc["x", "n_cohorts_q_lt_0.1"] == 2
    assert m.loc["y", "direction_consistency"] == pytest.approx(2 / 3)
    assert m.loc["x", "p_value"] < 0.001 < m.loc["y", "p_value"]
    f = mt.forest_data(da_tab, m.reset_index(), ["x"])
    assert list(f["study"]) == ["A", "B", "C", "pooled (DL)"]


# ---------------------------------------------------------------------------------- predict
def test_delong_matches_sklearn_and_the_direct_formula():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.random(80) < 0.4
    s = np.round(rng.normal(y * 0.8, 1), 1)  # ties
    a, se, lo, hi = pr.delong_auc(y, s)
    assert a == pytest.approx(roc_auc_score(y, s))
    pos, neg = s[y], s[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    assert se == pytest.approx(np.sqrt(var))
    assert lo == pytest.approx(a - 1.959964 * se) and hi == pytest.approx(a + 1.959964 * se)


@pytest.mark.parametrize("model", ["lasso", "rf"])
def test_loco_predicts_held_out_cohorts_and_skips_small_ones(model):
    ab, info = _cohorts(n_cohorts=4, n=30, p=25, effect=1.2, seed=4)
    info.loc[info.index[info["cohort"] == "C3"][:27], "response"] = "R"  # C3: 2 NR
    tab, pred = pr.loco(ab, info, model=model, min_per_class=5, seed=1)
    per = tab.set_index("held_out")
    assert per.loc[["C0", "C1", "C2"], "auc"].min() > 0.75
    assert np.isnan(per.loc["C3", "auc"]) and "2 NR" in per.loc["C3", "note"]
    assert per.loc["C0", "n_train"] == 90  # C3 still trains
    assert set(pred["cohort"]) == {"C0", "C1", "C2"} and len(pred) == 90
    assert per.loc["mean", "auc"] == pytest.approx(per.loc[["C0", "C1", "C2"], "auc"].mean())
    tab2, pred2 = pr.loco(ab, info, model=model, min_per_class=5, seed=1)
    pd.testing.assert_frame_equal(pred, pred2)  # deterministic


def test_permuted_labels_give_chance_auc():
    """No leakage: labels shuffled within cohorts -> LOCO AUC near 0.5 (true labels: > 0.8).

    Measured on this data: true 0.916; 8 permutations mean 0.498 (range 0.455-0.571).
    """
    ab, info = _cohorts(n_cohorts=3, n=40, p=25, effect=1.2, seed=6)
    tab, _ = pr.loco(ab, info, model="lasso", seed=1)
    assert tab.set_index("held_out").loc["mean", "auc"] > 0.8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = pr.permutation_null(ab, info, n_permutations=8, seed=2, model="lasso")
    assert abs(null.mean() - 0.5) < 0.07, null
    assert null.max() < 0.7


def test_within_cohort_cv_and_cross_matrix():
    ab, info = _cohorts(n_cohorts=2, n=30, p=20, effect=1.5, seed=8)
    w = pr.within_cohort_cv(ab, info, "lasso", n_repeats=2, seed=1)
    assert list(w["cohort"]) == ["C0", "C1"] and (w["auc_mean"] > 0.75).all()
    x = pr.cross_cohort_matrix(ab, info, "lasso")
    assert set(zip(x["train"], x["test"], strict=True)) == {("C0", "C1"), ("C1", "C0")}
    assert (x["auc"] > 0.7).all()


def test_combat_removes_cohort_shifts_with_a_training_only_reference():
    rng = np.random.default_rng(3)
    coh = np.repeat(["A", "B", "C"], [30, 25, 20])
    shift = {"A": 0.0, "B": 1.5, "C": -1.0}
    scale = {"A": 1.0, "B": 0.7, "C": 1.8}
    base = rng.normal(0, 1, (75, 30)) + rng.normal(0, 2, 30)
    x = np.array([base[i] * scale[c] + shift[c] for i, c in enumerate(coh)])
    X = pd.DataFrame(x, index=[f"s{i}" for i in range(75)], columns=[f"f{j}" for j in range(30)])
    cs = pd.Series(coh, index=X.index)
    train = X.index[coh != "C"]
    ref = pr.combat_reference(X.loc[train], cs)
    adj = pr.combat_adjust(X, cs, ref)

    def spread(t):  # between-cohort spread of the feature means, and of the SDs
        g = t.groupby(coh)
        return g.mean().std().mean(), g.std().std().mean()

    (m0, s0), (m1, s1) = spread(X), spread(adj)
    assert m1 < 0.1 * m0 and s1 < 0.2 * s0
    # the held-out cohort C (never in the reference) lands on the training reference
    assert np.allclose(adj[coh == "C"].mean(), ref["mean"], atol=0.35)
    assert np.allclose(ref["mean"], X.loc[train].mean())
    # training-only: changing cohort C does not change the adjustment of the training cohorts
    X2 = X.copy()
    X2.loc[coh == "C"] += 5
    assert np.allclose(pr.combat_adjust(X2, cs, ref).loc[train], adj.loc[train])


def test_loco_with_combat_and_a_frozen_combat_model():
    ab, info = _cohorts(n_cohorts=3, n=40, p=20, effect=1.5, seed=4)
    tab, _ = pr.loco(ab, info, "lasso", batch="combat", min_per_class=5)
    per = tab[~tab["held_out"].isin(["mean", "pooled"])]
    assert len(per) == 3 and (per["auc"] > 0.7).all(), tab
    fm = pr.fit_final(ab, info, "lasso", batch="combat")
    assert fm.batch_ref is not None and set(fm.batch_ref) == {"mean", "sd"}
    p = pr.apply_model(fm, ab, info["cohort"])
    assert pr.delong_auc(info["response"] == "R", p)[0] > 0.8


def test_frozen_model_round_trip_and_refusals(tmp_path):
    ab, info = _cohorts(n_cohorts=3, n=30, p=20, effect=1.5, seed=9)
    train = info["cohort"] != "C2"
    fm = pr.fit_final(ab[train.to_numpy()], info[train], "lasso")
    assert fm.training_cohorts == ["C0", "C1"] and fm.naming == "species_prefixed"
    pr.save_model(fm, tmp_path / "m.pkl")
    pr.write_model_card(fm, tmp_path / "m.yaml")
    back = pr.load_model(tmp_path / "m.pkl")
    new = ab[(~train).to_numpy()]
    p = pr.apply_model(back, new)
    assert pr.delong_auc(info.loc[new.index, "response"] == "R", p)[0] > 0.8
    # a column order change or a missing rare species does not matter
    assert np.allclose(pr.apply_model(back, new[new.columns[::-1]]), p)
    renamed = new.rename(columns=lambda c: c.replace("s__", ""))
    with pytest.raises(ValueError, match="named 'species_prefixed'"):
        pr.apply_model(back, renamed)
    with pytest.raises(ValueError, match="of the model's 20 species"):
        pr.apply_model(back, new.rename(columns=lambda c: c + "x"))
    back.profiler, back.rank = "sylph", "species"
    assert np.allclose(pr.apply_model(back, new, profiler="sylph", rank="species"), p)
    with pytest.raises(ValueError, match="trained on profiler 'sylph'.*'kraken2'"):
        pr.apply_model(back, new, profiler="kraken2", rank="species")
    with pytest.raises(ValueError, match="trained on rank 'species'.*'genus'"):
        pr.apply_model(back, new, profiler="sylph", rank="genus")
    (tmp_path / "bad.pkl").write_bytes(__import__("pickle").dumps({"a": 1}))
    with pytest.raises(ValueError, match="not an icibiome model"):
        pr.load_model(tmp_path / "bad.pkl")
    (tmp_path / "cut.pkl").write_bytes((tmp_path / "m.pkl").read_bytes()[:100])
    with pytest.raises(ValueError, match="cut.pkl: not a readable icibiome model"):
        pr.load_model(tmp_path / "cut.pkl")


def test_frozen_model_of_an_earlier_version_still_loads(tmp_path):
    # before the library was organised by stage, the classes lived in icibiome.predict: a model
    # a user saved then names that module in its pickle
    import pickle

    ab, info = _cohorts(n_cohorts=3, n=30, p=20, effect=1.5, seed=9)
    train = (info["cohort"] != "C2").to_numpy()
    fm = pr.fit_final(ab[train], info[train], "lasso")
    old = pickle.dumps(fm, protocol=0)
    for mod in (b"icibiome.signatures.frozen", b"icibiome.signatures.preprocess"):
        assert mod in old
        old = old.replace(mod + b"\n", b"icibiome.predict\n")
    assert b"icibiome.signatures" not in old
    (tmp_path / "old.pkl").write_bytes(old)
    back = pr.load_model(tmp_path / "old.pkl")
    new = ab[~train]
    assert np.array_equal(pr.apply_model(back, new), pr.apply_model(fm, new))


# ---------------------------------------------------------------------------------- survival
def test_cox_and_km_recover_a_protective_score():
    rng = np.random.default_rng(11)
    n = 200
    score = rng.normal(0, 1, n)
    cohort = np.where(np.arange(n) < n // 2, "A", "B")
    rate = np.where(cohort == "A", 0.1, 0.2) * np.exp(-0.7 * score)  # HR per SD = 0.5
    t = rng.exponential(1 / rate)
    cens = rng.uniform(5, 30, n)
    df = pd.DataFrame({"score": score, "cohort": cohort, "pfs_months": np.minimum(t, cens),
                       "pfs_event": (t <= cens).astype(int)})  # fmt: skip
    tab, km = sv.survival_table(df, ["score"])
    r = tab.iloc[0]
    assert r["endpoint"] == "PFS" and r["n"] == n and r["n_cohorts"] == 2
    assert 0.35 < r["hr_per_sd"] < 0.65 and r["hr_ci_high"] < 1 and r["p_value"] < 1e-4
    assert r["hr_high_vs_low"] < 1 and r["logrank_p"] < 0.01
    assert r["median_high"] > r["median_low"]
    assert set(km["group"]) == {"high", "low"} and km["survival"].between(0, 1).all()
    assert len(tab) == 1  # no OS columns: no OS row


def test_survival_with_too_few_events_says_so():
    df = pd.DataFrame({"s": [0.1, 0.5, 0.9, 0.3], "cohort": "A", "os_months": [5, 6, 7, 8],
                       "os_event": [0, 1, 0, 0]})  # fmt: skip
    tab, km = sv.survival_table(df, ["s"])
    assert tab.iloc[0]["note"].startswith("not estimable: 1 events") and km.empty


# ------------------------------------------------------ frozen models score one patient at a time
def _mix(ab, info, seed=0):
    """The table shuffled and mixed with a second, different cohort (other seed)."""
    ab2, info2 = _cohorts(n_cohorts=1, n=20, p=ab.shape[1], seed=seed + 50)
    ab2.index = info2.index = [f"other_{i}" for i in range(len(ab2))]
    info2["cohort"] = "OTHER"
    both = pd.concat([ab, ab2])
    order = np.random.default_rng(seed).permutation(len(both))
    return both.iloc[order], pd.concat([info, info2]).iloc[order]


@pytest.mark.parametrize("transform", ["log10", "clr"])
def test_frozen_model_scores_each_patient_alone_as_in_a_batch(transform):
    ab, info = _cohorts(n_cohorts=3, n=30, p=20, effect=1.5, seed=9)
    train = (info["cohort"] != "C2").to_numpy()
    fm = pr.fit_final(ab[train], info[train], "lasso", transform_method=transform)
    new = ab[~train]
    batch = pr.apply_model(fm, new)
    alone = pd.concat([pr.apply_model(fm, new.loc[[s]]) for s in new.index])
    # old code, CLR: probabilities moved by up to 0.19 with the table's pseudo-count
    np.testing.assert_allclose(alone.to_numpy(), batch.to_numpy(), rtol=0, atol=1e-12)
    mixed, _ = _mix(new, info[~train])
    got = pr.apply_model(fm, mixed).loc[new.index]
    np.testing.assert_allclose(got.to_numpy(), batch.to_numpy(), rtol=0, atol=1e-12)
    assert fm.prep.pseudo == (1e-5 if transform == "log10" else
                              pr.clr_pseudo(pr.to_fractions(ab[train])[fm.species]))  # fmt: skip


@pytest.mark.parametrize("batch", ["cohort_z", "combat"])
def test_batch_models_score_a_cohort_among_others_and_refuse_single_patients(batch, tmp_path):
    from icibiome.errors import UserError

    ab, info = _cohorts(n_cohorts=3, n=30, p=20, effect=1.5, seed=9)
    train = (info["cohort"] != "C2").to_numpy()
    fm = pr.fit_final(ab[train], info[train], "lasso", batch=batch)
    new, inew = ab[~train], info[~train]
    p = pr.apply_model(fm, new, inew["cohort"])
    assert pr.delong_auc(inew["response"] == "R", p)[0] > 0.8
    mixed, imixed = _mix(new, inew)
    got = pr.apply_model(fm, mixed, imixed["cohort"]).loc[new.index]
    np.testing.assert_allclose(got.to_numpy(), p.to_numpy(), rtol=0, atol=1e-12)
    # old code: a patient scored alone got a constant prediction; now refused, in one line
    with pytest.raises(UserError, match=rf"batch '{batch}'.*at least 10 samples.*'C2' \(1\)"):
        pr.apply_model(fm, new.iloc[[0]], inew["cohort"].iloc[[0]])
    with pytest.raises(UserError, match="give the cohort of every sample"):
        pr.apply_model(fm, new)
    pr.write_model_card(fm, tmp_path / "m.yaml")
    card = __import__("yaml").safe_load((tmp_path / "m.yaml").read_text())
    assert "single patients are refused" in card["scoring"]


def test_frozen_extra_features_are_rebuilt_from_the_stored_guilds():
    """The guild balance is computed by the model from its stored memberships and direction:
    a scoring run whose guilds flipped direction (or whose table is missing) changes nothing."""
    from icibiome.ecology.guilds import guild_scores

    ab, info = _cohorts(n_cohorts=3, n=30, p=20, effect=1.5, seed=9)
    fnd, pth = ["s__t0", "s__t2", "s__t4"], ["s__t1", "s__t3", "s__t5"]
    bal = guild_scores(ab, fnd, pth)[["guild_balance"]]
    spec = {"guild_balance": {"kind": "guild_balance", "foundation": fnd, "pathobiont": pth}}
    train = (info["cohort"] != "C2").to_numpy()
    fm = pr.fit_final(ab[train], info[train], "lasso", extra=bal[train], extra_specs=spec)
    assert fm.extra_specs == spec and fm.extra == ["guild_balance"]
    new = ab[~train]
    p = pr.apply_model(fm, new)
    flipped = -bal.loc[new.index]  # the new run's own guilds, direction flipped
    np.testing.assert_array_equal(pr.apply_model(fm, new, extra=flipped), p)
    alone = pd.concat([pr.apply_model(fm, new.loc[[s]]) for s in new.index])
    np.testing.assert_allclose(alone.to_numpy(), p.to_numpy(), rtol=0, atol=1e-12)
    # a spec that does not reproduce the training column is dropped: the table is then needed
    bad = {"guild_balance": {"kind": "guild_balance", "foundation": pth, "pathobiont": fnd}}
    fm2 = pr.fit_final(ab[train], info[train], "lasso", extra=bal[train], extra_specs=bad)
    assert fm2.extra_specs == {}
    with pytest.raises(ValueError, match="needs the extra features"):
        pr.apply_model(fm2, new)


# ------------------------------------------------------------------ fitted on training rows only
def test_training_features_do_not_depend_on_the_held_out_cohort():
    ab, info = _cohorts(n_cohorts=3, n=30, p=20, effect=1.5, seed=5)
    frac = pr.to_fractions(ab)
    coh = info["cohort"]
    train, test = info.index[coh != "C2"], info.index[coh == "C2"]
    frac2 = frac.copy()
    frac2.loc[test] = frac2.loc[test] ** 3  # far smaller non-zero values in the held-out cohort
    frac2.loc[test, ["s__t5", "s__t6"]] = 0.0
    for transform in ("log10", "clr"):
        for batch in ("none", "cohort_z", "combat"):
            setup = pr._Setup("lasso", transform, batch)
            X1, _ = pr.fold_features(frac, coh, None, train, test, setup)
            X2, _ = pr.fold_features(frac2, coh, None, train, test, setup)
            # old code, CLR: training features shifted by up to 5.8 log2 units
            pd.testing.assert_frame_equal(X1.loc[train], X2.loc[train], check_exact=True)


@pytest.mark.parametrize("batch", ["cohort_z", "combat"])
def test_a_taxon_absent_from_a_whole_cohort_stays_absent_after_batch_handling(batch):
    ab, info = _cohorts(n_cohorts=3, n=30, p=20, effect=1.5, seed=5)
    ab.loc[info["cohort"] == "C2", "s__t7"] = 0.0  # absent from the whole of C2
    coh = info["cohort"]
    train, test = info.index[coh != "C2"], info.index[coh == "C2"]
    X, pp = pr.fold_features(pr.to_fractions(ab), coh, None, train, test,
                             pr._Setup("lasso", "log10", batch))  # fmt: skip
    col = X.loc[test, "sp:s__t7"]
    # old code: 0 after z-scoring (the training average); ComBat: the reference mean
    assert (col == pp.absent["sp:s__t7"]).all()
    present = X.loc[train, "sp:s__t7"]
    assert col.iloc[0] < present.quantile(0.05)
    assert np.isfinite(X.to_numpy()).all()


def test_lasso_inner_cv_is_grouped_by_cohort_with_three_training_cohorts():
    y = np.array([0, 1] * 30)
    g3 = np.repeat(["A", "B", "C"], 20)
    splits, kind = pr.inner_cv(y, g3)
    assert kind == "grouped" and len(splits) == 3
    assert all(len(set(g3[te])) == 1 and not set(g3[te]) & set(g3[tr]) for tr, te in splits)
    splits, kind = pr.inner_cv(y, np.repeat(["A", "B"], 30))
    assert kind == "stratified" and len(splits) == 5


# --------------------------------------------------------------------------- empty lasso models
def test_an_empty_lasso_model_is_reported_as_no_model_and_left_out_of_the_mean():
    ab, info = _cohorts(n_cohorts=3, n=30, p=20, effect=0.0, seed=11)  # no signal at all
    tab, pred = pr.loco(ab, info, "lasso", min_per_class=5, seed=1)
    per = tab[~tab["held_out"].isin(["mean", "pooled"])].set_index("held_out")
    empty = per.index[per["note"].str.startswith("no model (0 features)", na=False)]
    assert len(empty) >= 1, per  # old code: AUC 0.5 (CI 0.500-0.500) counted in the mean
    assert per.loc[empty, "auc"].isna().all() and (per.loc[empty, "n_features"] == 0).all()
    assert not pred["cohort"].isin(empty).any()
    mean = tab.set_index("held_out").loc["mean"]
    ok = per["auc"].dropna()
    assert f"{len(empty)} with no model (0 features) left out" in mean["note"]
    if len(ok):
        assert mean["auc"] == pytest.approx(ok.mean())
    else:
        assert np.isnan(mean["auc"])


def test_lasso_grid_is_widened_when_its_upper_edge_is_chosen(caplog, monkeypatch):
    # a grid whose every C is too strong for 20 weak features: the upper edge wins
    grid = np.logspace(-1.5, -1, 3)
    monkeypatch.setattr(models, "LASSO_CS", grid)
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (200, 30))
    y = (X[:, :20].sum(axis=1) + 2 * rng.normal(size=200) > 0).astype(int)
    with caplog.at_level("INFO", logger="icibiome.signatures.models"):
        mdl, info = pr.fit_model(X, y, "lasso")
    assert "upper edge of the C grid" in caplog.text  # old code: the edge kept silently
    assert info["C"] > grid[-1] and info["n_features"] >= 10
    assert len(info["Cs"]) > len(grid)


# ---------------------------------------------------------------------- label-permutation null
def test_loco_permutation_null_gives_p_values_and_is_reproducible():
    ab, info = _cohorts(n_cohorts=3, n=30, p=20, effect=1.5, seed=4)
    tab, _ = pr.loco(ab, info, "lasso", permutations=20, seed=3)
    t = tab.set_index("held_out")
    for key in ("C0", "C1", "C2", "mean", "pooled"):
        assert t.loc[key, "n_permutations"] == 20
        assert t.loc[key, "perm_p"] == pytest.approx(1 / 21)  # strong signal: no null >= it
        assert abs(t.loc[key, "null_mean"] - 0.5) < 0.1 and t.loc[key, "null_sd"] > 0
    assert "permutation p = 0.0476 (20 within-cohort" in t.loc["mean", "note"]
    assert "no signal beyond chance" not in t.loc["mean", "note"]
    # seeded: the same table again; no signal (labels shuffled): the note says so
    small, _ = pr.loco(ab, info, "lasso", permutations=3, seed=3)
    pd.testing.assert_frame_equal(small, pr.loco(ab, info, "lasso", permutations=3, seed=3)[0])
    info0 = info.copy()
    info0["response"] = info0.groupby("cohort")["response"].transform(
        lambda s: np.random.default_rng(1).permutation(s.to_numpy()))  # fmt: skip
    m0 = pr.loco(ab, info0, "lasso", permutations=3, seed=3)[0].set_index("held_out").loc["mean"]
    assert m0["perm_p"] >= 0.25 and "no signal beyond chance" in m0["note"]


def test_permutation_null_takes_any_prediction_procedure():
    """The reusable null: labels are shuffled within cohort only, seeded, and p is
    (1 + #null >= observed) / (1 + n)."""
    info = pd.DataFrame({"cohort": np.repeat(["A", "B"], 10),
                         "response": ["R", "NR"] * 10}, index=[f"s{i}" for i in range(20)])  # fmt: skip
    seen = []

    def run_fn(inf):
        seen.append(inf["response"].copy())
        return pd.DataFrame({"cohort": inf["cohort"], "response": inf["response"],
                             "probability": np.arange(20.0)})  # fmt: skip

    null = pr.permutation_null(run_fn, info, n_permutations=5, seed=7)
    assert list(null.columns) == ["A", "B", "mean", "pooled"] and len(null) == 5
    for s in seen:  # within cohort: the same R/NR counts per cohort
        assert (s.groupby(info["cohort"]).value_counts() == 5).all()
    again = pr.permutation_null(run_fn, info, n_permutations=5, seed=7)
    pd.testing.assert_frame_equal(null, again)
    p, m, sd, n = pr.permutation_p(0.6, [0.5, 0.6, 0.7, np.nan])
    assert (p, n) == (pytest.approx(3 / 4), 3) and m == pytest.approx(0.6)
    assert sd == pytest.approx(0.1)


# ------------------------------------------------------------------------------------- leakage
@pytest.mark.parametrize("model,extra", [("lasso", False), ("rf", False), ("lasso", True),
                                         ("rf", True)])  # fmt: skip
def test_held_out_labels_do_not_leak_into_their_predictions(model, extra):
    ab, info = _cohorts(n_cohorts=3, n=24, p=15, effect=1.2, seed=12)
    ex = None
    if extra:
        ex = pd.DataFrame({"guild_balance": np.log(ab["s__t0"] + 1e-3) - np.log(ab["s__t1"] + 1e-3)},
                          index=ab.index)  # fmt: skip
    _, pred = pr.loco(ab, info, model, extra=ex, seed=1)
    perm = info.copy()
    rng = np.random.default_rng(0)
    idx = perm.index[perm["cohort"] == "C1"]
    perm.loc[idx, "response"] = rng.permutation(perm.loc[idx, "response"].to_numpy())
    _, pred2 = pr.loco(ab, perm, model, extra=ex, seed=1)
    a = pred[pred["cohort"] == "C1"].set_index("sample_id")["probability"]
    b = pred2[pred2["cohort"] == "C1"].set_index("sample_id")["probability"]
    assert len(a) == 24
    np.testing.assert_array_equal(a.loc[b.index].to_numpy(), b.to_numpy())


def test_extra_specs_from_the_run_files_reproduce_guild_balance_and_toposcore(tmp_path):
    from icibiome.ecology.guilds import guild_scores
    from icibiome.signatures import toposcore as tp
    from icibiome.signatures.stage import extra_specs

    ab, _ = _cohorts(n_cohorts=1, n=30, p=20, seed=2)
    ab.loc[ab.index[:10], ["s__t3", "s__t8"]] = 0.0
    fnd, pth = ["s__t0", "s__t2"], ["s__t1", "s__t3", "s__t5"]
    gdir, tdir = tmp_path / "guilds", tmp_path / "sig"
    gdir.mkdir()
    tdir.mkdir()
    pd.DataFrame({"clade_name": list(ab.columns),
                  "guild": ["foundation" if c in fnd else "pathobiont" if c in pth else "filtered"
                            for c in ab.columns]}).to_csv(gdir / "guilds.tsv", sep="\t", index=False)  # fmt: skip
    guild_scores(ab, fnd, pth).to_csv(gdir / "guild_scores.tsv", sep="\t")
    s1 = tp.signature_from_names(["t3", "t8", "t9", "absent_one"], "SIG1")
    s2 = tp.signature_from_names(["t0", "t2", "t4"], "SIG2")
    scores, members = tp.score_samples(ab, s1, s2)
    scores.to_csv(tdir / "toposcore.tsv", sep="\t")
    members.to_csv(tdir / "toposcore_members.tsv", sep="\t", index=False)
    specs = extra_specs({"guilds": gdir / "guild_scores.tsv", "toposcore": tdir / "toposcore.tsv"})
    assert specs["guild_balance"]["foundation"] == fnd and specs["toposcore"]["size1"] == 4
    got = pr.extra_from_specs(specs, ab)
    np.testing.assert_allclose(got["toposcore"], scores["toposcore"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(got["guild_balance"], guild_scores(ab, fnd, pth)["guild_balance"])


def test_frozen_model_auc_table_has_a_ci_and_a_permutation_reference():
    from types import SimpleNamespace

    from icibiome.signatures.stage import frozen_auc_table

    rng = np.random.default_rng(3)
    y = np.array(["R", "NR"] * 20)
    good = np.where(y == "R", 0.7, 0.3) + rng.normal(0, 0.15, 40)  # separates R from NR
    out = pd.DataFrame({"cohort": np.repeat(["A", "B"], 20), "response": y,
                        "probability": np.r_[good[:20], rng.random(20)]})  # fmt: skip
    out.loc[out.index[-1], "response"] = ""
    fm = SimpleNamespace(model="lasso", training_cohorts=["X", "Y"])
    tab = frozen_auc_table(out, fm, n_permutations=199).set_index("cohort")
    assert list(tab.index) == ["A", "B", "all"]
    assert (tab["n_permutations"] == 199).all() and tab["ci_low"].notna().all()
    assert tab.loc["A", "perm_p"] == pytest.approx(1 / 200)  # no shuffle beats a clean split
    assert tab.loc["B", "perm_p"] > 0.05 and abs(tab.loc["B", "null_mean"] - 0.5) < 0.05
    again = frozen_auc_table(out, fm, n_permutations=199).set_index("cohort")
    pd.testing.assert_frame_equal(tab, again)  # seeded


def test_permutation_null_in_parallel_gives_the_same_null():
    ab, info = _cohorts(n_cohorts=3, n=20, p=10, effect=1.5, seed=4)

    def run_fn(inf):
        return pr.loco(ab, inf, "lasso", seed=1)[1]

    one = pr.permutation_null(run_fn, info, n_permutations=2, seed=5)
    two = pr.permutation_null(run_fn, info, n_permutations=2, seed=5, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)


# ------------------------------------------------------------- fast lasso: the same fits, faster
def test_fast_auc_is_sklearn_roc_auc_bit_for_bit():
    """The inner CV breaks ties between C values by the summed fold AUCs: they must be
    roc_auc_score's floats exactly (ties in the scores, collinear ROC points)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for n in (7, 20, 81):
        for _ in range(30):
            y = rng.integers(0, 2, n)
            y[:2] = [0, 1]
            s = rng.integers(0, 6, n) * rng.choice([1.0, 0.1])  # many ties
            assert models._auc01(y, s) == roc_auc_score(y, s)
    assert np.isnan(models._auc01(np.ones(5), np.arange(5)))


@pytest.mark.parametrize("grid", [None, np.logspace(-1.5, -1, 3)])
def test_fast_lasso_is_logistic_regression_cv_exactly(grid, monkeypatch):
    """fit_model's own inner CV (issue 13: LOCO nulls of >= 100 permutations) chooses the same C
    and fits the same coefficients as sklearn's LogisticRegressionCV with the same splits, grid
    and seed (liblinear seeded per split and C as there), also when the grid is widened."""
    if grid is not None:
        monkeypatch.setattr(models, "LASSO_CS", grid)
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (150, 40))
    y = (X[:, :8].sum(axis=1) + 3 * rng.normal(size=150) > 0).astype(int)
    groups = np.repeat(["A", "B", "C", "D"], [40, 40, 35, 35])
    mdl, info = pr.fit_model(X, y, "lasso", seed=3, groups=groups)
    cv, kind = pr.inner_cv(y, groups, 3)
    ref = pr.make_model("lasso", 3, cv=cv, Cs=info["Cs"]).fit(X, y)
    assert kind == "grouped" and info["C"] == float(np.ravel(ref[-1].C_)[0])
    np.testing.assert_array_equal(mdl[-1].coef_, ref[-1].coef_)
    np.testing.assert_array_equal(mdl.predict_proba(X), ref.predict_proba(X))
    scores = pr.lasso_inner_scores(mdl[:-1].transform(X), y, cv, info["Cs"], 3)
    np.testing.assert_array_equal(scores, np.reshape(ref[-1].scores_, scores.shape))
    if grid is not None:
        assert len(info["Cs"]) == len(grid) + 4  # widened once


def test_loco_null_computes_the_label_free_fold_features_once(monkeypatch):
    """Prevalence filter and transform are fitted on the training cohorts without their labels:
    the permutation null reuses them (old code: recomputed for every permutation), while the
    model itself is refitted per permutation."""
    ab, info = _cohorts(n_cohorts=3, n=20, p=10, effect=1.5, seed=4)
    calls = {"features": 0, "fits": 0}
    real_ff, real_fit = pr.fold_features, pr.fit_model

    def ff(*a, **k):
        calls["features"] += 1
        return real_ff(*a, **k)

    def fit(*a, **k):
        calls["fits"] += 1
        return real_fit(*a, **k)

    monkeypatch.setattr(pr, "fold_features", ff)
    monkeypatch.setattr(pr, "fit_model", fit)
    tab, _ = pr.loco(ab, info, "lasso", permutations=4, seed=1)
    assert calls == {"features": 3, "fits": 3 * 5}
    monkeypatch.undo()
    plain, _ = pr.loco(ab, info, "lasso", seed=1)
    pd.testing.assert_frame_equal(tab[plain.columns[:9]], plain[plain.columns[:9]])


# ------------------------------------------------------------ make validate: every model's null
def test_validate_l1_and_rf_rows_carry_their_permutation_null():
    """Issue 13: validation_loco.tsv shows the L1 and RF LOCO AUCs with the label-permutation p
    (old code: no null for them, a separate 2-permutation mean) and its resolution 1/(n+1)."""
    from icibiome.validation.cohorts import model_loco, with_p_resolution

    ab, info = _cohorts(n_cohorts=3, n=20, p=10, effect=1.5, seed=4)
    for model, n in (("lasso", 9), ("rf", 3)):
        tab = with_p_resolution(model_loco(ab, info, model, n, seed=1, threads=2))
        done = tab[tab["auc"].notna()].set_index("held_out")
        assert {"mean", "pooled"} <= set(done.index)
        assert (done["n_permutations"] == n).all()
        assert done["perm_p"].between(1 / (n + 1), 1).all()
        assert np.allclose(done["p_resolution"], 1 / (n + 1))


def test_validate_drops_a_null_that_counted_a_fold_flagged_afterwards():
    from icibiome.validation.cohorts import flag_empty_models

    tab = pd.DataFrame([
        {"model": "rf", "held_out": "A", "n_R": 2, "n_NR": 2, "auc": 1.0, "perm_p": 0.1},
        {"model": "rf", "held_out": "B", "n_R": 2, "n_NR": 2, "auc": 0.5, "perm_p": 0.6},
        {"model": "rf", "held_out": "mean", "auc": 0.75, "perm_p": 0.2, "note": "m"},
        {"model": "rf", "held_out": "pooled", "auc": 0.7, "perm_p": 0.2, "note": "p"},
    ]).reindex(columns=pr.AUC_COLUMNS)  # fmt: skip
    preds = pd.DataFrame({"cohort": list("AAAABBBB"), "response": ["R", "R", "NR", "NR"] * 2,
                          "probability": [0.9, 0.8, 0.2, 0.1] + [0.4] * 4})  # fmt: skip
    out = flag_empty_models(tab, preds).set_index("held_out")
    assert out.loc[["B", "mean", "pooled"], "perm_p"].isna().all()
    assert out.loc["A", "perm_p"] == 0.1  # a fold's own null stays valid
    assert "permutation null dropped" in out.loc["mean", "note"]


# ------------------------------------------------- within-cohort CV: its permutation reference
def _noise_cohorts(n_cohorts=3, n=20, n_r=5, seed=11):
    ab, info = _cohorts(n_cohorts=n_cohorts, n=n, p=30, effect=0.0, seed=seed)  # no signal
    info["response"] = np.where(info.groupby("cohort").cumcount() < n_r, "R", "NR")
    return ab, info


def test_within_cohort_cv_on_pure_noise_is_read_against_its_permutation_reference(monkeypatch):
    """Issue 13: on small cohorts without signal the within-cohort CV AUC scatters far below 0.5
    (0.26-0.39 here; ~0.36 in the issue), so the table gives the shuffled-label reference beside
    it (old code: the AUC alone, read against 0.5 as "the optimistic contrast"). Here the
    reference is as wide as that scatter and the low AUCs are not significant either way."""
    monkeypatch.setattr(models, "LASSO_CS", np.logspace(-1.5, 1, 3))  # a short grid: test speed
    ab, info = _noise_cohorts()
    w = pr.within_cohort_cv(ab, info, "lasso", n_repeats=1, seed=1, permutations=19)
    w = w.set_index("cohort")
    assert list(w.columns[3:9]) == ["auc_mean", "auc_sd", "perm_p", "null_mean", "null_sd",
                                     "n_permutations"]  # fmt: skip
    assert (w["n_permutations"] == 19).all() and (w["perm_p"] >= 1 / 20).all()
    low = w[w["auc_mean"] < 0.45]
    assert len(low) >= 1  # noise alone gives CV AUCs well below 0.5 ...
    assert (low["perm_p"] > 0.5).all()  # ... which the reference does not call a signal
    assert (w["null_sd"] > 0.1).all() and w["null_mean"].between(0.4, 0.6).all()
    assert w["note"].str.contains("compare with it, not with 0.5").all()
    assert (w["perm_p"] > 0.05).all()


def test_within_cohort_reference_depends_on_class_counts_not_on_the_label_order(monkeypatch):
    """Permuting the labels inside a cohort changes the observed CV AUC, not its reference: the
    shuffles are drawn from the cohort's sorted labels (seeded per cohort)."""
    monkeypatch.setattr(models, "LASSO_CS", np.logspace(-1.5, 1, 3))
    ab, info = _noise_cohorts(n_cohorts=1, n=20, n_r=8, seed=3)
    a = pr.within_cohort_cv(ab, info, "lasso", n_repeats=1, seed=2, permutations=9)
    shuffled = info.assign(response=np.random.default_rng(0).permutation(info["response"]))
    b = pr.within_cohort_cv(ab, shuffled, "lasso", n_repeats=1, seed=2, permutations=9)
    cols = ["null_mean", "null_sd", "n_permutations"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["auc_mean"].iloc[0] != b["auc_mean"].iloc[0]
    # the observed value is one of the labellings the reference draws from: p in (0, 1]
    assert 0 < a["perm_p"].iloc[0] <= 1 and 0 < b["perm_p"].iloc[0] <= 1


def test_within_cohort_reference_in_parallel_is_the_same():
    ab, info = _noise_cohorts(n_cohorts=1, n=20, n_r=8, seed=3)
    a = pr.within_cohort_cv(ab, info, "lasso", n_repeats=1, seed=2, permutations=3)
    b = pr.within_cohort_cv(ab, info, "lasso", n_repeats=1, seed=2, permutations=3, n_jobs=2)
    pd.testing.assert_frame_equal(a, b)


def test_report_shows_within_cohort_cv_beside_its_permutation_reference(tmp_path):
    """Issue 13: the report's within-cohort table gives the shuffled-label reference next to the
    CV AUC and says to read it against that, not against 0.5 (old code: no such section)."""
    import yaml

    from icibiome.signatures.stage import write_signatures_mqc

    fig = tmp_path / "fig.png"
    fig.write_bytes(b"\x89PNG\r\n\x1a\n")
    meta = pd.DataFrame(columns=["feature", "effect", "ci_low", "ci_high", "p_value", "q_value",
                                 "I2", "n_cohorts", "direction_consistency"])  # fmt: skip
    auc = pd.DataFrame({"model": ["lasso"], "features": ["species"], "held_out": ["mean"],
                        "auc": [0.6], "ci_low": [np.nan], "ci_high": [np.nan], "n_R": [20],
                        "n_NR": [20], "note": [""]})  # fmt: skip
    preds = pd.DataFrame(columns=["model", "features", "cohort", "response", "probability"])
    km = pd.DataFrame(columns=["group", "time", "survival", "at_risk", "score", "endpoint"])
    within = pd.DataFrame({"model": ["lasso"], "cohort": ["C1"], "n_R": [6], "n_NR": [6],
                           "auc_mean": [0.31], "auc_sd": [0.05], "perm_p": [0.7],
                           "null_mean": [0.36], "null_sd": [0.12], "n_permutations": [19],
                           "folds": [5], "repeats": [5], "note": ["x"]})  # fmt: skip
    paths = {p.name: p for p in write_signatures_mqc(meta, auc, preds, km, fig, tmp_path, "x",
                                                     within=within)}  # fmt: skip
    text = paths["signatures_within_mqc.tsv"].read_text()
    head = yaml.safe_load("\n".join(ln[2:] for ln in text.splitlines() if ln.startswith("# ")))
    assert "not against 0.5" in head["description"]
    assert "optimistic contrast" not in head["description"]
    assert head["description"].startswith("Repeated stratified 5-fold CV")
    assert head["headers"]["null_mean"]["format"] == "{:.3f}"
    body = pd.read_csv(paths["signatures_within_mqc.tsv"], sep="\t", comment="#", index_col=0)
    assert list(body.columns[:6]) == ["auc_mean", "auc_sd", "null_mean", "null_sd", "perm_p",
                                      "n_permutations"]  # fmt: skip
    assert body.loc["lasso | C1", "null_mean"] == 0.36


def test_permutations_are_handed_out_in_several_chunks_per_process():
    """Null runs differ several-fold in cost: about 4 chunks per process, in order, so a free
    process takes the next chunk (old code: one chunk per process, one process idle for a
    quarter of make validate's L1 null)."""
    chunks = pr._chunks(100, 2)
    assert len(chunks) == 8 and np.array_equal(np.concatenate(chunks), np.arange(100))
    assert [len(c) for c in pr._chunks(3, 2)] == [1, 1, 1]
