"""Compositionally aware co-abundance networks: filters, stable edges across groups, nodes.

The pieces, in the order the pipeline uses them:

* :func:`filter_taxa` keeps taxa that are prevalent (in every group) and abundant enough and lumps
  the rest into one remainder component (:data:`OTHER`) so that the composition stays closed;
* :mod:`icibiome.ecology.correlation` estimates the association matrix (SparCC with FastSpar
  semantics, proportionality, Spearman on clr) with permutation p-values, one group at a time
  (:func:`~icibiome.ecology.correlation.association`);
* :func:`stable_edges` keeps the edges significant with the same sign in all (or at least
  ``min_groups``) groups, as in Wu et al. (2024);
* :func:`build_network` is the pipeline entry point (tables in, ``edges.tsv``, ``nodes.tsv`` and
  ``graph.graphml`` out).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from icibiome.ecology.correlation import association
from icibiome.ecology.settings import NetworkSettings
from icibiome.io import atomic_path, read_abundance, write_tsv
from icibiome.stats import bh

logger = logging.getLogger(__name__)

OTHER = "__other__"
"""Name of the remainder component that holds the filtered-out taxa."""

EDGE_COLUMNS = {
    "source": "taxon_a",
    "target": "taxon_b",
    "r": "weight",
    "p": "p_value",
    "q": "q_value",
}
"""Column names of ``edges.tsv`` (the pipeline's output contract) for :func:`stable_edges`'s."""
EDGE_TESTS = ("q", "p")
"""Edge calls on BH q-values (default) or on raw permutation p-values (Wu et al. 2024)."""


# --------------------------------------------------------------------------------------------
# filtering and inputs
# --------------------------------------------------------------------------------------------
def filter_taxa(
    counts: pd.DataFrame,
    *,
    min_prevalence: float = 0.1,
    min_abundance: float = 0.0,
    groups: pd.Series | None = None,
    relative: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Keep prevalent, abundant taxa; lump the others into one remainder column.

    Parameters
    ----------
    counts : DataFrame
        Samples x taxa, non-negative counts (or pseudo-counts).
    min_prevalence : float
        Minimum fraction of samples in which a taxon is present (count > 0). With ``groups`` the
        fraction must be reached in **every** group (Wu et al. 2024 keep genomes with prevalence
        > 75 % in each group, so that the nodes are the same in all groups).
    min_abundance : float
        Minimum mean relative abundance (a fraction, 0-1) over all samples.
    groups : Series, optional
        Group label per sample (index = sample ids of ``counts``).
    relative : DataFrame, optional
        Samples x taxa relative abundances used for ``min_abundance`` (default: the closure of
        ``counts``). Any scale works: each row is closed to 1 first.

    Returns
    -------
    DataFrame
        The kept taxa (original column order) plus, when anything was dropped, the column
        :data:`OTHER` holding the row sums of the dropped taxa. Row sums are unchanged, so the
        composition stays closed, as SparCC's log-ratio variances assume.

    Notes
    -----
    Lumping the rare taxa into one component follows the usual practice for SparCC/FastSpar
    inputs (docs/methods.md §9a): dropping them instead would change every sample's total and so the
    log-ratios of the kept taxa. The remainder takes part in the estimation but not in the
    network outputs.
    """
    if (counts.to_numpy() < 0).any():
        raise ValueError("counts must be non-negative")
    present = counts > 0
    if groups is None:
        prevalence = present.mean(axis=0)
    else:
        groups = groups.reindex(counts.index)
        prevalence = present.groupby(groups.to_numpy()).mean().min(axis=0)
    rel = (
        counts if relative is None else relative.reindex(index=counts.index, columns=counts.columns)
    )
    tot = rel.sum(axis=1).to_numpy()[:, None]
    frac = np.divide(rel.to_numpy(float), tot, out=np.zeros(rel.shape), where=tot > 0)
    mean_ab = pd.Series(frac.mean(axis=0), index=counts.columns)
    keep = (prevalence >= min_prevalence) & (mean_ab >= min_abundance)
    keep &= counts.columns != OTHER
    out = counts.loc[:, keep.to_numpy()].copy()
    dropped = counts.loc[:, ~keep.to_numpy()]
    if dropped.shape[1]:
        out[OTHER] = dropped.sum(axis=1)
    logger.info(
        "filter: %d of %d taxa kept (prevalence >= %g, mean abundance >= %g), %d lumped",
        int(keep.sum()), counts.shape[1], min_prevalence, min_abundance, dropped.shape[1],
    )  # fmt: skip
    return out


def relative_to_counts(
    relative: pd.DataFrame, scale: float = 36_000_000, min_fraction: float = 1e-5
) -> pd.DataFrame:
    """Pseudo-counts from relative abundances, as Wu et al. (2024) prepared FastSpar input.

    Parameters
    ----------
    relative : DataFrame
        Samples x taxa relative abundances (any scale; each row is closed to 1).
    scale : float
        Reads per sample implied by the pseudo-counts (Wu et al. used 36,000,000).
    min_fraction : float
        Fractions below this are set to 0 first (Wu et al.: 1e-5).

    Returns
    -------
    DataFrame
        Rounded pseudo-counts (float dtype), same shape as ``relative``.
    """
    x = relative.to_numpy(float)
    tot = x.sum(axis=1, keepdims=True)
    frac = np.divide(x, tot, out=np.zeros_like(x), where=tot > 0)
    frac[frac < min_fraction] = 0.0
    return pd.DataFrame(np.rint(frac * scale), index=relative.index, columns=relative.columns)


# --------------------------------------------------------------------------------------------
# many groups: stable edges
# --------------------------------------------------------------------------------------------
def stable_edges(
    results: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    *,
    alpha: float = 0.05,
    min_abs_r: float = 0.0,
    min_groups: int | None = None,
    edge_test: str = "q",
) -> pd.DataFrame:
    """Edges significant with the same sign in all groups, or in at least ``min_groups``.

    Parameters
    ----------
    results : dict
        Group name -> (r, p) matrices over the same components (from
        :func:`~icibiome.ecology.correlation.association`). The remainder :data:`OTHER` is never
        an edge end.
    alpha : float
        An edge is significant in a group when its ``edge_test`` statistic is ``< alpha`` and
        ``|r| >= min_abs_r``.
    min_abs_r : float
        Minimum absolute association.
    min_groups : int, optional
        Groups in which the edge must be significant with one sign (default: all groups, as
        Wu et al. 2024).
    edge_test : {"q", "p"}
        ``q``: the group's Benjamini-Hochberg q-value over all its pairs (false discovery rate
        <= ``alpha`` per group); ``p``: the raw permutation p-value, as Wu et al. (2024), which
        calls about ``alpha`` x pairs false edges per group on null data (see
        :func:`expected_false_edges`).

    Returns
    -------
    DataFrame
        ``source, target, r, p, q, sign, n_groups_supported`` and, with several groups,
        ``r_<group>, p_<group>`` per group. ``r`` is the mean over the supporting groups, ``p``
        the largest p among them and ``q`` the largest per-group Benjamini-Hochberg q-value
        (over all pairs of that group) among them.

    Notes
    -----
    Wu et al. (2024, Cell 187:6550; TCG code) call an edge stable when it is significant
    (FastSpar p < 0.001) with the same sign in every group (time point or condition). An edge
    significant with opposite signs in different groups is dropped whatever the counts.
    """
    names = list(results)
    if not names:
        raise ValueError("no groups")
    if edge_test not in EDGE_TESTS:
        raise ValueError(f"edge_test must be one of {EDGE_TESTS}, got {edge_test!r}")
    k = len(names) if min_groups is None else int(min_groups)
    if not 1 <= k <= len(names):
        raise ValueError(f"min_groups must be in 1..{len(names)}, got {min_groups}")
    taxa = [t for t in results[names[0]][0].index if t != OTHER]
    p = len(taxa)
    iu = np.triu_indices(p, 1)
    rs, ps, qs = [], [], []
    for g in names:
        r_g, p_g = results[g]
        rs.append(r_g.loc[taxa, taxa].to_numpy()[iu])
        pv = p_g.loc[taxa, taxa].to_numpy()[iu]
        ps.append(pv)
        qs.append(bh(pv))
    r, pv, q = np.array(rs), np.array(ps), np.array(qs)
    sig = ((q if edge_test == "q" else pv) < alpha) & (np.abs(r) >= min_abs_r)
    n_pos = (sig & (r > 0)).sum(axis=0)
    n_neg = (sig & (r < 0)).sum(axis=0)
    keep = ((n_pos >= k) & (n_neg == 0)) | ((n_neg >= k) & (n_pos == 0))
    sign = np.where(n_pos > 0, 1, -1)
    support = sig & (np.sign(r) == sign)
    w = support.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_mean = (r * w).sum(axis=0) / w.sum(axis=0)
    p_max = np.where(support, pv, -np.inf).max(axis=0)
    q_max = np.where(support, q, -np.inf).max(axis=0)
    sel = np.flatnonzero(keep)
    out = pd.DataFrame(
        {
            "source": np.asarray(taxa, dtype=object)[iu[0][sel]],
            "target": np.asarray(taxa, dtype=object)[iu[1][sel]],
            "r": r_mean[sel],
            "p": p_max[sel],
            "q": q_max[sel],
            "sign": sign[sel],
            "n_groups_supported": np.maximum(n_pos, n_neg)[sel],
        }
    )
    if len(names) > 1:
        for gi, g in enumerate(names):
            out[f"r_{g}"] = r[gi, sel]
            out[f"p_{g}"] = pv[gi, sel]
    return out.reset_index(drop=True)


def expected_false_edges(
    n_pairs: int, alpha: float, n_groups: int = 1, min_groups: int = 1
) -> float:
    """Expected number of false stable edges on null data when edges are called on raw p.

    Under the null every pair's permutation p-value is uniform, so in each group a pair is
    significant with a positive (negative) sign with probability ``alpha / 2`` each,
    independently across groups. A pair is a stable edge when it is significant with one sign
    in at least ``min_groups`` of ``n_groups`` groups and with the other sign in none:

    ``E = 2 n_pairs sum_{j >= min_groups} C(n_groups, j) (alpha/2)^j (1 - alpha)^(n_groups - j)``

    (one group: ``n_pairs * alpha``). The ``|r|`` filter can only remove some of them, so this
    is an upper bound for the run's false edges on null data.

    Examples
    --------
    >>> expected_false_edges(435, 0.01)
    4.35
    """
    from scipy.special import comb

    a = float(alpha)
    per = sum(
        comb(n_groups, j) * (a / 2) ** j * (1 - a) ** (n_groups - j)
        for j in range(int(min_groups), int(n_groups) + 1)
    )
    return float(round(n_pairs * 2 * per, 10))


# --------------------------------------------------------------------------------------------
# nodes and graph
# --------------------------------------------------------------------------------------------
def make_graph(edges: pd.DataFrame, nodes: Sequence[str]) -> nx.Graph:
    """Undirected networkx graph: all ``nodes``, edges with ``r``, ``sign``, ``weight = |r|``."""
    g = nx.Graph()
    g.add_nodes_from(nodes)
    for row in edges.itertuples(index=False):
        g.add_edge(row.source, row.target, r=float(row.r), sign=int(row.sign),
                   weight=abs(float(row.r)), p=float(row.p))  # fmt: skip
    return g


def node_table(
    edges: pd.DataFrame, counts: pd.DataFrame, relative: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per-node statistics of a signed network.

    Parameters
    ----------
    edges : DataFrame
        From :func:`stable_edges`.
    counts : DataFrame
        Samples x taxa used for the network (the remainder column is ignored).
    relative : DataFrame, optional
        Relative abundances for ``mean_abundance`` (default: closure of ``counts``).

    Returns
    -------
    DataFrame
        ``taxon, prevalence, mean_abundance`` (fraction), ``degree, degree_pos, degree_neg``,
        ``eigenvector_centrality`` (of the unweighted graph, per connected component scaled as
        networkx does for the whole graph), ``betweenness`` (normalised) and ``component``
        (1 = largest; isolated nodes get their own component numbers).

    Notes
    -----
    Degree, eigenvector and betweenness centrality as in NetCoMi's ``netAnalyze`` hub measures
    (Peschel et al. 2021), computed with networkx.
    """
    taxa = [t for t in counts.columns if t != OTHER]
    g = make_graph(edges, taxa)
    rel = counts if relative is None else relative
    rel = rel.reindex(index=counts.index, columns=counts.columns).fillna(0.0)
    tot = rel.sum(axis=1).to_numpy()[:, None]
    frac = np.divide(rel.to_numpy(float), tot, out=np.zeros(rel.shape), where=tot > 0)
    frac = pd.DataFrame(frac, index=rel.index, columns=rel.columns)[taxa]
    pos = nx.Graph([(u, v) for u, v, d in g.edges(data=True) if d["sign"] > 0])
    neg = nx.Graph([(u, v) for u, v, d in g.edges(data=True) if d["sign"] < 0])
    eig: dict[str, float] = {}
    comp: dict[str, int] = {}
    comps = sorted(nx.connected_components(g), key=lambda c: (-len(c), min(c)))
    for i, c in enumerate(comps, 1):
        for t in c:
            comp[t] = i
        if len(c) > 2:
            sub = g.subgraph(c)
            try:
                eig.update(nx.eigenvector_centrality_numpy(sub))
            except (nx.NetworkXException, np.linalg.LinAlgError, ArithmeticError):
                eig.update(dict.fromkeys(c, np.nan))
        else:
            eig.update(dict.fromkeys(c, 0.0 if len(c) == 1 else 1.0 / np.sqrt(2)))
    btw = nx.betweenness_centrality(g) if g.number_of_edges() else dict.fromkeys(taxa, 0.0)
    return pd.DataFrame(
        {
            "taxon": taxa,
            "prevalence": (counts[taxa] > 0).mean(axis=0).to_numpy(),
            "mean_abundance": frac.mean(axis=0).to_numpy(),
            "degree": [g.degree(t) for t in taxa],
            "degree_pos": [pos.degree(t) if t in pos else 0 for t in taxa],
            "degree_neg": [neg.degree(t) if t in neg else 0 for t in taxa],
            "eigenvector_centrality": [abs(eig[t]) for t in taxa],
            "betweenness": [btw[t] for t in taxa],
            "component": [comp[t] for t in taxa],
        }
    )


def write_graphml(g: nx.Graph, path: str | os.PathLike) -> None:
    """Write ``g`` as GraphML atomically (attribute values converted to GraphML-safe types)."""
    h = nx.Graph()
    h.graph.update({k: str(v) for k, v in g.graph.items()})
    for n, d in g.nodes(data=True):
        h.add_node(n, **{k: _safe(v) for k, v in d.items()})
    for u, v, d in g.edges(data=True):
        h.add_edge(u, v, **{k: _safe(x) for k, x in d.items()})
    with atomic_path(path) as tmp:
        nx.write_graphml(h, tmp)


def _safe(v):
    if isinstance(v, np.integer | bool | np.bool_):
        return int(v)
    if isinstance(v, np.floating | float):
        return float(v)
    return v if isinstance(v, int | str) else str(v)


# --------------------------------------------------------------------------------------------
# pipeline entry point
# --------------------------------------------------------------------------------------------
def read_samples(samples_tsv: str | os.PathLike) -> pd.DataFrame:
    """Read a sample sheet TSV (``sample_id`` plus e.g. ``cohort``, ``timepoint``, ``response``)."""
    df = pd.read_csv(samples_tsv, sep="\t", dtype=str, comment="#", keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    if "sample_id" not in df.columns:
        raise ValueError(f"{samples_tsv}: no sample_id column")
    df = df.apply(lambda s: s.str.strip())
    return df.set_index("sample_id")


def load_network_inputs(
    abundance_tsv: str | os.PathLike,
    counts_tsv: str | os.PathLike | None,
    samples_tsv: str | os.PathLike | None,
    *,
    pseudo_count_scale: float = 36_000_000,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read the standard tables and sample sheet; align samples and taxa.

    Returns ``(relative, counts, samples)``: samples x taxa relative abundances (percent, as in
    the table), counts (from ``counts_tsv`` without its ``UNCLASSIFIED`` row, or
    :func:`relative_to_counts` pseudo-counts when ``counts_tsv`` is None) and the sheet rows of
    the samples present in both (all table samples when no sheet is given). Samples with no
    counts at all are dropped with a warning.
    """
    rel = read_abundance(abundance_tsv)
    if counts_tsv is not None:
        counts = read_abundance(counts_tsv).reindex(columns=rel.columns, fill_value=0.0)
        counts = counts.reindex(index=rel.index).dropna(how="all").fillna(0.0)
    else:
        counts = relative_to_counts(rel, scale=pseudo_count_scale)
    if samples_tsv is not None:
        sheet = read_samples(samples_tsv)
        ids = [s for s in sheet.index if s in counts.index]
        missing = sorted(set(sheet.index) - set(counts.index))
        if missing:
            logger.warning("%d sample(s) of the sheet are not in the tables: %s", len(missing),
                           ", ".join(missing[:10]))  # fmt: skip
    else:
        ids = list(counts.index)
        sheet = pd.DataFrame(index=pd.Index(ids, name="sample_id"))
    empty = [s for s in ids if counts.loc[s].sum() <= 0]
    if empty:
        logger.warning("dropping %d sample(s) with no counts: %s", len(empty), ", ".join(empty))
    ids = [s for s in ids if s not in empty]
    return rel.loc[ids], counts.loc[ids], sheet.loc[ids]


def build_network(
    abundance_tsv: str | os.PathLike,
    counts_tsv: str | os.PathLike | None,
    samples_tsv: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    settings: NetworkSettings | None = None,
    pseudo_count_scale: float = 36_000_000,
    threads: int = 1,
    **overrides,
) -> dict[str, Path]:
    """Build the (stable) co-abundance network and write ``edges.tsv``, ``nodes.tsv``, ``graph.graphml``.

    Parameters
    ----------
    abundance_tsv : path-like
        Standard abundance table (percent; :func:`icibiome.io.read_abundance`); gives prevalence
        and mean abundance, and pseudo-counts when ``counts_tsv`` is None.
    counts_tsv : path-like or None
        Standard ``counts_<rank>.tsv`` (its ``UNCLASSIFIED`` row is ignored). SparCC wants counts:
        its Dirichlet draws use them as evidence.
    samples_tsv : path-like or None
        Sample sheet with ``sample_id`` and the ``group_column``; only its samples are used.
    out_dir : path-like
        Output folder (created).
    settings : NetworkSettings, optional
        The ``networks`` config section (:class:`icibiome.ecology.settings.NetworkSettings`,
        whose defaults are the schema's); ``overrides`` replace single fields (a name that is
        not a field is a TypeError). The fields:
    method : {"sparcc", "rho", "spearman"}
        Association measure: SparCC (FastSpar semantics), proportionality rho, or Spearman on
        clr (baseline).
    group_column : str, optional
        Sheet column defining groups (cohort, timepoint, response). One network per group and
        only edges stable across groups are kept. None: all samples are one group.
    min_prevalence : float
        Fraction of samples with the taxon present, required in every group (0.2; use 0.75 to
        mimic Wu et al.).
    min_abundance : float
        Minimum mean relative abundance as a fraction (1e-4, docs/methods.md §9a; 0 = no
        filter).
    iterations, exclusions, threshold, fastspar_threshold
        SparCC: Dirichlet draws (50), exclusion iterations (10), exclusion threshold (0.1) and
        FastSpar's integer truncation of it (False); see
        :func:`~icibiome.ecology.correlation.sparcc`.
    permutations : int
        Null resamples for p-values (1,000; 0 = no testing, every p = 1).
    perm_iterations : int
        SparCC iterations per null resample (5, as the FastSpar README).
    alpha : float
        With ``edge_test="p"``: edge if the raw ``p < alpha`` (0.001, as Wu et al. with
        B >= 1,000); unused with ``edge_test="q"``.
    min_abs_r : float
        And ``|r| >= min_abs_r`` (0.2, docs/methods.md §9a).
    min_groups : int, optional
        Edge kept when significant with the same sign in at least this many groups (default:
        all groups).
    edge_test : {"q", "p"}
        ``q`` (default): edge if the group's Benjamini-Hochberg ``q < fdr``; ``p``: edge if the
        raw permutation ``p < alpha``, whose expected number of false edges on null data
        (:func:`expected_false_edges`) is logged and written to ``nodes.tsv``.
    fdr : float
        q-value threshold with ``edge_test="q"`` (0.05).
    min_group_samples : int
        Groups with fewer samples are skipped with a warning (8); without ``group_column`` the
        whole run needs this many samples.
    pseudo_count_scale : float
        Reads per sample for pseudo-counts when ``counts_tsv`` is None (36e6 as Wu et al.).
    seed : int
        Seed; group ``g`` (sorted order) uses the stream spawned for it.
    threads : int
        Worker threads.

    Returns
    -------
    dict
        Paths of ``edges``, ``nodes`` and ``graphml``.

    Notes
    -----
    ``edges.tsv`` has one row per pair significant with one sign in at least one group:
    ``taxon_a, taxon_b, weight`` (r, mean over the supporting groups), ``p_value``, ``q_value``
    (largest over the supporting groups), ``sign``, ``stable`` (significant in at least
    ``min_groups`` groups; the network, ``nodes.tsv`` and the GraphML use only these),
    ``n_groups_supported`` and, with several groups, ``r_<group>, p_<group>``. Read it back with
    :func:`read_edges`. ``nodes.tsv`` ends with ``edge_call`` (e.g. ``BH q < 0.05`` or
    ``raw p < 0.001``) and ``expected_false_edges``: with raw p, the expected number of false
    stable edges if no pair were associated (:func:`expected_false_edges`); with q, the
    Benjamini-Hochberg bound ``fdr x stable edges``.

    Filtering and lumping: :func:`filter_taxa`. Estimation and p-values:
    :func:`~icibiome.ecology.correlation.association`. Stability across groups:
    :func:`stable_edges` (Wu et al. 2024). Node statistics: :func:`node_table`. The run's
    parameters are stored as GraphML graph attributes.
    """
    s = replace(settings or NetworkSettings(), **overrides)
    method, group_column, min_groups = s.method, s.group_column, s.min_groups
    min_prevalence, min_abundance = s.min_prevalence, s.min_abundance
    iterations, exclusions, threshold = s.iterations, s.exclusions, s.threshold
    fastspar_threshold, permutations, perm_iterations = (
        s.fastspar_threshold,
        s.permutations,
        s.perm_iterations,
    )
    alpha, edge_test, fdr, min_abs_r = s.alpha, s.edge_test, s.fdr, s.min_abs_r
    min_group_samples, seed = s.min_group_samples, s.seed
    out = Path(out_dir)
    rel, counts, sheet = load_network_inputs(
        abundance_tsv, counts_tsv, samples_tsv, pseudo_count_scale=pseudo_count_scale
    )
    if group_column:
        if group_column not in sheet.columns:
            raise ValueError(f"group column {group_column!r} not in the sample sheet")
        labels = sheet[group_column].replace("", np.nan).dropna()
        sizes = labels.value_counts()
        small = sorted(sizes.index[sizes < min_group_samples])
        if small:
            logger.warning("skipping group(s) with < %d samples: %s", min_group_samples, small)
        labels = labels[~labels.isin(small)]
    else:
        labels = pd.Series("all", index=counts.index)
        if len(labels) < min_group_samples:
            labels = labels.iloc[:0]
    if labels.empty:
        raise ValueError(
            f"no group has enough samples for a network (at least {min_group_samples}; "
            f"{len(counts)} samples with counts); turn the networks stage off for such a small run"
        )
    groups = sorted(labels.unique())
    counts = counts.loc[labels.index]
    rel = rel.loc[labels.index]
    filt = filter_taxa(counts, min_prevalence=min_prevalence, min_abundance=min_abundance,
                       groups=labels if group_column else None, relative=rel)  # fmt: skip
    kept = [t for t in filt.columns if t != OTHER]
    if len(kept) < 3 or filt.shape[1] < 4:
        raise ValueError(f"only {len(kept)} taxa pass the filters; too few for a network")
    seeds = np.random.SeedSequence(seed).spawn(len(groups))
    results = {}
    for g, ss in zip(groups, seeds, strict=True):
        sub = filt.loc[labels.index[labels == g]]
        logger.info("%s: group %s, %d samples x %d components", method, g, *sub.shape)
        results[g] = association(
            sub, method=method, iterations=iterations, exclusions=exclusions,
            threshold=threshold, fastspar_threshold=fastspar_threshold,
            permutations=permutations, perm_iterations=perm_iterations,
            seed=int(ss.generate_state(1)[0]), threads=threads,
        )  # fmt: skip
    # every edge significant with one sign in >= 1 group; `stable` marks those in >= min_groups
    # (rows and values of the stable ones are exactly stable_edges(..., min_groups=min_groups))
    if edge_test not in EDGE_TESTS:
        raise ValueError(f"networks.edge_test must be one of {EDGE_TESTS}, got {edge_test!r}")
    cut = fdr if edge_test == "q" else alpha
    every = stable_edges(results, alpha=cut, min_abs_r=min_abs_r, min_groups=1,
                         edge_test=edge_test)  # fmt: skip
    k_groups = min_groups or len(groups)
    every.insert(6, "stable", every["n_groups_supported"] >= k_groups)
    edges = every[every["stable"]].drop(columns="stable").reset_index(drop=True)
    relf = rel.reindex(columns=filt.columns, fill_value=0.0)
    nodes = node_table(edges, filt, relative=relf)
    n_pairs = len(kept) * (len(kept) - 1) // 2
    if edge_test == "p":
        call = f"raw p < {alpha:g}"
        expected = expected_false_edges(n_pairs, alpha, len(groups), k_groups)
        logger.warning(
            "networks: edges called on RAW permutation p < %g (networks.edge_test: p), not on "
            "q-values: with %d pairs, %d group(s) and min_groups %d, about %.2f of the stable "
            "edges are expected to be false even if no taxa were associated",
            alpha, n_pairs, len(groups), k_groups, expected,
        )  # fmt: skip
    else:
        call = f"BH q < {fdr:g}"
        expected = fdr * len(edges)
        if permutations > 0 and n_pairs / (permutations + 1) >= fdr:
            logger.warning(
                "networks: %d permutations for %d pairs: a pair reaches BH q < %g only when at "
                "least %d pairs have the smallest p-value 1/%d; for single edges raise "
                "networks.permutations to >= %d (or call edges on raw p: networks.edge_test p)",
                permutations, n_pairs, fdr, int(np.ceil(n_pairs / (fdr * (permutations + 1)))),
                permutations + 1, int(np.ceil(n_pairs / fdr)),
            )  # fmt: skip
        logger.info("networks: edges called on Benjamini-Hochberg q < %g per group (%d pairs)",
                    fdr, n_pairs)  # fmt: skip
    nodes["edge_call"] = call
    nodes["expected_false_edges"] = expected
    paths = {
        "edges": out / "edges.tsv",
        "nodes": out / "nodes.tsv",
        "graphml": out / "graph.graphml",
    }
    write_tsv(every.rename(columns=EDGE_COLUMNS), paths["edges"], float_format="%.6g")
    write_tsv(nodes, paths["nodes"], float_format="%.6g")
    g = make_graph(edges, kept)
    for row in nodes.itertuples(index=False):
        g.nodes[row.taxon].update(row._asdict())
    g.graph.update(
        method=method, groups=",".join(map(str, groups)), group_column=group_column or "",
        min_prevalence=min_prevalence, min_abundance=min_abundance, iterations=iterations,
        exclusions=exclusions, threshold=threshold, fastspar_threshold=fastspar_threshold,
        permutations=permutations, perm_iterations=perm_iterations, alpha=alpha,
        edge_test=edge_test, fdr=fdr, edge_call=call, expected_false_edges=expected,
        min_abs_r=min_abs_r, min_groups=min_groups or len(groups), seed=seed,
        n_samples=len(labels),
    )  # fmt: skip
    write_graphml(g, paths["graphml"])
    logger.info("network: %d nodes, %d stable edges (%d positive; %d significant in some group) "
                "-> %s", len(kept), len(edges), int((edges["sign"] > 0).sum()), len(every),
                out)  # fmt: skip
    return paths


def read_edges(path: str | os.PathLike, stable_only: bool = True) -> pd.DataFrame:
    """Read an ``edges.tsv`` of :func:`build_network` back into :func:`stable_edges` form.

    Returns ``source, target, r, p, q, sign, ...`` (the file's ``taxon_a, taxon_b, weight,
    p_value, q_value`` renamed back); with ``stable_only`` only the rows with ``stable`` true.
    """
    e = pd.read_csv(path, sep="\t", dtype={"taxon_a": str, "taxon_b": str})
    e = e.rename(columns={v: k for k, v in EDGE_COLUMNS.items()})
    if stable_only and "stable" in e.columns:
        e = e[e["stable"].astype(str).str.lower().isin(["true", "1"])]
    return e.drop(columns="stable", errors="ignore").reset_index(drop=True)
