"""Unit tests of icibiome.amplicon: primers, SINTAX parsing, standard tables, BIOM, log parsing.

No external tool runs here (see tests/integration/test_amplicon_*.py for cutadapt, vsearch and
DADA2 on real and simulated reads).
"""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from icibiome.amplicon.dada2 import run_dada2
from icibiome.amplicon.denoise import parse_filter_log, parse_merge_log
from icibiome.amplicon.primers import parse_cutadapt_json
from icibiome.amplicon.sequences import (
    extract_amplicon,
    primer_regex,
    read_fasta,
    reverse_complement,
)
from icibiome.amplicon.sintax import (
    read_sintax,
    sintax_lineages,
    sintax_reference_from_dada2,
    sintax_reference_from_taxonomy,
)
from icibiome.amplicon.tables import (
    TRACKING_COLUMNS,
    asv_table_to_standard,
    read_asv_table,
    read_biom,
    read_tracking,
    write_biom,
    write_tracking_mqc,
)
from icibiome.io import UNCLASSIFIED, read_standard_table

MERGE_LOG = """vsearch v2.22.1_linux_x86_64, 23.5GB RAM, 2 cores
https://github.com/torognes/vsearch

Merging reads 100%
       868  Pairs
       837  Merged (96.4%)
        31  Not merged (3.6%)

Statistics of merged reads:
    252.99  Mean fragment length
"""
FILTER_LOG = """vsearch v2.22.1_linux_x86_64, 23.5GB RAM, 2 cores
Reading input file 100%
769 sequences kept (of which 769 truncated), 99 sequences discarded.
"""
B = "d:Bacteria(1.00),p:Bacillota(1.00),c:Clostridia(0.99),o:Eubacteriales(0.99),"
SINTAX = "\t".join(
    ["ASV1", B + "f:Lachnospiraceae(0.95),g:Blautia(0.90),s:Blautia_obeum(0.60)", "+", ""]
) + "\n" + "\t".join(
    ["ASV2;size=12", B + "f:Lachnospiraceae(0.85),g:Roseburia(0.40),s:Roseburia_hominis(0.20)", "+", ""]
) + "\n" + "\t".join(
    ["ASV3", "d:Bacteria(1.00),p:Bacteroidota(0.97),c:Bacteroidia(0.97),o:Bacteroidales(0.97),"
     "f:Bacteroidaceae(0.97),g:Bacteroides(0.97),s:Bacteroides_uniformis(0.81)", "+", ""]
) + "\n" + "ASV4\t\t\t\n" + "\t".join(
    ["ASV5", "d:Bacteria(0.50),p:Bacillota(0.30)", "+", ""]
) + "\n"  # fmt: skip
TABLE = "asv_id\tS1\tS2\tS3\nASV1\t10\t0\t0\nASV2\t30\t5\t0\nASV3\t60\t0\t0\nASV4\t7\t0\t0\nASV5\t3\t15\t0\n"


@pytest.fixture
def asv_files(tmp_path):
    tab, sx = tmp_path / "asv_table.tsv", tmp_path / "sintax.tsv"
    tab.write_text(TABLE)
    sx.write_text(SINTAX)
    return tab, sx


# ---- primers and sequences ---------------------------------------------------------------
def test_reverse_complement_iupac():
    assert reverse_complement("ACGTRYKMBDHVN") == "NBDHVKMRYACGT"
    assert reverse_complement("GGACTACNVGGGTWTCTAAT") == "ATTAGAWACCCBNGTAGTCC"


@given(st.text(alphabet="ACGTRYSWKMBDHVN", max_size=60))
def test_reverse_complement_is_an_involution(seq):
    assert reverse_complement(reverse_complement(seq)) == seq


def test_primer_regex_degenerate_bases():
    rx = primer_regex("GTGYCAGCMGCCGCGGTAA")
    assert rx.fullmatch("GTGCCAGCAGCCGCGGTAA")
    assert rx.fullmatch("GTGTCAGCCGCCGCGGTAA")
    assert not rx.fullmatch("GTGACAGCAGCCGCGGTAA")  # A is not Y


def test_extract_amplicon_insert_and_product():
    fwd, rev = "GTGYCAG", "GGACTAC"  # rev binds the other strand: its RC GTAGTCC is in the template
    seq = "TTT" + "GTGCCAG" + "ACGTACGT" + "GTAGTCC" + "AAA"
    assert extract_amplicon(seq, fwd, rev) == "ACGTACGT"
    assert extract_amplicon(seq, fwd, rev, keep_primers=True) == "GTGCCAGACGTACGTGTAGTCC"
    assert extract_amplicon(seq.replace("GTAGTCC", "CCCCCCC"), fwd, rev) is None
    assert extract_amplicon("ACGT" * 10, fwd, rev) is None


