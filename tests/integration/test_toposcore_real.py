"""Golden tests: TOPOSCORE (Derosa et al. 2024) on the authors' released NSCLC data.

Data: ../shared/data/toposcore_nsclc (see its SOURCE.md; never copied into the repository).

* Discovery cohort (245 patients): the score recomputed from the v1 species table with the
  published lists equals the released ``SCORE`` for every patient, and so do the SIG1/SIG2 counts,
  the Akkermansia status, the category and the prediction; the published summary numbers of
  docs/methods.md §8 (rows 8-12: AUC 0.660, OS HR 2.13 (1.54-2.95), PFS HR 1.48, category counts,
  accuracy 0.652) follow from the recomputed scores.
* The authors' example inputs (MetaPhlAn 4 vJan21 and sylph / GTDB r220 profiles of the same five
  samples): species, SGB and GTDB namings of the lists give the same counts on the MetaPhlAn table;
  the GTDB profile agrees within two entries per list and gives the same predictions.
* De-novo mode re-derives lists on the discovery cohort that score above chance there.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icibiome.signatures import toposcore as tp
from icibiome.signatures import toposcore_discovery as td
from icibiome.signatures import toposcore_endpoints as te
from icibiome.signatures import toposcore_stage as ts
from icibiome.taxonomy.importers import read_profile

pytestmark = pytest.mark.shared

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "toposcore_nsclc"


def _need(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"TOPOSCORE data not found: {path} (../shared/data is not beside the project)")
    return path


def _species_table(name: str) -> pd.DataFrame:
    df = pd.read_csv(_need(name)).set_index("Sample_id")
    df = df[~df.index.duplicated()]  # 61 LUM3 ids occur twice in v1 (none in discovery)
    # a species named in more than one column (pandas suffixes .1, .2) is summed (SOURCE.md)
    return df.T.groupby(lambda c: re.sub(r"\.\d+$", "", c)).sum().T


@pytest.fixture(scope="module")
def discovery():
    clin = pd.read_csv(_need("DS1_oncology_clinical_data_DiscValid.csv")).set_index("Group")
    clin = clin[clin["Cohort"] == "Disc"]
    ab = _species_table("DS2_oncology_microbiome_data_v1.csv").reindex(clin.index)
    assert ab.notna().all(axis=None)  # every discovery patient has a profile
    sig1 = tp.read_signature(_need("sig1.txt"), "SIG1")
    sig2 = tp.read_signature(_need("sig2.txt"), "SIG2")
    scores, members = tp.score_samples(ab, sig1, sig2)
    return clin, ab, scores, members


def test_published_lists_have_37_and_45_entries_in_four_namings():
    s1 = tp.read_signature(_need("sig1.txt"))
    s2 = tp.read_signature(_need("sig2.txt"))
    assert (s1.size, s2.size) == (37, 45)
    assert s1.namings == s2.namings == ["species_Jan21", "SGB_Jan21", "GTDB_r207", "GTDB_r220"]


def test_discovery_scores_equal_the_published_ones(discovery):
    clin, _, scores, members = discovery
    assert len(scores) == 245
    assert members["in_profile"].all() and set(members["naming"]) == {"species_Jan21"}
    # measured: 245/245 identical counts; max |score - SCORE| = 4.4e-16 (float rounding)
    assert (scores["sig1_count"] == clin["N_SIGB1"]).all()
    assert (scores["sig2_count"] == clin["N_SIGB2"]).all()
    np.testing.assert_allclose(scores["toposcore"], clin["SCORE"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores["akkermansia"], clin["Akkermansia_muciniphila"], atol=1e-9)
    assert (scores["akkermansia_status"] == clin["AKK_TRICHO"]).all()
    assert (scores["category"] == clin["SIGCAT"]).all()
    assert (scores["predicted_response"] == clin["PRED_TOPO"]).all()
    # scores_disc.csv: the analysis script's own table (TOPOB01) for the same 245 patients
    sd = pd.read_csv(_need("scores_disc.csv")).set_index("Sample_id").loc[clin.index]
    np.testing.assert_allclose(scores["toposcore"], sd["TOPOB01"], atol=1e-12)
    assert (scores["sig1_count"] == sd["SIGB1"]).all() and (
        scores["sig2_count"] == sd["SIGB2"]
    ).all()


def test_discovery_summary_numbers_of_methods_section_8(discovery):
    clin, _, scores, _ = discovery
    # row 9: category counts SIG1 74 / Gray 114 / SIG2 57
    assert scores["category"].value_counts().to_dict() == {"Gray": 114, "SIG1": 74, "SIG2": 57}
    # row 8: AUC of the continuous score for OS12 (R positive) = 0.660 on 230 labelled patients
    lab = clin["OS12"].where(clin["OS12"].isin(["R", "NR"]), "")
    assert (lab != "").sum() == 230
    assert tp.auc(scores["toposcore"], lab) == pytest.approx(0.660, abs=5e-4)  # 0.66034
    # row 10: OS hazard ratio predicted NR vs R (Breslow) 2.13 (1.54-2.95), p = 5e-6
    nr = (scores["predicted_response"] == "NR").astype(int)
    hr = tp.cox_hazard_ratio(clin["OS"], clin["Death"], nr)
    assert hr["n"] == 245
    assert hr["hr"] == pytest.approx(2.13, abs=0.005)  # 2.1279
    assert hr["ci_low"] == pytest.approx(1.54, abs=0.005)  # 1.5371
    assert hr["ci_high"] == pytest.approx(2.95, abs=0.005)  # 2.9458
    assert 4e-6 < hr["p_value"] < 6e-6  # 5.34e-6
    # row 11: PFS hazard ratio 1.48 (1.12-1.96)
    pfs = tp.cox_hazard_ratio(clin["PFS"], clin["PD"], nr)
    assert (round(pfs["hr"], 2), round(pfs["ci_low"], 2), round(pfs["ci_high"], 2)) == (
        1.48, 1.12, 1.96)  # fmt: skip
    # row 12: accuracy vs OS12 0.652 (TN 83, TP 67, FN 51, FP 29)
    has = lab != ""
    pred, truth = scores.loc[has, "predicted_response"], lab[has]
    tab = pd.crosstab(truth, pred)
    assert (tab.loc["NR", "NR"], tab.loc["R", "R"], tab.loc["R", "NR"], tab.loc["NR", "R"]) == (
        83, 67, 51, 29)  # fmt: skip
    assert (pred == truth).mean() == pytest.approx(0.652, abs=5e-4)


def test_akkermansia_rule_response_rates_of_methods_row_16(discovery):
    clin, _, scores, _ = discovery
    lab = clin["OS12"]
    rates = {s: (int((lab[scores["akkermansia_status"] == s] == "R").sum()),
                 int(lab[scores["akkermansia_status"] == s].isin(["R", "NR"]).sum()))
             for s in ("Zero", "Low", "High")}  # fmt: skip
    assert rates == {"Zero": (55, 121), "Low": (55, 86), "High": (8, 23)}
    # the published threshold sits between the largest Low and the smallest High value
    akk = scores["akkermansia"]
    assert akk[scores["akkermansia_status"] == "Low"].max() < tp.AKK_HIGH
    assert akk[scores["akkermansia_status"] == "High"].min() >= tp.AKK_HIGH


def test_example_profiles_score_alike_in_every_naming():
    mpa = _need("mpa4_vJan21_test_data.tsv")
    syl = _need("sylph_GTDBr220_test_data.tsv")
    sig1 = tp.read_signature(_need("sig1.txt"), "SIG1")
    sig2 = tp.read_signature(_need("sig2.txt"), "SIG2")
    raw = pd.read_csv(mpa, sep="\t", index_col=0)
    species = raw[raw.index.str.contains(r"\|s__") & ~raw.index.str.contains(r"\|t__")].T
    sgb = raw[raw.index.str.contains(r"\|t__")].T
    by_sp, m_sp = tp.score_samples(species, sig1, sig2)
    by_sgb, m_sgb = tp.score_samples(sgb, sig1, sig2)
    assert set(m_sp["naming"]) == {"species_Jan21"} and set(m_sgb["naming"]) == {"SGB_Jan21"}
    cols = ["sig1_count", "sig2_count", "toposcore", "category", "akkermansia_status"]
    pd.testing.assert_frame_equal(by_sp[cols], by_sgb[cols])
    # the importer's standard table (percent of classified) changes Akk %, not its status here
    std = read_profile(mpa).set_index("clade_name").drop(columns="lineage").T
    by_std, _ = tp.score_samples(std, sig1, sig2)
    pd.testing.assert_frame_equal(by_std[cols], by_sp[cols])
    # GTDB r220 (sylph) profile of the same samples, matched through the lists' GTDB column
    gt = read_profile(syl).set_index("clade_name").drop(columns="lineage").T
    by_gt, m_gt = tp.score_samples(gt, sig1, sig2)
    assert set(m_gt["naming"]) == {"GTDB_r220"}
    # measured: |delta n1| <= 2, |delta n2| <= 1, |delta s| <= 0.027; predictions 5/5 equal
    assert (by_gt["sig1_count"] - by_sp["sig1_count"]).abs().max() <= 2
    assert (by_gt["sig2_count"] - by_sp["sig2_count"]).abs().max() <= 2
    assert (by_gt["toposcore"] - by_sp["toposcore"]).abs().max() < 0.03
    assert (by_gt["predicted_response"] == by_sp["predicted_response"]).all()
    assert (by_gt["akkermansia_status"] == by_sp["akkermansia_status"]).all()


def test_single_column_list_scored_on_gtdb_through_a_name_map(tmp_path):
    """A MetaPhlAn species list plus the lists' own name table scores a GTDB profile."""
    from icibiome.taxonomy.harmonise import NameMap

    sig = {}
    for k in ("sig1", "sig2"):
        table = pd.read_csv(_need(f"{k}.txt"), sep="\t", dtype=str)
        p = tmp_path / f"{k}_species.txt"
        p.write_text("\n".join(table["species_Jan21"]) + "\n")
        sig[k] = tp.read_signature(p, k.upper())
    both = pd.concat(
        [pd.read_csv(_need(f"{k}.txt"), sep="\t", dtype=str) for k in ("sig1", "sig2")]
    )
    nm = NameMap(both[["species_Jan21", "GTDB_r220"]], source="sig1+sig2")
    gt = read_profile(_need("sylph_GTDBr220_test_data.tsv"))
    gt = gt.set_index("clade_name").drop(columns="lineage").T
    via_map, _ = tp.score_samples(gt, sig["sig1"], sig["sig2"], name_map=nm)
    direct, _ = tp.score_samples(gt, tp.read_signature(_need("sig1.txt")),
                                 tp.read_signature(_need("sig2.txt")))  # fmt: skip
    pd.testing.assert_series_equal(via_map["toposcore"], direct["toposcore"])


