"""Network edges called on BH q-values by default; raw p only when asked (issue 13, item 4)."""

from __future__ import annotations

import logging

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from icibiome.ecology import correlation as cr
from icibiome.ecology import network as nw
from icibiome.io import write_standard_table
from icibiome.signatures import differential as da
from icibiome.signatures import meta as mt

P_TAXA = 30  # 435 pairs


def _null_counts(seed: int, n: int = 40, p: int = P_TAXA) -> pd.DataFrame:
    """Independent taxa: every pair is a null pair."""
    rng = np.random.default_rng(seed)
    mean = rng.uniform(20, 400, p)
    c = rng.negative_binomial(3, 3 / (3 + mean), (n, p)).astype(float)
    return pd.DataFrame(c, columns=[f"s__N{i:02d}" for i in range(p)])


def test_null_data_q_edges_give_no_false_edges_where_raw_p_gives_some():
    false_p, false_q = [], []
    for seed in range(4):
        r, pv = cr.association(_null_counts(seed), method="spearman", permutations=999, seed=seed)
        res = {"all": (r, pv)}
        false_p.append(len(nw.stable_edges(res, alpha=0.01, min_abs_r=0.0, edge_test="p")))
        false_q.append(len(nw.stable_edges(res, alpha=0.05, min_abs_r=0.0)))  # default: q
    # 435 null pairs at p < 0.01: about 4.35 false edges per network (measured [3, 3, 5, 4],
    # the same with |r| >= 0.3); q < 0.05: [0, 0, 0, 0]
    assert sum(false_p) >= 8, false_p
    assert sum(false_q) == 0, false_q
    assert nw.expected_false_edges(435, 0.01) == pytest.approx(4.35)


def test_expected_false_edges_with_groups_matches_simulation():
    # 3 groups, an edge must be significant with one sign in >= 2 of them
    rng = np.random.default_rng(1)
    n_pairs, alpha, reps = 2000, 0.1, 50
    counts = []
    for _ in range(reps):
        p = rng.uniform(size=(3, n_pairs))
        s = np.where(rng.uniform(size=(3, n_pairs)) < 0.5, 1, -1)
        sig = p < alpha
        pos, neg = (sig & (s > 0)).sum(0), (sig & (s < 0)).sum(0)
        counts.append((((pos >= 2) & (neg == 0)) | ((neg >= 2) & (pos == 0))).sum())
    exp = nw.expected_false_edges(n_pairs, alpha, n_groups=3, min_groups=2)
    # by hand: 2 * n * [3 (0.05)^2 (0.9) + (0.05)^3] = 2 * 2000 * 0.006875 = 27.5
    assert exp == pytest.approx(27.5)
    assert np.mean(counts) == pytest.approx(exp, rel=0.1)


def test_edge_test_must_be_q_or_p():
    r, pv = cr.association(_null_counts(0, p=6), method="spearman", permutations=9, seed=0)
    with pytest.raises(ValueError, match="edge_test"):
        nw.stable_edges({"all": (r, pv)}, edge_test="raw")


def _write_tables(tmp_path, counts: pd.DataFrame) -> None:
    ids = [f"S{i:02d}" for i in range(len(counts))]
    mat = counts.to_numpy()
    rel = 100 * mat / mat.sum(axis=1, keepdims=True)
    for name, m in (("abundance", rel), ("counts", mat)):
        tab = pd.DataFrame(m.T, columns=ids)
        tab.insert(0, "lineage", ["k__B|" + t for t in counts.columns])
        tab.insert(0, "clade_name", list(counts.columns))
        write_standard_table(tab, tmp_path / f"{name}_species.tsv")
    pd.DataFrame({"sample_id": ids, "response": ""}).to_csv(tmp_path / "samples.tsv", sep="\t",
                                                             index=False)  # fmt: skip


def test_build_network_states_the_edge_call_and_expected_false_edges(tmp_path, caplog):
    _write_tables(tmp_path, _null_counts(2))
    args = (tmp_path / "abundance_species.tsv", tmp_path / "counts_species.tsv",
            tmp_path / "samples.tsv")  # fmt: skip
    kw = dict(method="spearman", permutations=999, min_prevalence=0.0, min_abs_r=0.0, seed=2)
    q_paths = nw.build_network(*args, tmp_path / "q", **kw)  # default: BH q < 0.05
    nodes = pd.read_csv(q_paths["nodes"], sep="\t")
    edges = pd.read_csv(q_paths["edges"], sep="\t")
    assert (nodes["edge_call"] == "BH q < 0.05").all()
    assert len(edges) == 0 and (nodes["expected_false_edges"] == 0).all()
    with caplog.at_level(logging.WARNING, logger="icibiome.ecology.network"):
        p_paths = nw.build_network(*args, tmp_path / "p", edge_test="p", alpha=0.01, **kw)
    nodes = pd.read_csv(p_paths["nodes"], sep="\t")
    edges = pd.read_csv(p_paths["edges"], sep="\t")
    assert (nodes["edge_call"] == "raw p < 0.01").all()
    assert_allclose(nodes["expected_false_edges"], 4.35)
    assert len(edges) > 0 and (edges["p_value"] < 0.01).all()  # false edges of the null data
    assert "RAW permutation p < 0.01" in caplog.text and "4.35" in caplog.text
    g = nx.read_graphml(p_paths["graphml"])
    assert g.graph["edge_test"] == "p" and float(g.graph["expected_false_edges"]) == 4.35
    with pytest.raises(ValueError, match="edge_test"):
        nw.build_network(*args, tmp_path / "x", edge_test="P", **kw)


def test_one_bh_in_the_library_and_it_is_scipys():
    assert nw.bh is da.bh and mt.bh is da.bh
    p = np.random.default_rng(0).uniform(size=60) ** 3
    p[[3, 10]] = p[5]  # ties
    assert_allclose(da.bh(p), stats.false_discovery_control(p, method="bh"))
    with_nan = np.concatenate([p, [np.nan, np.nan]])
    q = da.bh(with_nan)
    assert np.isnan(q[-2:]).all()
    assert_allclose(q[:-2], stats.false_discovery_control(p, method="bh"))  # NaN not counted
    assert da.bh([]).shape == (0,)