def test_read_fasta_multiline_and_gzip(tmp_path):
    import gzip

    p = tmp_path / "x.fa.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(">a desc\nACG\nTT\n>b\nGG\n")
    assert read_fasta(p) == {"a": "ACGTT", "b": "GG"}


# ---- SINTAX ------------------------------------------------------------------------------
def test_read_sintax_parses_names_confidences_and_no_hits(asv_files):
    sx = read_sintax(asv_files[1])
    assert list(sx.index) == ["ASV1", "ASV2", "ASV3", "ASV4", "ASV5"]  # ;size= stripped
    assert sx.loc["ASV1", "genus"] == "Blautia"
    assert_allclose(
        sx.loc["ASV1", ["kingdom_conf", "genus_conf", "species_conf"]].astype(float),
        [1.0, 0.9, 0.6],
    )
    assert sx.loc["ASV4"].isna().all()  # no hit
    assert np.isnan(sx.loc["ASV5", "class_conf"])


def test_sintax_kingdom_prefers_domain(tmp_path):
    p = tmp_path / "s.tsv"
    p.write_text("A1\tk:Fungi(0.99),d:Bacteria(1.00),p:X(1.00)\t+\t\n")
    sx = read_sintax(p)
    assert sx.loc["A1", "kingdom"] == "Bacteria"  # the domain is the kingdom of the tables
    p.write_text("A1\td:Bacteria(1.00),k:Fungi(0.99),p:X(1.00)\t+\t\n")
    assert read_sintax(p).loc["A1", "kingdom"] == "Bacteria"


def test_sintax_lineages_cut_at_first_unconfident_rank(asv_files):
    lin = sintax_lineages(read_sintax(asv_files[1]), cutoff=0.8)
    assert lin["ASV1"].endswith("|f__Lachnospiraceae|g__Blautia")  # species 0.60 < 0.8
    assert lin["ASV2"].endswith("|f__Lachnospiraceae")
    assert lin["ASV3"].endswith("|s__Bacteroides_uniformis")
    assert lin["ASV4"] == UNCLASSIFIED
    assert lin["ASV5"] == UNCLASSIFIED  # kingdom 0.50 < 0.8
    assert sintax_lineages(read_sintax(asv_files[1]), cutoff=0.5)["ASV5"] == "k__Bacteria"
    full = sintax_lineages(read_sintax(asv_files[1]), cutoff=0.0)
    assert full["ASV2"].count("|") == 6


@given(st.floats(0, 1))
@settings(max_examples=30, deadline=None)
def test_sintax_lineage_depth_never_grows_with_cutoff(cut):
    idx = pd.Index(["a", "b"], name="asv_id")
    sx = pd.DataFrame(
        {
            "kingdom": ["Bacteria", "Bacteria"],
            "kingdom_conf": [1.0, 0.9],
            "phylum": ["P1", "P2"],
            "phylum_conf": [0.8, 0.7],
            "genus": ["G1", "G2"],
            "genus_conf": [0.6, 0.3],
        },
        index=idx,
    )
    lo = sintax_lineages(sx, cut).map(lambda x: 0 if x == UNCLASSIFIED else x.count("|") + 1)
    hi = sintax_lineages(sx, min(1.0, cut + 0.2)).map(
        lambda x: 0 if x == UNCLASSIFIED else x.count("|") + 1
    )
    assert (hi <= lo).all()


