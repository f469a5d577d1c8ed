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
PCoA. PERMANOVA is :mod:`icibiome.ecology.permanova` (scikit-bio's ``permanova`` cannot restrict
permutations to strata; :func:`~icibiome.ecology.permanova.permanova` reproduces scikit-bio's
statistic and matches vegan's ``adonis2(d ~ response, permutations = how(blocks = cohort))``); the
figure and the MultiQC files are :mod:`icibiome.ecology.diversity_report`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.ecology.diversity_report import diversity_figure, write_diversity_mqc
from icibiome.ecology.permanova import permanova_tests
from icibiome.io import read_abundance, write_tsv

logger = logging.getLogger(__name__)


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
    :func:`~icibiome.ecology.permanova.permanova` for the methods.
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
