"""Guilds from a signed co-abundance network (Wu et al. 2024 style) and per-sample guild scores.

* :func:`detect_modules` clusters the signed network (distance ``1 - A``, average linkage, dynamic
  tree cut, :func:`icibiome.ecology.treecut.cutree_hybrid`, a port of R
  ``dynamicTreeCut::cutreeHybrid``; or Leiden on the positive subgraph);
* :func:`module_pairs`, :func:`competing_pair` and :func:`orient_pair` find the two competing
  guilds (positive inside, negative between) and decide which is the foundation guild;
* :func:`guild_scores` gives per-sample guild abundance, prevalence, ILR balance and a
  TOPOSCORE-style count score;
* :func:`build_guilds` is the pipeline entry point; the figure and the report section are
  :mod:`icibiome.ecology.guild_report` (:func:`~icibiome.ecology.guild_report.plot_network`,
  :func:`~icibiome.ecology.guild_report.write_guilds_mqc`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.ecology.correlation import multi_replace
from icibiome.ecology.guild_report import plot_network, write_guilds_mqc
from icibiome.ecology.network import read_edges, read_samples
from icibiome.ecology.treecut import cutree_hybrid
from icibiome.io import UNCLASSIFIED, read_abundance, read_lineages, write_tsv

logger = logging.getLogger(__name__)

BENEFICIAL_CATEGORIES = ("scfa", "butyrate", "propionate", "fibre", "fiber", "saccharolytic")
"""Function categories that mark a foundation-guild member (case-insensitive substrings)."""

SCFA_GENERA = (
    "Faecalibacterium", "Roseburia", "Agathobacter", "Eubacterium", "Anaerostipes",
    "Butyrivibrio", "Coprococcus", "Anaerobutyricum", "Butyricicoccus", "Subdoligranulum",
    "Ruminococcus", "Lachnospira", "Oscillibacter", "Odoribacter", "Butyricimonas",
    "Bifidobacterium", "Akkermansia", "Gemmiger",
)  # fmt: skip
"""Genera of known fibre fermenters / SCFA (butyrate, propionate, acetate) producers: the label-
free evidence for the foundation guild (Wu et al. 2024, Cell 187:6550: the foundation guild of
fibre fermenters / SCFA producers; GOMS, Thomas et al. 2023 Nat Rev Clin Oncol, favourable taxa).
A taxon counts when its genus (``g__`` rank of a lineage, else the first word of the species
name) is in the list."""


# --------------------------------------------------------------------------------------------
# modules and guilds
# --------------------------------------------------------------------------------------------
def signed_adjacency(edges: pd.DataFrame, taxa: list[str]) -> pd.DataFrame:
    """Signed adjacency A (+1 positive edge, -1 negative edge, 0 none) over ``taxa``."""
    pos = {t: i for i, t in enumerate(taxa)}
    a = np.zeros((len(taxa), len(taxa)))
    sel = edges["source"].isin(pos) & edges["target"].isin(pos)
    i = edges.loc[sel, "source"].map(pos).to_numpy(int)
    j = edges.loc[sel, "target"].map(pos).to_numpy(int)
    s = np.sign(edges.loc[sel, "sign"].to_numpy(float))
    a[i, j] = s
    a[j, i] = s
    return pd.DataFrame(a, index=taxa, columns=taxa)


def _components(edges: pd.DataFrame, taxa: list[str]) -> list[list[str]]:
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(taxa)
    g.add_edges_from(zip(edges["source"], edges["target"], strict=True))
    comps = sorted(nx.connected_components(g), key=lambda c: (-len(c), min(c)))
    return [sorted(c, key=taxa.index) for c in comps]


def detect_modules(
    edges: pd.DataFrame,
    taxa: list[str],
    *,
    method: str = "treecut",
    min_cluster_size: int = 10,
    deep_split: int = 1,
    component: str = "largest",
    resolution: float = 1.0,
    seed: int = 1,
) -> pd.Series:
    """Modules of a signed network (Wu et al. 2024): tree cut on ``1 - A``, or Leiden.

    Parameters
    ----------
    edges : DataFrame
        ``source, target, sign`` (from :func:`icibiome.ecology.network.stable_edges`).
    taxa : list of str
        All nodes.
    method : {"treecut", "leiden"}
        ``treecut``: distance ``D = 1 - A`` (0 positive edge, 1 none, 2 negative edge), average
        linkage (scipy), :func:`~icibiome.ecology.treecut.cutree_hybrid` with ``deep_split`` and
        ``min_cluster_size``.
        ``leiden``: Leiden (leidenalg, modularity, ``resolution``) on the positive-edge
        subgraph; communities smaller than ``min_cluster_size`` are left unassigned.
    min_cluster_size : int
        Smallest module (R's ``minClusterSize``; 20 in R, 10 suits networks of ~100 nodes).
    deep_split : int
        Tree-cut sensitivity (R default 1).
    component : {"largest", "all"}
        Cluster the largest connected component only (as Wu et al.), or every component with at
        least ``2 * min_cluster_size`` nodes.
    resolution : float
        Leiden resolution.
    seed : int
        Leiden seed.

    Returns
    -------
    Series
        Module number per taxon (1, 2, ... numbered by size over the whole network; 0 = none).

    References
    ----------
    Wu G et al. (2024) Cell 187:6550. Traag VA, Waltman L, van Eck NJ (2019) Sci Rep 9:5233.
    """
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    if method not in ("treecut", "leiden"):
        raise ValueError(f"method must be treecut or leiden, got {method!r}")
    comps = _components(edges, taxa)
    if component == "largest":
        comps = comps[:1]
    elif component == "all":
        comps = [c for c in comps if len(c) >= 2 * min_cluster_size] or comps[:1]
    else:
        raise ValueError(f"component must be largest or all, got {component!r}")
    labels = pd.Series(0, index=taxa, dtype=int)
    found: list[list[str]] = []
    for comp in comps:
        if len(comp) < 2:
            continue
        sub = edges[edges["source"].isin(comp) & edges["target"].isin(comp)]
        if method == "treecut":
            a = signed_adjacency(sub, comp).to_numpy()
            d = 1.0 - a
            np.fill_diagonal(d, 0.0)
            z = linkage(squareform(d, checks=False), method="average")
            lab = cutree_hybrid(z, d, min_cluster_size=min_cluster_size, deep_split=deep_split)
            found += [[t for t, v in zip(comp, lab, strict=True) if v == k]
                      for k in range(1, lab.max() + 1)]  # fmt: skip
        else:
            import igraph as ig
            import leidenalg

            pos = sub[sub["sign"] > 0]
            g = ig.Graph()
            g.add_vertices(comp)
            g.add_edges(list(zip(pos["source"], pos["target"], strict=True)))
            part = leidenalg.find_partition(g, leidenalg.RBConfigurationVertexPartition,
                                            resolution_parameter=resolution, seed=seed)  # fmt: skip
            found += [[comp[i] for i in c] for c in part if len(c) >= min_cluster_size]
    found.sort(key=lambda c: (-len(c), taxa.index(c[0])))
    for k, members in enumerate(found, 1):
        labels[members] = k
    return labels.rename("module")


def module_pairs(edges: pd.DataFrame, modules: pd.Series) -> pd.DataFrame:
    """Edge counts and densities within and between every pair of modules.

    Returns one row per pair ``module_a < module_b``: sizes, positive edge density inside each,
    and the number and density of negative and positive edges between them.
    """
    mods = sorted(m for m in modules.unique() if m > 0)
    a = signed_adjacency(edges, list(modules.index)).to_numpy()
    idx = {m: np.flatnonzero(modules.to_numpy() == m) for m in mods}

    def inside(m: int) -> float:
        k = len(idx[m])
        blk = a[np.ix_(idx[m], idx[m])]
        return float((blk > 0).sum() / (k * (k - 1))) if k > 1 else 0.0

    rows = []
    for i, ma in enumerate(mods):
        for mb in mods[i + 1 :]:
            blk = a[np.ix_(idx[ma], idx[mb])]
            n_pairs = blk.size
            rows.append({
                "module_a": ma, "module_b": mb, "size_a": len(idx[ma]), "size_b": len(idx[mb]),
                "pos_density_a": inside(ma), "pos_density_b": inside(mb),
                "neg_between": int((blk < 0).sum()), "pos_between": int((blk > 0).sum()),
                "neg_density_between": float((blk < 0).sum() / n_pairs),
            })  # fmt: skip
    cols = ["module_a", "module_b", "size_a", "size_b", "pos_density_a", "pos_density_b",
            "neg_between", "pos_between", "neg_density_between"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def competing_pair(pairs: pd.DataFrame) -> tuple[int, int] | None:
    """The competing pair: most negative edges between, more negative than positive between.

    Ties go to the higher negative density, then to the lower module numbers. None when no pair
    of modules has more negative than positive edges between them (docs/methods.md §9b).
    """
    ok = pairs[(pairs["neg_between"] > 0) & (pairs["neg_between"] > pairs["pos_between"])]
    if ok.empty:
        return None
    best = ok.sort_values(["neg_between", "neg_density_between", "module_a", "module_b"],
                          ascending=[False, False, True, True], kind="stable").iloc[0]  # fmt: skip
    return int(best["module_a"]), int(best["module_b"])


def responder_effect(
    relative: pd.DataFrame, response: pd.Series, responder: str = "R"
) -> pd.Series:
    """Per-taxon clr mean difference, responders minus non-responders (after multi_replace)."""
    resp = response.reindex(relative.index)
    ok = resp.isin([responder]) | (resp.notna() & (resp != "") & (resp != responder))
    x = relative.loc[ok]
    x = x[x.sum(axis=1) > 0]
    lx = np.log(multi_replace(x.to_numpy(float)))
    z = pd.DataFrame(lx - lx.mean(axis=1, keepdims=True), index=x.index, columns=x.columns)
    is_r = (resp.loc[x.index] == responder).to_numpy()
    if is_r.all() or not is_r.any():
        return pd.Series(np.nan, index=relative.columns)
    return z[is_r].mean() - z[~is_r].mean()


def genus_of(taxon: str) -> str:
    """The genus of a profile taxon name (``g__`` of a lineage, else the species' first word).

    Examples
    --------
    >>> genus_of("k__Bacteria|g__Roseburia|s__Roseburia_hominis"), genus_of("s__Roseburia_hominis")
    ('Roseburia', 'Roseburia')
    """
    t = str(taxon)
    for part in t.split("|"):
        if part.startswith("g__"):
            return part[3:].split("_")[0]
    last = t.split("|")[-1]
    for pre in ("s__", "t__"):
        last = last.removeprefix(pre)
    return last.replace(" ", "_").split("_")[0]


def orient_pair(
    members_a: list[str],
    members_b: list[str],
    *,
    foundation_taxa: Iterable[str] | None = None,
    pathobiont_taxa: Iterable[str] | None = None,
    functions: pd.Series | None = None,
    scfa_genera: Iterable[str] | None = SCFA_GENERA,
    prevalence: pd.Series | None = None,
    effect: pd.Series | None = None,
) -> tuple[bool, str]:
    """Decide whether guild A (else B) is the foundation guild, without response labels.

    Evidence is used in this order, the first that separates the two guilds wins:

    1. a user list (``foundation_taxa`` / ``pathobiont_taxa``): the guild with the larger
       fraction of listed foundation members minus listed pathobiont members;
    2. function categories (``functions``: taxon -> category text): the guild with the larger
       fraction of members in a :data:`BENEFICIAL_CATEGORIES` category (SCFA, butyrate, fibre);
    3. known SCFA producers (``scfa_genera``, default :data:`SCFA_GENERA`): the guild with the
       larger fraction of members of those genera (rule ``scfa_genera``);
    4. prevalence (``prevalence``: taxon -> fraction of samples present, the network's node
       table): the guild with the higher mean member prevalence (rule ``prevalence``; Wu et al.
       found the foundation guild to be the stable, core one);
    5. ``effect`` (taxon -> any per-taxon score, e.g. a *known* latent factor in a simulation):
       the guild with the higher mean. The pipeline never passes the response labels being
       evaluated here: orienting by responder association made the in-sample guild-balance
       AUC with random labels 0.559 on average (> 0.5 in 91 % of runs).

    Returns
    -------
    (bool, str)
        True when A is the foundation guild, and the rule used (``list``, ``function``,
        ``scfa_genera``, ``prevalence``, ``effect`` or ``none``: no evidence, A is called
        foundation arbitrarily).

    Notes
    -----
    Wu et al. (2024, Cell 187:6550) name the guild of fibre fermenters / SCFA producers the
    foundation guild (docs/methods.md §9b); GOMS and TOPOSCORE SIG2 are annotation priors
    that can be given as the user list.
    """
    if foundation_taxa is not None or pathobiont_taxa is not None:
        fset, pset = set(foundation_taxa or ()), set(pathobiont_taxa or ())

        def lscore(m: list[str]) -> float:
            return (sum(t in fset for t in m) - sum(t in pset for t in m)) / len(m)

        sa, sb = lscore(members_a), lscore(members_b)
        if sa != sb:
            return sa > sb, "list"
    if functions is not None:
        cat = functions.astype(str).str.lower()
        good = cat.apply(lambda s: any(k in s for k in BENEFICIAL_CATEGORIES))

        def fscore(m: list[str]) -> float:
            return float(good.reindex(m).astype("boolean").fillna(False).astype(bool).mean())

        sa, sb = fscore(members_a), fscore(members_b)
        if sa != sb:
            return sa > sb, "function"
    if scfa_genera is not None:
        gset = set(scfa_genera)

        def gscore(m: list[str]) -> float:
            return float(np.mean([genus_of(t) in gset for t in m]))

        sa, sb = gscore(members_a), gscore(members_b)
        if sa != sb:
            return sa > sb, "scfa_genera"
    if prevalence is not None:
        pa, pb = prevalence.reindex(members_a).mean(), prevalence.reindex(members_b).mean()
        if np.isfinite(pa) and np.isfinite(pb) and pa != pb:
            return bool(pa > pb), "prevalence"
    if effect is not None:
        ea, eb = effect.reindex(members_a).mean(), effect.reindex(members_b).mean()
        if np.isfinite(ea) and np.isfinite(eb) and ea != eb:
            return bool(ea > eb), "effect"
    return True, "none"


def guild_scores(
    relative: pd.DataFrame, foundation: list[str], pathobiont: list[str]
) -> pd.DataFrame:
    """Per-sample scores of two competing guilds.

    Parameters
    ----------
    relative : DataFrame
        Samples x taxa relative abundances (percent or fractions; all taxa of the profile).
    foundation, pathobiont : list of str
        Members of the two guilds (G+ and G-).

    Returns
    -------
    DataFrame
        Index ``sample_id``; ``abund_foundation``, ``abund_pathobiont`` (summed relative
        abundance, in the table's unit), ``prev_foundation``, ``prev_pathobiont`` (fraction of
        members present), ``guild_balance`` (ILR coordinate; higher = foundation-rich) and
        ``count_score``.

    Notes
    -----
    ``guild_balance = sqrt(r s / (r + s)) * (mean ln x_G+ - mean ln x_G-)`` with ``r = |G+|``,
    ``s = |G-|``, on compositions after multiplicative zero replacement: the ILR balance between
    the two groups of parts (Egozcue & Pawlowsky-Glahn 2005), as the balances of Björk et al.
    (2024). ``count_score = (n+/|G+| - n-/|G-| + 1) / 2`` with ``n`` the members present, the
    TOPOSCORE S-score formula (Derosa et al. 2024) applied to the two guilds; it lies in [0, 1].
    Samples with an empty profile get NaN balances.

    References
    ----------
    Egozcue JJ, Pawlowsky-Glahn V (2005) Math Geol 37:795. Björk JR et al. (2024) Nat Med
    30:785. Derosa L et al. (2024) Cell 187:3373.
    """
    if not foundation or not pathobiont:
        raise ValueError("both guilds need members")
    x = relative.reindex(columns=list(relative.columns) + [t for t in foundation + pathobiont
                                                            if t not in relative.columns],
                         fill_value=0.0).fillna(0.0)  # fmt: skip
    fp, pp = x[foundation], x[pathobiont]
    out = pd.DataFrame(index=x.index.rename("sample_id"))
    out["abund_foundation"] = fp.sum(axis=1)
    out["abund_pathobiont"] = pp.sum(axis=1)
    out["prev_foundation"] = (fp > 0).mean(axis=1)
    out["prev_pathobiont"] = (pp > 0).mean(axis=1)
    bal = np.full(len(x), np.nan)
    ok = (x.sum(axis=1) > 0).to_numpy()
    if ok.any():
        lx = np.log(multi_replace(x.loc[ok].to_numpy(float)))
        cols = {t: i for i, t in enumerate(x.columns)}
        r, s = len(foundation), len(pathobiont)
        gp = lx[:, [cols[t] for t in foundation]].mean(axis=1)
        gm = lx[:, [cols[t] for t in pathobiont]].mean(axis=1)
        bal[ok] = np.sqrt(r * s / (r + s)) * (gp - gm)
    out["guild_balance"] = bal
    out["count_score"] = (out["prev_foundation"] - out["prev_pathobiont"] + 1) / 2
    return out


# --------------------------------------------------------------------------------------------
# pipeline entry point
# --------------------------------------------------------------------------------------------
def _read_list(path: str | os.PathLike | None) -> tuple[list[str] | None, list[str] | None]:
    if path is None:
        return None, None
    df = pd.read_csv(path, sep="\t", dtype=str, comment="#")
    if not {"taxon", "role"} <= set(df.columns):
        raise ValueError(f"{path}: needs columns taxon, role (foundation|pathobiont)")
    role = df["role"].str.strip().str.lower()
    return list(df.loc[role == "foundation", "taxon"]), list(df.loc[role == "pathobiont", "taxon"])


def assign_guilds(
    edges: pd.DataFrame,
    taxa: list[str],
    *,
    method: str = "treecut",
    min_cluster_size: int = 10,
    deep_split: int = 1,
    component: str = "largest",
    seed: int = 1,
    foundation_taxa: Iterable[str] | None = None,
    pathobiont_taxa: Iterable[str] | None = None,
    functions: pd.Series | None = None,
    scfa_genera: Iterable[str] | None = SCFA_GENERA,
    prevalence: pd.Series | None = None,
    effect: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Modules, the competing pair and its orientation in one call.

    Returns ``(membership, pairs, rule)``: membership has ``taxon, module, guild`` (guild =
    ``foundation``, ``pathobiont``, ``module_<k>`` or ``unassigned``); ``pairs`` is
    :func:`module_pairs`; ``rule`` the orientation rule (:func:`orient_pair`) or ``no_pair``.
    """
    modules = detect_modules(edges, taxa, method=method, min_cluster_size=min_cluster_size,
                             deep_split=deep_split, component=component, seed=seed)  # fmt: skip
    pairs = module_pairs(edges, modules)
    guild = modules.map(lambda m: f"module_{m}" if m > 0 else "unassigned")
    pair = competing_pair(pairs) if len(pairs) else None
    rule = "no_pair"
    if pair is not None:
        ma, mb = pair
        a = list(modules.index[modules == ma])
        b = list(modules.index[modules == mb])
        a_first, rule = orient_pair(a, b, foundation_taxa=foundation_taxa,
                                    pathobiont_taxa=pathobiont_taxa, functions=functions,
                                    scfa_genera=scfa_genera, prevalence=prevalence,
                                    effect=effect)  # fmt: skip
        fnd, pth = (a, b) if a_first else (b, a)
        guild[fnd] = "foundation"
        guild[pth] = "pathobiont"
        logger.info("competing pair: modules %d and %d (%d and %d taxa); orientation by %s",
                    ma, mb, len(a), len(b), rule)  # fmt: skip
    else:
        logger.warning("no pair of modules with more negative than positive edges between them")
    membership = pd.DataFrame({"taxon": taxa, "module": modules.to_numpy(),
                               "guild": guild.to_numpy()})  # fmt: skip
    return membership, pairs, rule


def guild_table(
    membership: pd.DataFrame, lineages: pd.Series, nodes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per taxon of the profile: ``clade_name, lineage, guild, module, in_network``.

    ``membership`` comes from :func:`assign_guilds` (network taxa only); taxa of the profile that
    did not pass the network filters get guild ``filtered`` and module 0. ``nodes`` (optional,
    :func:`icibiome.ecology.network.node_table`) adds ``degree``, ``prevalence`` and ``mean_abundance``.
    Rows: the network taxa in profile order, then the filtered ones.
    """
    mem = membership.set_index("taxon")
    order = [t for t in lineages.index if t in mem.index]
    order += [t for t in mem.index if t not in lineages.index]
    order += [t for t in lineages.index if t not in mem.index]
    out = pd.DataFrame({"clade_name": order})
    out["lineage"] = lineages.reindex(order).fillna("").to_numpy()
    out["guild"] = mem["guild"].reindex(order).fillna("filtered").to_numpy()
    out["module"] = mem["module"].reindex(order).fillna(0).astype(int).to_numpy()
    out["in_network"] = np.isin(order, mem.index)
    if "orientation_rule" in mem.columns:
        out["orientation_rule"] = mem["orientation_rule"].reindex(order).fillna("").to_numpy()
    if nodes is not None:
        nd = nodes.set_index("taxon")
        for c in ("degree", "prevalence", "mean_abundance"):
            if c in nd.columns:
                out[c] = nd[c].reindex(order).to_numpy()
    return out


def build_guilds(
    network_dir: str | os.PathLike,
    abundance_tsv: str | os.PathLike,
    samples_tsv: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    method: str = "treecut",
    min_cluster_size: int = 10,
    deep_split: int = 1,
    component: str = "largest",
    annotation_tsv: str | os.PathLike | None = None,
    functions_tsv: str | os.PathLike | None = None,
    response_column: str = "response",
    responder: str = "R",
    seed: int = 1,
    label: str = "",
) -> dict[str, Path]:
    """Detect guilds on a network from :func:`icibiome.ecology.network.build_network` and score samples.

    Parameters
    ----------
    network_dir : path-like
        Folder with ``edges.tsv`` (only its ``stable`` edges are used) and ``nodes.tsv``.
    abundance_tsv : path-like
        Standard abundance table (percent) for the scores and the lineages.
    samples_tsv : path-like or None
        Sample sheet: only its samples are scored; its ``response_column`` is shown in the
        report's box plots but never orients the guilds (:func:`orient_pair`: user list,
        functions, known SCFA-producer genera, then member prevalence; all label-free).
    out_dir : path-like
        Output folder: ``guilds.tsv`` (:func:`guild_table`, one row per taxon of the profile),
        ``guild_pairs.tsv``, ``guild_scores.tsv`` (:func:`guild_scores`, one row per sample of
        the table; NaN when no competing pair was found), ``nodes.tsv`` (network nodes +
        ``module``, ``guild``), ``network.png`` and the MultiQC files of
        :func:`~icibiome.ecology.guild_report.write_guilds_mqc`.
    method : {"treecut", "leiden"}
        Module detection (:func:`detect_modules`).
    min_cluster_size : int
        Smallest module (10; R's default is 20).
    deep_split : int
        Tree-cut sensitivity 0-4 (1, R's default).
    component : {"largest", "all"}
        Which connected components are clustered (largest, as Wu et al.).
    annotation_tsv : path-like, optional
        User list: TSV with ``taxon`` and ``role`` (``foundation`` / ``pathobiont``).
    functions_tsv : path-like, optional
        TSV with ``taxon`` and ``category`` (e.g. ``butyrate producer``); see
        :data:`BENEFICIAL_CATEGORIES`.
    response_column, responder : str
        Sheet column and value of responders (report only).
    seed : int
        Seed of Leiden and of the figure layout.
    label : str
        Shown in the report's section names, e.g. ``"sylph, species"``.

    Returns
    -------
    dict
        Paths written.
    """
    out = Path(out_dir)
    net = Path(network_dir)
    edges = read_edges(net / "edges.tsv")
    nodes = pd.read_csv(net / "nodes.tsv", sep="\t", dtype={"taxon": str})
    taxa = list(nodes["taxon"])
    lineages = read_lineages(abundance_tsv).drop(index=UNCLASSIFIED, errors="ignore")
    rel = read_abundance(abundance_tsv)
    response = None
    if samples_tsv is not None:
        sheet = read_samples(samples_tsv)
        rel = rel.loc[[s for s in sheet.index if s in rel.index]]
        if response_column in sheet.columns:
            response = sheet[response_column]  # shown in the report only, never orients
    prevalence = (nodes.set_index("taxon")["prevalence"] if "prevalence" in nodes.columns
                  else (rel > 0).mean())  # fmt: skip
    f_list, p_list = _read_list(annotation_tsv)
    functions = None
    if functions_tsv is not None:
        fdf = pd.read_csv(functions_tsv, sep="\t", dtype=str, comment="#")
        functions = fdf.groupby("taxon")["category"].agg(";".join)
    membership, pairs, rule = assign_guilds(
        edges, taxa, method=method, min_cluster_size=min_cluster_size, deep_split=deep_split,
        component=component, seed=seed, foundation_taxa=f_list, pathobiont_taxa=p_list,
        functions=functions, prevalence=prevalence,
    )  # fmt: skip
    membership["orientation_rule"] = rule
    nodes_out = nodes.merge(membership[["taxon", "module", "guild"]], on="taxon", how="left")
    guilds = guild_table(membership, lineages, nodes)
    paths = {k: out / f"{k}.tsv" for k in ("guilds", "guild_pairs", "guild_scores", "nodes")}
    paths["figure"] = out / "network.png"
    write_tsv(guilds, paths["guilds"], float_format="%.6g")
    write_tsv(pairs, paths["guild_pairs"], float_format="%.6g")
    write_tsv(nodes_out, paths["nodes"], float_format="%.6g")
    fnd = list(membership.loc[membership["guild"] == "foundation", "taxon"])
    pth = list(membership.loc[membership["guild"] == "pathobiont", "taxon"])
    if fnd and pth:
        scores = guild_scores(rel, fnd, pth)
    else:
        scores = pd.DataFrame(np.nan, index=rel.index.rename("sample_id"), dtype=float,
                              columns=["abund_foundation", "abund_pathobiont", "prev_foundation",
                                       "prev_pathobiont", "guild_balance", "count_score"])  # fmt: skip
    write_tsv(scores.reset_index(), paths["guild_scores"], float_format="%.6g")
    plot_network(edges, membership, paths["figure"], seed=seed,
                 title=f"Co-abundance network: {len(fnd)} foundation, {len(pth)} pathobiont")  # fmt: skip
    for p in write_guilds_mqc(guilds, scores, response, paths["figure"], out, label, rule):
        paths[p.name.removesuffix(p.suffix)] = p
    logger.info("guilds: %d foundation, %d pathobiont taxa (%s); %d samples scored -> %s",
                len(fnd), len(pth), rule, len(scores), out)  # fmt: skip
    return paths