# ---- standard tables ---------------------------------------------------------------------
def test_asv_table_to_standard_hand_worked(asv_files, tmp_path):
    tab, sx = asv_files
    out = tmp_path / "std"
    res = asv_table_to_standard(tab, sx, out, ranks=["family", "genus", "species"], cutoff=0.8)
    fam = read_standard_table(out / "abundance_family.tsv")
    # S1: Lachnospiraceae = ASV1 + ASV2 = 40, Bacteroidaceae = 60 (ASV4, ASV5 unclassified)
    assert_allclose(fam[["S1", "S2", "S3"]].loc["f__Lachnospiraceae"], [40.0, 100.0, 0.0])
    assert_allclose(fam[["S1", "S2", "S3"]].loc["f__Bacteroidaceae"], [60.0, 0.0, 0.0])
    gen_c = read_standard_table(out / "counts_genus.tsv")
    # genus: ASV1 Blautia (10), ASV3 Bacteroides (60); ASV2, 4, 5 unresolved -> 30+7+3
    assert_allclose(gen_c[["S1", "S2"]].loc["g__Blautia"], [10, 0])
    assert_allclose(gen_c[["S1", "S2", "S3"]].loc[UNCLASSIFIED], [40, 20, 0])
    gen = read_standard_table(out / "abundance_genus.tsv")
    assert_allclose(gen["S1"].loc["g__Blautia"], 100 * 10 / 70)
    assert_allclose(gen[["S2", "S3"]].sum(), [0.0, 0.0])  # S2 has no genus-resolved read
    assert gen.loc["g__Blautia", "lineage"].startswith("k__Bacteria|p__Bacillota|c__Clostridia")
    spe = read_standard_table(out / "abundance_species.tsv")
    assert list(spe.index) == ["s__Bacteroides_uniformis"]
    assert set(res) == {"family", "genus", "species"}


def test_asv_table_to_standard_rejects_unknown_rank(asv_files, tmp_path):
    with pytest.raises(ValueError, match="unknown rank"):
        asv_table_to_standard(*asv_files, tmp_path, ranks=["strain"])


@st.composite
def _tables(draw):
    n_asv = draw(st.integers(1, 8))
    n_s = draw(st.integers(1, 4))
    counts = draw(
        st.lists(
            st.lists(st.integers(0, 50), min_size=n_s, max_size=n_s), min_size=n_asv, max_size=n_asv
        )
    )
    genera = draw(st.lists(st.sampled_from(["Ga", "Gb", "Gc"]), min_size=n_asv, max_size=n_asv))
    confs = draw(st.lists(st.floats(0, 1), min_size=n_asv, max_size=n_asv))
    return np.array(counts), genera, confs


@given(_tables())
@settings(max_examples=40, deadline=None)
def test_standard_tables_invariants(tmp_path_factory, data):
    counts, genera, confs = data
    d = tmp_path_factory.mktemp("inv")
    ids = [f"ASV{i + 1}" for i in range(len(counts))]
    samples = [f"S{j + 1}" for j in range(counts.shape[1])]
    pd.DataFrame(counts, index=pd.Index(ids, name="asv_id"), columns=samples).to_csv(
        d / "t.tsv", sep="\t"
    )
    fam = {"Ga": "F1", "Gb": "F1", "Gc": "F2"}
    (d / "s.tsv").write_text(
        "".join(
            f"{a}\td:Bacteria(1.00),p:P(1.00),c:C(1.00),o:O(1.00),f:{fam[g]}(1.00),g:{g}({c:.2f})\t+\t\n"
            for a, g, c in zip(ids, genera, confs, strict=True)
        )
    )
    asv_table_to_standard(d / "t.tsv", d / "s.tsv", d / "o", ranks=["family", "genus"], cutoff=0.5)
    for rank in ("family", "genus"):
        a = read_standard_table(d / "o" / f"abundance_{rank}.tsv")[samples]
        c = read_standard_table(d / "o" / f"counts_{rank}.tsv")[samples]
        # counts (with UNCLASSIFIED) keep every read of every sample
        assert_array_equal(c.sum().to_numpy(), counts.sum(axis=0))
        # abundance: percent of classified, 100 or 0
        s = a.sum().to_numpy()
        assert np.all(np.isclose(s, 100) | np.isclose(s, 0))
        classified = c.drop(index=UNCLASSIFIED, errors="ignore").sum().to_numpy()
        assert_array_equal(np.isclose(s, 0), classified == 0)
    fam_c = read_standard_table(d / "o" / "counts_family.tsv")
    assert UNCLASSIFIED not in fam_c.index or fam_c.loc[UNCLASSIFIED, samples].sum() == 0


# ---- BIOM --------------------------------------------------------------------------------
def test_write_biom_round_trip_and_reproducible(asv_files, tmp_path):
    tab, sx = asv_files
    doc = write_biom(tab, tmp_path / "a.biom", sx, cutoff=0.8)
    write_biom(tab, tmp_path / "b.biom", sx, cutoff=0.8)
    assert (tmp_path / "a.biom").read_bytes() == (tmp_path / "b.biom").read_bytes()
    assert doc["format"] == "Biological Observation Matrix 1.0.0"
    assert doc["matrix_type"] == "sparse" and doc["shape"] == [5, 3]
    assert len(doc["data"]) == 7  # non-zero cells of TABLE
    back = read_biom(tmp_path / "a.biom")
    pd.testing.assert_frame_equal(back, read_asv_table(tab))
    rows = {
        r["id"]: r["metadata"]["taxonomy"]
        for r in json.loads((tmp_path / "a.biom").read_text())["rows"]
    }
    assert rows["ASV1"][-1] == "g__Blautia" and rows["ASV4"] == []


