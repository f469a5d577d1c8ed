"""Import mode on the real public profiles in ../shared/data (skipped when that folder is absent).

The expected figures are read from each folder's SOURCE.md, not copied here.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icibiome.io import read_abundance
from icibiome.taxonomy.import_formats import detect_format
from icibiome.taxonomy.importers import import_profiles, load_profile, read_metadata, read_profile

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MPA4 = SHARED / "ici_mpa4_8cohorts"
MPA3 = SHARED / "ici_cmd_mpa3_4cohorts"
TOPO = SHARED / "toposcore_nsclc"

pytestmark = pytest.mark.shared


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


def _source_table(source_md: Path) -> pd.DataFrame:
    """The first markdown table of a SOURCE.md whose header starts with '| file |'."""
    lines = source_md.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| file |"))
    rows = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip().strip("|").split("|")])
    df = pd.DataFrame(rows[2:], columns=rows[0])
    return df.set_index("file")


def _leading_int(text: str) -> int:
    return int(re.match(r"\s*(\d+)", text).group(1))


@pytest.fixture(scope="module")
def mpa4_import(tmp_path_factory):
    _need(MPA4 / "SOURCE.md")
    files = sorted(MPA4.glob("*_merged*.txt"))
    out = tmp_path_factory.mktemp("mpa4")
    res = import_profiles(
        files,
        out,
        ranks=["species", "genus", "family", "phylum"],
        metadata=MPA4 / "labels_harmonised.tsv",
        id_column="run_accession",
    )
    return files, out, res


def test_eight_cohorts_sample_and_species_counts_match_source(mpa4_import):
    files, out, res = mpa4_import
    expected = _source_table(MPA4 / "SOURCE.md")
    assert len(files) == 8 == len(expected)
    manifest = pd.read_csv(out / "import_manifest.tsv", sep="\t")
    manifest["file"] = manifest["file"].map(lambda p: Path(p).name)
    manifest = manifest.set_index("file")
    for f in files:
        row = expected.loc[f.name]
        assert manifest.loc[f.name, "samples"] == int(row["samples"]), f.name
        assert manifest.loc[f.name, "naming"] == "metaphlan4"
        # per-file species count: s__ rows, no t__ (the SOURCE.md column)
        sp = read_profile(f)
        assert len(sp) == _leading_int(row["species rows (s__, no t__)"]), f.name
        np.testing.assert_allclose(sp.iloc[:, 2:].sum(), 100.0, atol=1e-6)
    ab = read_abundance(out / "abundance_species.tsv")
    assert len(ab) == sum(int(r) for r in expected["samples"]) == 727
    np.testing.assert_allclose(ab.sum(axis=1), 100.0, atol=1e-6)
    # per-study counts from the joined metadata
    samples = res["samples"]
    per_study = samples.groupby("table_file").size()
    for f in files:
        assert per_study[f.name] == int(expected.loc[f.name, "samples"])
    # response labels joined (ORR_recommended yes/no counts from SOURCE.md: Lee 94/70)
    lee = samples[samples["study"] == "LeeKA_2022"]["ORR_recommended"].value_counts()
    assert (lee["yes"], lee["no"]) == (94, 70)


def test_eight_cohorts_higher_ranks(mpa4_import):
    files, out, _ = mpa4_import
    for rank in ("genus", "family", "phylum"):
        ab = read_abundance(out / f"abundance_{rank}.tsv")
        prefix = {"genus": "g__", "family": "f__", "phylum": "p__"}[rank]
        assert all(c.split(";")[-1].startswith(prefix) for c in ab.columns)
        # the Gopalakrishnan table is species-only: it borrows the other tables' lineages
        gop = [s for s in ab.index if s.startswith("ERR21622")]
        assert len(gop) == 25
        np.testing.assert_allclose(ab.sum(axis=1), 100.0, atol=1e-6)
    notes = pd.read_csv(out / "import_manifest.tsv", sep="\t")["notes"].fillna("")
    assert notes.str.contains("lineages borrowed").sum() == 1


def test_species_only_table_borrows_lineages():
    gop = _need(MPA4 / "Gop_merged_abundance_table_species.txt")
    ge = read_profile(gop, rank="genus", lineages=MPA4 / "Lee_merged_table.txt")
    sums = ge.iloc[:, 2:].sum()
    np.testing.assert_allclose(sums, 100.0, atol=1e-6)
    assert "g__Bacteroides" in set(ge["clade_name"])


def test_metaphlan3_cmd_tables_and_metadata():
    _need(MPA3 / "SOURCE.md")
    expected = _source_table(MPA3 / "SOURCE.md")
    for f in sorted(MPA3.glob("CMD_*.tsv")):
        assert detect_format(f) == "metaphlan_merged"
        prof = load_profile(f)
        assert prof.naming == "metaphlan3"
        assert len(prof.samples) == int(expected.loc[f.name, "samples"])
        sp = read_profile(f)
        assert len(sp) == int(expected.loc[f.name, "species rows"])
        np.testing.assert_allclose(sp.iloc[:, 2:].sum(), 100.0, atol=1e-6)
    meta = read_metadata(MPA3 / "FrankelAE_2017_metadata.tsv", id_column="NCBI_accession")
    sp = read_profile(MPA3 / "CMD_Frankel2017.tsv")
    samples = list(sp.columns[2:])
    assert set(samples) <= set(meta.index)
    assert meta.loc[samples, "ORR"].value_counts().to_dict() == {"yes": 24, "no": 15}


def test_toposcore_fixtures_mpa4_and_sylph_gtdb():
    mpa = _need(TOPO / "mpa4_vJan21_test_data.tsv")
    syl = _need(TOPO / "sylph_GTDBr220_test_data.tsv")
    assert detect_format(mpa) == "metaphlan_merged"
    assert detect_format(syl) == "sylphtax_merged"
    m = read_profile(mpa)
    s = read_profile(syl)
    assert list(m.columns[2:]) == [f"Sample_{i}" for i in range(1, 6)]
    np.testing.assert_allclose(m.iloc[:, 2:].sum(), 100.0, atol=1e-6)
    np.testing.assert_allclose(s.iloc[:, 2:].sum(), 100.0, atol=1e-6)
    assert load_profile(syl).naming == "gtdb"
    # UNCLASSIFIED (74.9 % in Sample_1) is excluded: percent of classified at species
    raw = pd.read_csv(mpa, sep="\t", index_col=0)
    species_rows = [i for i in raw.index if "|s__" in i and "|t__" not in i]
    x = raw.loc[species_rows, "Sample_1"]
    top = x.idxmax()
    got = m.set_index("lineage").loc[top, "Sample_1"]
    np.testing.assert_allclose(got, 100 * x.max() / x.sum())
    # GTDB species with spaces become underscores, d__ becomes k__
    assert any(c.startswith("s__Methanobrevibacter_A_smithii") for c in s["clade_name"])
    assert all(lin.startswith("k__") for lin in s["lineage"])


def test_estimated_reads_samples_by_taxa_table_via_transpose(tmp_path):
    """The 7-cohort estimated-reads table is samples x species: transposed, it imports as counts."""
    src = _need(SHARED / "ici_mpa_7cohorts_counts" / "mpa.nreads_unfiltered.txt")
    df = pd.read_csv(src, sep="\t", index_col=0, nrows=20)
    p = tmp_path / "nreads_taxa_by_samples.tsv"
    df.T.rename_axis("taxon").to_csv(p, sep="\t")
    prof = load_profile(p, lineages=SHARED / "ici_mpa_7cohorts_counts" / "mpa.taxonomy.nreads.tsv")
    assert prof.counts is not None and len(prof.samples) == 20
    cnt = read_profile(p, counts=True)
    np.testing.assert_allclose(cnt.iloc[:, 2:].sum(), df.sum(axis=1).to_numpy())
    ge = read_profile(
        p, rank="genus", lineages=SHARED / "ici_mpa_7cohorts_counts" / "mpa.taxonomy.nreads.tsv"
    )
    assert "g__Bacteroides" in set(ge["clade_name"])


def test_metaphlan4_sgbs_kept_as_leaf_rank(tmp_path):
    """import.leaf: keep on a real MetaPhlAn 4 table: every SGB (t__) row is a leaf, each species
    has one, and each species' value is the sum of its SGBs (so nothing is lost or invented)."""
    path = _need(MPA4 / "Lee_merged_table.txt")
    prof = load_profile(path, leaf="keep")
    rel = prof.relative
    sgb = rel[[x.split("|")[-1].startswith("t__") for x in rel.index]]
    species = rel[[x.split("|")[-1].startswith("s__") for x in rel.index]]
    out = import_profiles([path], tmp_path, ranks=["species", "leaf"], leaf="keep")
    leaf = out["leaf"]
    assert len(leaf) == len(sgb) and leaf["clade_name"].str.startswith("t__").all()
    parent = sgb.groupby([x.rsplit("|", 1)[0] for x in sgb.index]).sum()
    assert set(parent.index) == set(species.index)  # no species without an SGB row
    np.testing.assert_allclose(parent.loc[species.index], species, atol=1e-3)
    notes = pd.read_csv(tmp_path / "import_manifest.tsv", sep="\t").loc[0, "notes"]
    assert "no leaf row" not in str(notes)
