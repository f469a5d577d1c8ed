"""SparCC (FastSpar semantics), proportionality, Spearman-on-clr, p-values, filters, stable edges."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from icibiome.ecology import correlation as cr
from icibiome.ecology import network as nw
from icibiome.io import write_standard_table


def _counts(seed: int = 0, n: int = 40, p: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).negative_binomial(2, 0.02, (n, p)).astype(float)


# ---------------------------------------------------------------- hand-worked small cases
def test_basis_variance_solve_by_hand():
    """D = 4, variation matrix known: M w = t solved by hand, then rho from the SparCC formula."""
    # log-fractions of 3 samples x 4 components chosen so that T is simple
    logx = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [2.0, 2.0, 0.0, 1.0]])
    # var (ddof=1) of differences: T01 = 0, T02 = T03 = ... computed by hand
    d = logx[:, :, None] - logx[:, None, :]
    t_mat = d.var(axis=0, ddof=1)
    assert_allclose(t_mat[0, 1], 0.0)
    assert_allclose(t_mat[0, 2], 1.0)  # 0,1,2 -> var 1
    assert_allclose(t_mat[2, 3], 1.0 / 3.0)  # 0,0,-1 -> var 1/3
    # M = (D-2) I + 1 1^T = 2 I + J; t = row sums of T
    m = 2 * np.eye(4) + np.ones((4, 4))
    w_hand = np.linalg.solve(m, t_mat.sum(axis=1))
    w_hand[w_hand <= 0] = cr.BASIS_VARIANCE_FLOOR
    rho_hand = np.clip(
        (w_hand[:, None] + w_hand[None] - t_mat) / (2 * np.sqrt(np.outer(w_hand, w_hand))), -1, 1
    )
    np.fill_diagonal(rho_hand, 1)
    got = cr._sparcc_kernel(logx[None], exclusions=0, threshold=0.1, out_upper=False)[0]
    assert_allclose(got, rho_hand, atol=1e-12)
    # closed-form inverse used by the kernel: M^-1 = (I - J / (2D - 2)) / (D - 2)
    assert_allclose(np.linalg.inv(m), (np.eye(4) - np.ones((4, 4)) / 6) / 2, atol=1e-15)


def test_one_exclusion_by_hand():
    """After excluding the strongest pair, M loses 1 at ii, jj, ij, ji and T_ij leaves the sums."""
    rng = np.random.default_rng(3)
    logx = rng.normal(size=(30, 6))
    logx[:, 1] = logx[:, 0] + 0.05 * rng.normal(size=30)  # 0 and 1 nearly proportional
    t_mat = (logx[:, :, None] - logx[:, None, :]).var(axis=0, ddof=1)
    m = 4 * np.eye(6) + np.ones((6, 6))
    m[0, 0] -= 1
    m[1, 1] -= 1
    m[0, 1] -= 1
    m[1, 0] -= 1
    t_mod = t_mat.copy()
    t_mod[0, 1] = t_mod[1, 0] = 0
    w = np.linalg.solve(m, t_mod.sum(axis=1))
    rho = (w[:, None] + w[None] - t_mat) / (2 * np.sqrt(np.outer(w, w)))
    np.fill_diagonal(rho, 1)
    got = cr._sparcc_kernel(logx[None], exclusions=1, threshold=0.1, out_upper=False)[0]
    assert_allclose(got, np.clip(rho, -1, 1), atol=1e-10)


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.3, 0.9])
@pytest.mark.parametrize("exclusions", [0, 1, 4, 10])
def test_vectorised_equals_fastspar_loop(threshold, exclusions):
    """The batched Woodbury kernel equals a per-iteration FastSpar-structured loop."""
    x = _counts(seed=exclusions, p=9)
    a = cr.sparcc(x, iterations=6, exclusions=exclusions, threshold=threshold, seed=7)
    b = cr.sparcc_reference(x, iterations=6, exclusions=exclusions, threshold=threshold, seed=7)
    assert_allclose(a, b, atol=1e-10)


def test_fastspar_threshold_truncation():
    """fastspar_threshold=True behaves as threshold 0 (FastSpar's unsigned int), default does not."""
    x = _counts(seed=2, p=10)
    trunc = cr.sparcc(x, iterations=5, threshold=0.1, fastspar_threshold=True, seed=1)
    zero = cr.sparcc(x, iterations=5, threshold=0.0, seed=1)
    real = cr.sparcc(x, iterations=5, threshold=0.1, seed=1)
    high = cr.sparcc(x, iterations=5, threshold=1.0, seed=1)
    assert_array_equal(trunc, zero)
    none = cr.sparcc(x, iterations=5, exclusions=0, seed=1)
    assert_array_equal(high, none)  # nothing exceeds 1: no exclusion
    assert not np.allclose(real, none)


def test_recovers_planted_correlations():
    """Large counts from a log-normal basis: SparCC is close to the basis correlations."""
    rng = np.random.default_rng(11)
    n, p = 400, 30
    cov = np.eye(p)
    cov[0, 1] = cov[1, 0] = 0.8
    cov[2, 3] = cov[3, 2] = -0.7
    logb = rng.multivariate_normal(np.zeros(p), cov, size=n)
    frac = np.exp(logb) / np.exp(logb).sum(axis=1, keepdims=True)
    counts = np.rint(frac * 1e6)
    r = cr.sparcc(counts, iterations=20, seed=1)
    assert r[0, 1] > 0.65 and r[2, 3] < -0.55
    mask = np.triu(np.ones((p, p), dtype=bool), 1)
    mask[0, 1] = mask[2, 3] = False  # the two planted pairs
    assert np.median(np.abs(r[mask])) < 0.1
    # the clr-Spearman baseline sees the same planted pairs
    s = cr.spearman_clr(counts)
    assert s[0, 1] > 0.6 and s[2, 3] < -0.5


def test_zero_heavy_input_has_no_nan():
    rng = np.random.default_rng(5)
    x = rng.poisson(0.3, (25, 12)).astype(float)
    x[:, 3] = 0  # an all-zero component
    x[0] = 0  # an all-zero sample
    r = cr.sparcc(x, iterations=10, seed=1)
    assert np.isfinite(r).all()
    for f in (cr.proportionality, cr.spearman_clr):
        assert np.isfinite(f(x + (x.sum(axis=1, keepdims=True) == 0))).all()


def test_float32_draws_with_huge_counts_are_finite():
    """Zeros next to 36e6 pseudo-counts: float32 fractions would underflow; logs must not."""
    x = np.zeros((50, 30))
    x[:, 0] = 3.6e7
    x[::2, 1] = 5
    for seed in range(5):
        lx = cr._log_dirichlet(x, np.random.default_rng(seed), np.float32)
        assert np.isfinite(lx).all()


def test_errors():
    with pytest.raises(ValueError, match="at least 4"):
        cr.sparcc(np.ones((5, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        cr.sparcc(np.ones((1, 5)))
    with pytest.raises(ValueError, match="non-negative"):
        cr.sparcc(-np.ones((5, 5)))


def test_deterministic_and_thread_independent():
    x = _counts(seed=9, p=12)
    a = cr.sparcc(x, iterations=9, seed=4)
    assert_array_equal(a, cr.sparcc(x, iterations=9, seed=4))
    assert_array_equal(a, cr.sparcc(x, iterations=9, seed=4, threads=2))
    assert not np.array_equal(a, cr.sparcc(x, iterations=9, seed=5))
    old = cr._BATCH_ELEMENTS
    try:
        cr._BATCH_ELEMENTS = 1  # one iteration per batch
        assert_array_equal(a, cr.sparcc(x, iterations=9, seed=4))
    finally:
        cr._BATCH_ELEMENTS = old


# ---------------------------------------------------------------- properties (hypothesis)
count_tables = arrays(
    np.int64,
    st.tuples(st.integers(5, 14), st.integers(4, 9)),
    elements=st.integers(0, 500),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=count_tables, seed=st.integers(0, 2**16))
def test_sparcc_properties(x, seed):
    """Symmetric, unit diagonal, in [-1, 1], invariant to sample order."""
    x = x.astype(float)
    r = cr.sparcc(x, iterations=4, exclusions=3, seed=seed)
    assert np.isfinite(r).all()
    assert_allclose(r, r.T, atol=1e-12)
    assert_allclose(np.diag(r), 1.0)
    assert (np.abs(r) <= 1 + 1e-12).all()


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(5, 30), p=st.integers(8, 14), seed=st.integers(0, 2**16),
    spread=st.floats(0.05, 5.0), exclusions=st.integers(0, 3),
)  # fmt: skip
def test_sparcc_core_sample_order_and_scaling(n, p, seed, spread, exclusions):
    """The deterministic core (given log-fractions) ignores sample order and per-sample scaling."""
    rng = np.random.default_rng(seed)
    logx = rng.normal(0, spread, (n, p))
    k1 = cr._sparcc_kernel(logx[None], exclusions, 0.1, out_upper=False)[0]
    perm = rng.permutation(n)
    k2 = cr._sparcc_kernel(logx[perm][None], exclusions, 0.1, out_upper=False)[0]
    shift = rng.normal(0, 3, (n, 1))  # log of a per-sample scale factor
    k3 = cr._sparcc_kernel((logx + shift)[None], exclusions, 0.1, out_upper=False)[0]
    assert_allclose(k1, k2, atol=1e-8)
    assert_allclose(k1, k3, atol=1e-8)
    assert_allclose(k1, k1.T, atol=1e-12)
    assert_allclose(np.diag(k1), 1.0)


@settings(max_examples=25, deadline=None)
@given(x=count_tables, scale=st.floats(0.01, 100.0), seed=st.integers(0, 2**16))
def test_per_sample_scaling_invariance(x, scale, seed):
    """rho and Spearman on clr ignore per-sample scaling of the counts."""
    x = x.astype(float) + 1.0
    s = np.random.default_rng(seed).uniform(0.1, 10, (x.shape[0], 1)) * scale
    assert_allclose(cr.proportionality(x), cr.proportionality(x * s), atol=1e-9)
    assert_allclose(cr.spearman_clr(x), cr.spearman_clr(x * s), atol=1e-9)


def test_sparcc_sample_order_with_same_draws():
    """Full sparcc: permuting samples and their streams together gives the same matrix."""
    x = _counts(seed=1, n=20, p=7)
    perm = np.random.default_rng(0).permutation(20)
    # with very large counts the Dirichlet draw is nearly the observed fractions
    big = x * 1e6 + 1e6
    a = cr.sparcc(big, iterations=3, seed=2)
    b = cr.sparcc(big[perm], iterations=3, seed=2)
    assert_allclose(a, b, atol=2e-3)


# ---------------------------------------------------------------- rho, spearman, multi_replace
def test_multi_replace_matches_skbio():
    from skbio.stats.composition import multi_replace as sk

    x = np.array([[0.0, 2, 3, 5], [1, 1, 0, 0], [4, 3, 2, 1]])
    assert_allclose(cr.multi_replace(x), sk(x))


def test_proportionality_by_hand():
    x = np.array([[1.0, 2, 4, 8], [2, 4, 1, 3], [4, 8, 2, 1], [3, 6, 5, 2]])
    z = np.log(x) - np.log(x).mean(axis=1, keepdims=True)
    i, j = 0, 2
    expect = 1 - np.var(z[:, i] - z[:, j], ddof=1) / (
        np.var(z[:, i], ddof=1) + np.var(z[:, j], ddof=1)
    )
    r = cr.proportionality(x)
    assert_allclose(r[i, j], expect)
    assert_allclose(r[0, 1], 1.0)  # column 1 = 2 x column 0: perfectly proportional


def test_spearman_matches_scipy():
    from scipy.stats import spearmanr

    x = _counts(seed=4, n=30, p=6) + 1
    z = cr.clr(x)
    assert_allclose(cr.spearman_clr(x), spearmanr(z).statistic, atol=1e-12)


# ---------------------------------------------------------------- permutation p-values
def test_column_resample_keeps_columns():
    x = np.arange(20.0).reshape(5, 4)
    res = cr.column_resample(x, np.random.default_rng(0), size=3)
    assert res.shape == (3, 5, 4)
    for j in range(4):
        assert set(res[:, :, j].ravel()) <= set(x[:, j])


@pytest.mark.parametrize("method", ["sparcc", "rho", "spearman"])
def test_pvalues_range_and_power(method):
    rng = np.random.default_rng(2)
    n, p = 60, 10
    logb = rng.normal(size=(n, p))
    logb[:, 1] = logb[:, 0] + 0.2 * rng.normal(size=n)
    counts = np.rint(np.exp(logb) / np.exp(logb).sum(axis=1, keepdims=True) * 1e5)
    obs = {"sparcc": lambda c: cr.sparcc(c, iterations=10, seed=1), "rho": cr.proportionality,
           "spearman": cr.spearman_clr}[method](counts)  # fmt: skip
    b = 99
    pv = cr.permutation_pvalues(
        counts, obs, method=method, permutations=b, perm_iterations=3, seed=3
    )
    off = pv[np.triu_indices(p, 1)]
    assert (off >= 1 / (b + 1) - 1e-12).all() and (off <= 1).all()
    assert_allclose(off * (b + 1), np.rint(off * (b + 1)))  # (count + 1) / (B + 1)
    assert pv[0, 1] == pytest.approx(1 / (b + 1))  # planted pair beats every null resample
    assert np.median(off) > 0.2  # the others look null
    again = cr.permutation_pvalues(counts, obs, method=method, permutations=b, perm_iterations=3,
                                   seed=3, threads=2)  # fmt: skip
    assert_array_equal(pv, again)


def test_pvalues_uniform_under_null():
    """Independent components: p-values roughly uniform (fraction below 0.1 near 0.1)."""
    rng = np.random.default_rng(8)
    counts = rng.poisson(rng.gamma(2, 50, (1, 15)), (80, 15)).astype(float)
    obs = cr.proportionality(counts)
    pv = cr.permutation_pvalues(counts, obs, method="rho", permutations=199, seed=1)
    off = pv[np.triu_indices(15, 1)]
    assert 0.02 < (off < 0.1).mean() < 0.25


def test_bh_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(0).uniform(size=50) ** 2
    assert_allclose(nw.bh(p), multipletests(p, method="fdr_bh")[1])


# ---------------------------------------------------------------- filters and stable edges
def test_filter_lumps_into_remainder():
    c = pd.DataFrame({"a": [5, 0, 3, 1], "b": [0, 0, 0, 7], "c": [2, 2, 2, 2], "d": [1, 1, 0, 0]},
                     index=list("wxyz"), dtype=float)  # fmt: skip
    f = nw.filter_taxa(c, min_prevalence=0.6)
    assert list(f.columns) == ["a", "c", nw.OTHER]
    assert_allclose(f.sum(axis=1), c.sum(axis=1))  # closed
    assert_allclose(f[nw.OTHER], c["b"] + c["d"])
    g = pd.Series(["g1", "g1", "g2", "g2"], index=c.index)
    f2 = nw.filter_taxa(c, min_prevalence=0.5, groups=g)  # d absent in g2, b absent in g1
    assert list(f2.columns) == ["a", "c", nw.OTHER]
    f3 = nw.filter_taxa(c, min_prevalence=0.0, min_abundance=0.2)
    assert "c" in f3.columns and "d" not in f3.columns


def _mat(vals: dict, taxa: list[str], diag: float, base: float = 0.0) -> pd.DataFrame:
    m = pd.DataFrame(np.full((len(taxa), len(taxa)), base), index=taxa, columns=taxa)
    for (a, b), v in vals.items():
        m.loc[a, b] = m.loc[b, a] = v
    np.fill_diagonal(m.values, diag)
    return m


def test_stable_edges_rules():
    taxa = ["a", "b", "c", "d", nw.OTHER]
    r1 = _mat(
        {("a", "b"): 0.6, ("a", "c"): -0.5, ("b", "c"): 0.4, ("c", "d"): 0.5, ("a", nw.OTHER): 0.9},
        taxa,
        1,
    )
    r2 = _mat({("a", "b"): 0.5, ("a", "c"): -0.6, ("b", "c"): -0.4, ("c", "d"): 0.1}, taxa, 1)
    sig = {
        ("a", "b"): 1e-3,
        ("a", "c"): 1e-3,
        ("b", "c"): 1e-3,
        ("c", "d"): 1e-3,
        ("a", nw.OTHER): 1e-3,
    }
    p1 = _mat(sig, taxa, 0.0, base=0.5)
    p2 = p1.copy()
    res = {"T0": (r1, p1), "T3": (r2, p2)}
    e = nw.stable_edges(res, alpha=0.01, min_abs_r=0.2)
    got = {(s, t): sg for s, t, sg in zip(e.source, e.target, e.sign, strict=True)}
    assert got == {("a", "b"): 1, ("a", "c"): -1}  # b-c flips sign; c-d too weak in T3; OTHER never
    assert_allclose(e.set_index(["source", "target"]).loc[("a", "b"), "r"], 0.55)
    assert set(e.columns) >= {"r_T0", "p_T3", "q", "n_groups_supported"}
    e1 = nw.stable_edges(res, alpha=0.01, min_abs_r=0.2, min_groups=1)
    got1 = {(s, t) for s, t in zip(e1.source, e1.target, strict=True)}
    assert got1 == {
        ("a", "b"),
        ("a", "c"),
        ("c", "d"),
    }  # b-c: significant with both signs -> dropped
    with pytest.raises(ValueError):
        nw.stable_edges(res, min_groups=3)


def test_build_network_end_to_end(tmp_path):
    """Standard tables + sheet -> edges/nodes/graphml; two time points give stable edges.

    Raw p (edge_test="p"): with 99 permutations and 435 pairs no BH q-value can go below 0.05
    for two planted pairs (q >= 435 / (2 * 100)); the default q call is tested in
    test_network_fdr.py.
    """
    rng = np.random.default_rng(4)
    n, p = 40, 30
    taxa = [f"s__T{i:02d}" for i in range(p)]
    logb = rng.normal(size=(2 * n, p))
    logb[:, 1] = logb[:, 0] + 0.3 * rng.normal(size=2 * n)
    logb[:, 3] = -logb[:, 2] + 0.3 * rng.normal(size=2 * n)
    counts = np.rint(np.exp(logb) / np.exp(logb).sum(axis=1, keepdims=True) * 5e4)
    counts[:, 10:][rng.random((2 * n, p - 10)) < 0.05] = 0  # zeros away from the planted pairs
    ids = [f"S{i:02d}" for i in range(2 * n)]
    rel = 100 * counts / counts.sum(axis=1, keepdims=True)
    for name, mat in (("abundance", rel), ("counts", counts)):
        tab = pd.DataFrame(mat.T, columns=ids)
        tab.insert(0, "lineage", ["k__B|" + t for t in taxa])
        tab.insert(0, "clade_name", taxa)
        write_standard_table(tab, tmp_path / f"{name}_species.tsv")
    sheet = pd.DataFrame({"sample_id": ids, "cohort": "C1", "timepoint": ["V0"] * n + ["V3"] * n,
                          "response": ""})  # fmt: skip
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    paths = nw.build_network(tmp_path / "abundance_species.tsv", tmp_path / "counts_species.tsv",
                             tmp_path / "samples.tsv", tmp_path / "net", group_column="timepoint",
                             iterations=10, permutations=99, perm_iterations=3, alpha=0.02,
                             edge_test="p", min_abs_r=0.3, seed=1)  # fmt: skip
    raw = pd.read_csv(paths["edges"], sep="\t")
    assert list(raw.columns[:7]) == ["taxon_a", "taxon_b", "weight", "p_value", "q_value", "sign",
                                     "stable"]  # fmt: skip
    assert (raw.loc[raw.stable, "n_groups_supported"] == 2).all()
    assert (raw.loc[~raw.stable, "n_groups_supported"] == 1).all()
    e = nw.read_edges(paths["edges"])  # the stable edges, in stable_edges' column names
    assert len(e) == raw.stable.sum()
    pairs = {frozenset((s, t)): sg for s, t, sg in zip(e.source, e.target, e.sign, strict=True)}
    assert pairs.get(frozenset(("s__T00", "s__T01"))) == 1
    assert pairs.get(frozenset(("s__T02", "s__T03"))) == -1
    assert (e.n_groups_supported == 2).all() and {"r_V0", "r_V3"} <= set(e.columns)
    nodes = pd.read_csv(paths["nodes"], sep="\t")
    assert sorted(nodes.taxon) == taxa
    assert {"prevalence", "degree", "eigenvector_centrality", "component"} <= set(nodes.columns)
    assert_allclose(
        nodes.set_index("taxon").loc["s__T00", "degree"],
        (e[["source", "target"]] == "s__T00").sum().sum(),
    )
    g = nx.read_graphml(paths["graphml"])
    assert g.number_of_edges() == len(e) and g.graph["method"] == "sparcc"
    # deterministic
    again = nw.build_network(tmp_path / "abundance_species.tsv", tmp_path / "counts_species.tsv",
                             tmp_path / "samples.tsv", tmp_path / "net2", group_column="timepoint",
                             iterations=10, permutations=99, perm_iterations=3, alpha=0.02,
                             edge_test="p", min_abs_r=0.3, seed=1)  # fmt: skip
    assert paths["edges"].read_bytes() == again["edges"].read_bytes()