def test_write_biom_without_taxonomy(asv_files, tmp_path):
    doc = write_biom(asv_files[0], tmp_path / "x.biom", date="2025-01-01T00:00:00")
    assert doc["rows"][0]["metadata"] is None and doc["date"] == "2025-01-01T00:00:00"


# ---- log parsing, tracking ---------------------------------------------------------------
def test_parse_logs(tmp_path):
    (tmp_path / "m.log").write_text(MERGE_LOG)
    (tmp_path / "f.log").write_text(FILTER_LOG)
    (tmp_path / "c.json").write_text(json.dumps({"read_counts": {"input": 1000, "output": 868}}))
    assert parse_merge_log(tmp_path / "m.log") == {"pairs": 868, "merged": 837}
    assert parse_filter_log(tmp_path / "f.log") == {"input": 868, "kept": 769}
    assert parse_cutadapt_json(tmp_path / "c.json") == {"input": 1000, "written": 868}
    (tmp_path / "bad.log").write_text("nothing here")
    with pytest.raises(ValueError, match="no vsearch merge summary"):
        parse_merge_log(tmp_path / "bad.log")
    with pytest.raises(ValueError, match="no vsearch filter summary"):
        parse_filter_log(tmp_path / "bad.log")


def test_read_tracking_vsearch_path(asv_files, tmp_path):
    tab, sx = asv_files
    logs = []
    for s, (inp, out, merged, kept) in {
        "S1": (120, 115, 112, 110),
        "S2": (30, 25, 22, 20),
        "S3": (5, 0, 0, 0),
    }.items():
        (tmp_path / f"{s}.json").write_text(
            json.dumps({"read_counts": {"input": inp, "output": out}})
        )
        (tmp_path / f"{s}.m.log").write_text(f"  {out}  Pairs\n  {merged}  Merged (x%)\n")
        (tmp_path / f"{s}.f.log").write_text(
            f"{kept} sequences kept (of which 0 truncated), {merged - kept} sequences discarded.\n"
        )
        logs.append(s)
    t = read_tracking(
        ["S1", "S2", "S3"],
        tab,
        sx,
        cutadapt_jsons=[tmp_path / f"{s}.json" for s in logs],
        merge_logs=[tmp_path / f"{s}.m.log" for s in logs],
        filter_logs=[tmp_path / f"{s}.f.log" for s in logs],
        cutoff=0.8,
        assigned_rank="genus",
    )
    assert list(t.columns) == list(TRACKING_COLUMNS)
    assert_allclose(t["input"], [120, 30, 5])
    assert_allclose(t["primer_trimmed"], [115, 25, 0])
    assert_allclose(t["merged"], [112, 22, 0])
    assert_allclose(t["filtered"], [110, 20, 0])
    assert t["denoised"].isna().all()
    assert_allclose(t["non_chimeric"], [110, 20, 0])  # ASV table column sums
    assert_allclose(t["assigned"], [70, 0, 0])  # ASV1 + ASV3 resolved at genus
    write_tracking_mqc(t, tmp_path / "tracking_mqc.tsv")
    text = (tmp_path / "tracking_mqc.tsv").read_text()
    assert "# plot_type: 'table'" in text
    body = pd.read_csv(tmp_path / "tracking_mqc.tsv", sep="\t", comment="#")
    assert_allclose(body["percent_in_asvs"].iloc[:2], [100 * 110 / 120, 100 * 20 / 30], atol=0.01)
    assert body["percent_in_asvs"].iloc[2] == 0


def test_read_tracking_dada2_and_length_check(asv_files, tmp_path):
    tab, sx = asv_files
    (tmp_path / "d.tsv").write_text(
        "sample\tinput\tfiltered\tdenoised\tmerged\tnon_chimeric\n"
        "S1\t150\t120\t118\t112\t110\nS2\t40\t30\t28\t21\t20\nS3\t9\t0\t0\t0\t0\n"
    )
    t = read_tracking(["S1", "S2", "S3"], tab, sx, dada2_tracking=tmp_path / "d.tsv")
    assert_allclose(t["input"], [150, 40, 9])
    assert_allclose(t["denoised"], [118, 28, 0])
    assert t["primer_trimmed"].isna().all()
    with pytest.raises(ValueError, match="cutadapt logs for 3 samples"):
        read_tracking(["S1", "S2", "S3"], tab, sx, cutadapt_jsons=[tmp_path / "d.tsv"])


