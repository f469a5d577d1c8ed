"""Engraftment and longitudinal library: planted truth recovered, design errors named."""

import numpy as np
import pandas as pd
import pytest

from icibiome.engraftment import donors as en
from icibiome.engraftment import longitudinal as lg


def _fmt_cohort(seed=0, n_rec=12, n_taxa=300, n_donor_only=60, days=(0, 14, 42, 84)):
    """Donors and recipients with a planted engraftment share per recipient.

    Each recipient's baseline has its own taxa; the donor has ``n_donor_only`` taxa absent from
    every baseline. At each post-FMT day a recipient carries exactly ``round(share * n)`` of the
    donor-specific taxa (share planted per recipient), responders higher than non-responders.
    """
    rng = np.random.default_rng(seed)
    taxa = [f"t{i}" for i in range(n_taxa)]
    donor_taxa = np.arange(n_donor_only)  # never in any baseline
    rows, info, truth = {}, [], {}
    donor = np.zeros(n_taxa)
    donor[donor_taxa] = rng.lognormal(0, 1, n_donor_only)
    donor[n_donor_only : n_donor_only + 80] = rng.lognormal(0, 1, 80)  # shared with every baseline
    rows["D1"] = donor
    info.append(
        {
            "sample_id": "D1",
            "subject_id": "donor1",
            "role": "donor",
            "days": 0,
            "donor_id": "",
            "response": "",
            "cohort": "trialA",
        }
    )
    for r in range(n_rec):
        resp = "R" if r % 2 == 0 else "NR"
        share = (0.55 if resp == "R" else 0.2) + rng.uniform(-0.1, 0.1)
        truth[f"P{r}"] = share
        base = np.zeros(n_taxa)
        base[n_donor_only : n_donor_only + 80] = rng.lognormal(0, 1, 80)  # the donor's other taxa
        own = rng.choice(np.arange(n_donor_only + 80, n_taxa), 60, replace=False)
        base[own] = rng.lognormal(0, 1, len(own))
        for day in days:
            x = base.copy()
            if day > 0:
                k = int(round(share * n_donor_only))
                eng = rng.choice(donor_taxa, k, replace=False)
                x[eng] = rng.lognormal(-1, 1, k)
            sid = f"P{r}_d{day}"
            rows[sid] = x
            info.append(
                {
                    "sample_id": sid,
                    "subject_id": f"P{r}",
                    "role": "patient",
                    "days": day,
                    "donor_id": "D1",
                    "response": resp,
                    "cohort": "trialA",
                }
            )
    ab = pd.DataFrame(rows, index=taxa).T * 100  # percent
    return ab, pd.DataFrame(info).set_index("sample_id"), truth, n_donor_only


def test_planted_engraftment_share_recovered():
    ab, design, truth, n = _fmt_cohort()
    s = en.engraftment(ab, design)
    assert len(s) == 12 * 3  # three post-FMT samples per recipient
    assert (s["n_donor_specific"] == n).all()  # donor-only taxa, none in a baseline
    rec = en.per_recipient(s)
    err = (rec.set_index("subject_id")["engraftment_share"] - pd.Series(truth)).abs()
    assert err.max() < 0.02, err  # exact up to rounding of share * n taxa
    # no recipient taxon is lost in this plant, and every post sample moved towards the donor
    assert (s["lost_share"] == 0).all()
    assert (s["jaccard_donor"] < 1).all()
    assoc = en.association(rec, ["engraftment_share"])
    row = assoc.iloc[0]
    assert row["n_R"] == 6 and row["n_NR"] == 6
    assert row["auc"] == 1.0 and row["p_value"] < 0.01
    assert "too few" not in row["note"]


def test_several_donors_and_missing_donor_sample():
    ab, design, _, _ = _fmt_cohort(n_rec=4)
    ab.loc["D2"] = ab.loc["D1"].sample(frac=1.0, random_state=1).to_numpy()
    design.loc["D2"] = {
        "subject_id": "donor2",
        "role": "donor",
        "days": 0,
        "donor_id": "",
        "response": "",
        "cohort": "trialA",
    }
    design.loc[design["subject_id"] == "P0", "donor_id"] = "D1;D2"
    s = en.engraftment(ab, design)
    p0 = s[s["subject_id"] == "P0"].iloc[0]
    assert p0["donor_ids"] == "D1;D2"
    assert p0["n_donor_taxa"] > s[s["subject_id"] == "P1"].iloc[0]["n_donor_taxa"]
    # a donor whose sample is not in the table: the recipient is left out, with a warning
    s2 = en.engraftment(ab.drop(index="D2"), design)
    assert "P0" not in set(s2["subject_id"]) and "P1" in set(s2["subject_id"])


