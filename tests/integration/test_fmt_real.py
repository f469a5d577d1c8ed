"""Engraftment and longitudinal stages on the real FMT trials (Davar 2021, Baruch 2021) and the
NSCLC V0/V3 visits (../shared/data; skipped with the reason when absent)."""

from pathlib import Path

import numpy as np
import pytest

from icibiome.validation import fmt as vf

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not (SHARED / "ici_mpa4_8cohorts").is_dir()
        or not (SHARED / "ici_cmd_curated_metadata").is_dir(),
        reason="../shared/data/ici_mpa4_8cohorts and ici_cmd_curated_metadata are not here",
    ),
]


def test_fmt_trials_designs_and_engraftment():
    samples, summary = vf.run_fmt(SHARED)
    s = summary.set_index(["trial", "resolution"])
    # the designs as published: Davar 15 recipients (6 with benefit), Baruch 10 recipients, 2 donors
    assert s.loc[("DavarD_2021", "species"), ["recipients", "R", "NR"]].tolist() == [15, 6, 9]
    assert s.loc[("BaruchEN_2021", "species"), ["recipients", "donors"]].tolist() == [10, 2]
    assert s.loc[("BaruchEN_2021", "species"), "samples_per_recipient"] == 4.0
    # every recipient post-FMT sample has donor-specific taxa, and shares are proportions
    assert (samples["n_donor_specific"] > 0).all()
    assert samples["engraftment_share"].between(0, 1).all()
    # donor material engrafts: post-FMT samples share more taxa with their donor than baselines
    # of other trials' recipients would by chance; at least 10 % of donor-specific taxa found
    assert (
        samples.groupby("trial" if "trial" in samples else "cohort")["engraftment_share"]
        .median()
        .min()
        > 0.1
    )
    # every AUC has its CI; small trials say so
    assert summary["engraftment_ci_low"].notna().all()
    assert summary.loc[summary["trial"] == "BaruchEN_2021", "note"].str.contains("too few").all()
    pooled = summary[summary["trial"].str.startswith("pooled")].set_index("resolution")
    assert pooled.loc["species", "recipients"] == 25 and pooled.loc["species", "R"] == 9


def test_sgb_rows_are_finer_than_species():
    sp, sgb = vf.read_mpa_table(SHARED / "ici_mpa4_8cohorts" / "Baruch_merged_table.txt")
    assert sgb.shape[1] > sp.shape[1] and sp.shape[0] == sgb.shape[0] == 42
    assert np.allclose(sp.sum(axis=1), sgb.sum(axis=1), atol=1.0)  # both ~100 %


@pytest.mark.skipif(
    not (SHARED / "toposcore_nsclc").is_dir(), reason="../shared/data/toposcore_nsclc is not here"
)
def test_nsclc_visits_toposcore_change():
    v = vf.run_nsclc_visits(SHARED).iloc[0]
    assert v["patients_with_both_visits"] >= 30
    assert v["n_R"] + v["n_NR"] <= v["n_subjects"]
    assert 0 <= v["p_R_vs_NR"] <= 1
