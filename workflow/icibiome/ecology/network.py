"""Compositionally aware co-abundance networks: SparCC (FastSpar semantics), proportionality, Spearman.

The pieces, in the order the pipeline uses them:

* :func:`filter_taxa` keeps taxa that are prevalent (in every group) and abundant enough and lumps
  the rest into one remainder component (:data:`OTHER`) so that the composition stays closed;
* :func:`sparcc`, :func:`proportionality` and :func:`spearman_clr` estimate the association
  matrix; :func:`permutation_pvalues` gives FastSpar-style permutation p-values for any of them;
* :func:`association` runs one method with its p-values on one group of samples;
* :func:`stable_edges` keeps the edges significant with the same sign in all (or at least
  ``min_groups``) groups, as in Wu et al. (2024);
* :func:`build_network` is the pipeline entry point (tables in, ``edges.tsv``, ``nodes.tsv`` and
  ``graph.graphml`` out).

Everything is vectorised with numpy: iterations and permutations are processed as batches of
matrices, and no Python loop runs over taxon pairs. Random numbers come from one
:class:`numpy.random.SeedSequence` per call, spawned into one stream per SparCC iteration and one
per null resample, so results depend only on the seed, never on batch sizes or thread counts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from icibiome.io import atomic_path, read_abundance, write_tsv
from icibiome.signatures.differential import bh

logger = logging.getLogger(__name__)

OTHER = "__other__"
"""Name of the remainder component that holds the filtered-out taxa."""

METHODS = ("sparcc", "rho", "spearman")
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
BASIS_VARIANCE_FLOOR = 1e-4  # FastSpar: basis variances below 0 are set to 1e-4
_VAR_TOL = 1e-20  # variances below this are rounding noise of a constant clr column
_BATCH_ELEMENTS = 6_000_000  # elements of one (batch, p, p) work array (about 48 MB in float64)


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
# SparCC
# --------------------------------------------------------------------------------------------
def _spawn(seed: int | np.random.SeedSequence, n: int) -> list[np.random.Generator]:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.Generator(np.random.PCG64(s)) for s in ss.spawn(n)]


def _log_dirichlet(
    counts: np.ndarray, rng: np.random.Generator, dtype: type = np.float64
) -> np.ndarray:
    """log of one Dirichlet(counts + 1) draw per sample (rows of ``counts``), FastSpar's step 1."""
    g = rng.standard_gamma((counts + 1.0).astype(dtype, copy=False), dtype=dtype)
    np.maximum(g, np.finfo(dtype).tiny, out=g)  # an underflowed draw would give log(0)
    total = g.sum(axis=-1, keepdims=True)
    np.log(g, out=g)  # log(g / total) without forming fractions that could underflow
    g -= np.log(total)
    return g


