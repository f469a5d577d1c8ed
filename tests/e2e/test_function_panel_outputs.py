"""End to end: the function panel on the basic case (8 demo samples x 5000 fragments).

DIAMOND blastx of the non-host reads against the demo's panel of planted function genes
(data/functions/). The tables must be complete and consistent with each other and with the hit
files (RPKM recomputed here from the raw hits), the report must carry the heatmap and the guild
table, and the planted roles must come back: the foundation categories (butyrate / SCFA,
complex carbohydrates) in the run's foundation guild, LPS and virulence in its pathobiont guild.
"""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from icibiome.functions.panel import best_hits, read_hits
from icibiome.signatures.stage import read_extra

pytestmark = pytest.mark.e2e

PANEL = "results/functions/panel"


@pytest.fixture(scope="module")
def run(basic_run):
    res = basic_run / PANEL
    return {
        "wd": basic_run,
        "cat": pd.read_csv(res / "category_rpkm.tsv", sep="\t", index_col="category"),
        "counts": pd.read_csv(res / "protein_counts.tsv", sep="\t", index_col="protein_id"),
        "guilds": pd.read_csv(res / "guild_functions.tsv", sep="\t"),
        "panel": pd.read_csv(basic_run / "data" / "functions" / "panel_categories.tsv", sep="\t"),
        "truth": pd.read_csv(basic_run / "data" / "truth" / "function_guilds.tsv", sep="\t"),
        "res": res,
    }


def test_category_table_complete(run):
    cat = run["cat"]
    stats = sorted(p.stem for p in (run["wd"] / "results" / "qc" / "stats").glob("*.json"))
    assert sorted(cat.columns) == stats and len(stats) == 8
    assert list(cat.index) == list(pd.unique(run["panel"]["category"]))
    assert (cat.to_numpy() >= 0).all() and np.isfinite(cat.to_numpy()).all()
    # every planted category is found in some sample; the guild categories in most samples
    assert (cat.sum(axis=1) > 0).all()
    for c in ("butyrate_scfa_production", "lps_biosynthesis", "virulence"):
        assert (cat.loc[c] > 0).sum() >= 4, c


def test_rpkm_recomputed_from_the_hit_files(run):
    lengths = {}
    name = None
    for line in (run["wd"] / "data" / "functions" / "panel.faa").read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            lengths[name] = 0
        else:
            lengths[name] += len(line)
    cat_of = run["panel"].set_index("protein_id")["category"]
    for sample in run["cat"].columns:
        best = best_hits(read_hits(run["res"] / "hits" / f"{sample}.tsv"))
        assert best.groupby(["mate", "qseqid"]).size().max() == 1
        assert set(best["mate"]) <= {1, 2}
        assert (best["evalue"] <= 1e-5).all()
        n = json.loads((run["wd"] / "results" / "qc" / "stats" / f"{sample}.json").read_text())
        per_protein = best["sseqid"].value_counts()
        assert (
            per_protein.reindex(run["counts"].index, fill_value=0).tolist()
            == run["counts"][sample].tolist()
        )
        rpk = per_protein / (3 * pd.Series(lengths).reindex(per_protein.index) / 1000)
        expected = rpk.groupby(cat_of.reindex(rpk.index)).sum() / (n["non_host"] / 1e6)
        got = run["cat"][sample]
        np.testing.assert_allclose(
            got.reindex(expected.index).to_numpy(), expected.to_numpy(), rtol=1e-4
        )
        assert (got.drop(expected.index) == 0).all()


def test_reads_hit_their_own_taxon(run):
    # demo read names start with the genome id: the best hit is that genome's protein
    hits = pd.concat([best_hits(read_hits(p)) for p in sorted((run["res"] / "hits").glob("*.tsv"))])
    own = hits["qseqid"].str[:3] == hits["sseqid"].str[:3]
    assert len(hits) > 300 and own.mean() > 0.98


def test_planted_categories_come_back_in_their_guilds(run):
    g = run["guilds"]
    assert {"category", "guild", "share", "mean_rpkm", "prevalence", "n_taxa"} <= set(g.columns)
    np.testing.assert_allclose(g.groupby("category")["share"].sum(), 1.0, rtol=1e-4)
    # share among the taxa the run put in a guild: with edges on BH q (issue 13) the 8-sample
    # basic case leaves one planted foundation member outside the guild modules ('unassigned',
    # ARI 0.86), so its reads are not a guild's; of what is assigned, the planted guild holds all
    assigned = g[g["guild"].isin(["foundation", "pathobiont"])].copy()
    assigned["share"] = assigned["share"] / assigned.groupby("category")["share"].transform("sum")
    top = assigned.sort_values("share", ascending=False).drop_duplicates("category")
    top = top.set_index("category")
    planted = run["truth"].set_index("category")["guild"]
    for c in ("butyrate_scfa_production", "complex_carbohydrate_degradation"):
        assert planted[c] == "foundation"
        assert top.loc[c, "guild"] == "foundation" and top.loc[c, "share"] > 0.9, c
    for c in ("lps_biosynthesis", "virulence", "antibiotic_resistance"):
        assert planted[c] == "pathobiont"
        assert top.loc[c, "guild"] == "pathobiont" and top.loc[c, "share"] > 0.9, c


def test_features_read_by_the_signatures_stage(run):
    extra = read_extra({"functions": run["res"] / "features.tsv"})
    assert list(extra.columns) == [f"fn_{c}" for c in run["cat"].index]
    assert sorted(extra.index) == sorted(run["cat"].columns)
    np.testing.assert_allclose(extra.to_numpy(), np.log10(run["cat"].T.to_numpy() + 1), rtol=1e-4)


def test_report_has_heatmap_and_guild_table(run):
    html = (run["wd"] / "results" / "report" / "multiqc_report.html").read_text()
    assert "icibiome_function_panel_heatmap" in html
    assert "icibiome_function_guilds" in html
    mqc = yaml.safe_load((run["res"] / "function_panel_mqc.yaml").read_text())
    assert mqc["plot_type"] == "heatmap"
    assert mqc["ycats"] == list(run["cat"].columns) and mqc["xcats"] == list(run["cat"].index)
    assert "log10(RPKM + 1)" in mqc["description"]
