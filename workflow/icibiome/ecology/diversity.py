"""Alpha and beta diversity, PCoA and PERMANOVA of response stratified by cohort.

The diversity stage reads one rank's standard tables (see :mod:`icibiome.io`) and the sample sheet
and writes, into one folder:

``alpha.tsv``
    Per sample: cohort, response, classified reads, observed taxa, Shannon (natural log) and
    Gini-Simpson diversity.
``beta_braycurtis.tsv``, ``beta_aitchison.tsv``
    Square distance matrices (Bray-Curtis on relative abundance; Aitchison = Euclidean distance of
    the centred log-ratio after multiplicative zero replacement).
``pcoa.tsv``
    Principal coordinates (first three axes) of both distances, long format, with the proportion
    of variance each axis explains.
``permanova.tsv``
    PERMANOVA of response with permutations restricted within cohorts (the primary test), of
    response with free permutations, and of cohort, for both distances.
``diversity_*_mqc.*``
    MultiQC custom content (alpha table and box plots, PCoA scatter coloured by response with one
    marker per cohort, PERMANOVA table, a static figure) and ``pcoa.png``.

scikit-bio computes the alpha diversities, Bray-Curtis, the zero replacement, the CLR and the
PCoA. PERMANOVA is implemented here because scikit-bio's ``permanova`` cannot restrict
permutations to strata; :func:`permanova` reproduces scikit-bio's statistic and matches vegan's
``adonis2(d ~ response, permutations = how(blocks = cohort))``.
"""

from __future__ import annotations

import base64
import itertools
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from icibiome.io import atomic_path, read_abundance, write_tsv
from icibiome.mqc import write_plot, write_table
from icibiome.signatures.differential import bh

logger = logging.getLogger(__name__)

#: vegan/permute's ``minperm``: below this many possible orderings, permutations are enumerated.
MIN_PERM_COMPLETE = 5040
#: Colours of the response groups in every diversity plot (ColorBrewer Dark2).
RESPONSE_COLOURS = {"R": "#1b9e77", "NR": "#d95f02", "unknown": "#999999"}
_MARKERS_MPL = ["o", "s", "^", "D", "v", "P", "X", "*"]
_MARKERS_PLOTLY = [
    "circle",
    "square",
    "triangle-up",
    "diamond",
    "triangle-down",
    "cross",
    "x",
    "star",
]
METRICS = ("braycurtis", "aitchison")
METRIC_LABELS = {"braycurtis": "Bray-Curtis", "aitchison": "Aitchison (CLR)"}


