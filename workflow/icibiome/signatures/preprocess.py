"""Feature preprocessing of the response models (:mod:`icibiome.signatures.predict`).

SIAMCAT-style, docs/methods.md §9d:

* features: species relative abundances (fractions), prevalence-filtered on the *training*
  samples only, transformed per sample by ``log10(x + 1e-5)`` (``transform="log10"``) or CLR
  (``"clr"``); optional extra per-sample features (guild balance, TOPOSCORE) appended as is;
* batch handling: ``"none"``, ``"cohort_z"`` (each cohort z-scored on its own, label-free, so
  it can be applied to a held-out or new cohort without leakage) or ``"combat"`` (parametric
  empirical-Bayes ComBat, Johnson et al. 2007, as sva::ComBat / pyComBat without covariates;
  the reference location and scale are fitted on the *training* samples only and every cohort,
  a held-out or new one included, is adjusted with its own label-free EB estimates).

Everything data-dependent is fitted on the training rows only (:func:`fit_preprocess`) and
applied to any rows (:func:`apply_preprocess`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

TRANSFORMS = ("log10", "clr")
BATCH = ("none", "cohort_z", "combat")
LOG10_PSEUDO = 1e-5
MIN_BATCH_SAMPLES = 10
"""Fewest samples of a cohort that per-cohort z-scoring / ComBat of a new cohort accept."""


# --------------------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------------------
def to_fractions(abundance: pd.DataFrame) -> pd.DataFrame:
    """Relative abundances as fractions (percent tables, whose samples sum to ~100, are /100)."""
    tot = abundance.sum(axis=1)
    return abundance / 100.0 if float(tot.max()) > 1.5 else abundance


def clr_pseudo(frac: pd.DataFrame) -> float:
    """The CLR zero replacement fitted on a table: half its smallest non-zero value (1 if none)."""
    x = frac.to_numpy(dtype=float)
    pos = x[x > 0]
    return float(pos.min() / 2) if pos.size else 1.0


def transform(
    frac: pd.DataFrame, method: str = "log10", pseudo: float | None = None
) -> pd.DataFrame:
    """Per-sample transform of a fraction table: ``log10(x + 1e-5)`` or log2 CLR.

    ``pseudo`` is the CLR zero replacement; a model passes the value fitted on its training
    samples (:func:`fit_preprocess`), so that a sample's features depend on that sample alone.
    Without it the CLR takes half the smallest non-zero value of ``frac`` itself (exploration
    only: then the features of a sample depend on the other rows of the table).
    """
    if method == "log10":
        return np.log10(frac + LOG10_PSEUDO)
    if method == "clr":
        pc = clr_pseudo(frac) if pseudo is None else float(pseudo)
        x = frac.to_numpy(dtype=float)
        lx = np.log2(np.where(x > 0, x, pc))
        lx = lx - lx.mean(axis=1, keepdims=True) if lx.shape[1] else lx
        return pd.DataFrame(lx, index=frac.index, columns=frac.columns)
    raise ValueError(f"transform must be one of {TRANSFORMS}, not {method!r}")


def cohort_standardise(X: pd.DataFrame, cohorts: pd.Series) -> pd.DataFrame:
    """z-score every column within each cohort (label-free batch adjustment); NaN are ignored."""
    out = X.copy()
    for _, idx in X.groupby(cohorts.loc[X.index].to_numpy()).groups.items():
        sub = X.loc[idx]
        sd = sub.std(ddof=0).replace(0, 1.0).fillna(1.0)
        out.loc[idx] = (sub - sub.mean()) / sd
    return out


def combat_reference(X: pd.DataFrame, cohorts: pd.Series) -> dict[str, pd.Series]:
    """ComBat's reference of the training samples: grand mean and pooled SD per feature.

    As in ComBat without covariates (Johnson et al. 2007; sva): the grand mean is the
    mean of all samples and the pooled variance the mean squared deviation from the own
    cohort's mean (divided by n). Constant features get SD 1. NaN are ignored.
    """
    batch_mean = X.groupby(cohorts.loc[X.index].to_numpy()).transform("mean")
    var = ((X - batch_mean) ** 2).mean()
    sd = np.sqrt(var).where(lambda v: v > 0, 1.0).fillna(1.0)
    return {"mean": X.mean().fillna(0.0), "sd": sd}


def _combat_eb(
    z: np.ndarray, conv: float = 1e-4, max_iter: int = 1000, ddof: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Parametric EB shrinkage of one batch's location/scale (sva ComBat's it.sol).

    Hyper-priors and the stopping rule as sva's R code (``rowVars``/``var`` with ``ddof=1``;
    change relative to the signed previous value). Validation: pyComBat 0.3.3 deviates from sva
    by an indexing bug at pycombat.py:156 (first gene's batch effect used for every gene) plus
    n instead of n-1 divisors; fixing both makes it agree with sva to 1.8e-15; this
    implementation matches a line-by-line transcription of sva to 2.7e-15 (independent review).
    """
    n = np.sum(np.isfinite(z), axis=0).astype(float)
    g_hat = np.nanmean(z, axis=0)
    d_hat = np.nanvar(z, axis=0, ddof=1) if z.shape[0] > 1 else np.ones(z.shape[1])
    d_hat = np.where(np.isfinite(d_hat) & (d_hat > 1e-8), d_hat, 1e-8)
    g_bar, t2 = np.nanmean(g_hat), np.nanvar(g_hat, ddof=ddof)
    m, s2 = np.mean(d_hat), np.var(d_hat, ddof=ddof)
    if not np.isfinite(t2) or t2 <= 0 or not np.isfinite(s2) or s2 <= 0:
        return g_hat, d_hat  # nothing to borrow strength from
    lam, theta = (m * m + 2 * s2) / s2, (m**3 + m * s2) / s2
    g_new, d_new = g_hat.copy(), d_hat.copy()
    for _ in range(max_iter):
        g_next = (n * t2 * g_hat + d_new * g_bar) / (n * t2 + d_new)
        ss = np.nansum((z - g_next) ** 2, axis=0)
        d_next = (theta + 0.5 * ss) / (n / 2.0 + lam - 1.0)
        # sva's it.sol criterion as written: divided by the signed previous value
        with np.errstate(divide="ignore", invalid="ignore"):
            change = max(np.nanmax(np.abs(g_next - g_new) / g_new),
                         np.nanmax(np.abs(d_next - d_new) / d_new))  # fmt: skip
        g_new, d_new = g_next, d_next
        if change < conv:
            break
    return g_new, d_new