@pytest.fixture(scope="module")
def validation():
    clin = pd.read_csv(_need("DS1_oncology_clinical_data_DiscValid.csv")).set_index("Group")
    clin = clin[clin["Cohort"] != "Disc"]
    ab = _species_table("DS2_oncology_microbiome_data_DiscValid.csv").reindex(clin.index)
    assert ab.notna().all(axis=None) and len(clin) == 254
    return clin, ab


def test_validation_cohorts_from_the_discvalid_table(validation):
    """Methods §8 rows 7, 13, 14: the released validation SCOREs match neither table; the
    recomputed categories agree for 136/148 "Valid" patients (12 change, as in row 7)."""
    clin, ab = validation
    sig1 = tp.read_signature(_need("sig1.txt"), "SIG1")
    sig2 = tp.read_signature(_need("sig2.txt"), "SIG2")
    scores, _ = tp.score_samples(ab, sig1, sig2)
    valid = clin["Cohort"] == "Valid"
    sv, cv = scores[valid], clin[valid]
    assert (sv["category"] == cv["SIGCAT"]).sum() == 136
    assert (sv["predicted_response"] == cv["PRED_TOPO"]).sum() == 136
    lab = cv["OS12"].where(cv["OS12"].isin(["R", "NR"]), "")
    assert (lab != "").sum() == 108
    # measured: AUC 0.576 recomputed vs 0.579 with the released SCORE (row 13)
    assert tp.auc(sv["toposcore"], lab) == pytest.approx(0.576, abs=5e-4)
    assert tp.auc(cv["SCORE"], lab) == pytest.approx(0.579, abs=5e-4)
    # OS HR predicted NR vs R: 1.74 (1.03-2.91) recomputed; row 13 has 1.79 (1.06-3.04) from
    # the released predictions, which this reproduces
    hr = tp.cox_hazard_ratio(cv["OS"], cv["Death"], (sv["predicted_response"] == "NR").astype(int))
    assert (round(hr["hr"], 2), round(hr["ci_low"], 2), round(hr["ci_high"], 2)) == (
        1.74, 1.03, 2.91)  # fmt: skip
    rel = tp.cox_hazard_ratio(cv["OS"], cv["Death"], (cv["PRED_TOPO"] == "NR").astype(int))
    assert (round(rel["hr"], 2), round(rel["ci_low"], 2), round(rel["ci_high"], 2)) == (
        1.79, 1.06, 3.04)  # fmt: skip
    # all 254 validation patients: 1.72 (1.16-2.56) recomputed; row 14: 1.80 (1.21-2.67)
    hr = tp.cox_hazard_ratio(clin["OS"], clin["Death"],
                             (scores["predicted_response"] == "NR").astype(int))  # fmt: skip
    assert (round(hr["hr"], 2), round(hr["ci_low"], 2), round(hr["ci_high"], 2)) == (
        1.72, 1.16, 2.56)  # fmt: skip
    assert hr["p_value"] < 0.01


