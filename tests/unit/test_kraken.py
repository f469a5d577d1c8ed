"""Kraken2 report parsing (incl. the empty rank-code fix) and Bracken's re-estimation, by hand."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icibiome.taxonomy.bracken import (
    BRACKEN_COLUMNS,
    kraken_to_standard,
    read_kmer_distribution,
    reestimate,
    write_bracken,
)
from icibiome.taxonomy.kraken import (
    KrakenReportError,
    fix_report_rank_codes,
    rank_code,
    read_report,
)

# taxonomy: 1 root > 2 Bacteria (superkingdom) > 100 phylum > 200 class > 300 order > 400 family
#           > 500 genus Alpha > 1001 Alpha primus, 1002 Alpha secundus; 400 > 501 genus Beta > 1003
NODES = [
    (1, 1, "no rank"),
    (2, 1, "superkingdom"),
    (100, 2, "phylum"),
    (200, 100, "class"),
    (300, 200, "order"),
    (400, 300, "family"),
    (500, 400, "genus"),
    (501, 400, "genus"),
    (1001, 500, "species"),
    (1002, 500, "species"),
    (1003, 501, "species"),
    (9001, 1001, "strain"),
]
NAMES = {
    1: "root",
    2: "Bacteria",
    100: "Phy",
    200: "Cla",
    300: "Ord",
    400: "Fam",
    500: "Alpha",
    501: "Beta",
    1001: "Alpha primus",
    1002: "Alpha secundus",
    1003: "Beta tertius",
    9001: "Alpha primus str. 1",
}


def _nodes(tmp_path):
    p = tmp_path / "nodes.dmp"
    p.write_text("".join(f"{t}\t|\t{par}\t|\t{r}\t|\t\t|\n" for t, par, r in NODES))
    return p


def _report(tmp_path, lines, name="S1.k2report", empty_codes=()):
    """lines: (taxid, clade, direct); depth and codes from NODES; codes in empty_codes blanked."""
    parent = {t: p for t, p, _ in NODES}
    rank = {t: r for t, _, r in NODES}
    total = sum(c for t, c, _ in lines if t in (0, 1))
    out = []
    for t, clade, direct in lines:
        depth = 0
        x = t
        while x not in (0, 1):
            x = parent[x]
            depth += 1
        code = "U" if t == 0 else rank_code(t, parent, rank)
        if code in empty_codes:
            code = ""
        name = "unclassified" if t == 0 else NAMES[t]
        out.append(
            f"{100 * clade / total:6.2f}\t{clade}\t{direct}\t{code}\t{t}\t{'  ' * depth}{name}\n"
        )
    p = tmp_path / name
    p.write_text("".join(out))
    return p


LINES = [
    (0, 10, 10),
    (1, 130, 0),
    (2, 130, 5),
    (100, 125, 0),
    (200, 125, 0),
    (300, 125, 0),
    (400, 125, 15),
    (500, 100, 40),
    (1001, 50, 45),
    (9001, 5, 5),
    (1002, 10, 10),
    (501, 10, 0),
    (1003, 10, 10),
]
KD = {
    500: {1001: 0.2, 1002: 0.5},
    1001: {1001: 0.8},
    1002: {1002: 0.5},
    1003: {1003: 1.0},
    400: {1001: 0.05, 1003: 0.5},
}


def test_rank_codes_fixed_from_nodes(tmp_path):
    rep_path = _report(tmp_path, LINES, empty_codes=("R", "D", "P", "G"))
    fixed = read_report(rep_path, nodes=_nodes(tmp_path))
    codes = dict(zip(fixed["taxid"], fixed["rank_code"], strict=True))
    assert codes[1] == "R" and codes[2] == "D" and codes[100] == "P" and codes[500] == "G"
    assert codes[9001] == "S1"
    lin = dict(zip(fixed["taxid"], fixed["lineage"], strict=True))
    assert lin[1001] == "k__Bacteria|p__Phy|c__Cla|o__Ord|f__Fam|g__Alpha|s__Alpha_primus"
    assert lin[9001] == lin[1001] and lin[1] == "" and lin[0] == ""
    out = tmp_path / "fixed.k2report"
    assert fix_report_rank_codes(rep_path, _nodes(tmp_path), out) == 5  # R, D, P, G x2
    assert out.read_text().splitlines()[1].split("\t")[3] == "R"
    # every other field kept byte for byte
    a = [ln.split("\t") for ln in rep_path.read_text().splitlines()]
    b = [ln.split("\t") for ln in out.read_text().splitlines()]
    assert [x[:3] + x[4:] for x in a] == [x[:3] + x[4:] for x in b]


def test_read_report_minimizer_columns_and_errors(tmp_path):
    p = tmp_path / "mm.k2report"
    p.write_text(
        "  5.00\t5\t5\t0\t0\tU\t0\tunclassified\n 95.00\t95\t0\t900\t800\tR\t1\troot\n"
        " 95.00\t95\t95\t900\t800\tD\t2\t  Bacteria\n"
    )
    rep = read_report(p)
    assert list(rep["minimizers"]) == [0, 900, 900]
    assert list(rep["lineage"]) == ["", "", "k__Bacteria"]
    bad = tmp_path / "bad.k2report"
    bad.write_text("hello\tworld\n")
    with pytest.raises(KrakenReportError, match=r"bad\.k2report: line 1 has 2"):
        read_report(bad)


def test_reestimate_matches_hand_computed_bracken(tmp_path):
    rep = read_report(_report(tmp_path, LINES), nodes=_nodes(tmp_path))
    est = reestimate(rep, KD, level="S", threshold=5).set_index("taxonomy_id")
    # node 500 (40 direct reads): est(A)=50/0.8=62.5, est(B)=10/0.5=20 -> weights
    # 0.2*62.5/82.5 : 0.5*20/82.5 -> A 5/9, B 4/9
    # node 400 (15 direct reads): genomes 1001 (0.05) and 1003 (0.5, est 10/1=10)
    wa, wc = 0.05 * 62.5 / 72.5, 0.5 * 10 / 72.5
    a400, c400 = 15 * wa / (wa + wc), 15 * wc / (wa + wc)
    exp_added = {1001: 40 * 5 / 9 + a400, 1002: 40 * 4 / 9, 1003: c400}
    for t, add in exp_added.items():
        assert est.loc[t, "added_reads"] == round(add)
        assert est.loc[t, "new_est_reads"] == round(est.loc[t, "kraken_assigned_reads"] + add)
    assert est.loc[1001, "kraken_assigned_reads"] == 50  # clade reads incl. the strain
    np.testing.assert_allclose(est["fraction_total_reads"].sum(), 1.0)
    # 5 direct reads at Bacteria: no k-mer distribution entry -> not distributed
    assert est.attrs["reads_not_distributed"] == 5
    assert est.attrs["reads_distributed"] == 55
    assert set(BRACKEN_COLUMNS) <= set(est.reset_index().columns)
    # threshold 11 drops species 1002 and 1003; their reads are not given to others
    est2 = reestimate(rep, KD, level="S", threshold=11).set_index("taxonomy_id")
    assert list(est2.index) == [1001]
    assert est2.loc[1001, "new_est_reads"] == 50 + 40 + 15
    assert est2.attrs["reads_below_threshold"] == 20


def test_reestimate_genus_level(tmp_path):
    rep = read_report(_report(tmp_path, LINES), nodes=_nodes(tmp_path))
    kd = {400: {500: 0.25, 501: 0.25}, 500: {500: 0.5}, 501: {501: 1.0}}
    est = reestimate(rep, kd, level="G", threshold=1).set_index("taxonomy_id")
    e500, e501 = 100 / 0.5, 10 / 1.0
    add500 = 15 * e500 / (e500 + e501)
    assert est.loc[500, "new_est_reads"] == round(100 + add500)
    assert est.loc[501, "new_est_reads"] == round(10 + 15 - add500)


def test_kmer_distribution_file_roundtrip(tmp_path):
    p = tmp_path / "database150mers.kmer_distrib"
    p.write_text(
        "mapped_taxid\tgenome_taxids:kmers_mapped:total_genome_kmers\n"
        "500\t1001:20:100 1002:50:100\n1001\t1001:80:100\n"
    )
    kd = read_kmer_distribution(p)
    assert kd == {500: {1001: 0.2, 1002: 0.5}, 1001: {1001: 0.8}}
    (tmp_path / "bad").write_text("nope\n")
    with pytest.raises(KrakenReportError, match="not a Bracken"):
        read_kmer_distribution(tmp_path / "bad")


def test_kraken_to_standard_raw_and_bracken_keep_every_read(tmp_path):
    rep = _report(tmp_path, LINES)
    nodes = _nodes(tmp_path)
    raw = kraken_to_standard(rep, tmp_path / "raw.tsv", nodes=nodes)
    total = raw["estimated_reads"].sum()
    assert total == 140  # 130 classified + 10 unclassified; nothing lost
    r = raw.set_index("lineage")["estimated_reads"]
    assert r["UNCLASSIFIED"] == 10
    assert r["k__Bacteria|p__Phy|c__Cla|o__Ord|f__Fam|g__Alpha"] == 40
    kdp = tmp_path / "kd"
    kdp.write_text(
        "mapped_taxid\tgenome_taxids:kmers_mapped:total_genome_kmers\n"
        + "".join(
            f"{t}\t" + " ".join(f"{g}:{int(f * 1000)}:1000" for g, f in d.items()) + "\n"
            for t, d in KD.items()
        )
    )
    br = kraken_to_standard(
        rep,
        tmp_path / "br.tsv",
        kmer_distr=kdp,
        nodes=nodes,
        threshold=5,
        out_bracken=tmp_path / "S1.bracken",
        out_fixed_report=tmp_path / "fixed.k2report",
    )
    b = br.set_index("lineage")["estimated_reads"]
    assert abs(br["estimated_reads"].sum() - 140) <= 2  # rounding of Bracken's integer output
    assert "k__Bacteria|p__Phy|c__Cla|o__Ord|f__Fam|g__Alpha" not in b.index  # distributed
    assert b["k__Bacteria"] == 5  # not distributable: stays at Bacteria
    np.testing.assert_allclose(
        br.loc[br["lineage"] != "UNCLASSIFIED", "relative_abundance"].sum(), 100
    )
    bracken = pd.read_csv(tmp_path / "S1.bracken", sep="\t")
    assert list(bracken.columns) == BRACKEN_COLUMNS and len(bracken) == 3


def test_zero_hit_sample_gives_all_unclassified_profile(tmp_path):
    p = tmp_path / "zero.k2report"
    p.write_text("100.00\t500\t500\tU\t0\tunclassified\n")
    prof = kraken_to_standard(p, tmp_path / "zero.tsv", kmer_distr=KD, nodes=_nodes(tmp_path))
    assert list(prof["lineage"]) == ["UNCLASSIFIED"] and prof["estimated_reads"].iloc[0] == 500
    empty = tmp_path / "empty.k2report"
    empty.write_text("")
    prof = kraken_to_standard(
        empty, tmp_path / "empty.tsv", out_bracken=tmp_path / "e.bracken", kmer_distr=KD
    )
    assert list(prof["lineage"]) == ["UNCLASSIFIED"] and prof["estimated_reads"].iloc[0] == 0
    assert reestimate(p, KD).empty
    write_bracken(reestimate(p, KD), tmp_path / "z.bracken")


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 200),
    st.integers(0, 200),
    st.integers(0, 200),
    st.floats(0.05, 1.0),
    st.floats(0.05, 1.0),
)
def test_reestimate_conserves_distributed_reads(tmp_path_factory, a, b, g, pa, pb):
    """Reads at the genus are fully shared among kept species; nothing is created or lost."""
    tmp = tmp_path_factory.mktemp("h")
    lines = [
        (1, a + b + g, 0),
        (2, a + b + g, 0),
        (100, a + b + g, 0),
        (200, a + b + g, 0),
        (300, a + b + g, 0),
        (400, a + b + g, 0),
        (500, a + b + g, g),
        (1001, a, a),
        (1002, b, b),
    ]
    if a + b + g == 0:
        return
    rep = read_report(_report(tmp, lines), nodes=_nodes(tmp))
    kd = {500: {1001: pa, 1002: pb}, 1001: {1001: 1 - pa / 2}, 1002: {1002: 1 - pb / 2}}
    est = reestimate(rep, kd, threshold=1)
    kept = est["kraken_assigned_reads"].sum()
    if len(est):
        assert abs(est["new_est_reads"].sum() - (kept + g)) <= len(est)  # integer rounding
        assert est.attrs["reads_distributed"] == g
    else:
        assert est.attrs["reads_not_distributed"] == g