# --------------------------------------------------------------------------------------------
# alpha diversity
# --------------------------------------------------------------------------------------------
def alpha_diversity(abundance: pd.DataFrame, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Observed taxa, Shannon and Gini-Simpson diversity per sample.

    Parameters
    ----------
    abundance : DataFrame
        Samples x taxa relative abundances (any scale; rows are closed to proportions).
    counts : DataFrame, optional
        Samples x taxa read counts of the same taxa (classified only). Observed taxa are counted
        where ``counts > 0`` and ``classified_reads`` is their row sum; without counts, observed
        taxa are those with ``abundance > 0`` and ``classified_reads`` is NaN.

    Returns
    -------
    DataFrame
        Indexed like ``abundance``; columns ``classified_reads``, ``observed``, ``shannon``,
        ``simpson``. A sample with nothing classified has observed 0 and NaN Shannon/Simpson.

    Notes
    -----
    Shannon's index :math:`H = -\\sum_i p_i \\ln p_i` (natural log) and the Gini-Simpson index
    :math:`1 - \\sum_i p_i^2` are computed by scikit-bio (``skbio.diversity.alpha_diversity`` with
    metrics ``shannon`` and ``simpson``; scikit-bio >= 0.6 uses the natural log), on the profiler's
    relative abundances. They equal ``vegan::diversity(x, "shannon")`` and
    ``vegan::diversity(x, "simpson")``. Observed richness depends on sequencing depth, so the
    classified read count is reported beside it.

    References
    ----------
    Shannon CE (1948) A mathematical theory of communication. Bell Syst Tech J 27:379-423.
    Simpson EH (1949) Measurement of diversity. Nature 163:688.
    """
    from skbio.diversity import alpha_diversity as skbio_alpha

    ab = abundance.astype(float)
    if (ab.to_numpy() < 0).any():
        raise ValueError("abundances must be non-negative")
    ids = list(ab.index)
    out = pd.DataFrame(index=ab.index)
    if counts is not None:
        c = counts.reindex(index=ab.index, columns=ab.columns).fillna(0.0).astype(float)
        out["classified_reads"] = c.sum(axis=1)
        out["observed"] = (c > 0).sum(axis=1).astype(int)
    else:
        out["classified_reads"] = np.nan
        out["observed"] = (ab > 0).sum(axis=1).astype(int)
    values = ab.to_numpy()
    empty = values.sum(axis=1) <= 0
    shannon = np.full(len(ids), np.nan)
    simpson = np.full(len(ids), np.nan)
    if (~empty).any():
        keep = [i for i, e in zip(ids, empty, strict=True) if not e]
        shannon[~empty] = skbio_alpha("shannon", values[~empty], ids=keep).to_numpy()
        simpson[~empty] = skbio_alpha("simpson", values[~empty], ids=keep).to_numpy()
    out["shannon"] = shannon
    out["simpson"] = simpson
    out.index.name = "sample_id"
    return out


# --------------------------------------------------------------------------------------------
# beta diversity
# --------------------------------------------------------------------------------------------
def bray_curtis(abundance: pd.DataFrame) -> pd.DataFrame:
    """Bray-Curtis dissimilarity between samples on relative abundances.

    Parameters
    ----------
    abundance : DataFrame
        Samples x taxa, non-negative; each row is closed to proportions first, so percent and
        proportion inputs give the same result. Rows must not be all zero.

    Returns
    -------
    DataFrame
        Square, symmetric samples x samples matrix with zero diagonal, values in [0, 1].

    Notes
    -----
    :math:`BC_{jk} = \\sum_i |p_{ij} - p_{ik}| / \\sum_i (p_{ij} + p_{ik})`, computed by
    ``skbio.diversity.beta_diversity("braycurtis")`` (scipy's ``braycurtis``), the same as
    ``vegan::vegdist(decostand(x, "total"), "bray")``.

    References
    ----------
    Bray JR, Curtis JT (1957) An ordination of the upland forest communities of southern
    Wisconsin. Ecol Monogr 27:325-349.
    """
    from skbio.diversity import beta_diversity

    values = _closed(abundance)
    dm = beta_diversity("braycurtis", values, ids=list(abundance.index))
    return pd.DataFrame(dm.data, index=abundance.index, columns=abundance.index)


def clr_table(abundance: pd.DataFrame, delta: float | None = None) -> pd.DataFrame:
    """Centred log-ratio transform after multiplicative replacement of zeros.

    Parameters
    ----------
    abundance : DataFrame
        Samples x taxa, non-negative, rows not all zero.
    delta : float, optional
        Value imputed for zeros (as a proportion); scikit-bio's default ``1 / n_taxa**2``.

    Returns
    -------
    DataFrame
        Samples x taxa CLR values; every row sums to 0.

    Notes
    -----
    Zeros are replaced by the multiplicative method of Martín-Fernández et al. (2003) with
    ``skbio.stats.composition.multi_replace`` (zeros become ``delta``, non-zero parts shrink so the
    row still sums to 1, preserving their ratios), then ``skbio.stats.composition.clr``:
    :math:`clr(x)_i = \\ln x_i - \\overline{\\ln x}`.

    References
    ----------
    Aitchison J (1986) The statistical analysis of compositional data. Chapman & Hall.
    Martín-Fernández JA, Barceló-Vidal C, Pawlowsky-Glahn V (2003) Dealing with zeros and
    missing values in compositional data sets using nonparametric imputation. Math Geol
    35:253-278.
    """
    from skbio.stats.composition import clr, multi_replace

    values = _closed(abundance)
    if values.shape[1] < 2:
        raise ValueError("the CLR needs at least two taxa")
    replaced = multi_replace(values, delta=delta) if (values == 0).any() else values
    z = np.atleast_2d(clr(np.atleast_2d(replaced)))  # scikit-bio squeezes a single row
    return pd.DataFrame(z, index=abundance.index, columns=abundance.columns)


def aitchison(abundance: pd.DataFrame, delta: float | None = None) -> pd.DataFrame:
    """Aitchison distance: Euclidean distance between CLR-transformed compositions.

    Parameters
    ----------
    abundance : DataFrame
        Samples x taxa, non-negative, rows not all zero.
    delta : float, optional
        Zero replacement value, see :func:`clr_table`.

    Returns
    -------
    DataFrame
        Square samples x samples distance matrix.

    Notes
    -----
    :math:`d_A(x, y) = \\lVert clr(x) - clr(y) \\rVert_2` (Aitchison 1986; Gloor et al. 2017).
    This is ``vegan::vegdist(x, "aitchison")`` except for the zero handling: vegan adds a
    pseudocount, here zeros are replaced multiplicatively (:func:`clr_table`), which keeps the
    distance invariant to each sample's total.

    References
    ----------
    Gloor GB, Macklaim JM, Pawlowsky-Glahn V, Egozcue JJ (2017) Microbiome datasets are
    compositional: and this is not optional. Front Microbiol 8:2224.
    """
    z = clr_table(abundance, delta=delta).to_numpy()
    sq = (z * z).sum(axis=1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0, None)
    d = np.sqrt(d2)
    np.fill_diagonal(d, 0.0)
    d = (d + d.T) / 2.0
    return pd.DataFrame(d, index=abundance.index, columns=abundance.index)


def _closed(abundance: pd.DataFrame) -> np.ndarray:
    values = abundance.to_numpy(dtype=float)
    if (values < 0).any():
        raise ValueError("abundances must be non-negative")
    totals = values.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        bad = [s for s, t in zip(abundance.index, totals[:, 0], strict=True) if t <= 0]
        raise ValueError(f"samples with nothing classified have no composition: {bad}")
    return values / totals


# --------------------------------------------------------------------------------------------
# PCoA
# --------------------------------------------------------------------------------------------
def pcoa(distances: pd.DataFrame, n_axes: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    """Principal coordinates analysis (classical multidimensional scaling).

    Parameters
    ----------
    distances : DataFrame
        Square symmetric distance matrix.
    n_axes : int
        Axes returned (fewer when the data have fewer).

    Returns
    -------
    coordinates : DataFrame
        Samples x ``PC1..PCk``.
    explained : Series
        Proportion of the total (positive) inertia per axis.

    Notes
    -----
    ``skbio.stats.ordination.pcoa`` with the exact eigendecomposition (``method="eigh"``):
    Gower's double centring of :math:`-\\tfrac12 D^2` and its eigenvectors scaled by the square
    root of their eigenvalues, as ``ape::pcoa``/``cmdscale``. Axis signs are fixed so that the
    largest absolute coordinate of each axis is positive, which makes the output deterministic.
    Bray-Curtis is not Euclidean, so it can have negative eigenvalues; no correction is applied
    (they are logged).

    References
    ----------
    Gower JC (1966) Some distance properties of latent root and vector methods used in
    multivariate analysis. Biometrika 53:325-338.
    """
    import warnings

    from skbio import DistanceMatrix
    from skbio.stats.ordination import pcoa as skbio_pcoa

    ids = [str(i) for i in distances.index]
    n = len(ids)
    if n < 3:
        raise ValueError("PCoA needs at least 3 samples")
    dm = DistanceMatrix(distances.to_numpy(dtype=float), ids=ids)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = skbio_pcoa(dm, method="eigh")
    for w in caught:
        logger.info("PCoA: %s", w.message)
    k = min(n_axes, res.samples.shape[1], n - 1)
    coords = res.samples.iloc[:, :k].copy()
    coords.columns = [f"PC{i + 1}" for i in range(k)]
    coords.index = distances.index
    values = coords.to_numpy()
    idx = np.abs(values).argmax(axis=0)
    signs = np.sign(values[idx, np.arange(k)])
    signs[signs == 0] = 1.0
    coords = coords * signs
    explained = pd.Series(
        np.asarray(res.proportion_explained)[:k], index=coords.columns, name="proportion_explained"
    )
    return coords, explained


# --------------------------------------------------------------------------------------------
# PERMANOVA with restricted permutations
# --------------------------------------------------------------------------------------------
def _codes(values: Sequence) -> tuple[np.ndarray, list]:
    levels = sorted(set(values), key=str)
    lookup = {v: i for i, v in enumerate(levels)}
    return np.array([lookup[v] for v in values], dtype=np.int64), levels


def n_orderings(strata: Sequence | None, n: int) -> int:
    """Number of orderings permutations restricted to ``strata`` can produce (``prod n_s!``)."""
    if strata is None:
        return math.factorial(n)
    _, counts = np.unique(np.asarray(strata, dtype=str), return_counts=True)
    return math.prod(math.factorial(int(c)) for c in counts)


def restricted_permutations(
    labels: Sequence, strata: Sequence | None, permutations: int, seed: int | None = 1
) -> np.ndarray:
    """Random permutations of ``labels``, each one shuffling labels only within its stratum.

    Parameters
    ----------
    labels : sequence
        Group label per sample (length n).
    strata : sequence or None
        Block per sample; ``None`` permutes freely.
    permutations : int
        Number of permuted label vectors.
    seed : int or None
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    ndarray
        ``(permutations, n)`` array of labels. Every row keeps, within every stratum, exactly the
        stratum's multiset of labels.

    Notes
    -----
    Vectorised: one uniform key per sample and permutation, shifted by the stratum's code, is
    argsorted, which shuffles samples uniformly within contiguous stratum blocks; the k-th slot of
    the stratum-sorted order then takes the label of the k-th shuffled sample. This is permute's
    ``how(blocks = strata)`` (free permutation within each block, blocks never mixed).
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    s_codes = np.zeros(n, dtype=np.int64) if strata is None else _codes(list(strata))[0]
    rng = np.random.default_rng(seed)
    keys = rng.random((permutations, n)) + s_codes[None, :]
    order = np.argsort(keys, axis=1, kind="stable")
    base = np.argsort(s_codes, kind="stable")
    out = np.empty((permutations, n), dtype=labels.dtype)
    out[:, base] = labels[order]
    return out


def all_restricted_assignments(labels: Sequence, strata: Sequence | None) -> np.ndarray:
    """Every distinct label vector reachable by permutations within strata (observed included).

    Each distinct assignment is produced by the same number of orderings
    (:math:`\\prod_s \\prod_g n_{sg}!`), so a p-value over the distinct assignments equals one over
    all orderings: this is vegan/permute's complete enumeration, used when
    :func:`n_orderings` < :data:`MIN_PERM_COMPLETE`.
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    s_codes = np.zeros(n, dtype=np.int64) if strata is None else _codes(list(strata))[0]
    blocks = [np.flatnonzero(s_codes == s) for s in np.unique(s_codes)]
    per_block = [sorted(set(itertools.permutations(labels[b].tolist()))) for b in blocks]
    rows = []
    for combo in itertools.product(*per_block):
        row = np.empty(n, dtype=labels.dtype)
        for b, vals in zip(blocks, combo, strict=True):
            row[b] = vals
        rows.append(row)
    return np.array(rows)


def _pseudo_f(d2: np.ndarray, label_codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Pseudo-F for each row of ``label_codes`` (shape (P, n)); group sizes are those of row 0."""
    n = d2.shape[0]
    sizes = np.bincount(label_codes[0], minlength=n_groups).astype(float)
    s_t = d2.sum() / (2.0 * n)
    out = np.empty(label_codes.shape[0])
    chunk = max(1, int(2e7 // max(1, n_groups * n * n)))
    groups = np.arange(n_groups)[None, :, None]
    for start in range(0, label_codes.shape[0], chunk):
        g = (label_codes[start : start + chunk, None, :] == groups).astype(float)  # (p, a, n)
        within = np.einsum("pan,pan->pa", g @ d2, g)  # sum over ordered pairs in each group
        # clipped: rounding can make a zero within-group sum of squares slightly negative
        s_w = np.clip((within / (2.0 * sizes[None, :])).sum(axis=1), 0.0, s_t)
        s_a = s_t - s_w
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + chunk] = (s_a / (n_groups - 1)) / (s_w / (n - n_groups))
    return out


def permanova(
    distances: pd.DataFrame | np.ndarray,
    grouping: Sequence,
    strata: Sequence | None = None,
    permutations: int = 999,
    seed: int | None = 1,
) -> dict:
    """One-factor PERMANOVA, optionally with permutations restricted within strata.

    Parameters
    ----------
    distances : DataFrame or ndarray
        Square symmetric distance matrix (n x n).
    grouping : sequence
        Group label per sample (at least 2 groups, fewer groups than samples).
    strata : sequence, optional
        Block per sample: labels are only permuted among samples of the same block.
    permutations : int
        Random permutations; when the design allows fewer than 5,040 orderings
        (:data:`MIN_PERM_COMPLETE`), all distinct assignments are enumerated instead.
    seed : int or None
        Seed for the random permutations.

    Returns
    -------
    dict
        ``n``, ``groups``, ``pseudo_F``, ``R2``, ``p_value``, ``permutations`` (the number
        actually used), ``complete`` (True for complete enumeration).

    Notes
    -----
    Anderson's (2001) statistic: with :math:`SS_T = \\frac1n\\sum_{i<j} d_{ij}^2` and
    :math:`SS_W = \\sum_g \\frac1{n_g}\\sum_{i<j \\in g} d_{ij}^2`,
    :math:`F = \\frac{(SS_T - SS_W)/(a-1)}{SS_W/(n-a)}` and :math:`R^2 = 1 - SS_W/SS_T`. The
    statistic equals ``skbio.stats.distance.permanova`` and ``vegan::adonis2(d ~ group)``.

    With ``strata`` the permutations are restricted to exchange labels only within strata,
    ``vegan::adonis2(d ~ group, data, permutations = how(blocks = strata, nperm = 999))`` (the
    older ``adonis2(..., strata = strata)``). Under the null hypothesis that the grouping has no
    effect within any stratum the test is exact; differences between strata (e.g. cohorts or
    batches) therefore cannot create a significant grouping effect, because permuted data keep
    the strata composition of each group.

    p-value: :math:`(1 + \\#\\{F^* \\ge F - \\epsilon\\}) / (1 + P)` over P random permutations
    (vegan's rule, :math:`\\epsilon = \\sqrt{\\text{machine eps}}`). When fewer than 5,040
    orderings exist (permute's ``minperm``), vegan enumerates them all; this is done here over
    the distinct label assignments (each is produced by the same number of orderings), which
    gives exactly vegan's complete-enumeration p-value.

    All permutations are evaluated at once: with one-hot group matrices G (P x a x n), the
    within-group sums are :math:`\\mathrm{diag}(G D^{\\circ 2} G^T)`.

    References
    ----------
    Anderson MJ (2001) A new method for non-parametric multivariate analysis of variance.
    Austral Ecol 26:32-46.
    Oksanen J et al. vegan: Community Ecology Package, ``adonis2``; Simpson GL, permute:
    Functions for Generating Restricted Permutations of Data, ``how(blocks=)``.
    """
    d = np.asarray(distances, dtype=float)
    n = d.shape[0]
    if d.shape != (n, n):
        raise ValueError("distances must be a square matrix")
    grouping = list(grouping)
    if len(grouping) != n:
        raise ValueError(f"grouping has {len(grouping)} labels for {n} samples")
    if strata is not None:
        strata = list(strata)
        if len(strata) != n:
            raise ValueError(f"strata has {len(strata)} labels for {n} samples")
    codes, levels = _codes(grouping)
    a = len(levels)
    if a < 2 or a >= n:
        raise ValueError(f"PERMANOVA needs 2 <= groups < samples (got {a} groups, {n} samples)")
    d2 = d * d
    f_obs = float(_pseudo_f(d2, codes[None, :], a)[0])
    s_t = d2.sum() / (2.0 * n)
    if s_t <= 0:
        r2 = float("nan")
    elif np.isinf(f_obs):  # no within-group spread: the grouping explains everything
        r2 = 1.0
    else:
        r2 = float(np.clip((f_obs * (a - 1)) / (f_obs * (a - 1) + (n - a)), 0.0, 1.0))
    complete = n_orderings(strata, n) < MIN_PERM_COMPLETE
    if complete:
        perm = all_restricted_assignments(codes, strata)
        f_perm = _pseudo_f(d2, perm, a)
        hits = int(np.sum(f_perm >= f_obs - np.sqrt(np.finfo(float).eps)))
        p = hits / len(perm)
        used = len(perm)
    else:
        perm = restricted_permutations(codes, strata, permutations, seed)
        f_perm = _pseudo_f(d2, perm, a)
        hits = int(np.sum(f_perm >= f_obs - np.sqrt(np.finfo(float).eps)))
        p = (hits + 1) / (permutations + 1)
        used = permutations
    if not np.isfinite(f_obs):
        p = float("nan")
    return {
        "n": n,
        "groups": a,
        "pseudo_F": f_obs,
        "R2": r2,
        "p_value": float(p),
        "permutations": int(used),
        "complete": bool(complete),
    }


# --------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------
def _sample_info(samples_tsv: str | os.PathLike, ids: Sequence[str]) -> pd.DataFrame:
    from icibiome.samplesheet import outcomes_at_baseline, read_sample_sheet

    # response tests count each patient once (its baseline); other samples are 'unknown'
    sheet = outcomes_at_baseline(read_sample_sheet(samples_tsv, check_files=False))
    missing = [s for s in ids if s not in sheet.index]
    if missing:
        raise ValueError(f"samples in the abundance table but not in {samples_tsv}: {missing}")
    info = sheet.loc[list(ids), ["cohort", "response"]].copy()
    info["cohort"] = info["cohort"].astype(str)
    info["response"] = info["response"].replace("", "unknown").fillna("unknown").astype(str)
    info.index.name = "sample_id"
    return info


def permanova_tests(
    distances: dict[str, pd.DataFrame],
    info: pd.DataFrame,
    permutations: int = 999,
    seed: int = 1,
) -> pd.DataFrame:
    """The stage's PERMANOVA table: response within cohorts, response, cohort; per distance.

    A test that cannot be run (fewer than two groups, as many groups as samples) is reported with
    NaN statistics and the reason in ``note``. ``p_value`` is each test's own (unadjusted)
    permutation p; ``q_value`` is Benjamini-Hochberg adjusted over all the tests of the table
    (3 tests x distances).
    """
    rows = []
    for metric, dm in distances.items():
        inf = info.loc[dm.index]
        known = inf.index[inf["response"] != "unknown"]
        tests = [
            ("response", "cohort", known),
            ("response", "", known),
            ("cohort", "", inf.index),
        ]
        for term, strata, ids in tests:
            sub = dm.loc[ids, ids]
            groups = inf.loc[ids, term].tolist()
            row = {"metric": metric, "term": term, "strata": strata or "none"}
            try:
                res = permanova(
                    sub,
                    groups,
                    strata=inf.loc[ids, strata].tolist() if strata else None,
                    permutations=permutations,
                    seed=seed,
                )
                note = "complete enumeration" if res.pop("complete") else ""
            except ValueError as err:
                res = {"n": len(ids), "groups": len(set(groups))}
                note = str(err)
            row.update(res)
            row["note"] = note
            rows.append(row)
    cols = ["metric", "term", "strata", "n", "groups", "pseudo_F", "R2", "p_value"]
    out = pd.DataFrame(rows).reindex(columns=[*cols, "permutations", "note"])
    # p_value is per test (unadjusted); q_value: Benjamini-Hochberg over the table's tests
    out["q_value"] = bh(pd.to_numeric(out["p_value"], errors="coerce"))
    return out


def _cohort_markers(cohorts: Sequence[str], markers: Sequence[str]) -> dict[str, str]:
    levels = sorted(set(cohorts))
    return {c: markers[i % len(markers)] for i, c in enumerate(levels)}


def _permanova_caption(perm: pd.DataFrame, metric: str) -> str:
    row = perm[(perm["metric"] == metric) & (perm["term"] == "response")]
    row = row[row["strata"] == "cohort"]
    if row.empty or not np.isfinite(row["pseudo_F"].iloc[0]):
        return "PERMANOVA (response | cohort): not testable"
    r = row.iloc[0]
    return (f"PERMANOVA response | cohort: R² = {r['R2']:.3f}, p = {r['p_value']:.3g} (raw), "
            f"BH q = {r['q_value']:.3g}")  # fmt: skip


def diversity_figure(
    alpha: pd.DataFrame,
    coords: dict[str, pd.DataFrame],
    explained: dict[str, pd.Series],
    perm: pd.DataFrame,
    out_png: str | os.PathLike,
    title: str = "",
) -> Path:
    """PNG (matplotlib Agg): PCoA of each distance (colour = response, marker = cohort) and alpha
    diversity by response group, with the stratified PERMANOVA result in each PCoA title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    markers = _cohort_markers(alpha["cohort"].tolist(), _MARKERS_MPL)
    metrics = [m for m in METRICS if m in coords]
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 8.5))
    axes = axes.ravel()
    for ax, metric in zip(axes, metrics, strict=False):
        c = coords[metric]
        inf = alpha.loc[c.index]
        for (resp, coh), sub in inf.groupby(["response", "cohort"]):
            ax.scatter(
                c.loc[sub.index, "PC1"],
                c.loc[sub.index, "PC2"] if "PC2" in c else np.zeros(len(sub)),
                c=RESPONSE_COLOURS.get(resp, "#999999"),
                marker=markers[coh],
                s=42,
                edgecolors="black",
                linewidths=0.4,
            )
        ex = explained[metric]
        ax.set_xlabel(f"PC1 ({100 * ex.iloc[0]:.1f}%)")
        if len(ex) > 1:
            ax.set_ylabel(f"PC2 ({100 * ex.iloc[1]:.1f}%)")
        ax.set_title(
            f"PCoA, {METRIC_LABELS[metric]}\n{_permanova_caption(perm, metric)}", fontsize=9
        )
    for ax, col, label in zip(
        axes[len(metrics) :],
        ["shannon", "observed"],
        ["Shannon (ln)", "Observed taxa"],
        strict=True,
    ):
        groups = [g for g in ("R", "NR", "unknown") if (alpha["response"] == g).any()]
        data = [alpha.loc[alpha["response"] == g, col].dropna().to_numpy() for g in groups]
        bp = ax.boxplot(
            data, patch_artist=True, widths=0.6, showfliers=False, medianprops={"color": "black"}
        )
        ax.set_xticks(range(1, len(groups) + 1), groups)
        for patch, g in zip(bp["boxes"], groups, strict=True):
            patch.set_facecolor(RESPONSE_COLOURS.get(g, "#999999"))
            patch.set_alpha(0.45)
        rng = np.random.default_rng(0)
        for i, (g, vals) in enumerate(zip(groups, data, strict=True), start=1):
            sub = alpha[(alpha["response"] == g) & alpha[col].notna()]
            x = i + rng.uniform(-0.12, 0.12, len(vals))
            for coh in sorted(set(sub["cohort"])):
                m = (sub["cohort"] == coh).to_numpy()
                ax.scatter(
                    x[m],
                    vals[m],
                    marker=markers[coh],
                    c=RESPONSE_COLOURS.get(g, "#999999"),
                    edgecolors="black",
                    linewidths=0.4,
                    s=30,
                    zorder=3,
                )
        ax.set_title(f"Alpha diversity: {label}", fontsize=9)
        ax.set_ylabel(label)
    handles = [
        Line2D([], [], marker="o", ls="", color=RESPONSE_COLOURS[g], label=g)
        for g in ("R", "NR", "unknown")
        if (alpha["response"] == g).any()
    ] + [
        Line2D([], [], marker=m, ls="", color="grey", label=f"cohort {c}")
        for c, m in markers.items()
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 0.96 if title else 1))
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return out_png


def write_diversity_mqc(
    alpha: pd.DataFrame,
    coords: dict[str, pd.DataFrame],
    explained: dict[str, pd.Series],
    perm: pd.DataFrame,
    figure_png: str | os.PathLike,
    out_dir: str | os.PathLike,
    label: str = "",
) -> list[Path]:
    """Write the MultiQC custom-content files of the diversity section into ``out_dir``.

    Files: ``diversity_alpha_mqc.tsv`` (table), ``diversity_alpha_box_mqc.yaml`` (box plots by
    response and cohort), ``diversity_pcoa_mqc.yaml`` (scatter, one dataset per distance, colour =
    response, marker = cohort), ``diversity_permanova_mqc.tsv`` (table) and
    ``diversity_figure_mqc.html`` (the PNG figure, embedded, with a header giving its section).
    They share one parent section per label, ``Diversity (<label>)``. Section ids end in the
    ``label`` made safe (``"sylph, species"`` -> ``icibiome_diversity_alpha_sylph_species``, parent
    ``icibiome_diversity_sylph_species``), so several profilers' sections can sit in one report.
    MultiQC orders the sections of a parent by name: alpha table, alpha box plots, PCoA,
    PERMANOVA, figure.
    """
    out_dir = Path(out_dir)
    key = "_" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") if label else ""
    parent = {
        "parent_id": f"icibiome_diversity{key}",
        "parent_name": f"Diversity ({label})" if label else "Diversity",
        "parent_description": (
            "Alpha and beta diversity of the taxonomic profiles by response group and cohort "
            "(icibiome.ecology.diversity; scikit-bio). Tables: results/diversity/."
        ),
    }
    written = []

    tab = alpha[["cohort", "response", "classified_reads", "observed", "shannon", "simpson"]]
    header = {
        "id": f"icibiome_diversity_alpha{key}",
        "section_name": "Alpha diversity",
        "description": (
            "Per sample: taxa observed (count > 0), Shannon's index (natural log) and the "
            "Gini-Simpson index (1 - sum p²) of the relative abundances (scikit-bio). Observed "
            "richness grows with depth: compare it with the classified reads."
        ),
        "plot_type": "table",
        **parent,
        "pconfig": {
            "id": f"icibiome_diversity_alpha_table{key}",
            "title": "icibiome: alpha diversity",
        },
        "headers": {
            "cohort": {"title": "Cohort"},
            "response": {"title": "Response"},
            "classified_reads": {"title": "Classified reads", "format": "{:,.0f}"},
            "observed": {"title": "Observed", "format": "{:,.0f}"},
            "shannon": {"title": "Shannon", "format": "{:,.3f}"},
            "simpson": {"title": "Simpson", "format": "{:,.3f}", "min": 0, "max": 1},
        },
    }
    p = out_dir / "diversity_alpha_mqc.tsv"
    write_table(tab, header, p, index_label="Sample")
    written.append(p)

    groups = alpha.assign(group=alpha["response"] + " · " + alpha["cohort"])
    datasets, labels = [], []
    for col, name in (
        ("shannon", "Shannon"),
        ("simpson", "Gini-Simpson"),
        ("observed", "Observed"),
    ):
        ds = {
            f"{g} (n={len(sub[col].dropna())})": [float(v) for v in sub[col].dropna()]
            for g, sub in groups.groupby("group")
        }
        datasets.append({k: v for k, v in ds.items() if v})
        labels.append({"name": name, "ylab": name})
    box = {
        "id": f"icibiome_diversity_alpha_box{key}",
        "section_name": "Alpha diversity by response and cohort",
        "description": "Distribution of each alpha diversity index per response group within each cohort.",
        "plot_type": "box",
        **parent,
        "pconfig": {
            "id": f"icibiome_diversity_alpha_box_plot{key}",
            "title": "icibiome: alpha diversity by group",
            "data_labels": labels,
            "boxpoints": "all",
        },
        "data": datasets,
    }
    p = out_dir / "diversity_alpha_box_mqc.yaml"
    write_plot(box, p)
    written.append(p)

    markers = _cohort_markers(alpha["cohort"].tolist(), _MARKERS_PLOTLY)
    datasets, labels = [], []
    for metric in (m for m in METRICS if m in coords):
        c, ex = coords[metric], explained[metric]
        ds = {}
        for s in c.index:
            resp, coh = alpha.loc[s, "response"], alpha.loc[s, "cohort"]
            ds[str(s)] = {
                "x": round(float(c.loc[s, "PC1"]), 6),
                "y": round(float(c.loc[s, "PC2"]), 6) if "PC2" in c else 0.0,
                "color": RESPONSE_COLOURS.get(resp, "#999999"),
                "marker_symbol": markers[coh],
                "group": f"{resp}, cohort {coh}",
            }
        datasets.append(ds)
        labels.append(
            {
                "name": METRIC_LABELS[metric],
                "xlab": f"PC1 ({100 * ex.iloc[0]:.1f}%)",
                "ylab": f"PC2 ({100 * ex.iloc[1]:.1f}%)" if len(ex) > 1 else "PC2",
                # the '%' in the axis titles would make MultiQC put '%' on the ticks
                "xsuffix": "",
                "ysuffix": "",
            }
        )
    scatter = {
        "id": f"icibiome_diversity_pcoa{key}",
        "section_name": "Beta diversity: PCoA",
        "description": (
            "Principal coordinates of Bray-Curtis and Aitchison distances (switch with the buttons). "
            "Colour: response (green R, orange NR, grey unknown); marker: cohort "
            + ", ".join(f"{c} = {m}" for c, m in markers.items())
            + "."
        ),
        "plot_type": "scatter",
        **parent,
        "pconfig": {
            "id": f"icibiome_diversity_pcoa_plot{key}",
            "title": "icibiome: PCoA",
            "data_labels": labels,
            "xsuffix": "",
            "ysuffix": "",
            "marker_size": 9,
        },
        "data": datasets,
    }
    p = out_dir / "diversity_pcoa_mqc.yaml"
    write_plot(scatter, p)
    written.append(p)

    ptab = perm.copy()
    ptab.index = [
        f"{METRIC_LABELS[m]}: {t}" + (f" | {s}" if s != "none" else "")
        for m, t, s in zip(ptab["metric"], ptab["term"], ptab["strata"], strict=True)
    ]
    ptab = ptab.drop(columns=["metric"]).fillna("")
    header = {
        "id": f"icibiome_diversity_permanova{key}",
        "section_name": "Beta diversity: PERMANOVA",
        "description": (
            "PERMANOVA (Anderson 2001). 'response | cohort': response with permutations restricted "
            "within cohorts, as vegan adonis2(d ~ response, permutations = how(blocks = cohort)); "
            "this is the primary test, robust to cohort effects. Unrestricted response and cohort "
            "tests are shown for comparison. Samples without a response label are left out of the "
            "response tests. p is each test's own permutation p-value (unadjusted); q is "
            "Benjamini-Hochberg adjusted over all the tests of the table."
        ),
        "plot_type": "table",
        **parent,
        "pconfig": {
            "id": f"icibiome_diversity_permanova_table{key}",
            "title": "icibiome: PERMANOVA",
            "sort_rows": False,
        },
        "headers": {
            "pseudo_F": {"title": "Pseudo-F", "format": "{:,.3f}"},
            "R2": {"title": "R²", "format": "{:,.3f}", "min": 0, "max": 1},
            "p_value": {"title": "p (unadjusted)", "format": "{:,.4f}", "min": 0, "max": 1},
            "q_value": {
                "title": "q (BH)",
                "description": "Benjamini-Hochberg over all the tests of this table",
                "format": "{:,.4f}",
                "min": 0,
                "max": 1,
            },
        },
    }
    p = out_dir / "diversity_permanova_mqc.tsv"
    write_table(ptab, header, p, index_label="Test")
    written.append(p)

    png64 = base64.b64encode(Path(figure_png).read_bytes()).decode("ascii")
    head = {
        "id": f"icibiome_diversity_figure{key}",
        "section_name": "Figure: PCoA and alpha diversity by response",
        "description": (
            "PCoA of Bray-Curtis and Aitchison distances (colour = response, marker = cohort) with "
            "the cohort-stratified PERMANOVA, and alpha diversity by response group."
        ),
        **parent,
    }
    html = (
        "<!--\n"
        + yaml.safe_dump(head, sort_keys=False, width=1000)
        + "-->\n"
        + '<div class="mqc-custom-content-image"><img style="max-width:100%" '
        + f'alt="icibiome diversity overview" src="data:image/png;base64,{png64}" /></div>\n'
    )
    p = out_dir / "diversity_figure_mqc.html"
    with atomic_path(p) as tmp:
        tmp.write_text(html)
    written.append(p)
    return written


def run_diversity(
    abundance_tsv: str | os.PathLike,
    counts_tsv: str | os.PathLike | None,
    samples_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
    permutations: int = 999,
    seed: int = 1,
    label: str = "",
) -> dict[str, Path]:
    """Run the diversity stage on one rank's standard tables and write every output.

    Parameters
    ----------
    abundance_tsv, counts_tsv : path-like
        Standard tables (``abundance_<rank>.tsv``, ``counts_<rank>.tsv``) of one profiler;
        ``counts_tsv`` may be None (imported relative abundances): observed taxa then come from
        the abundances and ``classified_reads`` is NaN.
    samples_tsv : path-like
        The sample sheet (``cohort`` and ``response`` columns are used).
    out_dir : path-like
        Output folder (created).
    permutations : int
        PERMANOVA permutations.
    seed : int
        Seed of the PERMANOVA permutations; outputs are deterministic.
    label : str
        Shown in the report's section names, e.g. ``"sylph, species"``.

    Returns
    -------
    dict
        Output name -> path.

    Notes
    -----
    Samples with nothing classified at this rank get alpha values (observed 0, NaN indices) but
    are left out of the distances, the PCoA and PERMANOVA (they have no composition); this is
    logged. See :func:`alpha_diversity`, :func:`bray_curtis`, :func:`aitchison`, :func:`pcoa` and
    :func:`permanova` for the methods.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ab = read_abundance(abundance_tsv)
    counts = (
        read_abundance(counts_tsv).reindex(index=ab.index, columns=ab.columns).fillna(0.0)
        if counts_tsv
        else None  # imported relative abundances: no read counts
    )
    info = _sample_info(samples_tsv, list(ab.index))
    logger.info(
        "diversity: %d samples x %d taxa; cohorts %s; response %s",
        ab.shape[0],
        ab.shape[1],
        info["cohort"].value_counts().to_dict(),
        info["response"].value_counts().to_dict(),
    )

    alpha = info.join(alpha_diversity(ab, counts))
    paths = {"alpha": out_dir / "alpha.tsv"}
    write_tsv(alpha.reset_index(), paths["alpha"], float_format="%.6g")

    nonempty = ab.index[ab.sum(axis=1) > 0]
    if len(nonempty) < len(ab.index):
        logger.warning(
            "left out of beta diversity (nothing classified): %s",
            sorted(set(ab.index) - set(nonempty)),
        )
    if len(nonempty) < 3:
        raise ValueError(
            f"beta diversity needs at least 3 samples with classified reads, {len(nonempty)} have "
            "any; set `diversity: activate: false` in the config for such a small run"
        )
    sub = ab.loc[nonempty]
    dists = {"braycurtis": bray_curtis(sub), "aitchison": aitchison(sub)}
    for metric, dm in dists.items():
        paths[f"beta_{metric}"] = out_dir / f"beta_{metric}.tsv"
        write_tsv(
            dm.rename_axis("sample_id").reset_index(), paths[f"beta_{metric}"], float_format="%.8g"
        )

    coords, explained, rows = {}, {}, []
    for metric, dm in dists.items():
        c, ex = pcoa(dm)
        coords[metric], explained[metric] = c, ex
        long = (
            c.rename_axis("sample_id")
            .reset_index()
            .melt(id_vars="sample_id", var_name="axis", value_name="coordinate")
        )
        long["proportion_explained"] = long["axis"].map(ex)
        long.insert(0, "metric", metric)
        long = long.merge(info.reset_index(), on="sample_id", how="left")
        rows.append(long)
    pcoa_df = pd.concat(rows, ignore_index=True)
    paths["pcoa"] = out_dir / "pcoa.tsv"
    write_tsv(pcoa_df, paths["pcoa"], float_format="%.8g")

    perm = permanova_tests(dists, info, permutations=permutations, seed=seed)
    paths["permanova"] = out_dir / "permanova.tsv"
    write_tsv(perm, paths["permanova"], float_format="%.6g")
    for _, r in perm.iterrows():
        logger.info(
            "PERMANOVA %s %s | %s: n=%s F=%.4g R2=%.4g p=%.4g (unadjusted) q=%.4g (BH) %s",
            r["metric"], r["term"], r["strata"], r["n"], r["pseudo_F"], r["R2"], r["p_value"],
            r["q_value"], r["note"],
        )  # fmt: skip

    paths["figure"] = diversity_figure(alpha, coords, explained, perm, out_dir / "pcoa.png", label)
    for p in write_diversity_mqc(alpha, coords, explained, perm, paths["figure"], out_dir, label):
        paths[p.name.removesuffix(p.suffix)] = p
    return paths