def test_pair_distances_do_not_depend_on_other_samples():
    ab, design, _, _ = _fmt_cohort(n_rec=6)
    full = en.engraftment(ab, design).set_index("sample_id")
    keep = design.index[design["subject_id"].isin(["P2", "donor1"])]
    alone = en.engraftment(ab.loc[keep], design.loc[keep]).set_index("sample_id")
    pd.testing.assert_frame_equal(alone, full.loc[alone.index])


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.assign(role=d["role"].replace("donor", "giver")), "column 'role'"),
        (
            lambda d: d.assign(donor_id=d["donor_id"].replace("D1", "D9")),
            "'D9' is not a donor sample",
        ),
        (
            lambda d: d.assign(response=np.where(d["role"] == "donor", "R", d["response"])),
            "donor sample 'D1' has a 'response'",
        ),
        (
            lambda d: d.assign(days=d["days"].astype(object).where(d.index != "P0_d14", "x")),
            "'P0_d14' column 'days'",
        ),
    ],
)
def test_design_errors_name_sample_and_column(change, match):
    ab, design, _, _ = _fmt_cohort(n_rec=2)
    with pytest.raises(en.EngraftmentError, match=match):
        en.engraftment(ab, change(design))


def test_two_baselines_refused():
    ab, design, _, _ = _fmt_cohort(n_rec=2)
    design.loc["P0_d14", "days"] = 0
    with pytest.raises(en.EngraftmentError, match="two baseline|at its first day"):
        en.engraftment(ab, design)


def test_small_trial_is_flagged():
    ab, design, _, _ = _fmt_cohort(n_rec=6)
    rec = en.per_recipient(en.engraftment(ab, design))
    row = en.association(rec, ["engraftment_share"]).iloc[0]
    assert row["n_R"] == 3 and "too few recipients" in row["note"]
    assert row["ci_low"] < row["auc"] <= row["ci_high"] or row["auc"] == 1.0


# ---------------------------------------------------------------- longitudinal
def _long_cohort(slope_r, slope_nr=0.0, n=20, seed=3, days=(0, 30, 60, 90)):
    rng = np.random.default_rng(seed)
    vals, info = {}, []
    for i in range(n):
        resp = "R" if i < n // 2 else "NR"
        icpt = rng.normal(0, 1)
        for d in days:
            sid = f"S{i}_{d}"
            slope = slope_r if resp == "R" else slope_nr
            vals[sid] = icpt + slope * d + rng.normal(0, 0.3)
            info.append({"sample_id": sid, "subject_id": f"S{i}", "days": d, "response": resp})
    return pd.DataFrame({"guild_balance": vals}), pd.DataFrame(info).set_index("sample_id")


def test_planted_interaction_recovered():
    scores, design = _long_cohort(slope_r=0.02)
    long, models, _ = lg.longitudinal(scores, design)
    m = models.iloc[0]
    assert m["converged"] and m["n_R"] == 10 and m["n_NR"] == 10
    assert m["ci_low"] > 0 and abs(m["estimate"] - 0.02) < 0.005
    # change from baseline: zero at baseline, the planted slope after
    assert (long.loc[long["is_baseline"], "change"] == 0).all()


def test_no_interaction_under_the_null():
    covered = 0
    for seed in range(20):
        scores, design = _long_cohort(slope_r=0.01, slope_nr=0.01, seed=seed)
        m = lg.longitudinal(scores, design)[1].iloc[0]
        covered += m["ci_low"] <= 0 <= m["ci_high"]
    assert covered >= 17  # ~95 % coverage of the true 0


def test_paired_tests_with_two_timepoints():
    scores, design = _long_cohort(slope_r=0.05, slope_nr=0.0, days=(0, 60))
    paired = lg.longitudinal(scores, design)[2].iloc[0]
    assert paired["n_subjects"] == 20
    assert paired["p_change_R"] < 0.01 and paired["p_R_vs_NR"] < 0.01
    assert paired["median_change_R"] > 2