def _sparcc_kernel(
    logx: np.ndarray, exclusions: int, threshold: float, out_upper: bool = True
) -> np.ndarray:
    """SparCC on a batch of log-fraction matrices ``logx`` (K, n, p); returns (K, p, p) or (K, P).

    One call processes K independent draws at once. The basis variances after each exclusion
    come from a Woodbury update of the closed-form inverse of FastSpar's matrix
    ``M0 = (D-2) I + 1 1^T``: excluding the pair (i, j) subtracts ``u u^T`` with
    ``u = e_i + e_j`` from M (FastSpar decrements M at ii, jj, ij and ji), so after k exclusions
    only a k x k system is solved per draw instead of a D x D one.
    """
    k_batch, n, p = logx.shape
    dt = logx.dtype
    lc = logx - logx.mean(axis=1, keepdims=True)
    cov = np.matmul(lc.transpose(0, 2, 1), lc)
    cov /= n - 1
    var = np.diagonal(cov, axis1=1, axis2=2).astype(np.float64)  # (K, p)
    rowsum_c = cov.sum(axis=2, dtype=np.float64)
    # t_i = sum_j T_ij with T_ij = var_i + var_j - 2 cov_ij (the variation matrix)
    t0 = p * var + var.sum(axis=1, keepdims=True) - 2.0 * rowsum_c
    a_den = 2.0 * p - 2.0

    def apply_a(x: np.ndarray) -> np.ndarray:  # M0^-1 x
        return (x - x.sum(axis=-1, keepdims=True) / a_den) / (p - 2.0)

    pairs = np.zeros((k_batch, exclusions, 2), dtype=np.intp)
    valid = np.zeros((k_batch, exclusions), dtype=bool)
    rows = np.arange(k_batch)
    buf = np.empty_like(cov)
    diag_flat = np.arange(p) * (p + 1)

    def basis(k: int) -> np.ndarray:
        t = t0.copy()
        if k:
            pi, pj, ok = pairs[:, :k, 0], pairs[:, :k, 1], valid[:, :k]
            tij = np.where(ok, var[rows[:, None], pi] + var[rows[:, None], pj]
                           - 2.0 * cov[rows[:, None], pi, pj], 0.0)  # fmt: skip
            np.add.at(t, (np.repeat(rows, k), pi.ravel()), -tij.ravel())
            np.add.at(t, (np.repeat(rows, k), pj.ravel()), -tij.ravel())
        x = apply_a(t)
        if k:
            okf = ok.astype(np.float64)
            # u_a . u_b = shared endpoints of pairs a and b; 1^T u_a = 2
            dots = ((pi[:, :, None] == pi[:, None, :]).astype(np.float64)
                    + (pi[:, :, None] == pj[:, None, :]) + (pj[:, :, None] == pi[:, None, :])
                    + (pj[:, :, None] == pj[:, None, :]))  # fmt: skip
            uau = (dots - 4.0 / a_den) / (p - 2.0) * okf[:, :, None] * okf[:, None, :]
            s = np.eye(k) - uau
            z = (x[rows[:, None], pi] + x[rows[:, None], pj]) * okf
            try:
                y = np.linalg.solve(s, z[..., None])[..., 0]
            except np.linalg.LinAlgError:
                y = np.einsum("kab,kb->ka", np.linalg.pinv(s), z)
                logger.warning("sparcc: singular exclusion system; pseudo-inverse used")
            uy = np.zeros_like(x)
            np.add.at(uy, (np.repeat(rows, k), pi.ravel()), (y * okf).ravel())
            np.add.at(uy, (np.repeat(rows, k), pj.ravel()), (y * okf).ravel())
            x = x + apply_a(uy)
        x[x <= 0] = BASIS_VARIANCE_FLOOR
        return x

    def fill_rho(w: np.ndarray) -> None:
        # rho_ij = (w_i + w_j - T_ij) / (2 sqrt(w_i w_j)) = (cov_ij + (d_i + d_j)/2) s_i s_j
        half_d = ((w - var) / 2.0).astype(dt)
        s = (1.0 / np.sqrt(w)).astype(dt)
        np.add(cov, half_d[:, :, None], out=buf)
        np.add(buf, half_d[:, None, :], out=buf)
        np.multiply(buf, s[:, :, None], out=buf)
        np.multiply(buf, s[:, None, :], out=buf)

    w = basis(0)
    for k in range(exclusions):
        fill_rho(w)
        np.abs(buf, out=buf)
        flat = buf.reshape(k_batch, p * p)
        flat[:, diag_flat] = 0.0
        if k:
            pi, pj = pairs[:, :k, 0], pairs[:, :k, 1]
            buf[rows[:, None], pi, pj] = 0.0
            buf[rows[:, None], pj, pi] = 0.0
        idx = flat.argmax(axis=1)
        best = flat[rows, idx]
        active = best > threshold
        if not active.any():
            break
        pairs[:, k, 0], pairs[:, k, 1] = idx // p, idx % p  # first hit in row-major: i < j
        valid[:, k] = active
        w = basis(k + 1)
    fill_rho(w)
    np.clip(buf, -1.0, 1.0, out=buf)
    if out_upper:
        iu = np.triu_indices(p, 1)
        return buf[:, iu[0], iu[1]]
    buf.reshape(k_batch, p * p)[:, diag_flat] = 1.0
    return buf


def _upper_to_square(upper: np.ndarray, p: int) -> np.ndarray:
    out = np.eye(p)
    iu = np.triu_indices(p, 1)
    out[iu] = upper
    out[iu[1], iu[0]] = upper
    return out