def combat_adjust(X: pd.DataFrame, cohorts: pd.Series, ref: dict[str, pd.Series]) -> pd.DataFrame:
    """Adjust every cohort of ``X`` onto the reference ``ref`` (:func:`combat_reference`).

    Each cohort is standardised with the reference mean and SD, its location and scale are
    estimated from its own samples with ComBat's parametric empirical-Bayes shrinkage (priors
    from the cohort's features; no labels used), removed, and the reference scale restored.
    Features with no finite value in a cohort (e.g. a taxon absent from the whole cohort, masked
    by :func:`apply_preprocess`) stay NaN there and do not enter that cohort's priors.
    """
    mean = ref["mean"].reindex(X.columns).fillna(0.0)
    sd = ref["sd"].reindex(X.columns).fillna(1.0)
    Z = (X - mean) / sd
    out = X.copy()
    for _, idx in X.groupby(cohorts.loc[X.index].to_numpy()).groups.items():
        z = Z.loc[idx].to_numpy(dtype=float)
        ok = np.isfinite(z).any(axis=0)
        adj = np.full(z.shape, np.nan)
        if ok.any():
            g, d = _combat_eb(z[:, ok])
            adj[:, ok] = (z[:, ok] - g) / np.sqrt(d) * sd.to_numpy()[ok] + mean.to_numpy()[ok]
        out.loc[idx] = adj
    return out


