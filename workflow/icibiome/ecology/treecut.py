"""Dynamic tree cut, hybrid method: a port of R ``dynamicTreeCut::cutreeHybrid``.

:func:`cutree_hybrid` is the ``hybrid`` method of ``cutreeDynamic`` with its defaults (the
module detection of :func:`icibiome.ecology.guilds.detect_modules`; Langfelder P, Zhang B,
Horvath S (2008) Bioinformatics 24:719).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

logger = logging.getLogger(__name__)

_DEF_MCS = np.array([0.64, 0.73, 0.82, 0.91, 0.95])  # dynamicTreeCut maxCoreScatter per deepSplit


# --------------------------------------------------------------------------------------------
# dynamic tree cut (hybrid)
# --------------------------------------------------------------------------------------------
def _r_merge(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy linkage -> R ``hclust`` ``merge`` (1-based, negative = leaf) and ``height``.

    Within a row R puts a leaf before a cluster, and the smaller index first otherwise (hcass2).
    """
    n = z.shape[0] + 1
    merge = np.zeros((n - 1, 2), dtype=int)
    for i, (a, b) in enumerate(z[:, :2].astype(int)):
        ra = -(a + 1) if a < n else a - n + 1
        rb = -(b + 1) if b < n else b - n + 1
        if ra < 0 and rb < 0:
            ra, rb = (ra, rb) if -ra < -rb else (rb, ra)
        elif ra > 0 and rb < 0:
            ra, rb = rb, ra
        elif ra > 0 and rb > 0:
            ra, rb = min(ra, rb), max(ra, rb)
        merge[i] = ra, rb
    return merge, z[:, 2].astype(float)


def _core_size(branch_size: int, min_size: int) -> int:
    base = min_size / 2 + 1
    return int(base + np.sqrt(branch_size - base)) if base < branch_size else branch_size


def _core_scatter(dist: np.ndarray, singletons: list[int], min_size: int) -> tuple[float, list]:
    cs = _core_size(len(singletons), min_size)
    core = [s - 1 for s in singletons[:cs]]
    sub = dist[np.ix_(core, core)]
    return float(np.mean(sub.sum(axis=0) / (cs - 1))), core