def _batch_size(p: int, n: int, floor: int = 1) -> int:
    return max(floor, _BATCH_ELEMENTS // max(p * p, n * p))


def _effective_threshold(threshold: float, fastspar_threshold: bool) -> float:
    # FastSpar stores the threshold in an unsigned int, so 0.1 becomes 0 (docs/methods.md §4.1)
    return float(int(threshold)) if fastspar_threshold else float(threshold)


def _check_counts(counts: np.ndarray) -> np.ndarray:
    x = np.asarray(counts, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("counts must be a 2-D samples x taxa matrix")
    if x.shape[1] < 4:
        raise ValueError(f"SparCC needs at least 4 components, got {x.shape[1]}")
    if x.shape[0] < 2:
        raise ValueError(f"SparCC needs at least 2 samples, got {x.shape[0]}")
    if not np.isfinite(x).all() or (x < 0).any():
        raise ValueError("counts must be finite and non-negative")
    return x


def sparcc(
    counts: np.ndarray | pd.DataFrame,
    *,
    iterations: int = 50,
    exclusions: int = 10,
    threshold: float = 0.1,
    fastspar_threshold: bool = False,
    seed: int | np.random.SeedSequence = 1,
    threads: int = 1,
    dtype: type = np.float64,
) -> np.ndarray | pd.DataFrame:
    """SparCC correlations with FastSpar's semantics.

    Parameters
    ----------
    counts : array or DataFrame
        Samples x components, non-negative counts; at least 4 components and 2 samples.
    iterations : int
        Dirichlet draws; the estimate is the median over them (FastSpar ``--iterations``, 50).
    exclusions : int
        Exclusion iterations per draw (FastSpar ``--exclude_iterations``, 10).
    threshold : float
        A pair is excluded only while the strongest remaining ``|rho|`` exceeds it
        (``--threshold``, 0.1).
    fastspar_threshold : bool
        Emulate FastSpar's truncation of the threshold to an integer (0.1 -> 0, so every
        exclusion iteration removes the strongest remaining pair). Default False: the real
        threshold, as in the original SparCC.
    seed : int or SeedSequence
        Seed; iteration ``i`` uses the ``i``-th stream spawned from it.
    threads : int
        Worker threads over batches of iterations (results do not depend on it).
    dtype : numpy float type
        float64 (default) or float32 for the draws and covariances (faster; used for nulls).

    Returns
    -------
    ndarray or DataFrame
        Symmetric p x p correlation matrix with unit diagonal (labelled when ``counts`` is a
        DataFrame).

    Notes
    -----
    Matches FastSpar (Watts et al. 2019; ``scwatts/fastspar`` ``fastspar.cpp``), itself a
    re-implementation of SparCC (Friedman & Alm 2012). Per iteration: draw every sample's
    fractions from Dirichlet(counts + 1); take logs; compute the variation matrix
    ``T_ij = var(log x_i - log x_j)``; solve ``M w = t`` for the basis variances with
    ``t_i = sum_j T_ij`` and ``M = (D-2) I + 1 1^T``, setting variances <= 0 to 1e-4;
    ``rho_ij = (w_i + w_j - T_ij) / (2 sqrt(w_i w_j))`` clipped to [-1, 1]. Then up to
    ``exclusions`` times: take the strongest remaining ``|rho|`` (off-diagonal, not yet
    excluded); if it exceeds the threshold, exclude the pair (decrement M at ii, jj, ij, ji and
    drop T_ij from the row sums) and re-solve; correlations always use the full T. The result is
    the element-wise median over iterations.

    Threshold: by default the real threshold is used (original SparCC behaviour, the project's
    default in docs/methods.md §9a); ``fastspar_threshold=True`` reproduces FastSpar's unsigned-int
    truncation. Ties for the strongest pair (which FastSpar excludes together) have probability
    zero with continuous draws; one pair is excluded per step, as in SparCC. Like FastSpar and
    unlike the Python SparCC, components are never dropped when they take part in too many
    excluded pairs; with few components a singular system is solved by pseudo-inverse.

    References
    ----------
    Friedman J, Alm EJ (2012) PLoS Comput Biol 8:e1002687. Watts SC et al. (2019)
    Bioinformatics 35:1064-1066.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = sparcc(rng.poisson(50, (30, 6)), iterations=5)
    >>> r.shape, bool(np.allclose(r, r.T)), bool(np.allclose(np.diag(r), 1))
    ((6, 6), True, True)
    """
    labels = counts.columns if isinstance(counts, pd.DataFrame) else None
    x = _check_counts(counts)
    n, p = x.shape
    thr = _effective_threshold(threshold, fastspar_threshold)
    gens = _spawn(seed, iterations)
    step = min(_batch_size(p, n), -(-iterations // (2 * max(threads, 1))))
    chunks = [gens[i : i + step] for i in range(0, iterations, step)]

    def run(chunk: list[np.random.Generator]) -> np.ndarray:
        logx = np.stack([_log_dirichlet(x, g, dtype) for g in chunk])
        return _sparcc_kernel(logx, exclusions, thr)

    upper = np.concatenate(_map(run, chunks, threads))
    r = _upper_to_square(np.median(upper, axis=0), p)
    return pd.DataFrame(r, index=labels, columns=labels) if labels is not None else r


def _map(fn: Callable, items: Sequence, threads: int) -> list:
    """Run ``fn`` over ``items`` on ``threads`` workers with single-threaded BLAS in each.

    Small batched matrix products pay more for OpenBLAS thread start-up and spinning than they
    gain (measured: 250 products of 100 x 100 took 0.04 s or 1.9 s depending on machine load),
    so parallelism comes from the workers only.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        if threads <= 1 or len(items) <= 1:
            return [fn(it) for it in items]
        with ThreadPoolExecutor(max_workers=threads) as ex:
            return list(ex.map(fn, items))


def sparcc_reference(
    counts: np.ndarray,
    *,
    iterations: int = 50,
    exclusions: int = 10,
    threshold: float = 0.1,
    seed: int | np.random.SeedSequence = 1,
) -> np.ndarray:
    """A plain per-iteration SparCC following FastSpar's C++ loop structure (for tests/benchmarks).

    Same random streams as :func:`sparcc`, so the two agree to rounding. Each iteration builds
    the variation matrix, solves the D x D system with :func:`numpy.linalg.solve` after every
    exclusion and modifies M and the variation row sums in place, exactly as FastSpar does.
    """
    x = _check_counts(counts)
    n, p = x.shape
    out = []
    for g in _spawn(seed, iterations):
        logx = _log_dirichlet(x, g)
        variation = np.empty((p, p))
        for i in range(p):  # FastSpar: one column of the variation matrix at a time
            variation[:, i] = np.var(logx - logx[:, [i]], axis=0, ddof=1)
        mod = np.ones((p, p)) + np.diag(np.full(p, p - 2.0))
        mod_var = variation.copy()
        excluded = np.zeros((p, p), dtype=bool)

        def solve(mod=mod, mod_var=mod_var) -> np.ndarray:
            w = np.linalg.solve(mod, mod_var.sum(axis=1))
            w[w <= 0] = BASIS_VARIANCE_FLOOR
            return w

        def corr(w: np.ndarray, variation=variation) -> np.ndarray:
            r = (w[:, None] + w[None, :] - variation) / (2 * np.sqrt(np.outer(w, w)))
            return np.clip(r, -1, 1)

        r = corr(solve())
        for _ in range(exclusions):
            a = np.abs(r)
            np.fill_diagonal(a, 0)
            a[excluded] = 0
            i, j = np.unravel_index(np.argmax(a), a.shape)
            if a[i, j] <= threshold:
                break
            excluded[i, j] = excluded[j, i] = True
            mod[i, j] -= 1
            mod[j, i] -= 1
            mod[i, i] -= 1
            mod[j, j] -= 1
            mod_var[i, j] = mod_var[j, i] = 0
            r = corr(solve())
        np.fill_diagonal(r, 1.0)
        out.append(r)
    return np.median(np.stack(out), axis=0)


# --------------------------------------------------------------------------------------------
# proportionality and Spearman on CLR
# --------------------------------------------------------------------------------------------
def multi_replace(x: np.ndarray, delta: float | None = None) -> np.ndarray:
    """Multiplicative zero replacement along the last axis (batched).

    Same result as :func:`skbio.stats.composition.multi_replace` (Martín-Fernández et al. 2003):
    rows are closed, zeros become ``delta`` (default ``1 / D**2``) and non-zeros are scaled by
    ``1 - delta * (number of zeros)``. Works on any number of leading batch axes.
    """
    x = np.asarray(x, dtype=np.float64)
    tot = x.sum(axis=-1, keepdims=True)
    if (tot <= 0).any():
        raise ValueError("every composition needs a positive total")
    x = x / tot
    d = x.shape[-1]
    delta = (1.0 / d) ** 2 if delta is None else delta
    zero = x == 0
    scale = 1.0 - zero.sum(axis=-1, keepdims=True) * delta
    if (scale <= 0).any():
        raise ValueError("delta too large for the number of zeros")
    return np.where(zero, delta, x * scale)


def clr(x: np.ndarray) -> np.ndarray:
    """Centred log-ratio along the last axis after :func:`multi_replace` (batched)."""
    lx = np.log(multi_replace(x))
    return lx - lx.mean(axis=-1, keepdims=True)


def _batched_cov(z: np.ndarray) -> np.ndarray:
    zc = z - z.mean(axis=-2, keepdims=True)
    return np.matmul(np.swapaxes(zc, -1, -2), zc) / (z.shape[-2] - 1)


def proportionality(counts: np.ndarray | pd.DataFrame) -> np.ndarray | pd.DataFrame:
    """Proportionality rho_p between all pairs of components (batched over leading axes).

    Parameters
    ----------
    counts : array or DataFrame
        (..., samples, components) counts or relative abundances.

    Returns
    -------
    ndarray or DataFrame
        ``rho_ij = 1 - var(clr_i - clr_j) / (var(clr_i) + var(clr_j))``, unit diagonal; 0 where
        both variances are 0.

    Notes
    -----
    As propr's ``rho`` (Lovell et al. 2015; Erb & Notredame 2016; Quinn et al. 2017): clr of
    the full composition after multiplicative zero replacement (:func:`multi_replace`).

    References
    ----------
    Lovell D et al. (2015) PLoS Comput Biol 11:e1004075. Quinn TP et al. (2017) Sci Rep 7:16252.
    """
    labels = counts.columns if isinstance(counts, pd.DataFrame) else None
    z = clr(np.asarray(counts, dtype=np.float64))
    c = _batched_cov(z)
    v = np.diagonal(c, axis1=-2, axis2=-1)
    den = v[..., :, None] + v[..., None, :]
    # 1 - (v_i + v_j - 2 c_ij) / (v_i + v_j) = 2 c_ij / (v_i + v_j)
    r = np.divide(2.0 * c, den, out=np.zeros_like(c), where=den > _VAR_TOL)
    idx = np.arange(c.shape[-1])
    r[..., idx, idx] = 1.0
    return pd.DataFrame(r, index=labels, columns=labels) if labels is not None else r


def spearman_clr(counts: np.ndarray | pd.DataFrame) -> np.ndarray | pd.DataFrame:
    """Spearman correlation of clr-transformed abundances (the naive baseline; batched).

    Notes
    -----
    clr after :func:`multi_replace`, average ranks over samples, Pearson on the ranks (as
    :func:`scipy.stats.spearmanr`). Constant columns give 0. NetCoMi offers the same baseline
    (``measure = "spearman"`` with ``normMethod = "clr"``; Peschel et al. 2021).

    References
    ----------
    Peschel S et al. (2021) Brief Bioinform 22:bbaa290.
    """
    from scipy.stats import rankdata

    labels = counts.columns if isinstance(counts, pd.DataFrame) else None
    # clr values equal up to rounding are ties (e.g. a sample scaled by a constant)
    rk = rankdata(np.round(clr(np.asarray(counts, dtype=np.float64)), 10), axis=-2)
    c = _batched_cov(rk)
    sd = np.sqrt(np.diagonal(c, axis1=-2, axis2=-1))
    den = sd[..., :, None] * sd[..., None, :]
    r = np.divide(c, den, out=np.zeros_like(c), where=den > _VAR_TOL)
    r = np.clip(r, -1.0, 1.0)
    idx = np.arange(c.shape[-1])
    r[..., idx, idx] = 1.0
    return pd.DataFrame(r, index=labels, columns=labels) if labels is not None else r


# --------------------------------------------------------------------------------------------
# permutation p-values
# --------------------------------------------------------------------------------------------
def column_resample(counts: np.ndarray, rng: np.random.Generator, size: int = 1) -> np.ndarray:
    """FastSpar's null resample: every column drawn independently with replacement across samples.

    Returns an array (size, n, p). This is ``fastspar_bootstrap``: resampling each component on
    its own keeps its distribution and breaks all associations.
    """
    n, p = counts.shape
    idx = rng.integers(0, n, size=(size, n, p))
    return counts[idx, np.arange(p)]


def permutation_pvalues(
    counts: np.ndarray | pd.DataFrame,
    observed: np.ndarray | pd.DataFrame,
    *,
    method: str = "sparcc",
    permutations: int = 1000,
    perm_iterations: int = 5,
    exclusions: int = 10,
    threshold: float = 0.1,
    fastspar_threshold: bool = False,
    seed: int | np.random.SeedSequence = 1,
    threads: int = 1,
) -> np.ndarray | pd.DataFrame:
    """Two-sided permutation p-values ``(b + 1) / (B + 1)`` under FastSpar's column-resample null.

    Parameters
    ----------
    counts : array or DataFrame
        The samples x components table the observed matrix came from.
    observed : array or DataFrame
        Observed association matrix (p x p).
    method : {"sparcc", "rho", "spearman"}
        Statistic recomputed on every null resample.
    permutations : int
        Number of null resamples B (FastSpar README: 1,000).
    perm_iterations : int
        SparCC iterations per resample (FastSpar README: ``-i 5``).
    exclusions, threshold, fastspar_threshold
        As in :func:`sparcc`.
    seed : int or SeedSequence
        Resample ``b`` uses the ``b``-th stream spawned from it.
    threads : int
        Worker threads over batches of resamples (results do not depend on it).

    Returns
    -------
    ndarray or DataFrame
        p x p p-values, diagonal 0; never below ``1 / (B + 1)``.

    Notes
    -----
    ``b`` counts resamples with ``|r_null| >= |r_observed|``, as ``fastspar_pvalues`` does. The
    null resamples are FastSpar's ``fastspar_bootstrap`` (each component resampled with
    replacement on its own). The p-value is Phipson & Smyth's conservative ``(b + 1)/(B + 1)``
    rather than FastSpar's exact ``permp`` sum, which for B = 1,000 differs by less than
    1/(B + 1) and is undefined for resampling with replacement anyway. Null SparCC runs in
    float32 (the counts only need the rank of the observed value among the nulls).

    References
    ----------
    Phipson B, Smyth GK (2010) Stat Appl Genet Mol Biol 9:39. Watts SC et al. (2019)
    Bioinformatics 35:1064-1066.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    labels = counts.columns if isinstance(counts, pd.DataFrame) else None
    x = _check_counts(counts) if method == "sparcc" else np.asarray(counts, dtype=np.float64)
    n, p = x.shape
    obs = np.abs(np.asarray(observed, dtype=np.float64)[np.triu_indices(p, 1)])
    thr = _effective_threshold(threshold, fastspar_threshold)
    gens = _spawn(seed, permutations)
    per = perm_iterations if method == "sparcc" else 1
    step = max(1, min(_batch_size(p, n) // per, -(-permutations // (4 * max(threads, 1)))))
    chunks = [gens[i : i + step] for i in range(0, permutations, step)]
    iu = np.triu_indices(p, 1)

    def run(chunk: list[np.random.Generator]) -> np.ndarray:
        null = np.concatenate([column_resample(x, g) for g in chunk])
        if method == "sparcc":
            logx = np.stack(
                [
                    _log_dirichlet(null[b], g, np.float32)
                    for b, g in enumerate(chunk)
                    for _ in range(per)
                ]  # fmt: skip
            )
            up = _sparcc_kernel(logx, exclusions, thr).reshape(len(chunk), per, -1)
            up = np.median(up, axis=1)
        else:
            if method == "rho":
                null = null + (null.sum(axis=-1, keepdims=True) == 0)  # an empty resampled row
                r = proportionality(null)
            else:
                null = null + (null.sum(axis=-1, keepdims=True) == 0)
                r = spearman_clr(null)
            up = r[:, iu[0], iu[1]]
        return (np.abs(up) >= obs - 1e-12).sum(axis=0)

    b = np.sum(_map(run, chunks, threads), axis=0)
    pv = (b + 1.0) / (permutations + 1.0)
    out = _upper_to_square(pv, p)
    np.fill_diagonal(out, 0.0)
    return pd.DataFrame(out, index=labels, columns=labels) if labels is not None else out


# --------------------------------------------------------------------------------------------
# one group, many groups
# --------------------------------------------------------------------------------------------
def association(
    counts: pd.DataFrame,
    *,
    method: str = "sparcc",
    iterations: int = 50,
    exclusions: int = 10,
    threshold: float = 0.1,
    fastspar_threshold: bool = False,
    permutations: int = 1000,
    perm_iterations: int = 5,
    seed: int = 1,
    threads: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Association matrix and permutation p-values of one group of samples.

    Parameters
    ----------
    counts : DataFrame
        Samples x components (already filtered, remainder included).
    method : {"sparcc", "rho", "spearman"}
        SparCC (:func:`sparcc`), proportionality (:func:`proportionality`) or Spearman on clr
        (:func:`spearman_clr`).
    iterations, exclusions, threshold, fastspar_threshold
        SparCC settings (:func:`sparcc`); ignored by the other methods.
    permutations, perm_iterations
        Null resamples and SparCC iterations per resample (:func:`permutation_pvalues`);
        ``permutations=0`` gives p-values of 1.
    seed : int
        Seed; the observed estimate and the null use independent streams spawned from it.
    threads : int
        Worker threads.

    Returns
    -------
    r, p : DataFrame
        Components x components association and p-value matrices.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    s_obs, s_null = np.random.SeedSequence(seed).spawn(2)
    if method == "sparcc":
        r = sparcc(counts, iterations=iterations, exclusions=exclusions, threshold=threshold,
                   fastspar_threshold=fastspar_threshold, seed=s_obs, threads=threads)  # fmt: skip
    elif method == "rho":
        r = proportionality(counts)
    else:
        r = spearman_clr(counts)
    if permutations > 0:
        pv = permutation_pvalues(
            counts, r, method=method, permutations=permutations, perm_iterations=perm_iterations,
            exclusions=exclusions, threshold=threshold, fastspar_threshold=fastspar_threshold,
            seed=s_null, threads=threads,
        )  # fmt: skip
    else:
        pv = pd.DataFrame(np.ones(r.shape), index=r.index, columns=r.columns)
    return r, pv


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
        Group name -> (r, p) matrices over the same components (from :func:`association`).
        The remainder :data:`OTHER` is never an edge end.
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
    method: str = "sparcc",
    group_column: str | None = None,
    min_prevalence: float = 0.1,
    min_abundance: float = 0.0,
    iterations: int = 50,
    exclusions: int = 10,
    threshold: float = 0.1,
    fastspar_threshold: bool = False,
    permutations: int = 1000,
    perm_iterations: int = 5,
    alpha: float = 0.05,
    min_abs_r: float = 0.2,
    min_groups: int | None = None,
    edge_test: str = "q",
    fdr: float = 0.05,
    min_group_samples: int = 8,
    pseudo_count_scale: float = 36_000_000,
    seed: int = 1,
    threads: int = 1,
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
    method : {"sparcc", "rho", "spearman"}
        Association measure: SparCC (FastSpar semantics), proportionality rho, or Spearman on
        clr (baseline).
    group_column : str, optional
        Sheet column defining groups (cohort, timepoint, response). One network per group and
        only edges stable across groups are kept. None: all samples are one group.
    min_prevalence : float
        Fraction of samples with the taxon present, required in every group (0.1; use 0.75 to
        mimic Wu et al.).
    min_abundance : float
        Minimum mean relative abundance as a fraction (0 = no filter; docs/methods.md §9a suggests
        1e-4).
    iterations, exclusions, threshold, fastspar_threshold
        SparCC: Dirichlet draws (50), exclusion iterations (10), exclusion threshold (0.1) and
        FastSpar's integer truncation of it (False); see :func:`sparcc`.
    permutations : int
        Null resamples for p-values (1,000; 0 = no testing, every p = 1).
    perm_iterations : int
        SparCC iterations per null resample (5, as the FastSpar README).
    alpha : float
        With ``edge_test="p"``: edge if the raw ``p < alpha`` (Wu et al. used 0.001 with
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

    Filtering and lumping: :func:`filter_taxa`. Estimation and p-values: :func:`association`.
    Stability across groups: :func:`stable_edges` (Wu et al. 2024). Node statistics:
    :func:`node_table`. The run's parameters are stored as GraphML graph attributes.
    """
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
