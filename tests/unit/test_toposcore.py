"""TOPOSCORE (icibiome.signatures.toposcore) on hand-worked tiny examples.

Lists of 4 (SIG1) and 5 (SIG2) entries; scores worked out by hand from
s = (n2/5 - n1/4 + 1)/2, cut-offs 0.5351 / 0.7911, Akkermansia Zero / Low (< 4.799 %) / High.
"""

import numpy as np
import pandas as pd
import pytest

from icibiome.signatures import toposcore as tp
from icibiome.signatures import toposcore_discovery as td
from icibiome.taxonomy.harmonise import NameMap

SIG1 = ["Veillonella_parvula", "Streptococcus_oralis", "Hungatella_hathewayi", "Proteus_mirabilis"]
SIG2 = ["Roseburia_hominis", "Dorea_longicatena", "Gemmiger_formicilis",
        "Eubacterium_rectale", "Faecalibacterium_prausnitzii"]  # fmt: skip


def _sigs():
    return tp.signature_from_names(SIG1, "SIG1"), tp.signature_from_names(SIG2, "SIG2")


def _profile(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    df = pd.DataFrame(rows).T.fillna(0.0)
    df.columns = ["s__" + c for c in df.columns]
    return df


def test_score_category_and_every_branch_of_the_akkermansia_rule():
    sig1, sig2 = _sigs()
    ab = _profile({
        # n1 = 4, n2 = 0: s = (0 - 1 + 1)/2 = 0      -> SIG1 -> NR (Akk Low does not rescue)
        "all_sig1": {**dict.fromkeys(SIG1, 1.0), "Akkermansia_muciniphila": 1.0},
        # n1 = 0, n2 = 5: s = 1                      -> SIG2 -> R (Akk High does not matter)
        "all_sig2": {**dict.fromkeys(SIG2, 1.0), "Akkermansia_muciniphila": 30.0},
        # n1 = 1, n2 = 3: s = (0.6 - 0.25 + 1)/2 = 0.675 -> Gray; Akk Zero -> NR
        "gray_zero": {SIG1[0]: 2.0, **dict.fromkeys(SIG2[:3], 2.0)},
        # same, Akk 2 % (Low)                        -> Gray -> R
        "gray_low": {SIG1[0]: 2.0, **dict.fromkeys(SIG2[:3], 2.0), "Akkermansia_muciniphila": 2.0},
        # same, Akk 4.799 % (High, the bound itself) -> Gray -> NR
        "gray_high": {SIG1[0]: 2.0, **dict.fromkeys(SIG2[:3], 2.0),
                      "Akkermansia_muciniphila": 4.799},
        # nothing of either list: s = 0.5            -> SIG1
        "empty": {"Bacteroides_uniformis": 100.0},
    })  # fmt: skip
    sc, members = tp.score_samples(ab, sig1, sig2)
    exp = pd.DataFrame(
        {
            "sig1_count": [4, 0, 1, 1, 1, 0],
            "sig2_count": [0, 5, 3, 3, 3, 0],
            "toposcore": [0.0, 1.0, 0.675, 0.675, 0.675, 0.5],
            "category": ["SIG1", "SIG2", "Gray", "Gray", "Gray", "SIG1"],
            "akkermansia_status": ["Low", "High", "Zero", "Low", "High", "Zero"],
            "toposcore_class": ["SIG1+", "SIG2+", "SIG1+", "SIG2+", "SIG1+", "SIG1+"],
            "predicted_response": ["NR", "R", "NR", "R", "NR", "NR"],
        },
        index=pd.Index(ab.index, name="sample_id"),
    )
    pd.testing.assert_frame_equal(sc[exp.columns], exp, check_dtype=False)
    np.testing.assert_allclose(sc["sig1_score"], [1, 0, 0.25, 0.25, 0.25, 0])
    np.testing.assert_allclose(sc["sig2_score"], [0, 1, 0.6, 0.6, 0.6, 0])
    assert members["in_profile"].all() and len(members) == 9


def test_cut_offs_are_inclusive_at_both_ends():
    assert tp.sig_category([0.5351, 0.53511, 0.79109, 0.7911]).tolist() == [
        "SIG1", "Gray", "Gray", "SIG2"]  # fmt: skip
    assert tp.akkermansia_status([0.0, 1e-9, 4.7989, 4.799, np.nan]).tolist() == [
        "Zero", "Low", "Low", "High", "Zero"]  # fmt: skip
    with pytest.raises(tp.ToposcoreError):
        tp.sig_category([0.5], cut_nr=0.8, cut_r=0.7)


def test_missing_entries_count_as_absent_with_the_list_size_as_denominator():
    sig1, sig2 = _sigs()
    # only two SIG2 entries exist in this profile; the denominator stays 5
    ab = _profile({"a": {SIG2[0]: 1.0, SIG2[1]: 0.0}})
    sc, members = tp.score_samples(ab, sig1, sig2)
    assert sc.loc["a", "sig2_count"] == 1 and sc.loc["a", "toposcore"] == pytest.approx(0.6)
    missing = members.loc[~members["in_profile"], "entry"].tolist()
    assert missing == SIG1 + SIG2[2:]
    # published denominators fixed whatever the list length
    sc2, _ = tp.score_samples(ab, sig1, sig2, sizes=(37, 45))
    assert sc2.loc["a", "toposcore"] == pytest.approx((1 / 45 + 1) / 2)


def test_multi_name_entry_present_when_any_name_is_and_counted_once(tmp_path):
    p = tmp_path / "sig1.txt"
    p.write_text(
        "species_Jan21\tSGB_Jan21\tGTDB_r220\n"
        "Hungatella_hathewayi\tSGB4741,SGB4742,SGB4739\ts__Hungatella_A hathewayi_A,"
        "s__Hungatella effluvii\n"
        "Veillonella_dispar\tSGB6952\ts__Veillonella nakazawae\n"
        "Clostridium_symbiosum\tSGB4699\ts__Otoolea symbiosa\n"
    )
    sig = tp.read_signature(p, "SIG1")
    assert sig.size == 3 and sig.namings == ["species_Jan21", "SGB_Jan21", "GTDB_r220"]
    sgb = pd.DataFrame({"t__SGB4742": [1.0, 0.0], "t__SGB4739": [1.0, 0.0],
                        "t__SGB6952": [0.0, 3.0]}, index=["x", "y"])  # fmt: skip
    m = tp.match_signature(sig, list(sgb.columns))
    assert set(m["naming"]) == {"SGB_Jan21"}
    assert tp.presence(sgb, m).sum(axis=1).tolist() == [1, 1]  # two SGBs of one entry = 1
    gt = pd.DataFrame({"s__Hungatella effluvii": [0.5], "s__Veillonella dispar": [2.0],
                       "s__Otoolea symbiosa": [1.0]})  # fmt: skip
    m = tp.match_signature(sig, list(gt.columns))
    # GTDB's own V. dispar is not MetaPhlAn's Veillonella_dispar (= GTDB V. nakazawae)
    assert m["naming"].unique().tolist() == ["GTDB_r220"]
    assert m["in_profile"].tolist() == [True, False, True]  # GTDB (2 entries) beats species (1)


def test_duplicate_species_columns_are_summed():
    sig1, sig2 = _sigs()
    ab = pd.DataFrame({"s__Roseburia_hominis": [0.0], "Roseburia hominis": [1.0]}, index=["a"])
    sc, m = tp.score_samples(ab, sig1, sig2)
    assert sc.loc["a", "sig2_count"] == 1
    assert m.set_index("entry").loc["Roseburia_hominis", "profile_taxa"].count(";") == 1


def test_csv_naming_table_with_quoted_multi_name_cells(tmp_path):
    p = tmp_path / "sig.csv"
    p.write_text('species,SGB\nHungatella_hathewayi,"SGB4741,SGB4742"\nProteus_mirabilis,SGB9992\n')
    sig = tp.read_signature(p)
    assert sig.namings == ["species", "SGB"] and sig.size == 2
    assert sig.aliases("SGB")[0] == ["SGB4741", "SGB4742"]


def test_one_name_per_line_list_and_name_map(tmp_path):
    p = tmp_path / "list.txt"
    p.write_text("# my list\ntaxon\nBacteroides_vulgatus\nBlautia_obeum\nBlautia_obeum\n")
    sig = tp.read_signature(p)
    assert sig.labels == ["Bacteroides_vulgatus", "Blautia_obeum"]
    nm = NameMap(pd.DataFrame({"mpa": ["Bacteroides_vulgatus", "Blautia_obeum"],
                               "gtdb": ["s__Phocaeicola vulgatus", "s__Blautia_A obeum"]}))  # fmt: skip
    ab = pd.DataFrame({"s__Phocaeicola_vulgatus": [3.0], "s__Blautia_A_obeum": [0.0]})
    m = tp.match_signature(sig, list(ab.columns), name_map=nm)
    assert m["in_profile"].tolist() == [True, True]
    assert tp.presence(ab, m).sum(axis=1).tolist() == [1]


def test_auc_and_youden_cut_offs_by_hand():
    # R scores 0.8, 0.6, 0.4; NR 0.5, 0.2: pairs won 2 + 2 + 1 of 6 -> 5/6
    s = [0.8, 0.6, 0.4, 0.5, 0.2]
    lab = ["R", "R", "R", "NR", "NR"]
    assert tp.auc(s, lab) == pytest.approx(5 / 6)
    assert np.isnan(tp.auc([0.1, 0.2], ["R", "R"]))
    # midpoints 0.3, 0.45, 0.55, 0.7 (R if s >= t): J = 1 + 1/2 - 1 = 0.5, 2/3 + 1/2 - 1 = 0.167,
    # 2/3 + 1 - 1 = 0.667, 1/3 + 1 - 1 = 0.333 -> NR cut 0.55; R cut: highest t with J >= 0.6
    cut_nr, cut_r = tp.youden_cutoffs(s, lab)
    assert cut_nr == pytest.approx(0.55) and cut_r == pytest.approx(0.55)
    assert tp.youden_cutoffs(s, lab, r_fraction=0.5)[1] == pytest.approx(0.7)


def test_cox_binary_equals_statsmodels_efron():
    from statsmodels.duration.hazard_regression import PHReg

    rng = np.random.default_rng(3)
    n = 60
    x = rng.random((n, 3)) < 0.5
    t = np.round(rng.exponential(10 * np.exp(-0.8 * x[:, 0])), 0) + 1  # ties
    e = (rng.random(n) < 0.7).astype(float)
    beta, se = td.cox_binary(t, e, x.astype(float))
    for j in range(3):
        ref = PHReg(t, x[:, [j]].astype(float), status=e, ties="efron").fit(disp=0)
        assert beta[j] == pytest.approx(ref.params[0], abs=1e-8)
        assert se[j] == pytest.approx(ref.bse[0], rel=1e-6)


def test_fisher_cooccurrence_equals_scipy():
    from scipy.stats import fisher_exact

    rng = np.random.default_rng(5)
    base = rng.random(40) < 0.5
    pres = pd.DataFrame({"a": base, "b": base ^ (rng.random(40) < 0.1), "c": ~base,
                         "d": rng.random(40) < 0.3})  # fmt: skip
    p, sign = td.fisher_cooccurrence(pres)
    x = pres.to_numpy()
    for i in range(4):
        for j in range(i + 1, 4):
            a = int((x[:, i] & x[:, j]).sum())
            b = int((x[:, i] & ~x[:, j]).sum())
            c = int((~x[:, i] & x[:, j]).sum())
            d = 40 - a - b - c
            res = fisher_exact([[a, b], [c, d]])
            assert p.iloc[i, j] == pytest.approx(res.pvalue, rel=1e-9)
            assert sign.iloc[i, j] == np.sign(a * d - b * c)
    assert sign.loc["a", "b"] == 1 and sign.loc["a", "c"] == -1


def test_discovery_finds_planted_resistance_and_response_groups():
    """Two co-occurring groups, one shortening and one lengthening survival, plus noise."""
    rng = np.random.default_rng(11)
    n = 200
    z = rng.normal(size=n)  # latent state: high = favourable
    good = rng.random((n, 8)) < 1 / (1 + np.exp(-3 * z))[:, None]
    bad = rng.random((n, 8)) < 1 / (1 + np.exp(3 * z))[:, None]
    noise = rng.random((n, 8)) < 0.5
    pres = np.hstack([good, bad, noise])
    ab = pd.DataFrame(pres * rng.random(pres.shape),
                      columns=[f"good{i}" for i in range(8)] + [f"bad{i}" for i in range(8)]
                      + [f"noise{i}" for i in range(8)])  # fmt: skip
    time = rng.exponential(12 * np.exp(0.8 * z))
    res = td.discover_signatures(ab, time, np.ones(n), k=3, min_prevalence=0.0)
    s1, s2 = set(res.sig1.table["taxon"]), set(res.sig2.table["taxon"])
    assert len(s1 & {f"bad{i}" for i in range(8)}) >= 6 and not any(
        t.startswith("good") for t in s1
    )
    assert len(s2 & {f"good{i}" for i in range(8)}) >= 6 and not any(
        t.startswith("bad") for t in s2
    )


def test_guild_lists_and_a_guild_table_without_a_pair(tmp_path):
    g = tmp_path / "guilds.tsv"
    pd.DataFrame({"clade_name": ["s__a", "s__b", "s__c"], "lineage": ["x", "y", "z"],
                  "guild": ["pathobiont", "foundation", "filtered"]}).to_csv(
        g, sep="\t", index=False)  # fmt: skip
    s1, s2 = tp.guild_signatures(g)
    assert s1.labels == ["s__a"] and s2.labels == ["s__b"]
    pd.DataFrame({"clade_name": ["s__a"], "guild": ["unassigned"]}).to_csv(g, sep="\t", index=False)
    with pytest.raises(tp.ToposcoreError, match="no competing guild pair"):
        tp.guild_signatures(g)
