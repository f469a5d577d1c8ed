"""Import mode: every profile format into the standard table, metadata join, format detection."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icibiome.io import read_abundance, read_standard_table
from icibiome.taxonomy.import_formats import detect_format
from icibiome.taxonomy.import_model import ImportError_, infer_values, to_rank
from icibiome.taxonomy.importers import (
    import_profiles,
    join_metadata,
    load_profile,
    read_lineage_map,
    read_metadata,
    read_profile,
)

K = "k__Bacteria|p__Firmicutes|c__Clostridia|o__Eubacteriales"
LX = f"{K}|f__Lachnospiraceae|g__Blautia|s__Blautia_wexlerae"
LY = f"{K}|f__Lachnospiraceae|g__Blautia|s__Blautia_obeum"
LZ = f"{K}|f__Oscillospiraceae|g__Faecalibacterium|s__Faecalibacterium_prausnitzii"


def _num(table):
    """Standard table -> numeric clade x sample frame (lineage dropped)."""
    return table.set_index("clade_name").drop(columns="lineage").astype(float)


def _mpa4_merged(tmp_path, header=True, name="m.txt"):
    rows = [
        ("k__Bacteria", 90, 100),
        ("k__Bacteria|p__Firmicutes", 90, 100),
        (f"{K}", 90, 100),
        (f"{K}|f__Lachnospiraceae", 60, 20),
        (f"{K}|f__Lachnospiraceae|g__Blautia", 60, 20),
        (LX, 45, 20),
        (f"{LX}|t__SGB4831", 45, 20),
        (LY, 15, 0),
        (f"{LY}|t__SGB4810", 15, 0),
        (f"{K}|f__Oscillospiraceae", 30, 80),
        (f"{K}|f__Oscillospiraceae|g__Faecalibacterium", 30, 80),
        (LZ, 30, 80),
        (f"{LZ}|t__SGB15318", 30, 80),
    ]
    lines = (["#mpa_vOct22_CHOCOPhlAnSGB_202212"] if header else []) + [
        "clade_name\tmetaphlan_S1\tmetaphlan_S2",
        "UNCLASSIFIED\t10\t0",
    ]
    lines += [f"{a}\t{b}\t{c}" for a, b, c in rows]
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def test_metaphlan4_merged_species_and_genus(tmp_path):
    p = _mpa4_merged(tmp_path)
    assert detect_format(p) == "metaphlan_merged"
    prof = load_profile(p)
    assert prof.naming == "metaphlan4" and prof.database.startswith("mpa_vOct22")
    assert prof.hierarchical and prof.samples == ["S1", "S2"]  # prefixes stripped
    sp = read_profile(p).pipe(_num)
    np.testing.assert_allclose(sp.loc["s__Blautia_wexlerae", ["S1", "S2"]], [50.0, 20.0])
    np.testing.assert_allclose(sp.loc["s__Blautia_obeum", ["S1", "S2"]], [100 / 6, 0.0])
    assert (
        dict(zip(read_profile(p)["clade_name"], read_profile(p)["lineage"], strict=True))[
            "s__Blautia_wexlerae"
        ]
        == LX
    )
    np.testing.assert_allclose(sp[["S1", "S2"]].sum(), [100.0, 100.0])
    ge = read_profile(p, rank="genus").pipe(_num)
    np.testing.assert_allclose(ge.loc["g__Blautia", ["S1", "S2"]], [200 / 3, 20.0])
    ph = read_profile(p, rank="phylum")
    np.testing.assert_allclose(ph[["S1", "S2"]].to_numpy(), [[100.0, 100.0]])


def test_metaphlan_merged_without_header_line_and_v3_taxid_column(tmp_path):
    p = tmp_path / "v3.tsv"
    p.write_text(
        "#mpa_v30_CHOCOPhlAn_201901\nclade_name\tNCBI_tax_id\tA\tB\n"
        f"k__Bacteria\t2\t100\t100\n{LX}\t2|1|2|3|4|5|6\t70\t0\n{LZ}\t2|1|2|3|4|5|7\t30\t100\n"
    )
    prof = load_profile(p)
    assert prof.naming == "metaphlan3" and prof.samples == ["A", "B"]
    sp = read_profile(p).pipe(_num)
    np.testing.assert_allclose(sp.loc["s__Blautia_wexlerae", ["A", "B"]], [70, 0])
    q = _mpa4_merged(tmp_path, header=False, name="noheader.txt")
    assert load_profile(q).database == "" and load_profile(q).naming == "metaphlan4"
    np.testing.assert_allclose(read_profile(q)[["S1", "S2"]].sum(), [100, 100])


def test_species_only_table_needs_lineages_for_higher_ranks(tmp_path):
    p = tmp_path / "sp.txt"
    p.write_text(
        "body_site\tprofiled_A\tprofiled_B\tcount\n"
        "s__Blautia_wexlerae\t60\t10\t2\ns__Blautia_obeum\t20\t0\t1\n"
        "s__Faecalibacterium_prausnitzii\t20\t90\t2\n"
    )
    sp = read_profile(p)
    assert list(sp.columns) == ["clade_name", "lineage", "A", "B"]  # 'count' is not a sample
    with pytest.raises(ImportError_, match="lineages="):
        read_profile(p, rank="genus")
    full = _mpa4_merged(tmp_path)
    ge = read_profile(p, rank="genus", lineages=full).pipe(_num)
    np.testing.assert_allclose(ge.loc["g__Blautia", ["A", "B"]], [80, 10])
    fam = read_profile(p, rank="family", lineages=read_lineage_map(full))
    assert set(fam["clade_name"]) == {"f__Lachnospiraceae", "f__Oscillospiraceae"}


def test_estimated_reads_table_gives_counts_with_unclassified(tmp_path):
    p = tmp_path / "reads.tsv"
    p.write_text(
        f"clade_name\tA\tB\nUNCLASSIFIED\t100\t0\nk__Bacteria\t900\t50\n{LX}\t600\t0\n"
        f"{LY}\t200\t0\n{LZ}\t100\t50\n"
    )
    prof = load_profile(p)
    assert prof.counts is not None and prof.relative is None
    cnt = read_profile(p, counts=True).pipe(_num)
    np.testing.assert_allclose(cnt.loc["UNCLASSIFIED", ["A", "B"]], [100, 0])
    np.testing.assert_allclose(cnt.loc["s__Blautia_wexlerae", ["A", "B"]], [600, 0])
    ab = read_profile(p).pipe(_num)
    np.testing.assert_allclose(ab.loc["s__Blautia_wexlerae", "A"], 600 / 9)
    rel = read_profile(p, values="relative")
    with pytest.raises(ImportError_, match="relative abundances only"):
        read_profile(p, values="relative", counts=True)
    np.testing.assert_allclose(rel[["A", "B"]].sum(), [100, 100])


def test_infer_values():
    assert infer_values(pd.DataFrame({"a": [60.0, 40.0]})) == "relative"
    assert infer_values(pd.DataFrame({"a": [0.6, 0.4]})) == "relative"
    assert infer_values(pd.DataFrame({"a": [600.0, 400.0]})) == "counts"
    assert infer_values(pd.DataFrame({"a": [60.5, 400.0]})) == "relative"


def test_metaphlan_single_sample_with_read_stats(tmp_path):
    p = tmp_path / "P01_profile.txt"
    p.write_text(
        "#mpa_vJun23_CHOCOPhlAnSGB_202307\n#/usr/bin/metaphlan r.fq\n#SampleID\tMetaphlan_Analysis\n"
        "#1000 reads processed\n"
        "#clade_name\tclade_taxid\trelative_abundance\tcoverage\t"
        "estimated_number_of_reads_from_the_clade\n"
        "UNCLASSIFIED\t-1\t20.0\t-\t200\n"
        "k__Bacteria\t2\t80.0\t1\t800\n"
        f"{LX}\t2|1\t60.0\t1\t500\n{LZ}\t2|2\t20.0\t1\t300\n"
    )
    assert detect_format(p) == "metaphlan"
    sp = read_profile(p).pipe(_num)
    assert list(sp.columns) == ["P01"]
    np.testing.assert_allclose(sp.loc["s__Blautia_wexlerae", "P01"], 75.0)
    cnt = read_profile(p, counts=True).pipe(_num)
    np.testing.assert_allclose(cnt.loc[["s__Blautia_wexlerae", "UNCLASSIFIED"], "P01"], [500, 200])


def test_sylphtax_single_and_merged_gtdb(tmp_path):
    p = tmp_path / "S9.sylphmpa"
    p.write_text(
        "#SampleID\treads/S9_R1.fastq.gz\n"
        "clade_name\trelative_abundance\tsequence_abundance\tANI (if strain-level)\n"
        "d__Bacteria\t100\t90\tNA\nd__Bacteria|p__Bacillota_A\t100\t90\tNA\n"
        "d__Bacteria|p__Bacillota_A|c__Clostridia|o__Lachnospirales|f__Lachnospiraceae|"
        "g__Blautia_A|s__Blautia_A wexlerae\t70\t60\tNA\n"
        "d__Bacteria|p__Bacillota_A|c__Clostridia|o__Lachnospirales|f__Lachnospiraceae|"
        "g__Blautia_A|s__Blautia_A wexlerae|t__GCF_000484655.1\t70\t60\t99.1\n"
        "d__Bacteria|p__Bacillota_A|c__Clostridia|o__Oscillospirales|f__Ruminococcaceae|"
        "g__Faecalibacterium|s__Faecalibacterium prausnitzii_D\t30\t30\tNA\n"
    )
    assert detect_format(p) == "sylphtax"
    prof = load_profile(p)
    assert prof.samples == ["S9"] and prof.naming == "gtdb"
    sp = read_profile(p).pipe(_num)
    np.testing.assert_allclose(sp.loc["s__Blautia_A_wexlerae", "S9"], 70.0)
    lin = dict(zip(read_profile(p)["clade_name"], read_profile(p)["lineage"], strict=True))
    assert lin["s__Blautia_A_wexlerae"].startswith("k__Bacteria|p__Bacillota_A")
    m = tmp_path / "merged.tsv"
    m.write_text(
        "clade_name\tX\tY\nd__Bacteria\t100\t100\nd__Bacteria;p__Bacillota_A\t100\t100\n"
        "d__Bacteria;p__Bacillota_A;c__C;o__O;f__F;g__G;s__G a\t25\t100\n"
        "d__Bacteria;p__Bacillota_A;c__C;o__O;f__F;g__G;s__G b\t75\t0\n"
    )
    assert detect_format(m) == "sylphtax_merged"
    np.testing.assert_allclose(read_profile(m).pipe(_num).loc["s__G_b", "X"], 75)


def test_raw_sylph_needs_taxonomy(tmp_path):
    p = tmp_path / "sylph.tsv"
    p.write_text(
        "Sample_file\tGenome_file\tTaxonomic_abundance\tSequence_abundance\tAdjusted_ANI\n"
        "r/A_R1.fq.gz\tg/gx.fa\t75\t70\t99\nr/A_R1.fq.gz\tg/gz.fa\t25\t30\t98\n"
        "r/B_R1.fq.gz\tg/gz.fa\t100\t100\t99\n"
    )
    assert detect_format(p) == "sylph"
    with pytest.raises(ImportError_, match="taxonomy="):
        read_profile(p)
    sp = read_profile(p, taxonomy={"gx": LX, "gz": LZ}).pipe(_num)
    np.testing.assert_allclose(sp.loc["s__Blautia_wexlerae", ["A", "B"]], [75, 0])


KREPORT = (
    "  5.00\t5\t5\tU\t0\tunclassified\n"
    " 95.00\t95\t0\tR\t1\troot\n"
    " 95.00\t95\t0\tR1\t131567\t  cellular organisms\n"
    " 95.00\t95\t1\tD\t2\t    Bacteria\n"
    " 94.00\t94\t0\tP\t1239\t      Firmicutes\n"
    " 94.00\t94\t0\tC\t186801\t        Clostridia\n"
    " 94.00\t94\t0\tO\t186802\t          Eubacteriales\n"
    " 94.00\t94\t0\tF\t186803\t            Lachnospiraceae\n"
    " 94.00\t94\t14\tG\t572511\t              Blautia\n"
    " 60.00\t60\t50\tS\t1\t                Blautia wexlerae\n"
    " 10.00\t10\t10\tS1\t99\t                  Blautia wexlerae str. X\n"
    " 20.00\t20\t20\tS\t2\t                Blautia obeum\n"
)


def test_kraken_report_and_mpa_and_bracken(tmp_path):
    p = tmp_path / "S3.k2report"
    p.write_text(KREPORT)
    assert detect_format(p) == "kraken_report"
    sp = read_profile(p).pipe(_num)
    np.testing.assert_allclose(sp.loc["s__Blautia_wexlerae", "S3"], 75.0)
    cnt = read_profile(p, counts=True).pipe(_num)
    # 5 unclassified + 1 at Bacteria + 14 at Blautia are not species
    np.testing.assert_allclose(cnt.loc[["s__Blautia_wexlerae", "UNCLASSIFIED"], "S3"], [60, 20])
    ge = read_profile(p, rank="genus", counts=True).pipe(_num)
    np.testing.assert_allclose(ge.loc[["g__Blautia", "UNCLASSIFIED"], "S3"], [94, 6])

    mpa = tmp_path / "S4.mpa"
    mpa.write_text(
        "d__Bacteria\t95\nd__Bacteria|p__Firmicutes\t94\n"
        "d__Bacteria|p__Firmicutes|c__Clostridia|o__Eubacteriales|f__Lachnospiraceae|g__Blautia\t94\n"
        "d__Bacteria|p__Firmicutes|c__Clostridia|o__Eubacteriales|f__Lachnospiraceae|g__Blautia|"
        "s__Blautia wexlerae\t60\n"
    )
    assert detect_format(mpa) == "kraken_mpa"
    np.testing.assert_allclose(read_profile(mpa, counts=True).iloc[:, 2].to_numpy(), [60, 35])

    br = tmp_path / "S5.bracken"
    br.write_text(
        "name\ttaxonomy_id\ttaxonomy_lvl\tkraken_assigned_reads\tadded_reads\tnew_est_reads\t"
        "fraction_total_reads\nBlautia wexlerae\t1\tS\t60\t10\t70\t0.7\n"
        "Blautia obeum\t2\tS\t20\t10\t30\t0.3\n"
    )
    assert detect_format(br) == "bracken"
    sp = read_profile(br).pipe(_num)
    np.testing.assert_allclose(sp.loc["s__Blautia_wexlerae", "S5"], 70.0)


def test_biom_json_and_hdf5(tmp_path):
    biom = pytest.importorskip("biom")
    import h5py

    data = np.array([[100, 0], [300, 50], [600, 150]], dtype=float)
    md = [
        {
            "taxonomy": [
                "k__Bacteria",
                "p__Firmicutes",
                "c__C",
                "o__O",
                "f__F",
                "g__Blautia",
                "s__obeum",
            ]
        },
        {"taxonomy": ["k__Bacteria", "p__Firmicutes", "c__C", "o__O", "f__F", "g__Blautia", "s__"]},
        {
            "taxonomy": [
                "k__Bacteria",
                "p__Firmicutes",
                "c__C",
                "o__O",
                "f__F2",
                "g__Fp",
                "s__Fp_prausnitzii",
            ]
        },
    ]
    t = biom.Table(data, ["o1", "o2", "o3"], ["A", "B"], observation_metadata=md)
    j = tmp_path / "t.json"
    j.write_text(t.to_json("test"))
    h = tmp_path / "t.biom"
    with h5py.File(h, "w") as fh:
        t.to_hdf5(fh, "test")
    for p in (j, h):
        assert detect_format(p) == "biom"
        prof = load_profile(p)
        assert prof.counts is not None  # integral values with totals > 100
        sp = read_profile(p).pipe(_num)
        assert set(sp.index) == {"s__Blautia_obeum", "s__Fp_prausnitzii"}  # GG epithet + genus
        np.testing.assert_allclose(sp.loc["s__Fp_prausnitzii", ["A", "B"]], [600 / 7, 100])
        ge = read_profile(p, rank="genus").pipe(_num)
        np.testing.assert_allclose(ge.loc["g__Blautia", ["A", "B"]], [40, 25])
        cnt = read_profile(p, counts=True).pipe(_num)
        np.testing.assert_allclose(cnt.loc["UNCLASSIFIED", ["A", "B"]], [300, 50])


def test_generic_bare_names_and_fractions(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("taxon,A,B\nBlautia_wexlerae,0.5,0\nBlautia_obeum,0.5,1\n")
    assert detect_format(p) == "generic"
    sp = read_profile(p).pipe(_num)
    np.testing.assert_allclose(sp.loc["s__Blautia_obeum", ["A", "B"]], [50, 100])
    ge = read_profile(p, taxon_rank="genus", rank="genus").pipe(_num)
    assert "g__Blautia_obeum" in ge.index


def test_zero_sample_is_valid_and_reimport_roundtrip(tmp_path):
    p = tmp_path / "z.tsv"
    p.write_text(f"clade_name\tA\tZ\n{LX}\t40\t0\n{LZ}\t60\t0\n")
    sp = read_profile(p)
    np.testing.assert_allclose(sp[["A", "Z"]].sum(), [100, 0])
    out = tmp_path / "out"
    import_profiles([p], out, ranks=["species", "genus"])
    std = out / "abundance_species.tsv"
    assert detect_format(std) == "standard"
    again = read_profile(std).pipe(_num)
    np.testing.assert_allclose(again.loc["s__Blautia_wexlerae", ["A", "Z"]], [40, 0])


def test_import_profiles_merges_files_joins_metadata(tmp_path):
    a = _mpa4_merged(tmp_path, name="a.txt")
    b = tmp_path / "b.tsv"
    b.write_text(f"clade_name\tS3\nk__Bacteria\t100\n{LZ}\t100\n")
    meta = tmp_path / "meta.tsv"
    meta.write_text("# comment\nrun\tresponse\nS1\tR\nS2\tNR\nS3\tR\nS9\tNR\n")
    out = tmp_path / "imp"
    res = import_profiles([a, b], out, metadata=meta, id_column="run")
    ab = read_abundance(out / "abundance_species.tsv")
    assert list(ab.index) == ["S1", "S2", "S3"]
    np.testing.assert_allclose(ab.sum(axis=1), 100.0)
    np.testing.assert_allclose(ab.loc["S3", "s__Faecalibacterium_prausnitzii"], 100.0)
    assert list(res["samples"]["response"]) == ["R", "NR", "R"]
    man = pd.read_csv(out / "import_manifest.tsv", sep="\t")
    assert list(man["samples"]) == [2, 1] and man.loc[0, "naming"] == "metaphlan4"
    assert not (out / "counts_species.tsv").exists()  # relative inputs: no counts table
    assert read_standard_table(out / "abundance_phylum.tsv").shape[0] == 1


def test_import_errors_name_file_row_column(tmp_path):
    a = _mpa4_merged(tmp_path, name="a.txt")
    dup = tmp_path / "dup.txt"
    dup.write_text(f"clade_name\tS1\n{LZ}\t100\n")
    with pytest.raises(ImportError_, match=r"'S1' occurs in both .*a\.txt and .*dup\.txt"):
        import_profiles([a, dup], tmp_path / "o1")
    meta = tmp_path / "m.tsv"
    meta.write_text("sample_id\tresponse\nS1\tR\n")
    with pytest.raises(ImportError_, match=r"m\.tsv: no row for 1 profiled sample\(s\): S2 \(from"):
        import_profiles([a], tmp_path / "o2", metadata=meta)
    res = import_profiles([a], tmp_path / "o3", metadata=meta, on_missing_metadata="drop")
    assert list(res["samples"]["sample_id"]) == ["S1"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("sample_id\tx\nA\t1\n\t2\nA\t3\n")
    with pytest.raises(ImportError_, match=r"bad\.tsv: column 'sample_id' is empty on line\(s\) 3"):
        read_metadata(bad)
    bad.write_text("sample_id\tx\nA\t1\nB\t2\nA\t3\n")
    with pytest.raises(ImportError_, match=r"'A' occurs on lines 2, 4"):
        read_metadata(bad)
    with pytest.raises(ImportError_, match=r"has no column 'run' \(columns: sample_id, x\)"):
        read_metadata(bad, id_column="run")
    nonnum = tmp_path / "nn.tsv"
    nonnum.write_text(f"clade_name\tA\n{LX}\tabc\n")
    with pytest.raises(
        ImportError_,
        match=r"nn\.tsv: 1 value\(s\) are not numeric: line 2 \(taxon .*\): column 'A': 'abc'",
    ):
        read_profile(nonnum)
    with pytest.raises(ImportError_, match="not found"):
        read_profile(tmp_path / "missing.tsv")
    with pytest.raises(ImportError_, match="empty"):
        (tmp_path / "empty.tsv").write_text("")
        detect_format(tmp_path / "empty.tsv")


def test_join_metadata_keep():
    meta = pd.DataFrame({"response": ["R"]}, index=pd.Index(["A"], name="sample_id"))
    out = join_metadata(["A", "B"], meta, on_missing="keep")
    assert list(out.index) == ["A", "B"] and out.loc["A", "response"] == "R"
    assert pd.isna(out.loc["B", "response"])


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.floats(0, 1000)), min_size=1, max_size=12
    ),
    st.randoms(use_true_random=False),
)
def test_leaf_table_invariants(rows, rnd):
    """Abundance columns sum to 100 (or 0); the result does not depend on row order."""
    lin = [f"k__B|p__P{g % 2}|c__C|o__O|f__F|g__G{g}|s__G{g}_s{s}" for g, s, _ in rows]
    vals = [v for *_, v in rows]
    tmp = pd.DataFrame({"A": vals, "B": vals[::-1]}, index=lin)
    from icibiome.taxonomy.import_model import ImportedProfile, to_rank

    prof = ImportedProfile(tmp.groupby(level=0).sum(), None, False, "generic", "x")
    order = list(prof.relative.index)
    rnd.shuffle(order)
    prof2 = ImportedProfile(prof.relative.loc[order], None, False, "generic", "x")
    for rank in ("species", "genus", "phylum"):
        a, _ = to_rank(prof, rank)
        b, _ = to_rank(prof2, rank)
        sums = a[["A", "B"]].sum().to_numpy()
        assert np.all(np.isclose(sums, 100) | np.isclose(sums, 0))
        pd.testing.assert_frame_equal(
            a.set_index("lineage").sort_index(), b.set_index("lineage").sort_index()
        )


# ------------------------------------------------------------------ issue 12: nothing silent
_L = "k__B|p__P|c__C|o__O|f__F|g__G|s__G_"


def _gen(tmp_path, body, name="t.tsv"):
    p = tmp_path / name
    p.write_text("taxon\tA\tB\n" + body)
    return p


@pytest.mark.parametrize("token", ["", "NA", "nan"])
def test_missing_cells_are_an_error_naming_line_taxon_and_sample(tmp_path, token):
    # before: '' and 'NA' became 0 and the sample was renormalised without a word
    p = _gen(tmp_path, f"{_L}a\t10\t{token}\n{_L}b\t3\t5\n")
    with pytest.raises(ImportError_) as exc:
        read_profile(p)
    msg = str(exc.value)
    assert f"{p}: 1 missing value(s)" in msg
    assert f"line 2 (taxon '{_L}a'): column 'B': {token!r}" in msg
    assert "import.missing: zero" in msg


def test_missing_zero_reads_0_and_lists_the_cells(tmp_path):
    p = _gen(tmp_path, f"{_L}a\t10\tNA\n{_L}b\t30\t5\n")
    prof = load_profile(p, missing="zero")
    assert prof.filled[["line", "taxon", "sample", "value"]].to_dict("records") == [
        {"line": 2, "taxon": f"{_L}a", "sample": "B", "value": "NA"}
    ]
    tab = read_profile(p, missing="zero").set_index("clade_name")
    assert tab.loc["s__G_a", "A"] == 25.0 and tab.loc["s__G_a", "B"] == 0.0
    out = import_profiles([p], tmp_path / "out", ranks=["species"], missing="zero")
    assert out["species"].shape[0] == 2
    filled = pd.read_csv(tmp_path / "out" / "filled_cells.tsv", sep="\t")
    assert list(filled["sample"]) == ["B"] and list(filled["line"]) == [2]
    manifest = pd.read_csv(tmp_path / "out" / "import_manifest.tsv", sep="\t")
    assert "1 missing cell(s) read as 0" in manifest.loc[0, "notes"]


def test_duplicated_taxon_rows_are_an_error_not_summed(tmp_path):
    # before: the two rows of s__G_a were summed (a pasted-twice row doubled the taxon)
    p = _gen(tmp_path, f"{_L}a\t10\t1\n{_L}b\t3\t5\n{_L}a\t10\t1\n")
    with pytest.raises(ImportError_) as exc:
        read_profile(p)
    assert f"{p}: 1 taxon/taxa occur on more than one row" in str(exc.value)
    assert f"taxon '{_L}a' on lines 2, 4" in str(exc.value)


def test_negative_values_are_an_error_in_every_format(tmp_path):
    p = _gen(tmp_path, f"{_L}a\t10\t-2\n{_L}b\t3\t5\n")
    with pytest.raises(
        ImportError_, match=r"1 negative value\(s\).*line 2 \(taxon .*\): column 'B': '-2'"
    ):
        read_profile(p)
    # a MetaPhlAn single-sample file: before, -10 went into the standard table
    mpa = tmp_path / "S1_profile.txt"
    mpa.write_text(
        "#mpa_v30_CHOCOPhlAn_201901\n#clade_name\tNCBI_tax_id\trelative_abundance\n"
        f"{_L}a\t1\t-10\n{_L}b\t2\t110\n"
    )
    with pytest.raises(ImportError_) as exc:
        read_profile(mpa)
    assert f"{mpa}: 1 negative relative value(s): taxon '{_L}a'" in str(exc.value)


def test_manifest_says_where_lineages_came_from(tmp_path):
    p = tmp_path / "bare.tsv"
    p.write_text("taxon\tA\tB\nBlautia_wexlerae\t10\t1\nBlautia_obeum\t3\t5\n")
    lin = tmp_path / "lineages.tsv"
    lx = LX.rsplit("|", 1)[0]
    lin.write_text(
        f"clade\tlineage\nBlautia_wexlerae\t{lx}|s__Blautia_wexlerae\n"
        f"Blautia_obeum\t{lx}|s__Blautia_obeum\n"
    )
    import_profiles([p], tmp_path / "out", ranks=["genus"], fmt="generic", lineages=lin)
    manifest = pd.read_csv(tmp_path / "out" / "import_manifest.tsv", sep="\t")
    assert manifest.loc[0, "naming"] == "lineages from lineages.tsv"  # before: 'unknown'


def test_missing_bracken_count_is_an_error(tmp_path):
    # before: an empty new_est_reads became 0 through the groupby-sum
    p = tmp_path / "S1.bracken"
    p.write_text(
        "name\ttaxonomy_id\ttaxonomy_lvl\tkraken_assigned_reads\tadded_reads\tnew_est_reads\t"
        "fraction_total_reads\nBlautia obeum\t40520\tS\t10\t2\t12\t0.6\nBlautia wexlerae\t418240"
        "\tS\t5\t3\t\t0.4\n"
    )
    with pytest.raises(ImportError_) as exc:
        read_profile(p)
    assert f"{p}: 1 missing value(s) in column 'new_est_reads': line(s) [3]" in str(exc.value)
    assert "Blautia wexlerae" in str(exc.value)


# --- import.leaf: leaf ids (MAGs, OGUs, SGBs) kept below their lineage, or summed with a note ---
_GB = LX.rsplit("|", 1)[0]  # ...|g__Blautia


def _mags(tmp_path):
    p = tmp_path / "mags.tsv"
    p.write_text("taxon\tA\tB\nMAG1\t10\t1\nMAG2\t30\t3\nMAG3\t60\t0\nMAG9\t0\t6\n")
    lin = tmp_path / "mag_lineages.tsv"
    lin.write_text(
        f"clade\tlineage\nMAG1\t{_GB}|s__Blautia_wexlerae\nMAG2\t{_GB}|s__Blautia_wexlerae\n"
        f"MAG3\t{_GB}|s__Blautia_obeum\nMAG9\t{_GB}|s__Blautia_obeum|t__MAG9\n"
    )
    return p, lin


def test_leaf_keep_keeps_mags_below_their_lineage(tmp_path):
    p, lin = _mags(tmp_path)
    out = tmp_path / "out"
    res = import_profiles(
        [p], out, ranks=["species", "leaf"], fmt="generic", lineages=lin, leaf="keep"
    )
    leaf = res["leaf"].set_index("clade_name")
    assert list(leaf.index) == ["t__MAG1", "t__MAG2", "t__MAG3", "t__MAG9"]
    assert leaf.loc["t__MAG2", "lineage"] == f"{_GB}|s__Blautia_wexlerae|t__MAG2"
    assert leaf.loc["t__MAG9", "lineage"] == f"{_GB}|s__Blautia_obeum|t__MAG9"  # as mapped
    assert leaf["A"].tolist() == pytest.approx([10, 30, 60, 0])
    # species = sums of their leaves, nothing lost
    sp = res["species"].set_index("clade_name")
    assert sp.loc["s__Blautia_wexlerae", ["A", "B"]].tolist() == pytest.approx([40, 40])
    assert sp.loc["s__Blautia_obeum", ["A", "B"]].tolist() == pytest.approx([60, 60])
    assert (out / "abundance_leaf.tsv").is_file()
    man = pd.read_csv(out / "import_manifest.tsv", sep="\t")
    assert man.loc[0, "naming"] == "lineages from mag_lineages.tsv"
    assert "summed" not in str(man.loc[0, "notes"])


def test_leaf_species_sums_mags_and_says_so(tmp_path, caplog):
    p, lin = _mags(tmp_path)
    out = tmp_path / "out"
    res = import_profiles([p], out, ranks=["species"], fmt="generic", lineages=lin)
    sp = res["species"].set_index("clade_name")
    assert sp.loc["s__Blautia_wexlerae", "A"] == pytest.approx(40)
    notes = pd.read_csv(out / "import_manifest.tsv", sep="\t").loc[0, "notes"]
    assert "2 row(s) summed into 1 taxa by the lineage map" in notes
    assert "MAG1 + MAG2 -> s__Blautia_wexlerae" in notes
    assert "import.leaf: keep" in notes
    assert "summed into 1 taxa" in caplog.text


def test_leaf_keep_unmapped_id_is_named(tmp_path):
    p, lin = _mags(tmp_path)
    lin.write_text("\n".join(lin.read_text().splitlines()[:-1]) + "\n")  # MAG9 unmapped
    out = tmp_path / "out"
    res = import_profiles(
        [p], out, ranks=["species", "leaf"], fmt="generic", lineages=lin, leaf="keep"
    )
    assert res["leaf"].set_index("clade_name").loc["t__MAG9", "lineage"] == "t__MAG9"
    notes = pd.read_csv(out / "import_manifest.tsv", sep="\t").loc[0, "notes"]
    assert "1 of 4 clade(s) not in the lineage map (e.g. MAG9); they are leaf rows only" in notes
    assert "no leaf row" not in notes


def test_leaf_keep_without_lineages_is_an_error(tmp_path):
    p, _ = _mags(tmp_path)
    with pytest.raises(ImportError_, match="import.leaf: keep needs import.lineages"):
        import_profiles([p], tmp_path / "out", ranks=["species"], fmt="generic", leaf="keep")


def test_leaf_rank_of_metaphlan4_sgbs(tmp_path):
    # SGB rows become the leaf table; a species without a t__ row is named, not dropped silently
    p = tmp_path / "mpa4.tsv"
    p.write_text(
        "#mpa_vOct22_CHOCOPhlAnSGB_202212\nclade_name\tA\n"
        f"{K}\t100\n{_GB}\t100\n"
        f"{LX}\t70\n{LX}|t__SGB4583\t50\n{LX}|t__SGB4584\t20\n"
        f"{_GB}|s__Blautia_obeum\t30\n"
    )
    out = tmp_path / "out"
    res = import_profiles([p], out, ranks=["species", "leaf"], leaf="keep")
    leaf = res["leaf"].set_index("clade_name")
    assert list(leaf.index) == ["t__SGB4583", "t__SGB4584"]
    assert leaf["A"].tolist() == pytest.approx([50 / 0.7, 20 / 0.7])
    assert res["species"].set_index("clade_name").loc["s__Blautia_obeum", "A"] == 30
    notes = pd.read_csv(out / "import_manifest.tsv", sep="\t").loc[0, "notes"]
    assert "no leaf row (t__) for 1 taxa, left out of abundance_leaf" in notes
    assert "s__Blautia_obeum" in notes


def test_leaf_rank_needs_leaf_rows(tmp_path):
    p = tmp_path / "mpa.tsv"
    p.write_text(f"clade_name\tA\n{K}\t100\n{LX}\t100\n")
    prof = load_profile(p)
    with pytest.raises(ImportError_, match="no leaf rows"):
        to_rank(prof, "leaf")
    with pytest.raises(ValueError, match="leaf must be one of"):
        load_profile(p, leaf="strain")
