"""Marker selection of the nested log-ratio balance (:mod:`icibiome.signatures.balance`).

Per-cohort differential abundance vectorised over features and label permutations
(:func:`cohort_effects`), the a-priori selection grid (:data:`DEFAULT_GRID`, :func:`make_grid`),
the nested inner leave-one-cohort-out that chooses a grid point and fits the one-feature
logistic (:func:`fit_core`), and the per-sample balance score (:func:`balance_score`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from icibiome.errors import UserError
from icibiome.signatures import differential as da

logger = logging.getLogger(__name__)

RANK_PREFIX = {"s__": "species", "g__": "genus", "f__": "family", "o__": "order",
               "c__": "class", "p__": "phylum", "k__": "kingdom", "t__": "sgb"}  # fmt: skip
# chosen a priori (not on any held-out cohort): agreement in 2-4 cohorts, pooled log2 effect
# of 0.25 / 0.5 / 1 (LinDA units), each rank alone or all together
DEFAULT_GRID = {"min_agree": (2, 3, 4), "min_effect": (0.25, 0.5, 1.0),
                "rank": ("species", "genus", "family", "all")}  # fmt: skip
EPS = 1e-5


def rank_of(name: str) -> str:
    """The rank of a prefixed feature name (``s__`` species, ``g__`` genus, ``f__`` family, ...).

    Unprefixed names count as species; a ``;``-joined lineage takes its last part's rank.

    Examples
    --------
    >>> rank_of("g__Roseburia"), rank_of("Bacteroides_uniformis"), rank_of("o__O1;f__F1")
    ('genus', 'species', 'family')
    """
    return RANK_PREFIX.get(str(name).split(";")[-1].split("|")[-1][:3], "species")


def to_fractions_by_rank(abundance: pd.DataFrame) -> pd.DataFrame:
    """Each rank's columns as fractions (a rank whose samples sum to ~100 is divided by 100)."""
    x = abundance.to_numpy(dtype=float, copy=True)
    ranks = np.array([rank_of(c) for c in abundance.columns])
    for r in set(ranks):
        cols = ranks == r
        if float(x[:, cols].sum(axis=1).max()) > 1.5:
            x[:, cols] /= 100.0
    return pd.DataFrame(x, index=abundance.index, columns=abundance.columns)