def test_de_novo_lists_from_discovery(discovery, validation):
    """tp_main.R on the discovery cohort (v0.2 helper + the 2024 prevalence/GGB filter): the
    lists nearly equal the published ones (measured: SIG1 34, all published = 34 of the 37;
    SIG2 49 holding all 45 published), and score the held-out "Valid" cohort like them."""
    clin, ab, _, _ = discovery
    res = td.discover_signatures(ab, clin["OS"], clin["Death"], k=7)
    pub1 = set(tp.read_signature(_need("sig1.txt")).table["species_Jan21"])
    pub2 = set(tp.read_signature(_need("sig2.txt")).table["species_Jan21"])
    new1, new2 = set(res.sig1.table["taxon"]), set(res.sig2.table["taxon"])
    assert not new1 & new2
    scores, _ = tp.score_samples(ab, res.sig1, res.sig2)
    lab = clin["OS12"].where(clin["OS12"].isin(["R", "NR"]), "")
    a = tp.auc(scores["toposcore"], lab)
    print(f"de novo: SIG1 {len(new1)} ({len(new1 & pub1)} published), SIG2 {len(new2)} "
          f"({len(new2 & pub2)} published), training AUC {a:.3f}")  # fmt: skip
    assert len(new1 & pub1) >= 30 and len(new1 - pub1) <= 5
    assert len(new2 & pub2) >= 40 and len(new2 - pub2) <= 8
    assert a == pytest.approx(0.665, abs=0.01)
    clin_v, ab_v = validation
    valid = clin_v["Cohort"] == "Valid"
    held, _ = tp.score_samples(ab_v[valid], res.sig1, res.sig2)
    lab_v = clin_v.loc[valid, "OS12"].where(clin_v.loc[valid, "OS12"].isin(["R", "NR"]), "")
    a_v = tp.auc(held["toposcore"], lab_v)
    print(f"held-out Valid AUC {a_v:.3f}")
    assert a_v == pytest.approx(0.575, abs=0.01)