def cutree_hybrid(
    z: np.ndarray,
    dist: np.ndarray,
    *,
    min_cluster_size: int = 20,
    deep_split: int = 1,
    cut_height: float | None = None,
    max_core_scatter: float | None = None,
    min_gap: float | None = None,
    min_split_height: float = 0.0,
    pam_stage: bool = True,
    pam_respects_dendro: bool = True,
    max_pam_dist: float | None = None,
    respect_small_clusters: bool = True,
) -> np.ndarray:
    """Dynamic tree cut, hybrid method, as R ``dynamicTreeCut::cutreeDynamic(method="hybrid")``.

    Parameters
    ----------
    z : ndarray
        scipy linkage matrix of the objects (e.g. ``linkage(squareform(dist), "average")``).
    dist : ndarray
        Square distance matrix the tree was built from (``distM``).
    min_cluster_size : int
        ``minClusterSize`` (R default 20).
    deep_split : int
        0-4 (R default 1 for the hybrid method): sets ``maxCoreScatter`` (0.64, 0.73, 0.82,
        0.91, 0.95) and ``minGap = (1 - maxCoreScatter) * 3/4``.
    cut_height : float, optional
        Default 99 % of the range between the 5th-percentile merge height and the top.
    max_core_scatter, min_gap : float, optional
        Override the ``deep_split`` values (relative to the reference and cut heights).
    min_split_height : float
        Relative minimum split height (R default 0).
    pam_stage, pam_respects_dendro, respect_small_clusters : bool
        R's PAM-like second stage (all True by default): unlabelled objects, and whole small
        branches first, join the nearest cluster on the same composite branch when their mean
        distance is below the cluster's diameter or ``max_pam_dist``.
    max_pam_dist : float, optional
        Default: ``cut_height``.

    Returns
    -------
    ndarray of int
        Cluster label per object, 1 = largest cluster, 0 = unassigned (R's grey).

    Notes
    -----
    A port of ``cutreeHybrid`` in dynamicTreeCut 1.63 (Langfelder, Zhang & Horvath 2008): the
    first stage walks the merges bottom-up, growing basic branches and merging a branch into
    its partner when it is too small, too scattered (mean core distance above
    ``maxAbsCoreScatter``), not separated enough (merge height minus core scatter below
    ``minAbsGap``) or merged below ``minAbsSplitHeight``; otherwise the two become parts of a
    composite branch. Top basic branches that pass the size, scatter and gap tests are the
    clusters. The second stage (``pamStage``, ``useMedoids = FALSE``) assigns leftover objects
    by mean distance to the clusters on their own composite branch. The port follows the R
    control flow; it was checked on hand-built trees, not against an R installation (none on
    this machine). Merge order among equal heights can differ from R's ``hclust``.

    References
    ----------
    Langfelder P, Zhang B, Horvath S (2008) Bioinformatics 24:719-720.
    """
    if int(deep_split) not in range(len(_DEF_MCS)):
        raise ValueError(f"deep_split must be 0-4, got {deep_split}")
    merge, height = _r_merge(np.asarray(z, dtype=float))
    dist = np.asarray(dist, dtype=float)
    n_merge = len(height)
    n_points = n_merge + 1
    ref_merge = max(1, int(round(n_merge * 0.05)))
    ref_height = float(np.sort(height)[ref_merge - 1])
    if cut_height is None:
        cut_height = 0.99 * (height.max() - ref_height) + ref_height
    else:
        cut_height = min(cut_height, float(height.max()))
    if max_pam_dist is None:
        max_pam_dist = cut_height
    if int((height <= cut_height).sum()) < min_cluster_size:
        return np.zeros(n_points, dtype=int)
    if max_core_scatter is None:
        max_core_scatter = float(_DEF_MCS[int(deep_split)])
    if min_gap is None:
        min_gap = (1 - float(_DEF_MCS[int(deep_split)])) * 3 / 4
    max_abs_core_scatter = ref_height + max_core_scatter * (cut_height - ref_height)
    min_abs_gap = min_gap * (cut_height - ref_height)
    min_abs_split_height = ref_height + min_split_height * (cut_height - ref_height)

    # branch records, 1-based like R (index 0 unused)
    is_basic, is_top_basic, fail_size = [None], [None], [None]
    size, n_singletons, merged_into, attach = [None], [None], [None], [None]
    singletons: list = [None]
    basic_clusters: list = [None]
    ind_merge_to_branch = np.zeros(n_merge, dtype=int)
    on_branch = np.zeros(n_points + 1, dtype=int)  # indexed by 1-based object
    n_branches = 0

    def new_branch(basic: bool) -> int:
        nonlocal n_branches
        n_branches += 1
        for lst, v in ((is_basic, basic), (is_top_basic, basic), (fail_size, False),
                       (size, 2), (n_singletons, 2), (merged_into, 0), (attach, np.nan),
                       (singletons, []), (basic_clusters, [])):  # fmt: skip
            lst.append(v)
        return n_branches

    for m in range(n_merge):
        h = height[m]
        if h > cut_height:
            continue
        a, b = merge[m]
        if a < 0 and b < 0:
            br = new_branch(True)
            singletons[br] = [-a, -b]
            ind_merge_to_branch[m] = br
        elif (a < 0) != (b < 0):
            clust = ind_merge_to_branch[max(a, b) - 1]
            gene = -min(a, b)
            if is_basic[clust]:
                singletons[clust].append(gene)
                n_singletons[clust] += 1
            else:
                on_branch[gene] = clust
            size[clust] += 1
            ind_merge_to_branch[m] = clust
        else:
            c1, c2 = ind_merge_to_branch[a - 1], ind_merge_to_branch[b - 1]
            small, large = (c1, c2) if size[c1] <= size[c2] else (c2, c1)

            def scores(br: int, h: float = h) -> tuple[bool, bool]:
                ave = (
                    _core_scatter(dist, singletons[br], min_cluster_size)[0]
                    if is_basic[br]
                    else 0.0
                )
                crit = (size[br] < min_cluster_size, ave > max_abs_core_scatter,
                        h - ave < min_abs_gap, h < min_abs_split_height)  # fmt: skip
                merge_it = bool(is_basic[br]) and any(crit)
                return merge_it, not (crit[1] or crit[2])

            do_merge, small_fail = scores(small)
            if not do_merge:
                do_merge, small_fail = scores(large)
                if do_merge:
                    small, large = large, small
            if do_merge:
                fail_size[small] = small_fail
                merged_into[small] = large
                attach[small] = h
                is_top_basic[small] = False
                if is_basic[large]:
                    singletons[large].extend(singletons[small])
                    n_singletons[large] += n_singletons[small]
                else:
                    on_branch[singletons[small]] = large
                size[large] += size[small]
                ind_merge_to_branch[m] = large
            else:
                if is_basic[large] and not is_basic[small]:
                    small, large = large, small
                add = [small] if is_basic[small] else list(basic_clusters[small])
                if is_basic[large] or (pam_stage and pam_respects_dendro):
                    add += [large] if is_basic[large] else list(basic_clusters[large])
                    comp = new_branch(False)
                    attach[large] = attach[small] = h
                    merged_into[large] = merged_into[small] = comp
                    basic_clusters[comp] = add
                    size[comp] = size[small] + size[large]
                    ind_merge_to_branch[m] = comp
                else:
                    basic_clusters[large].extend(add)
                    size[large] += size[small]
                    attach[small] = h
                    merged_into[small] = large
                    ind_merge_to_branch[m] = large

    colors = np.zeros(n_points + 1, dtype=int)  # 1-based objects
    small_labels = np.zeros(n_points + 1, dtype=int)
    branch_labels = np.zeros(n_branches + 1, dtype=int)
    color = 0
    for clust in range(1, n_branches + 1):
        if np.isnan(attach[clust]):
            attach[clust] = cut_height
        is_cluster = False
        if is_top_basic[clust]:
            scatter = _core_scatter(dist, singletons[clust], min_cluster_size)[0]
            is_cluster = (size[clust] >= min_cluster_size and scatter < max_abs_core_scatter
                          and attach[clust] - scatter > min_abs_gap)  # fmt: skip
        if is_cluster:
            color += 1
            colors[singletons[clust]] = color
            small_labels[singletons[clust]] = 0
            branch_labels[clust] = color
        elif is_basic[clust] and fail_size[clust]:
            pts = [s for s in singletons[clust] if colors[s] == 0]
            small_labels[pts] = clust

    if pam_stage and color > 0 and (colors[1:] == 0).any():
        colors_x = colors.copy()
        diam = np.zeros(color + 1)
        for c in range(1, color + 1):
            members = np.flatnonzero(colors_x == c) - 1
            if len(members) > 1:
                sub = dist[np.ix_(members, members)]
                diam[c] = np.max(sub.sum(axis=0) / (len(members) - 1))

        def labels_on(objs: Iterable[int]) -> np.ndarray:
            if not pam_respects_dendro:
                return np.arange(1, color + 1)
            brs = np.unique(on_branch[list(objs)])
            if len(brs) != 1 or brs[0] == 0:
                return np.array([], dtype=int)
            lab = branch_labels[basic_clusters[brs[0]]]
            return np.unique(lab[lab > 0])

        def nearest(objs: list[int]) -> tuple[int, float] | None:
            labs = labels_on(objs)
            use = np.isin(colors_x[1:], labs) & (colors_x[1:] > 0)
            if not use.any():
                return None
            idx = np.flatnonzero(use)
            mean_to_obj = dist[np.ix_([o - 1 for o in objs], idx)].mean(axis=0)
            cl = colors_x[1:][idx]
            levels = np.unique(cl)
            means = np.array([mean_to_obj[cl == lv].mean() for lv in levels])
            k = int(np.argmin(means))
            return int(levels[k]), float(means[k])

        if respect_small_clusters:
            for sclust in np.unique(small_labels[small_labels > 0]):
                objs = [int(o) for o in np.flatnonzero(small_labels == sclust) if colors[o] == 0]
                if not objs:
                    continue
                hit = nearest(objs)
                if hit is None:
                    continue
                lab, d = hit
                colors[objs] = lab if (d < diam[lab] or d < max_pam_dist) else -1
        for obj in [int(o) for o in np.flatnonzero(colors == 0) if o > 0]:
            hit = nearest([obj])
            if hit is not None and (hit[1] < diam[hit[0]] or hit[1] < max_pam_dist):
                colors[obj] = hit[0]
        colors[colors < 0] = 0

    labels = colors[1:]
    # relabel: 1 = largest cluster (ties: lower original label first), 0 stays unassigned
    found = np.unique(labels[labels > 0])
    sizes = np.array([(labels == c).sum() for c in found])
    order = found[np.lexsort((found, -sizes))]
    remap = np.zeros(labels.max() + 1 if labels.size else 1, dtype=int)
    remap[order] = np.arange(1, len(order) + 1)
    return remap[labels]