# --------------------------------------------------------------------------------------------
# per-cohort differential abundance, vectorised over features and label permutations
# --------------------------------------------------------------------------------------------
def cohort_effects(
    frac: np.ndarray,
    labels01: np.ndarray,
    ranks: np.ndarray,
    min_prevalence: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """LinDA-style effect (log2 CLR, R - NR, bias-corrected) and SE of every feature of one cohort.

    Parameters
    ----------
    frac : ndarray
        n samples x F features (one cohort; any non-negative scale per rank).
    labels01 : ndarray
        n (one labelling) or P x n (P labellings, e.g. permutations), 1 = R.
    ranks : ndarray
        F rank names; the CLR is taken within each rank.
    min_prevalence : float
        Within-cohort prevalence a feature needs to be tested.

    Returns
    -------
    effect, se : ndarray
        P x F (F for one labelling); NaN for untested features. Agrees with
        :func:`icibiome.signatures.differential.differential_cohort` (tested).
    """
    lab = np.atleast_2d(np.asarray(labels01, dtype=float))
    P, n = lab.shape
    F = frac.shape[1]
    eff = np.full((P, F), np.nan)
    se = np.full((P, F), np.nan)
    n_r = lab.sum(axis=1)
    n_nr = n - n_r
    for r in np.unique(ranks):
        cols = np.flatnonzero(ranks == r)
        sub = frac[:, cols]
        keep = (sub > 0).mean(axis=0) >= min_prevalence
        if keep.sum() == 0:
            continue
        Y = da.linda_log2clr(pd.DataFrame(sub[:, keep])).to_numpy()
        s_r = lab @ Y  # P x m
        s_all = Y.sum(axis=0)
        m_r = s_r / n_r[:, None]
        m_nr = (s_all - s_r) / n_nr[:, None]
        raw = m_r - m_nr
        # within-group sum of squares by groups' sums: sum Y^2 - n_R mean_R^2 - n_NR mean_NR^2
        ssw = (Y**2).sum(axis=0) - n_r[:, None] * m_r**2 - n_nr[:, None] * m_nr**2
        s2 = np.clip(ssw, 0.0, None) / max(n - 2, 1)
        sd = np.sqrt(s2 * (1.0 / n_r + 1.0 / n_nr)[:, None])
        bias = np.array([da._kde_mode(raw[p]) for p in range(P)])
        idx = cols[keep]
        eff[:, idx] = raw - bias[:, None]
        se[:, idx] = sd
    if np.ndim(labels01) == 1:
        return eff[0], se[0]
    return eff, se


# --------------------------------------------------------------------------------------------
# the nested core (shared by BalanceModel, StackModel, balance_loco and the null)
# --------------------------------------------------------------------------------------------
@dataclass
class Grid:
    """The marker-selection grid: one point per ``(min_agree, min_effect, rank)``.

    Built by :func:`make_grid`.
    """

    k: np.ndarray
    thr: np.ndarray
    rank_mask: np.ndarray  # G x F
    labels: list[tuple[int, float, str]]


def make_grid(grid: Mapping | None, ranks: np.ndarray) -> Grid:
    """The :class:`Grid` of ``grid`` (over :data:`DEFAULT_GRID`) for the ranks in ``ranks``."""
    g = dict(DEFAULT_GRID)
    g.update(grid or {})
    present = [r for r in ("species", "genus", "family") if r in set(ranks)]
    rank_opts = [r for r in g["rank"] if r in present or (r == "all" and len(present) > 1)]
    if not rank_opts:
        rank_opts = ["all"]
    labels, masks = [], []
    for r in rank_opts:
        for k in g["min_agree"]:
            for t in g["min_effect"]:
                labels.append((int(k), float(t), r))
                masks.append(np.ones(len(ranks), bool) if r == "all" else ranks == r)
    return Grid(np.array([x[0] for x in labels]), np.array([x[1] for x in labels]),
                 np.array(masks), labels)  # fmt: skip


def _pool(E: np.ndarray, S: np.ndarray, use: np.ndarray):
    """Pooled (inverse-variance) effect, #cohorts > 0, #cohorts < 0, #cohorts tested."""
    Et, St = E[use], S[use]
    ok = np.isfinite(Et) & np.isfinite(St) & (St > 0)
    w = np.where(ok, 1.0 / np.where(ok, St, 1.0) ** 2, 0.0)
    e0 = np.where(ok, Et, 0.0)
    ws = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(ws > 0, (w * e0).sum(axis=0) / np.where(ws > 0, ws, 1.0), np.nan)
    return pooled, (ok & (Et > 0)).sum(axis=0), (ok & (Et < 0)).sum(axis=0), ok.sum(axis=0)


def _select(pooled, npos, nneg, grid: Grid, g: int | None = None):
    """R and NR marker masks (G x F, or F for grid point ``g``)."""
    sl = slice(None) if g is None else g
    k = grid.k[sl, None] if g is None else grid.k[g]
    t = grid.thr[sl, None] if g is None else grid.thr[g]
    pm = np.nan_to_num(pooled, nan=0.0)
    r = grid.rank_mask[sl] & (pm > t) & (npos >= k)
    nr = grid.rank_mask[sl] & (pm < -t) & (nneg >= k)
    return r, nr


def balance_score(
    frac: np.ndarray, r_idx: np.ndarray, nr_idx: np.ndarray, eps: float
) -> np.ndarray:
    """``log((sum R + eps) / (sum NR + eps))`` per row, each row alone.

    The sums add the marker columns one after the other and the log is the scalar libm one, so
    a sample's score does not depend on the other rows (no BLAS or SIMD blocking).
    """
    frac = np.asarray(frac, dtype=float)
    sr = np.zeros(len(frac))
    snr = np.zeros(len(frac))
    for j in r_idx:
        sr += frac[:, j]
    for j in nr_idx:
        snr += frac[:, j]
    return np.array([math.log(a + eps) - math.log(b + eps) for a, b in zip(sr, snr, strict=True)])


def proba(coef: float, intercept: float, score: np.ndarray) -> np.ndarray:
    """Logistic probability per element (scalar math: one sample alone == in a batch)."""
    out = []
    for s in score:
        z = intercept + coef * float(s)
        out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))
    return np.array(out, dtype=float)


def _fast_scores(frac, r, nr, eps):
    """Scores of every grid point at once (G columns), for the inner model choice only."""
    cand = np.flatnonzero(r.any(axis=0) | nr.any(axis=0))
    sub = np.ascontiguousarray(frac[:, cand])
    sr = sub @ np.ascontiguousarray(r[:, cand].T, dtype=float)
    snr = sub @ np.ascontiguousarray(nr[:, cand].T, dtype=float)
    return np.log(sr + eps) - np.log(snr + eps)


@dataclass
class Fit:
    """A nested fit on the training cohorts (:func:`fit_core`): grid point, markers, logistic."""

    g: int  # chosen grid point (-1: empty)
    inner_auc: float
    r_idx: np.ndarray
    nr_idx: np.ndarray
    pooled: np.ndarray
    npos: np.ndarray
    nneg: np.ndarray
    ntest: np.ndarray
    oof: np.ndarray  # out-of-fold scores of the training samples at g (NaN where none)
    coef: float = 0.0
    intercept: float = 0.0
    inner_table: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _auc_cols(score: np.ndarray, y: np.ndarray) -> np.ndarray:
    return da.auroc(score, y)