def _product_limit(time, event) -> pd.Series:
    """Kaplan-Meier by hand (product of 1 - deaths / at risk over event times), for checking."""
    t, e = np.asarray(time, float), np.asarray(event, int)
    out, s = {}, 1.0
    for u in np.unique(t[e == 1]):
        s *= 1 - ((t == u) & (e == 1)).sum() / (t >= u).sum()
        out[u] = s
    return pd.Series(out)


def test_pipeline_stage_gives_the_published_endpoint(discovery, tmp_path):
    """run_toposcore (rule toposcore) on the discovery cohort as a standard table and a sample
    sheet: the survival table holds the published OS HR of predicted NR vs R, 2.13 (1.54-2.95)
    (docs/methods.md §8 row 10; lifelines Efron measured 2.1286 (1.5377-2.9467)) and PFS 1.48
    (1.12-1.96) (row 11); the KM table has the curves by predicted class and by category (74 /
    114 / 57 at risk); the report names the NSCLC reference and no melanoma one."""
    import yaml

    from icibiome.io import write_standard_table
    from icibiome.report.build import has_data

    clin, ab, scores, _ = discovery
    table = ab.T.rename_axis("clade_name").reset_index()
    table.insert(1, "lineage", "s__" + table["clade_name"])
    write_standard_table(table, tmp_path / "abundance_species.tsv")
    sheet = pd.DataFrame({"sample_id": clin.index, "subject_id": clin.index, "cohort": "Disc",
                          "timepoint": "baseline", "response": clin["OS12"].fillna(""),
                          "os_months": clin["OS"], "os_event": clin["Death"],
                          "pfs_months": clin["PFS"], "pfs_event": clin["PD"]})  # fmt: skip
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    paths = ts.run_toposcore(tmp_path / "abundance_species.tsv", tmp_path / "out",
                             samples_tsv=tmp_path / "samples.tsv", sig1=_need("sig1.txt"),
                             sig2=_need("sig2.txt"), cancer_type="nsclc",
                             label="metaphlan, species")  # fmt: skip
    got = pd.read_csv(paths["scores"], sep="\t", index_col="sample_id").loc[clin.index]
    assert (got["predicted_response"] == clin["PRED_TOPO"]).all()
    surv = pd.read_csv(paths["survival"], sep="\t").set_index(["endpoint", "comparison"])
    os_ = surv.loc[("OS", "predicted NR vs R")]
    assert (os_["n"], os_["n_cohorts"]) == (245, 1)
    assert (round(os_["hr"], 2), round(os_["ci_low"], 2), round(os_["ci_high"], 2)) == (
        2.13, 1.54, 2.95)  # fmt: skip
    assert 4e-6 < os_["p_value"] < 7e-6
    pfs = surv.loc[("PFS", "predicted NR vs R")]
    assert (round(pfs["hr"], 2), round(pfs["ci_low"], 2), round(pfs["ci_high"], 2)) == (
        1.48, 1.12, 1.96)  # fmt: skip
    # the score per SD is kept (higher score, longer survival)
    assert surv.loc[("OS", "toposcore per SD"), "hr"] < 1
    assert surv.loc[("OS", "SIG1 vs SIG2 (Gray left out)"), "n"] == 74 + 57
    km = pd.read_csv(paths["km"], sep="\t")
    at0 = km[km["time"] == 0].set_index(["endpoint", "by", "group"])["at_risk"].sort_index()
    assert at0.loc[("OS", "category")].to_dict() == {"Gray": 114, "SIG1": 74, "SIG2": 57}
    pred = got["predicted_response"]
    assert at0.loc[("OS", "predicted_response")].to_dict() == pred.value_counts().to_dict()
    for g in ("NR", "R"):  # the KM curve equals the product-limit estimate by hand
        curve = km[(km["endpoint"] == "OS") & (km["by"] == "predicted_response")
                   & (km["group"] == g)].set_index("time")["survival"]  # fmt: skip
        ref = _product_limit(clin.loc[pred == g, "OS"], clin.loc[pred == g, "Death"])
        step = curve.to_numpy()[np.searchsorted(curve.index, ref.index + 1e-6, "right") - 1]
        np.testing.assert_allclose(step, ref.to_numpy(), atol=1e-6)  # the step curve at each death
    # report: survival table and KM curves present, no degenerate-category warning
    assert has_data(paths["toposcore_survival_mqc"]) and has_data(paths["toposcore_km_mqc"])
    assert not has_data(paths["toposcore_warnings_mqc"])
    km_doc = yaml.safe_load(paths["toposcore_km_mqc"].read_text())
    assert [d["name"] for d in km_doc["pconfig"]["data_labels"]] == [
        "OS by category", "OS by predicted_response", "PFS by category",
        "PFS by predicted_response"]  # fmt: skip
    desc = yaml.safe_load(paths["toposcore_scores_mqc"].read_text())["parent_description"]
    assert "2.13 (1.54-2.95)" in desc and "Lee" not in desc and "published cut-offs" in desc
    cal = yaml.safe_load(paths["calibration"].read_text())
    assert (cal["cut_nr"], cal["cut_r"], cal["source"]) == (tp.CUT_NR, tp.CUT_R, "published")


