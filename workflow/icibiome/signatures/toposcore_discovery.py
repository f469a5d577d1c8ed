"""TOPOSCORE de-novo mode: re-derive SIG1/SIG2 on a training cohort (``tp_main.R``).

The algorithm of ``tp_main.R`` / ``tp_helper.R`` of ``github.com/valerioiebba/TOPOSCORE``
(docs/methods.md §1.2 steps 1-4, §9c): a univariate Cox screen of every species
(:func:`cox_screen`, :func:`cox_binary`), pairwise Fisher co-occurrence tests
(:func:`fisher_cooccurrence`), Ward clustering on Manhattan distances into ``k`` clusters, and
clusters labelled SIG1 / SIG2 by hazard direction (:func:`discover_signatures`). The score itself
is :mod:`icibiome.signatures.toposcore`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from icibiome.io import UNCLASSIFIED
from icibiome.signatures.toposcore import (
    AKK_NAMES,
    Signature,
    ToposcoreError,
    signature_from_names,
)
from icibiome.taxonomy.harmonise import normalise_name

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# de-novo discovery (tp_main.R; docs/methods.md §1.2 steps 1-4, §9c)
# --------------------------------------------------------------------------------------------
def cox_binary(time, event, x: np.ndarray, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Cox PH of survival on each column of ``x`` alone (Efron ties, as R's ``coxph``).

    Newton-Raphson on the partial likelihood, all columns at once; ``x`` is samples x
    covariates. Returns the coefficients and their Wald standard errors. A covariate that
    separates the events diverges, as in R (a very large |beta|, flagged by R with a warning).
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float) > 0
    x = np.asarray(x, dtype=float)
    order = np.argsort(-t, kind="stable")
    t, e, x = t[order], e[order], x[order]
    # groups of equal times, in decreasing time; the risk set of a group = everything up to its end
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    ends = np.r_[starts[1:], len(t)] - 1
    d = np.add.reduceat(e.astype(float), starts)
    ev = d > 0
    starts, ends, d = starts[ev], ends[ev], d[ev]
    xe = x * e[:, None]
    sum_x_events = xe.sum(axis=0)
    beta = np.zeros(x.shape[1])
    info = np.ones(x.shape[1])
    for _ in range(max_iter):
        w = np.exp(np.clip(x * beta, -700, 700))
        c0, c1, c2 = (np.cumsum(v, axis=0) for v in (w, w * x, w * x * x))
        s0, s1, s2 = c0[ends], c1[ends], c2[ends]
        ew = w * e[:, None]
        zero = np.zeros((1, x.shape[1]))
        # sums over the events of each group (Efron's tie correction)
        e0, e1, e2 = (_group_sums(np.vstack([zero, np.cumsum(v, axis=0)]), starts, ends)
                      for v in (ew, ew * x, ew * x * x))  # fmt: skip
        score = sum_x_events.copy()
        info = np.zeros_like(beta)
        for ell in range(int(d.max())):
            m = d > ell
            a = (ell / d[m])[:, None]
            den = s0[m] - a * e0[m]
            m1 = (s1[m] - a * e1[m]) / den
            m2 = (s2[m] - a * e2[m]) / den
            score -= m1.sum(axis=0)
            info += (m2 - m1**2).sum(axis=0)
        step = score / np.where(info > 0, info, np.inf)
        beta = beta + step
        if np.all(np.abs(step) < 1e-9):
            break
    se = 1 / np.sqrt(np.where(info > 0, info, np.nan))
    return beta, se


def _group_sums(cum: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    # cum has a leading zero row: sum of rows starts..ends = cum[ends + 1] - cum[starts]
    return cum[ends + 1] - cum[starts]


def cox_screen(
    abundance: pd.DataFrame,
    time: pd.Series,
    event: pd.Series,
    hr_low: float = 0.8,
    hr_high: float = 1.25,
    exclude: Iterable[str] = AKK_NAMES,
) -> pd.DataFrame:
    """Univariate Cox screen of every species (``tp_main.R``; docs/methods.md §1.2 step 1).

    Each species becomes binary: above its median when the median is not 0, else presence. Cox
    PH (Efron ties, as R's ``coxph``; :func:`cox_binary`) of OS on it; ``keep`` = HR <=
    ``hr_low`` or >= ``hr_high`` (no p-value filter). *Akkermansia* is left out (it enters
    through the tripartite rule). Samples without time or event are dropped.
    """
    from scipy.stats import norm

    skip = {normalise_name(n) for n in exclude}
    t = pd.to_numeric(pd.Series(time, index=abundance.index), errors="coerce")
    e = pd.to_numeric(pd.Series(event, index=abundance.index), errors="coerce")
    ok = (t.notna() & e.notna()).to_numpy()
    ab = abundance.loc[ok, [c for c in abundance.columns if normalise_name(c) not in skip]]
    x = ab.to_numpy(float)
    med = np.median(x, axis=0)
    b = np.where(med != 0, x > med, x > 0)
    var = b.any(axis=0) & ~b.all(axis=0)
    beta, se = cox_binary(t[ok].to_numpy(), e[ok].to_numpy(), b[:, var].astype(float))
    out = pd.DataFrame({
        "taxon": ab.columns[var],
        "split": np.where(med[var] != 0, "median", "presence"),
        "hr": np.exp(beta),
        "p_value": 2 * norm.sf(np.abs(beta / se)),
    })  # fmt: skip
    out["keep"] = (out["hr"] <= hr_low) | (out["hr"] >= hr_high)
    return out


def fisher_cooccurrence(present: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairwise Fisher exact tests on presence/absence (``tp_helper.R``; §1.2 step 2).

    Two-sided p-values as R's ``fisher.test`` computes them (sum of the hypergeometric
    probabilities not above the observed one, relative tolerance 1e-7), vectorised over all
    pairs. Returns the p-value matrix and the association sign (+1 when the two co-occur more
    than expected, i.e. odds ratio > 1; -1 below; 0 at independence); diagonal p = 1, sign 0.
    """
    from scipy.special import gammaln

    x = present.to_numpy(bool)
    n, k = x.shape
    both = x.T.astype(float) @ x.astype(float)
    cnt = x.sum(axis=0).astype(float)
    grid = np.arange(n + 1, dtype=float)

    def lchoose(a, b):
        with np.errstate(invalid="ignore"):
            return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    p = np.ones((k, k))
    for i in range(k):
        kk, mm = cnt[i], cnt[:, None]  # margins of each pair (i, j)
        a = grid[None, :]
        valid = (a >= np.maximum(0, kk + mm - n)) & (a <= np.minimum(kk, mm))
        logp = np.where(valid, lchoose(kk, a) + lchoose(n - kk, mm - a) - lchoose(n, mm), -np.inf)
        obs = np.take_along_axis(logp, both[i][:, None].astype(int), axis=1)
        dens = np.exp(logp)
        keep = logp <= obs + np.log1p(1e-7)
        p[i] = np.minimum(1.0, (dens * keep).sum(axis=1))
    np.fill_diagonal(p, 1.0)
    sign = np.sign(both * n - cnt[:, None] * cnt[None, :])
    np.fill_diagonal(sign, 0.0)
    cols = present.columns
    return pd.DataFrame(p, cols, cols), pd.DataFrame(sign, cols, cols)


@dataclass
class Discovery:
    """Result of :func:`discover_signatures`."""

    sig1: Signature
    sig2: Signature
    cox: pd.DataFrame
    clusters: pd.Series
    cluster_labels: dict[int, str]


def discover_signatures(
    abundance: pd.DataFrame,
    time: pd.Series,
    event: pd.Series,
    *,
    k: int = 7,
    hr_low: float = 0.8,
    hr_high: float = 1.25,
    min_prevalence: float = 0.025,
    drop_unnamed: bool = True,
    majority: float = 2 / 3,
    alpha: float = 0.05,
) -> Discovery:
    """Re-derive SIG1/SIG2 on a training cohort (de-novo mode; ``tp_main.R``, docs/methods.md §1.2, §9c).

    1. Filter species: prevalence >= ``min_prevalence`` and no ``GGB*`` unnamed groups (the 2024
       re-run, ``final_script_paper.ipynb``);
    2. :func:`cox_screen`: keep HR <= ``hr_low`` or >= ``hr_high``;
    3. :func:`fisher_cooccurrence` on presence; keep species whose smallest pair p-value is
       <= ``alpha`` / number of species (Bonferroni), and all their pairs;
    4. ``S_ij = -log10(p_ij) sign(OR_ij - 1)``; Manhattan distances between the rows of S;
       Ward (``hclust(method = "ward.D2")`` = scipy ``ward`` on the distances); cut into ``k``;
    5. a cluster is SIG1 (resistance) when >= ``majority`` of its species have HR > 1, SIG2 when
       >= ``majority`` have HR < 1 (§9c step 4, generalising the paper's fixed cluster map);
       species whose own HR points the other way are dropped (the 2024 notebook rule).

    The published lists cannot be re-derived exactly from the released code (docs/methods.md §1.2
    step 4); use this mode on a training cohort and always evaluate on held-out cohorts.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    ab = abundance.drop(columns=[UNCLASSIFIED], errors="ignore").fillna(0)
    keep = (ab > 0).mean() >= min_prevalence
    if drop_unnamed:
        keep &= ~pd.Index([normalise_name(c) for c in ab.columns]).str.startswith("GGB")
    ab = ab.loc[:, keep.to_numpy()]
    cox = cox_screen(ab, time, event, hr_low, hr_high)
    taxa = list(cox.loc[cox["keep"], "taxon"])
    if len(taxa) < k:
        raise ToposcoreError(f"only {len(taxa)} species pass the Cox screen; need at least k={k}")
    p, sign = fisher_cooccurrence(ab[taxa] > 0)
    pmin = p.where(~np.eye(len(taxa), dtype=bool)).min()
    taxa = list(pmin.index[pmin <= alpha / len(taxa)])
    if len(taxa) < k:
        raise ToposcoreError(f"only {len(taxa)} species pass the Fisher filter; need k={k}")
    p, sign = p.loc[taxa, taxa], sign.loc[taxa, taxa]
    s = -np.log10(p.clip(lower=1e-300)) * sign
    z = linkage(pdist(s.to_numpy(), metric="cityblock"), method="ward")
    clusters = pd.Series(fcluster(z, t=k, criterion="maxclust"), index=taxa, name="cluster")
    hr = cox.set_index("taxon")["hr"].reindex(taxa)
    labels: dict[int, str] = {}
    sig1, sig2 = [], []
    for c in sorted(clusters.unique()):
        mem = clusters.index[clusters == c]
        up = float((hr[mem] > 1).mean())
        if up >= majority:
            labels[int(c)] = "SIG1"
            sig1 += [t for t in mem if hr[t] > 1]
        elif 1 - up >= majority:
            labels[int(c)] = "SIG2"
            sig2 += [t for t in mem if hr[t] < 1]
        else:
            labels[int(c)] = "mixed"
    if not sig1 or not sig2:
        raise ToposcoreError("de-novo discovery found no SIG1 or no SIG2 cluster")
    logger.info("de-novo TOPOSCORE: %d species -> %d clusters -> SIG1 %d / SIG2 %d",
                len(taxa), k, len(sig1), len(sig2))  # fmt: skip
    return Discovery(signature_from_names(sig1, "SIG1"), signature_from_names(sig2, "SIG2"),
                     cox, clusters, labels)  # fmt: skip