# ---- references --------------------------------------------------------------------------
def test_sintax_reference_from_taxonomy(tmp_path):
    fwd, rev = "GTGYCAG", "GGACTAC"
    (tmp_path / "l.fa").write_text(
        ">G01\nTTGTGCCAGACGTACGTGTAGTCCAA\n>G02\nTTGTGCCAGCCCCGGTAGTCCAA\n>G03\nACGTACGT\n"
    )
    (tmp_path / "t.tsv").write_text(
        "genome_id\tkingdom\tphylum\tclass\torder\tfamily\tgenus\tspecies\n"
        "G01\tBacteria\tBacillota\tClostridia\tEub\tLachno\tBlautia\tBlautia_obeum\n"
        "G02\tBacteria\tBacillota\tClostridia\tEub\tLachno\tBlautia\tBlautia wexlerae\n"
        "G03\tBacteria\tX\tY\tZ\tW\tV\tV_u\n"
    )
    n = sintax_reference_from_taxonomy(tmp_path / "l.fa", tmp_path / "t.tsv", tmp_path / "a.fa")
    assert n == 3
    heads = [x for x in (tmp_path / "a.fa").read_text().splitlines() if x.startswith(">")]
    assert heads[0] == (
        ">G01;tax=d:Bacteria,p:Bacillota,c:Clostridia,o:Eub,f:Lachno,g:Blautia,s:Blautia_obeum;"
    )
    assert heads[1].endswith("s:Blautia_wexlerae;")
    n = sintax_reference_from_taxonomy(
        tmp_path / "l.fa", tmp_path / "t.tsv", tmp_path / "b.fa", primers=(fwd, rev)
    )
    assert n == 2  # G03 has no primer sites
    assert read_fasta(tmp_path / "b.fa")[heads[0][1:].split(" ")[0]] == "ACGTACGT"


def test_sintax_reference_from_dada2(tmp_path):
    (tmp_path / "tr.fa").write_text(
        ">Bacteria;Bacillota;Clostridia;Eub;Lachno;Blautia;\nacgt\nAC\n>Bacteria;Bacteroidota;\nGG\n"
    )
    assert sintax_reference_from_dada2(tmp_path / "tr.fa", tmp_path / "s.fa") == 2
    recs = read_fasta(tmp_path / "s.fa")
    assert recs == {
        "ref1;tax=d:Bacteria,p:Bacillota,c:Clostridia,o:Eub,f:Lachno,g:Blautia;": "ACGTAC",
        "ref2;tax=d:Bacteria,p:Bacteroidota;": "GG",
    }


def test_run_dada2_validates_arguments(tmp_path, monkeypatch):
    import icibiome.amplicon.dada2 as amp
    from icibiome.amplicon.runner import AmpliconToolError

    monkeypatch.setattr(amp, "dada2_available", lambda: (True, ""))
    with pytest.raises(ValueError, match="differ in length"):
        run_dada2(["a"], ["x", "y"], tmp_path)
    with pytest.raises(ValueError, match="pool"):
        run_dada2(["a"], ["x"], tmp_path, pool="maybe")
    monkeypatch.setattr(amp, "dada2_available", lambda: (False, "no R"))
    with pytest.raises(AmpliconToolError, match="no R"):
        run_dada2(["a"], ["x"], tmp_path)


def test_check_assays_pairs_each_assay_with_its_profilers():
    from icibiome.config import check_assays

    assert check_assays(["16S"] * 2, ["paired"] * 2, ["amplicon"]) == []
    assert check_assays(["shotgun", "16S"], ["single", "paired"], ["sylph", "amplicon"]) == []
    (p,) = check_assays(["shotgun", "16S"], ["paired", "paired"], ["sylph"])
    assert "1 16S sample(s)" in p and "'amplicon'" in p
    (p,) = check_assays(["16S"], ["paired"], ["amplicon", "kraken2"])
    assert "no shotgun sample" in p
    (p,) = check_assays(["shotgun"], ["paired"], ["amplicon", "sylph"])
    assert "no 16S sample" in p
    (p,) = check_assays(["16S", "16S"], ["paired", "single"], ["amplicon"])
    assert "all be paired or all single-end" in p