def _kept_species(frac: pd.DataFrame, min_prevalence: float) -> list[str]:
    return list(frac.columns[(frac > 0).mean(axis=0) >= min_prevalence])


# --------------------------------------------------------------------------------------------
# fitted preprocessing: everything data-dependent is learnt on the training rows only
# --------------------------------------------------------------------------------------------
@dataclass
class Preprocess:
    """The fitted feature preprocessing of a model (:func:`fit_preprocess`).

    ``species`` (prevalence filter), ``pseudo`` (the transform's zero replacement: 1e-5 for
    log10, half the smallest non-zero training fraction for CLR), ``batch_ref`` (ComBat's
    training location and scale) and ``absent`` (the value a taxon absent from a whole cohort
    takes after batch handling: the mean adjusted value of the training zeros) are all fitted on
    the training rows; ``columns`` are the model's input columns.
    """

    species: list[str] | None
    extra: list[str]
    transform: str
    batch: str
    pseudo: float
    batch_ref: dict | None = None
    absent: pd.Series | None = None
    columns: list[str] = field(default_factory=list)


def _raw_features(pp: Preprocess, frac: pd.DataFrame, extra: pd.DataFrame | None):
    parts = []
    if pp.species is not None:
        sp = frac.reindex(columns=list(pp.species), fill_value=0.0)
        parts.append(transform(sp, pp.transform, pp.pseudo).add_prefix("sp:"))
    if pp.extra:
        parts.append(extra.reindex(index=frac.index, columns=pp.extra).add_prefix("x:"))
    return pd.concat(parts, axis=1)


def _absent_mask(pp: Preprocess, frac: pd.DataFrame, cohorts: pd.Series, X: pd.DataFrame):
    """Cells of a species absent from every sample of the row's cohort (False elsewhere)."""
    mask = pd.DataFrame(False, index=X.index, columns=X.columns)
    if pp.species:
        sp = frac.reindex(columns=list(pp.species), fill_value=0.0) > 0
        anyp = sp.groupby(cohorts.loc[frac.index].to_numpy()).transform("any")
        mask.loc[:, ["sp:" + s for s in pp.species]] = ~anyp.to_numpy()
    return mask


def _batch(pp: Preprocess, X: pd.DataFrame, cohorts: pd.Series, mask: pd.DataFrame):
    if pp.batch == "none":
        return X
    Xm = X.mask(mask)
    if pp.batch == "cohort_z":
        return cohort_standardise(Xm, cohorts)
    if pp.batch == "combat":
        return combat_adjust(Xm, cohorts, pp.batch_ref)
    raise ValueError(f"batch must be one of {BATCH}, not {pp.batch!r}")


def fit_preprocess(
    frac: pd.DataFrame,
    extra: pd.DataFrame | None,
    cohorts: pd.Series,
    transform_method: str = "log10",
    batch: str = "none",
    min_prevalence: float = 0.1,
    use_species: bool = True,
) -> Preprocess:
    """Fit the preprocessing on the training rows ``frac`` (fractions) / ``extra`` only."""
    if transform_method not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, not {transform_method!r}")
    if batch not in BATCH:
        raise ValueError(f"batch must be one of {BATCH}, not {batch!r}")
    species = _kept_species(frac, min_prevalence) if use_species else None
    pseudo = LOG10_PSEUDO if transform_method == "log10" else clr_pseudo(frac[species or []])
    pp = Preprocess(species, [] if extra is None else list(extra.columns), transform_method,
                    batch, pseudo)  # fmt: skip
    X = _raw_features(pp, frac, extra)
    mask = _absent_mask(pp, frac, cohorts, X)
    if batch == "combat":
        pp.batch_ref = combat_reference(X.mask(mask), cohorts)
    if batch != "none" and species:
        adj = _batch(pp, X, cohorts, mask)
        zero = pd.DataFrame(False, index=X.index, columns=X.columns)
        zero.loc[:, ["sp:" + s for s in species]] = (frac[species] == 0).to_numpy()
        at_zero = adj.where(zero & ~mask)
        pp.absent = at_zero.mean().fillna(adj.min()).fillna(0.0)[["sp:" + s for s in species]]
    X = apply_preprocess(pp, frac, extra, cohorts)
    pp.columns = list(X.columns[X.notna().any()])
    return pp