def fit_core(X, y, cidx, E, S, train_c, eligible, grid: Grid, eps: float) -> Fit:
    """Fit on the training cohorts ``train_c`` (bool over cohorts); samples = their rows."""
    C = len(train_c)
    inner = [c for c in range(C) if train_c[c]]
    G = len(grid.labels)
    aucs = np.full((len(inner), G), np.nan)
    oof_all = {}
    for j, i in enumerate(inner):
        use = train_c.copy()
        use[i] = False
        pooled, npos, nneg, _ = _pool(E, S, use)
        r, nr = _select(pooled, npos, nneg, grid)
        rows = np.flatnonzero(cidx == i)
        sc = _fast_scores(_rows_of(X, cidx, i), r, nr, eps)
        oof_all[i] = (rows, r, nr)
        if eligible[i]:
            a = _auc_cols(sc, y[rows])
            a[~(r.any(axis=1) | nr.any(axis=1))] = np.nan  # empty balance
            aucs[j] = a
    mean = _nanmean0(aucs)
    pooled, npos, nneg, ntest = _pool(E, S, train_c)
    tr_rows = np.flatnonzero(np.isin(cidx, inner))
    oof = np.full(len(y), np.nan)
    if not np.isfinite(mean).any():
        return Fit(-1, np.nan, np.array([], int), np.array([], int), pooled, npos, nneg, ntest,
                    oof, inner_table=mean)  # fmt: skip
    g = int(np.nanargmax(mean))
    r, nr = _select(pooled, npos, nneg, grid, g)
    fit = Fit(g, float(mean[g]), np.flatnonzero(r), np.flatnonzero(nr), pooled, npos, nneg,
               ntest, oof, inner_table=mean)  # fmt: skip
    for rows, ri, nri in oof_all.values():
        oof[rows] = balance_score(X[rows], np.flatnonzero(ri[g]), np.flatnonzero(nri[g]), eps)
    s = balance_score(X, fit.r_idx, fit.nr_idx, eps)[tr_rows]
    fit.coef, fit.intercept = _logistic(s, y[tr_rows])
    return fit


def _rows_of(X: np.ndarray, cidx: np.ndarray, c: int) -> np.ndarray:
    return X[cidx == c]


def _nanmean0(a: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a)
    n = ok.sum(axis=0)
    return np.where(n > 0, np.where(ok, a, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)


def _logistic(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2 or np.ptp(score) == 0:
        return 0.0, 0.0
    m = LogisticRegression().fit(score[:, None], y.astype(int))
    return float(m.coef_[0, 0]), float(m.intercept_[0])


# --------------------------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------------------------
class BalanceError(UserError):
    """A user-input problem of the balance model (labels, cohorts, table)."""


def prep(frac: pd.DataFrame, y01, cohorts, min_per_class: int):
    """Check the inputs; ``(y, cohort index per sample, cohort names, eligible cohorts)``."""
    if len(np.asarray(y01)) != len(frac) or len(np.asarray(cohorts)) != len(frac):
        raise BalanceError(f"balance: {len(frac)} samples in the table but "
                           f"{len(np.asarray(y01))} labels and {len(np.asarray(cohorts))} "
                           "cohorts")  # fmt: skip
    if not np.isfinite(frac.to_numpy(dtype=float)).all() or (frac.to_numpy(dtype=float) < 0).any():
        bad = frac.columns[(~np.isfinite(frac.to_numpy(dtype=float)) | (frac < 0)).any()][0]
        raise BalanceError(f"balance: column {bad!r} holds negative or missing abundances")
    y = np.asarray(y01).astype(bool)
    if y.all() or not y.any():
        raise BalanceError("balance: the labelled samples hold one class only (column "
                           "'response' needs both R and NR)")  # fmt: skip
    coh = pd.Series(np.asarray(cohorts), index=frac.index).astype(str)
    names = sorted(coh.unique())
    cidx = coh.map({c: i for i, c in enumerate(names)}).to_numpy()
    n_r = np.bincount(cidx, weights=y, minlength=len(names))
    n_all = np.bincount(cidx, minlength=len(names))
    eligible = (n_r >= min_per_class) & (n_all - n_r >= min_per_class)
    return y, cidx, names, eligible


def all_effects(X, labels, cidx, eligible, ranks, min_prevalence):
    """Per-cohort effects: C x F (labels n) or P x C x F (labels P x n)."""
    lab = np.atleast_2d(labels)
    C = len(eligible)
    E = np.full((lab.shape[0], C, X.shape[1]), np.nan)
    S = np.full_like(E, np.nan)
    for c in range(C):
        if not eligible[c]:
            continue
        rows = np.flatnonzero(cidx == c)
        E[:, c], S[:, c] = cohort_effects(X[rows], lab[:, rows], ranks, min_prevalence)
    if np.ndim(labels) == 1:
        return E[0], S[0]
    return E, S
