"""icibiome.functions.humann without HUMAnN: command line, read concatenation, table reading/checks, heatmap."""

import gzip

import pandas as pd
import pytest
import yaml

from icibiome.functions.humann import (
    HumannError,
    check_table,
    concatenate_reads,
    humann_command,
    pathway_heatmap_mqc,
    read_humann_table,
    split_stratified,
    stage_v3_database,
)


def test_command_bypasses_prescreen_without_profile_and_uses_it_when_given():
    cmd = humann_command(
        "r.fq.gz", "out", "s1", "nuc", "prot", threads=3, extra=["--bypass-translated-search"]
    )
    assert cmd[0] == "humann"
    assert cmd[cmd.index("--output-basename") + 1] == "s1"
    assert cmd[cmd.index("--nucleotide-database") + 1] == "nuc"
    assert cmd[cmd.index("--protein-database") + 1] == "prot"
    assert cmd[cmd.index("--memory-use") + 1] == "minimum"
    assert "--remove-temp-output" in cmd and "--bypass-prescreen" in cmd
    assert "--taxonomic-profile" not in cmd
    assert cmd[-1] == "--bypass-translated-search"
    with_profile = humann_command("r.fq.gz", "o", "s1", "n", "p", taxonomic_profile="mpa.tsv")
    assert with_profile[with_profile.index("--taxonomic-profile") + 1] == "mpa.tsv"
    assert "--bypass-prescreen" not in with_profile


def test_concatenated_gzip_mates_hold_all_reads(tmp_path):
    r1, r2 = tmp_path / "a_R1.fastq.gz", tmp_path / "a_R2.fastq.gz"
    with gzip.open(r1, "wt") as fh:
        fh.write("@r1/1\nACGT\n+\nIIII\n")
    with gzip.open(r2, "wt") as fh:
        fh.write("@r1/2\nTTTT\n+\nIIII\n")
    out = concatenate_reads([r1, r2], tmp_path / "a.fastq.gz")
    with gzip.open(out, "rt") as fh:
        assert fh.read().splitlines()[::4] == ["@r1/1", "@r1/2"]


def test_mixed_gzip_and_plain_reads_are_refused(tmp_path):
    gz, plain = tmp_path / "a.fq.gz", tmp_path / "b.fq"
    with gzip.open(gz, "wt") as fh:
        fh.write("@r\nA\n+\nI\n")
    plain.write_text("@r\nA\n+\nI\n")
    with pytest.raises(HumannError, match="mixed"):
        concatenate_reads([gz, plain], tmp_path / "c.fq")


def _table(tmp_path, text, name="t.tsv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_table_strips_humann_suffixes_and_rejects_other_files(tmp_path):
    p = _table(
        tmp_path,
        "# Gene Family\ts1_Abundance-RPKs\ts2_Abundance-RPKs\n"
        "UNMAPPED\t10\t5\nUniRef90_A\t3\t0\nUniRef90_A|g__X.s__Y\t3\t0\n",
    )
    t = read_humann_table(p)
    assert list(t.columns) == ["s1", "s2"]
    community, strat = split_stratified(t)
    assert list(community.index) == ["UNMAPPED", "UniRef90_A"]
    assert list(strat.index) == ["UniRef90_A|g__X.s__Y"]
    with pytest.raises(HumannError, match="not a HUMAnN table"):
        read_humann_table(_table(tmp_path, "feature\ts1\nA\t1\n", "x.tsv"))


def test_check_table_finds_orphans_excess_and_bad_totals():
    ok = pd.DataFrame(
        {"s": [600000.0, 400000.0, 250000.0, 150000.0]},
        index=["UNMAPPED", "F1", "F1|g__A.s__B", "F1|unclassified"],
    )
    assert check_table(ok, "cpm") == []
    orphan = pd.concat([ok, pd.DataFrame({"s": [1.0]}, index=["F9|g__A.s__B"])])
    assert any("without a community row" in p for p in check_table(orphan, None))
    excess = ok.copy()
    excess.loc["F1|g__A.s__B", "s"] = 390000.0
    assert any("exceed" in p for p in check_table(excess, None))
    assert check_table(excess, None, additive=False) == []  # pathways are not additive
    assert any("instead of 1e+06" in p for p in check_table(ok / 2, "cpm"))
    empty = ok * 0  # a sample with nothing mapped is allowed
    assert check_table(empty, "cpm") == []


def test_heatmap_shows_top_pathways_without_special_rows(tmp_path):
    p = _table(
        tmp_path,
        "# Pathway\ts1_Abundance\ts2_Abundance\n"
        "UNMAPPED\t0.5\t0.6\nUNINTEGRATED\t0.3\t0.3\n"
        "PWY-1: one\t0.15\t0.05\nPWY-2: two\t0.05\t0.05\nPWY-3: none\t0\t0\n",
    )
    out = pathway_heatmap_mqc(p, tmp_path / "h_mqc.yaml", top_n=5)
    h = yaml.safe_load(out.read_text())
    assert h["plot_type"] == "heatmap"
    assert h["xcats"] == ["s1", "s2"]
    assert h["ycats"] == ["PWY-1: one", "PWY-2: two"]  # zero pathway and specials left out
    assert h["data"] == [[15.0, 5.0], [5.0, 5.0]]  # percent of the sample
    one = yaml.safe_load(pathway_heatmap_mqc(p, tmp_path / "h1_mqc.yaml", top_n=1).read_text())
    assert one["ycats"] == ["PWY-1: one"]


def test_heatmap_of_no_pathways_says_so(tmp_path):
    p = _table(tmp_path, "# Pathway\ts1_Abundance\nUNMAPPED\t1\nUNINTEGRATED\t0\n")
    h = yaml.safe_load(pathway_heatmap_mqc(p, tmp_path / "h_mqc.yaml").read_text())
    assert h["plot_type"] == "html" and "no MetaCyc pathway" in h["data"]
    assert "No pathway" in h["description"]


def test_stage_v3_database_rewrites_sgb_pangenomes_for_humann3(tmp_path):
    nuc, prot = tmp_path / "choco", tmp_path / "uniref"
    nuc.mkdir()
    prot.mkdir()
    with gzip.open(nuc / "SGB1871_pangenome90.fna.gz", "wt") as fh:
        fh.write(">SGB1871|SGB1871|UniRef90_A|UniRef50_B|6\nACGTAC\n")
    with gzip.open(nuc / "SGB9_pangenome90.fna.gz", "wt") as fh:
        fh.write(">SGB9|SGB9|UniRef90_C|UniRef50_D|3\nACG\n")
    (prot / "demo_v2019_06.dmnd").write_bytes(b"z")
    taxa = {"SGB1871": "g__Bacteroides.s__Bacteroides_ovatus"}
    n, p = stage_v3_database(nuc, prot, tmp_path / "staged", taxa=taxa)
    assert sorted(f.name for f in n.iterdir()) == [
        "g__Bacteroides.s__Bacteroides_ovatus.centroids.v201901_v31.ffn.gz",
        "g__SGB9.s__SGB9.centroids.v201901_v31.ffn.gz",
    ]
    with gzip.open(
        n / "g__Bacteroides.s__Bacteroides_ovatus.centroids.v201901_v31.ffn.gz", "rt"
    ) as fh:
        assert (
            fh.read()
            == ">SGB1871|g__Bacteroides.s__Bacteroides_ovatus|UniRef90_A|UniRef50_B|6\nACGTAC\n"
        )
    assert [f.name for f in p.iterdir()] == ["demo_v2019_06.v201901b.dmnd"]
    stage_v3_database(nuc, prot, tmp_path / "staged", taxa=taxa)  # idempotent