def apply_preprocess(
    pp: Preprocess,
    frac: pd.DataFrame,
    extra: pd.DataFrame | None,
    cohorts: pd.Series,
    min_batch: int = 0,
) -> pd.DataFrame:
    """The model input of ``frac`` rows with the fitted ``pp`` (columns ``pp.columns`` once set).

    Without batch handling every row depends on its own sample only. With ``cohort_z`` /
    ``combat`` each cohort is adjusted with its own samples; ``min_batch`` > 0 refuses
    (:class:`~icibiome.errors.UserError`) cohorts with fewer samples. A taxon absent from a whole
    cohort takes the fitted ``pp.absent`` value (absent, not average).
    """
    if pp.batch != "none" and min_batch:
        from icibiome.errors import UserError

        n = cohorts.loc[frac.index].value_counts()
        small = n[n < min_batch]
        if len(small):
            raise UserError(
                f"this model adjusts each cohort with its own samples (batch '{pp.batch}') and "
                f"needs at least {min_batch} samples per cohort; cohort(s) "
                + ", ".join(f"'{c}' ({k})" for c, k in small.items())
                + " have fewer: score them together with more samples of the same cohort, or "
                "use a model trained with signatures.batch: none for single patients"
            )  # fmt: skip
    X = _raw_features(pp, frac, extra)
    if pp.batch != "none":
        mask = _absent_mask(pp, frac, cohorts, X)
        X = _batch(pp, X, cohorts, mask)
        if pp.absent is not None:
            fill = pd.DataFrame(np.broadcast_to(pp.absent.reindex(X.columns).to_numpy(),
                                                X.shape), index=X.index, columns=X.columns)  # fmt: skip
            X = X.mask(mask, fill)
    return X.reindex(columns=pp.columns) if pp.columns else X


def feature_matrix(
    frac: pd.DataFrame,
    species: Sequence[str] | None,
    extra: pd.DataFrame | None,
    cohorts: pd.Series,
    transform_method: str = "log10",
    batch: str = "none",
    fit_index: Sequence | None = None,
    batch_ref: dict | None = None,
) -> pd.DataFrame:
    """The model's input: transformed ``species`` columns (absent ones = 0), then ``extra``.

    Fits the preprocessing (CLR pseudo-count, ComBat reference, absent values) on the rows
    ``fit_index`` (the training samples; default all rows) and applies it to every row;
    ``species`` is used as given. ``batch_ref`` replaces the fitted ComBat reference.
    """
    rows = frac.index if fit_index is None else pd.Index(list(fit_index))
    sub = frac.loc[rows] if species is None else frac.loc[rows].reindex(columns=list(species),
                                                                        fill_value=0.0)  # fmt: skip
    pp = fit_preprocess(sub,
                        None if extra is None else extra.loc[rows], cohorts, transform_method,
                        batch, 0.0, species is not None)  # fmt: skip
    if species is not None:
        pp.species = list(species)
    if batch_ref is not None:
        pp.batch_ref = batch_ref
    pp.columns = []
    return apply_preprocess(pp, frac, extra, cohorts)


def labelled(info: pd.DataFrame, frac: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``info`` labelled R or NR whose sample is in ``frac``, in ``info``'s order."""
    lab = info[info["response"].isin(["R", "NR"])]
    return lab.loc[[i for i in lab.index if i in frac.index]]