CMD = DATA.parent / "ici_cmd_mpa3_4cohorts"
CMD_STUDIES = (("Frankel2017", "FrankelAE_2017"), ("Gop2018", "GopalakrishnanV_2018"),
               ("Lee2022", "LeeKA_2022"), ("Mat2018", "MatsonV_2018"))  # fmt: skip


def _cmd_inputs(tmp_path: Path, studies=CMD_STUDIES) -> tuple[Path, Path]:
    """The curatedMetagenomicData MetaPhlAn 3 melanoma tables as a standard table and a sheet
    (response = ORR yes/no where the metadata has it: Lee 2022 and Frankel 2017)."""
    parts, sheets = [], []
    for study, meta in studies:
        f = CMD / f"CMD_{study}.tsv"
        if not f.exists():
            pytest.skip(f"curatedMetagenomicData tables not found: {f}")
        t = pd.read_csv(f, sep="\t", index_col=0)
        m = pd.read_csv(CMD / f"{meta}_metadata.tsv", sep="\t").set_index("NCBI_accession")
        resp = m["ORR"].map({"yes": "R", "no": "NR"}) if "ORR" in m else pd.Series(dtype=str)
        parts.append(t)
        sheets.append(
            pd.DataFrame(
                {
                    "sample_id": t.columns,
                    "subject_id": t.columns,
                    "cohort": study,
                    "timepoint": "baseline",
                    "response": resp.reindex(t.columns).fillna("").to_numpy(),
                }
            )
        )
    from icibiome.io import write_standard_table

    table = pd.concat(parts, axis=1).fillna(0).rename_axis("clade_name").reset_index()
    table.insert(1, "lineage", table["clade_name"])
    write_standard_table(table, tmp_path / "abundance.tsv")
    pd.concat(sheets).to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    return tmp_path / "abundance.tsv", tmp_path / "samples.tsv"


