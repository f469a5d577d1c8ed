"""End to end: the networks and guilds stage on the basic case (8 demo samples, sylph tables).

Eight samples are far too few to recover the planted guilds (that is checked on 60 samples in
tests/unit/test_guilds.py and tests/integration/test_networks_pipeline.py); here the outputs must
be well-formed, consistent with the abundance table they came from, and in the report.
"""

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import E2E_SAMPLES

from icibiome.io import read_abundance, read_standard_table

pytestmark = pytest.mark.e2e

PROFILER = "sylph"  # networks.profiler is null in the basic config: the first profiler


@pytest.fixture(scope="module")
def run(basic_run):
    cfg = yaml.safe_load((basic_run / "config" / "config.yaml").read_text())
    res = basic_run / "results"
    return {
        "cfg": cfg,
        "net": res / "networks" / PROFILER,
        "guilds": res / "guilds" / PROFILER,
        "table": read_standard_table(res / "taxonomy" / PROFILER / "abundance_species.tsv"),
        "abundance": read_abundance(res / "taxonomy" / PROFILER / "abundance_species.tsv"),
        "report": res / "report" / "multiqc_report.html",
    }


def test_edges_are_well_formed(run):
    e = pd.read_csv(run["net"] / "edges.tsv", sep="\t")
    assert list(e.columns[:8]) == ["taxon_a", "taxon_b", "weight", "p_value", "q_value", "sign",
                                   "stable", "n_groups_supported"]  # fmt: skip
    taxa = set(run["abundance"].columns)
    assert set(e["taxon_a"]) | set(e["taxon_b"]) <= taxa
    assert (e["taxon_a"] != e["taxon_b"]).all()
    pairs = {frozenset(p) for p in zip(e["taxon_a"], e["taxon_b"], strict=True)}
    assert len(pairs) == len(e)  # each pair once
    cfg = run["cfg"]["networks"]
    assert (e["weight"].abs() <= 1).all() and (e["weight"].abs() >= cfg["min_abs_r"]).all()
    p_min = 1 / (cfg["permutations"] + 1) * (1 - 1e-5)  # p = (b + 1) / (B + 1), written %.6g
    assert (e["p_value"] < cfg["alpha"]).all() and (e["p_value"] >= p_min).all()
    assert (e["q_value"] >= e["p_value"] - 1e-9).all()
    assert (np.sign(e["weight"]) == e["sign"]).all()
    assert e["stable"].all()  # one group: every significant edge is stable
    assert len(e) > 0


def test_nodes_and_graph_agree_with_edges(run):
    nodes = pd.read_csv(run["net"] / "nodes.tsv", sep="\t")
    e = pd.read_csv(run["net"] / "edges.tsv", sep="\t")
    ab = run["abundance"]
    # the nodes are the taxa passing the prevalence filter of the config
    prev = (ab > 0).mean()
    expect = set(prev.index[(prev >= run["cfg"]["networks"]["min_prevalence"])])
    assert set(nodes["taxon"]) <= expect and len(nodes) >= 3
    ends = pd.concat([e["taxon_a"], e["taxon_b"]]).value_counts()
    deg = nodes.set_index("taxon")["degree"]
    assert (deg == ends.reindex(deg.index).fillna(0).astype(int)).all()
    g = nx.read_graphml(run["net"] / "graph.graphml")
    assert g.number_of_nodes() == len(nodes) and g.number_of_edges() == len(e)


def test_guilds_one_row_per_taxon_of_the_profile(run):
    gt = pd.read_csv(run["guilds"] / "guilds.tsv", sep="\t")
    assert list(gt.columns[:4]) == ["clade_name", "lineage", "guild", "module"]
    table = run["table"].drop(index="UNCLASSIFIED", errors="ignore")
    assert sorted(gt["clade_name"]) == sorted(table.index)
    assert (gt.set_index("clade_name").loc[table.index, "lineage"] == table["lineage"]).all()
    nodes = set(pd.read_csv(run["net"] / "nodes.tsv", sep="\t")["taxon"])
    assert set(gt.loc[gt["in_network"], "clade_name"]) == nodes
    assert (gt.loc[~gt["in_network"], "guild"] == "filtered").all()
    ok = gt["guild"].isin(["foundation", "pathobiont", "unassigned", "filtered"])
    ok |= gt["guild"].str.fullmatch(r"module_\d+")
    assert ok.all(), gt["guild"].unique()
    assert ((gt["module"] == 0) == gt["guild"].isin(["unassigned", "filtered"])).all()
    # the competing pair comes as a pair
    assert ("foundation" in set(gt["guild"])) == ("pathobiont" in set(gt["guild"]))


def test_scores_for_every_sample_consistent_with_the_table(run):
    sc = pd.read_csv(run["guilds"] / "guild_scores.tsv", sep="\t").set_index("sample_id")
    ab = run["abundance"]
    assert sorted(sc.index) == sorted(ab.index)  # every sample that passed QC
    assert {"guild_balance", "count_score", "abund_foundation", "abund_pathobiont"} <= set(sc)
    gt = pd.read_csv(run["guilds"] / "guilds.tsv", sep="\t")
    fnd = list(gt.loc[gt["guild"] == "foundation", "clade_name"])
    pth = list(gt.loc[gt["guild"] == "pathobiont", "clade_name"])
    if E2E_SAMPLES == 8 and run["cfg"]["networks"]["method"] == "rho":
        assert fnd and pth  # measured on this demo: both guilds, ARI 0.863 to the planted ones
    if not fnd:
        assert sc.isna().all().all()  # no competing pair: no scores, never made-up ones
        return
    np.testing.assert_allclose(sc["abund_foundation"], ab.loc[sc.index, fnd].sum(axis=1), atol=1e-4)
    np.testing.assert_allclose(sc["abund_pathobiont"], ab.loc[sc.index, pth].sum(axis=1), atol=1e-4)
    assert sc["guild_balance"].notna().all()
    assert sc["count_score"].between(0, 1).all()
    # higher balance = relatively more foundation than pathobiont
    lr = np.log(ab.loc[sc.index, fnd] + 1e-3).mean(axis=1) - np.log(
        ab.loc[sc.index, pth] + 1e-3
    ).mean(axis=1)
    assert lr.corr(sc["guild_balance"], method="spearman") > 0.8


def test_report_has_the_networks_section(run):
    html = run["report"].read_text()
    assert f"Networks and guilds ({PROFILER}, species)" in html
    for part in ("membership", "scores", "network"):
        assert f"icibiome_guilds_{part}_{PROFILER}_species" in html, part
    assert (run["guilds"] / "network.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
