"""Unit tests of icibiome.functions.panel (function panels) and the demo's planted function genes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from icibiome.demo.functions import CATEGORIES, GENE_STARTS, plant_function_genes
from icibiome.demo.genomes import LOCUS_POS, TAXA, make_genomes, revcomp
from icibiome.functions.panel import (
    NOT_IN_GUILDS,
    best_hits,
    category_rpkm,
    guild_functions,
    read_hits,
    read_panel,
    rpkm,
    run_function_guilds,
    run_function_panel,
    taxon_guilds,
)


def _panel_files(tmp_path, rows, seqs):
    faa = tmp_path / "panel.faa"
    faa.write_text("".join(f">{k} some description\n{v}\n" for k, v in seqs.items()))
    tsv = tmp_path / "panel.tsv"
    pd.DataFrame(rows).to_csv(tsv, sep="\t", index=False)
    return tsv, faa


@pytest.fixture
def panel_files(tmp_path):
    rows = [
        {"protein_id": "P1", "category": "butyrate", "taxon": "s__A_a", "lineage": "g__A|s__A_a"},
        {"protein_id": "P2", "category": "butyrate", "taxon": "s__B_b", "lineage": ""},
        {"protein_id": "P3", "category": "lps", "taxon": "s__C_c", "lineage": ""},
    ]
    # lengths 1000, 500 and 250 aa (3, 1.5 and 0.75 kb)
    seqs = {"P1": "M" * 1000, "P2": "M" * 500 + "*", "P3": "M" * 250}  # a stop is not counted
    return _panel_files(tmp_path, rows, seqs)


def _hits(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("".join("\t".join(map(str, x)) + "\n" for x in lines))
    return p


def test_best_hit_per_read_and_mate():
    h = pd.DataFrame(
        {
            "mate": [1, 1, 1, 2, 2],
            "qseqid": ["r1", "r1", "r2", "r1", "r1"],
            "sseqid": ["P1", "P2", "P3", "P3", "P1"],
            "evalue": [1e-10, 1e-12, 1e-5, 1e-9, 1e-12],
            "bitscore": [50.0, 50.0, 30.0, 40.0, 40.0],
        }
    )
    best = best_hits(h)
    # r1/mate 1: tie on bit score -> lower e-value (P2); mate 2 is a separate read
    assert best[["mate", "qseqid", "sseqid"]].values.tolist() == [
        [1, "r1", "P2"],
        [1, "r2", "P3"],
        [2, "r1", "P1"],
    ]
    assert best_hits(h.iloc[:0]).empty


def test_rpkm_hand_worked(panel_files, tmp_path):
    tsv, faa = panel_files
    panel = read_panel(tsv, faa)
    assert panel["length_aa"].tolist() == [1000, 500, 250]
    counts = pd.DataFrame({"s1": [6, 3, 0], "s2": [0, 0, 3]}, index=panel.index)
    reads = pd.Series({"s1": 1_000_000, "s2": 500_000})
    r = rpkm(counts, panel, reads)
    # s1: P1 6 reads / 3 kb / 1 M = 2; P2 3 / 1.5 / 1 = 2; s2: P3 3 / 0.75 / 0.5 = 8
    np.testing.assert_allclose(r["s1"], [2.0, 2.0, 0.0])
    np.testing.assert_allclose(r["s2"], [0.0, 0.0, 8.0])
    cat = category_rpkm(r, panel)
    assert list(cat.index) == ["butyrate", "lps"]
    np.testing.assert_allclose(cat.to_numpy(), [[4.0, 0.0], [0.0, 8.0]])
    # a sample without reads gives 0, not inf
    z = rpkm(counts[["s1"]], panel, pd.Series({"s1": 0}))
    assert (z["s1"] == 0).all()


def test_read_panel_checks_agreement(tmp_path):
    tsv, faa = _panel_files(
        tmp_path, [{"protein_id": "P1", "category": "x"}], {"P1": "MA", "P9": "MK"}
    )
    with pytest.raises(ValueError, match="disagree"):
        read_panel(tsv, faa)
    tsv, faa = _panel_files(tmp_path, [{"protein_id": "P1", "cat": "x"}], {"P1": "MA"})
    with pytest.raises(ValueError, match="protein_id, category"):
        read_panel(tsv, faa)
    tsv, faa = _panel_files(tmp_path, [{"protein_id": "P1", "category": "x"}], {"P1": "MA"})
    assert read_panel(tsv, faa)[["taxon", "lineage"]].iloc[0].tolist() == ["", ""]


def test_taxon_guilds_uses_lineage_then_taxon():
    panel = pd.DataFrame(
        {"taxon": ["s__A_a", "s__B_b", "s__Z_z"], "lineage": ["g__A|s__A_a", "", ""]},
        index=["P1", "P2", "P3"],
    )
    g = pd.DataFrame({"clade_name": ["g__A", "s__B_b"], "guild": ["foundation", "pathobiont"]})
    assert taxon_guilds(panel, g).tolist() == ["foundation", "pathobiont", NOT_IN_GUILDS]
    # a species-level table wins over the genus for the same lineage
    g2 = pd.concat([g, pd.DataFrame({"clade_name": ["s__A_a"], "guild": ["module_3"]})])
    assert taxon_guilds(panel, g2).iloc[0] == "module_3"


def test_guild_functions_shares(panel_files):
    tsv, faa = panel_files
    panel = read_panel(tsv, faa)
    r = pd.DataFrame({"s1": [3.0, 1.0, 0.0], "s2": [1.0, 1.0, 4.0]}, index=panel.index)
    g = pd.DataFrame(
        {"clade_name": ["g__A", "s__B_b", "s__C_c"], "guild": ["foundation", "pathobiont", "none"]}
    )
    t = guild_functions(r, panel, g).set_index(["category", "guild"])
    # butyrate: foundation 4 of 6, pathobiont 2 of 6; lps only in 'none'
    assert t.loc[("butyrate", "foundation"), "share"] == pytest.approx(4 / 6)
    assert t.loc[("butyrate", "pathobiont"), "share"] == pytest.approx(2 / 6)
    assert t.loc[("butyrate", "foundation"), "mean_rpkm"] == pytest.approx(2.0)
    assert t.loc[("lps", "none"), "prevalence"] == pytest.approx(0.5)
    assert t.groupby(level=0)["share"].sum().tolist() == pytest.approx([1.0, 1.0])


def test_run_function_panel_end_to_end(panel_files, tmp_path):
    tsv, faa = panel_files
    h1 = _hits(
        tmp_path,
        "s1.tsv",
        [
            (1, "r1", "P1", 99, 49, 1e-20, 90, 150, 1000),
            (2, "r1", "P1", 99, 49, 1e-20, 90, 150, 1000),  # the mate: a second read
            (1, "r2", "P3", 99, 49, 1e-20, 90, 150, 250),
        ],
    )
    h2 = tmp_path / "s2.tsv"
    h2.write_text("")  # no hit at all
    stats = []
    for s, n in (("s1", 2_000_000), ("s2", 1_000_000)):
        p = tmp_path / f"{s}.json"
        p.write_text(json.dumps({"sample_id": s, "non_host": n}))
        stats.append(p)
    out = tmp_path / "out"
    paths = run_function_panel([h1, h2], ["s1", "s2"], stats, tsv, faa, out)
    cat = pd.read_csv(paths["category_rpkm"], sep="\t", index_col="category")
    # s1: P1 2 reads / 3 kb / 2 M = 1/3; P3 1 / 0.75 / 2 = 2/3
    assert cat.loc["butyrate", "s1"] == pytest.approx(1 / 3, rel=1e-5)
    assert cat.loc["lps", "s1"] == pytest.approx(2 / 3, rel=1e-5)
    assert (cat["s2"] == 0).all()
    feats = pd.read_csv(paths["features"], sep="\t", index_col="sample_id")
    assert list(feats.columns) == ["fn_butyrate", "fn_lps"]
    assert feats.loc["s1", "fn_lps"] == pytest.approx(np.log10(1 + 2 / 3), rel=1e-5)
    import yaml

    mqc = yaml.safe_load(paths["heatmap"].read_text())
    assert mqc["plot_type"] == "heatmap" and mqc["ycats"] == ["s1", "s2"]
    assert mqc["xcats"] == ["butyrate", "lps"] and len(mqc["data"]) == 2
    guilds = tmp_path / "guilds.tsv"
    pd.DataFrame(
        {"clade_name": ["s__A_a", "s__C_c"], "lineage": "", "guild": ["foundation", "pathobiont"]}
    ).to_csv(guilds, sep="\t", index=False)
    table = run_function_guilds(
        paths["protein_rpkm"], tsv, faa, guilds, tmp_path / "g.tsv", tmp_path / "g_mqc.tsv"
    )
    assert table[["category", "guild"]].values.tolist() == [
        ["butyrate", "foundation"],
        ["lps", "pathobiont"],
    ]
    assert (tmp_path / "g_mqc.tsv").read_text().startswith("# id: icibiome_function_guilds")


def test_read_hits_empty_file(tmp_path):
    p = tmp_path / "e.tsv"
    p.write_text("")
    assert read_hits(p).empty


def test_hits_on_unknown_protein_are_an_error(panel_files, tmp_path):
    tsv, faa = panel_files
    h = _hits(tmp_path, "s.tsv", [(1, "r1", "PX", 99, 49, 1e-20, 90, 150, 100)])
    st = tmp_path / "s.json"
    st.write_text(json.dumps({"sample_id": "s", "non_host": 10}))
    with pytest.raises(ValueError, match="not in the panel"):
        run_function_panel([h], ["s"], [st], tsv, faa, tmp_path / "o")


def test_planted_genes_keep_lengths_and_other_sequence():
    tax, genomes, _ = make_genomes(np.random.default_rng(3), 24)
    new, genes, proteins = plant_function_genes(3, tax, genomes)
    assert {g: len(s) for g, s in new.items()} == {g: len(s) for g, s in genomes.items()}
    assert set(genes["protein_id"]) == set(proteins)
    for gid in genomes:
        # only the first LOCUS_POS bases may change
        assert new[gid][LOCUS_POS:] == genomes[gid][LOCUS_POS:]
    # each gene is in its genome on its strand, translated it gives the panel protein's length
    for row in genes.itertuples():
        dna = new[row.genome_id][row.start : row.end]
        dna = dna if row.strand == "+" else revcomp(dna)
        assert dna.startswith("ATG") and dna[-3:] in ("TAA", "TAG", "TGA")
        assert len(dna) == 3 * row.length_aa + 3
        assert row.start in GENE_STARTS
    # the planted guild roles
    guild_of = dict(zip(genes["category"] + genes["genome_id"], genes["guild"], strict=True))
    for cat, carriers in CATEGORIES.items():
        gs = {guild_of[cat + f"G{i + 1:02d}"] for i in carriers}
        assert len(gs) == 1, cat
    assert {TAXA[i][6] for i in CATEGORIES["butyrate_scfa_production"]} == {"foundation"}
    assert {TAXA[i][6] for i in CATEGORIES["lps_biosynthesis"]} == {"pathobiont"}
    # same seed, same genes; a smaller community keeps the same sequences for its members
    again = plant_function_genes(3, tax, genomes)[2]
    assert again == proteins
    tax6, genomes6, _ = make_genomes(np.random.default_rng(3), 6)
    _, genes6, proteins6 = plant_function_genes(3, tax6, genomes6)
    assert set(genes6["genome_id"]) <= set(tax6["genome_id"])
    assert all(proteins6[p] == proteins[p] for p in proteins6)


def test_panel_files_are_checked_before_any_job(tmp_path):
    from icibiome.config import ConfigError, check_resources

    cfg = {"function_panel": {"activate": True, "proteins": "p.faa", "categories": "c.tsv"}}
    with pytest.raises(ConfigError) as exc:
        check_resources(cfg, base=tmp_path)
    assert f"key 'function_panel.proteins': not found: {tmp_path / 'p.faa'}" in str(exc.value)
    assert "key 'function_panel.categories': not found" in str(exc.value)
    (tmp_path / "p.faa").write_text(">P1\nMA\n")
    (tmp_path / "c.tsv").write_text("protein_id\tcategory\nP1\tx\n")
    assert set(check_resources(cfg, base=tmp_path)) == {
        "function_panel.proteins",
        "function_panel.categories",
    }
    cfg["function_panel"]["activate"] = False
    assert check_resources(cfg, base=tmp_path / "elsewhere") == {}