def test_published_cut_offs_collapse_on_metaphlan3_tables_and_calibration_helps(tmp_path, caplog):
    """The published lists and cut-offs (MetaPhlAn 4 vJan21) on the MetaPhlAn 3 melanoma tables
    of curatedMetagenomicData (266 samples; 19 of 45 SIG2 entries have a MetaPhlAn 3 name): no
    sample reaches SIG2 (measured SIG1 113 / Gray 153 / SIG2 0), which the run reports as
    degenerate. Cut-offs re-fitted on Lee 2022 (ORR, 94 R / 70 NR; measured 0.5812 / 0.5848)
    give the 102 held-out samples SIG1 82 / Gray 2 / SIG2 18, no longer degenerate; the stored
    calibration reused on Frankel 2017 alone gives the same categories."""
    import logging

    import yaml

    from icibiome.report.build import has_data

    ab, sheet = _cmd_inputs(tmp_path)
    kw = {"samples_tsv": sheet, "sig1": _need("sig1.txt"), "sig2": _need("sig2.txt"),
          "label": "cmd-mpa3, species"}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="icibiome.signatures.toposcore_stage"):
        pub = ts.run_toposcore(ab, tmp_path / "published", **kw)
    assert "SIG1 113 (42.5%), Gray 153 (57.5%), SIG2 0 (0.0%)" in caplog.text
    assert has_data(pub["toposcore_warnings_mqc"])
    warn = pd.read_csv(pub["toposcore_warnings_mqc"], sep="\t", comment="#", index_col=0)
    assert warn["n"].to_dict() == {"SIG1": 113, "Gray": 153, "SIG2": 0}
    fit = ts.run_toposcore(ab, tmp_path / "fitted", calibration_cohorts=["Lee2022"], **kw)
    cal = yaml.safe_load(fit["calibration"].read_text())
    assert (round(cal["cut_nr"], 4), round(cal["cut_r"], 4)) == (0.5812, 0.5848)
    assert (cal["n_R"], cal["n_NR"], cal["fitted_on_cohorts"]) == (94, 70, ["Lee2022"])
    sc = pd.read_csv(fit["scores"], sep="\t", index_col="sample_id")
    assert int(sc["calibration_sample"].sum()) == 164
    held = sc[~sc["calibration_sample"]]
    assert held["category"].value_counts().to_dict() == {"SIG1": 82, "SIG2": 18, "Gray": 2}
    assert not has_data(fit["toposcore_warnings_mqc"])
    # reuse the stored calibration on one held-out cohort: the same cut-offs and categories
    (tmp_path / "frankel").mkdir()
    ab2, sheet2 = _cmd_inputs(tmp_path / "frankel", CMD_STUDIES[:1])
    again = ts.run_toposcore(ab2, tmp_path / "frankel" / "out", samples_tsv=sheet2,
                             sig1=_need("sig1.txt"), sig2=_need("sig2.txt"),
                             label="cmd-mpa3, species", calibration=fit["calibration"])  # fmt: skip
    sc2 = pd.read_csv(again["scores"], sep="\t", index_col="sample_id")
    pd.testing.assert_series_equal(sc2["category"], sc.loc[sc2.index, "category"])


def test_validation_cohorts_hr_stratified_by_cohort(validation):
    """The stage's Cox on the 254 validation patients (5 cohorts) is stratified by cohort:
    measured OS HR predicted NR vs R 1.83 (1.22-2.74), p 0.0033, against 1.72 (1.16-2.56)
    unstratified (test_validation_cohorts_from_the_discvalid_table) and the published 1.80
    (1.21-2.67) (docs/methods.md §8 row 14, unstratified, from the released predictions)."""
    clin, ab = validation
    scores, _ = tp.score_samples(ab, tp.read_signature(_need("sig1.txt"), "SIG1"),
                                 tp.read_signature(_need("sig2.txt"), "SIG2"))  # fmt: skip
    sheet = pd.DataFrame({"os_months": clin["OS"], "os_event": clin["Death"],
                          "cohort": clin["Cohort"]})  # fmt: skip
    surv, km = te.survival_endpoints(scores, sheet)
    row = surv.set_index(["endpoint", "comparison"]).loc[("OS", "predicted NR vs R")]
    assert (row["n"], row["n_cohorts"]) == (254, 5) and "Cox stratified by cohort" in row["note"]
    assert (round(row["hr"], 2), round(row["ci_low"], 2), round(row["ci_high"], 2)) == (
        1.83, 1.22, 2.74)  # fmt: skip
    assert row["p_value"] < 0.01
    assert set(km["endpoint"]) == {"OS"}
