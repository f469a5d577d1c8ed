"""Response prediction across cohorts: leave-one-cohort-out (LOCO), within-cohort CV, frozen models.

Follows the cross-cohort design of Lee et al. (2022, Nat Med 28:535; LASSO on log10 species
abundances, leave-one-dataset-out mean AUC about 0.59-0.60) and McCulloch et al. (2022, Nat Med
28:545; "all-minus-one"), with the SIAMCAT-style preprocessing of docs/methods.md §9d:

* features: species relative abundances (fractions), prevalence-filtered on the *training*
  samples only, transformed per sample by ``log10(x + 1e-5)`` (``transform="log10"``) or CLR
  (``"clr"``); optional extra per-sample features (guild balance, TOPOSCORE) appended as is;
* batch handling: ``"none"``, ``"cohort_z"`` (each cohort z-scored on its own, label-free, so
  it can be applied to a held-out or new cohort without leakage) or ``"combat"`` (parametric
  empirical-Bayes ComBat, Johnson et al. 2007, as sva::ComBat / pyComBat without covariates;
  the reference location and scale are fitted on the *training* samples only and every cohort,
  a held-out or new one included, is adjusted with its own label-free EB estimates);
* models: ``"lasso"`` = L1 logistic regression (liblinear, balanced class weights) with ``C``
  chosen by inner stratified 5-fold CV on the training samples (AUC), after z-scoring fitted on
  the training samples; ``"rf"`` = random forest (500 trees, ``max_features="sqrt"``, balanced
  class weights);
* LOCO: each cohort with at least ``min_per_class`` R and NR is held out in turn, the model is
  trained on all other labelled samples, and the held-out AUROC is reported with a DeLong 95% CI
  (DeLong et al. 1988, fast midrank form of Sun & Xu 2014);
* within-cohort: repeated stratified k-fold CV per cohort (Lee: 100 x 5-fold; default 5 x 5),
  with its own label-permutation reference (on small cohorts without signal it scatters widely,
  below 0.5 too);
* label-permutation null: labels shuffled within cohorts, LOCO re-run (no leakage -> ~0.5);
* a frozen model trained on all cohorts (:func:`fit_final`), saved with its features, transform
  and training cohorts, and applied to new profiles by :func:`apply_model`.

Everything is deterministic for a given ``seed``.
"""

from __future__ import annotations

import logging
import pickle
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from icibiome.signatures.differential import class_counts

logger = logging.getLogger(__name__)

MODELS = ("lasso", "rf")
TRANSFORMS = ("log10", "clr")
BATCH = ("none", "cohort_z", "combat")
LOG10_PSEUDO = 1e-5
AUC_COLUMNS = [
    "model", "features", "held_out", "n_R", "n_NR", "auc", "ci_low", "ci_high", "n_train",
    "train_cohorts", "n_features", "perm_p", "null_mean", "null_sd", "n_permutations", "note",
]  # fmt: skip


# --------------------------------------------------------------------------------------------
# AUC with a DeLong CI
# --------------------------------------------------------------------------------------------
def delong_auc(is_pos, score) -> tuple[float, float, float, float]:
    """AUROC with DeLong's variance and a 95% CI: ``(auc, se, ci_low, ci_high)``.

    Examples
    --------
    >>> a, se, lo, hi = delong_auc([1, 1, 0, 0, 1, 0], [0.9, 0.8, 0.3, 0.5, 0.4, 0.2])
    >>> round(a, 4), lo <= a <= hi
    (0.8889, True)
    """
    y = np.asarray(is_pos, dtype=bool)
    s = np.asarray(score, dtype=float)
    pos, neg = s[y], s[~y]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return (np.nan,) * 4
    tx, ty = stats.rankdata(pos), stats.rankdata(neg)
    tz = stats.rankdata(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:m] - tx) / n
    v10 = 1 - (tz[m:] - ty) / m
    var = (np.var(v01, ddof=1) / m if m > 1 else 0.0) + (np.var(v10, ddof=1) / n if n > 1 else 0.0)
    se = float(np.sqrt(var))
    return (
        float(auc),
        se,
        float(max(0.0, auc - 1.959964 * se)),
        float(min(1.0, auc + 1.959964 * se)),
    )


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


LASSO_CS = np.logspace(-2.5, 1, 10)
"""The lasso's C grid (inverse L1 strength), widened upwards when its upper edge is chosen."""
MIN_BATCH_SAMPLES = 10
"""Fewest samples of a cohort that per-cohort z-scoring / ComBat of a new cohort accept."""


def make_model(name: str = "lasso", seed: int = 1, n_jobs: int = 1, inner_folds: int = 5,
               cv=None, Cs=None):  # fmt: skip
    """The scikit-learn pipeline for ``name`` (see the module docstring).

    ``cv`` (the lasso's inner CV splits; default stratified ``inner_folds``-fold) and ``Cs``
    (its C grid; default :data:`LASSO_CS`) are set by :func:`fit_model`.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "lasso" and cv is None and inner_folds < 2:  # a class of one sample: C = 1
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1.0, l1_ratio=1.0, solver="liblinear", class_weight="balanced",
                                 max_iter=1000, random_state=seed)  # fmt: skip
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), clf)
    if name == "lasso":
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold

        clf = LogisticRegressionCV(
            Cs=LASSO_CS if Cs is None else Cs, l1_ratios=[1.0], solver="liblinear",
            cv=cv if cv is not None else StratifiedKFold(inner_folds, shuffle=True,
                                                         random_state=seed),
            scoring="roc_auc", class_weight="balanced", max_iter=1000, random_state=seed,
            use_legacy_attributes=False,
        )  # fmt: skip
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), clf)
    if name == "rf":
        from sklearn.ensemble import RandomForestClassifier

        clf = RandomForestClassifier(
            n_estimators=500, max_features="sqrt", class_weight="balanced",
            random_state=seed, n_jobs=n_jobs,
        )  # fmt: skip
        return make_pipeline(SimpleImputer(strategy="median"), clf)
    raise ValueError(f"model must be one of {MODELS}, not {name!r}")


def inner_cv(y01: np.ndarray, groups: np.ndarray | None, seed: int = 1):
    """The lasso's inner CV splits: grouped by cohort with >= 3 training cohorts, else stratified.

    With at least three cohorts, :class:`~sklearn.model_selection.GroupKFold` over cohorts
    (``min(5, n_cohorts)`` folds), so that C is chosen for predicting *other cohorts*, as LOCO
    then scores it; when a fold's test part would lack a class, or with fewer cohorts, stratified
    5-fold (fewer folds when the minority class is smaller). Returns ``(splits, kind)``: a list
    of splits or None (a class of one sample: no inner CV), and ``grouped`` / ``stratified`` /
    ``none``.
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    k = _inner_folds(y01)
    if groups is not None and len(np.unique(groups)) >= 3:
        gk = GroupKFold(min(5, len(np.unique(groups))))
        splits = list(gk.split(np.zeros(len(y01)), y01, groups))
        if all(len(np.unique(y01[te])) == 2 and len(np.unique(y01[tr])) == 2
               for tr, te in splits):  # fmt: skip
            return splits, "grouped"
    if k < 2:
        return None, "none"
    skf = StratifiedKFold(k, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(y01)), y01)), "stratified"


def _auc01(y01: np.ndarray, score: np.ndarray) -> float:
    """AUROC of ``score`` for ``y01 == 1``: :func:`sklearn.metrics.roc_auc_score` bit for bit.

    The same ROC points (ties merged, collinear points dropped, (0, 0) prepended) and the same
    trapezoid sum, so that the lasso's inner CV breaks ties between C values exactly as
    :class:`~sklearn.linear_model.LogisticRegressionCV` does; without roc_auc_score's input
    checks, which cost more than a small liblinear fit. NaN when one class is missing.
    """
    y = np.asarray(y01, dtype=float)
    s = np.asarray(score, dtype=float)
    if len(y) == 0 or y.min() == y.max():
        return np.nan
    order = np.argsort(s, kind="stable")[::-1]
    s, y = s[order], y[order]
    thr = np.r_[np.flatnonzero(np.diff(s)), len(y) - 1]
    tps = np.cumsum(y)[thr]
    fps = 1 + thr.astype(float) - tps
    if len(fps) > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps = fps[keep], tps[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def _lasso_clf(C: float, seed: int, class_weight="balanced"):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=float(C), l1_ratio=1.0, solver="liblinear",
                              class_weight=class_weight, max_iter=1000, random_state=seed)  # fmt: skip


def lasso_inner_scores(Xs: np.ndarray, y01: np.ndarray, splits, Cs, seed: int = 1,
                       states: list | None = None) -> np.ndarray:  # fmt: skip
    """Inner-CV AUC of the L1 logistic for every split x C: array ``(n_splits, n_Cs)``.

    Exactly what :class:`~sklearn.linear_model.LogisticRegressionCV` (liblinear, ``roc_auc``,
    ``class_weight="balanced"``) computes: one liblinear fit per split and C on the split's
    training rows, the class weights of *all* rows given (LogisticRegressionCV computes
    "balanced" once on the whole ``y``), the AUC of the decision function on the split's test
    rows, and liblinear's coordinate order seeded as there: one
    ``RandomState(seed)`` per split, drawn once per C in grid order (``states``, one per split,
    continues those streams: a widened grid's new Cs get the draws LogisticRegressionCV would
    give them). liblinear has no warm start, so every C is an independent fit; without the scorer's
    input checks this takes about 70% of LogisticRegressionCV's time on 400 samples and a third
    on 30 (measured in issue 13).
    """
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.array([0, 1])
    cw = dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes, y=y01),
                  strict=True))  # fmt: skip
    if states is None:
        states = [np.random.RandomState(seed) for _ in splits]
    out = np.empty((len(splits), len(Cs)))
    for i, (tr, te) in enumerate(splits):
        Xtr, Xte, ytr = Xs[tr], Xs[te], y01[tr]
        for j, c in enumerate(Cs):
            clf = _lasso_clf(c, states[i], cw).fit(Xtr, ytr)
            out[i, j] = _auc01(y01[te], clf.decision_function(Xte))
    return out


def fit_model(X: np.ndarray, y01: np.ndarray, name: str = "lasso", seed: int = 1,
              n_jobs: int = 1, groups: np.ndarray | None = None) -> tuple[object, dict]:  # fmt: skip
    """Fit the model ``name``; returns ``(pipeline, info)``.

    ``info``: ``n_features`` (features with a non-zero lasso coefficient; all input features for
    the forest), ``C`` (the lasso's chosen C), ``Cs`` (its grid) and ``inner_cv`` (``grouped`` /
    ``stratified`` / ``none``). When the lasso's inner CV picks the upper edge of the C grid, the
    grid is widened upwards (4 more values over 2 decades, once; the fits of the first grid are
    kept) and the model refitted; logged.

    The lasso is the pipeline median imputer -> z-score -> L1 logistic (liblinear, balanced class
    weights) whose C maximises the summed inner-CV AUC (:func:`lasso_inner_scores`, the first C
    on ties), refitted on all rows: the same model as :class:`~sklearn.linear_model.
    LogisticRegressionCV` with these settings (``make_model``), computed faster.
    """
    if name != "lasso":
        mdl = make_model(name, seed, n_jobs)
        mdl.fit(X, y01)
        return mdl, {"n_features": int(X.shape[1]), "C": np.nan, "inner_cv": "none"}
    from sklearn.pipeline import make_pipeline

    cv, kind = inner_cv(y01, groups, seed)
    pre = make_model("lasso", seed, inner_folds=1)[:-1]  # imputer + scaler
    Xs = pre.fit_transform(X)
    cs = np.asarray(LASSO_CS, dtype=float)
    c = 1.0
    if cv is not None:
        states = [np.random.RandomState(seed) for _ in cv]
        scores = lasso_inner_scores(Xs, y01, cv, cs, seed, states)
        for attempt in range(2):
            c = float(cs[int(np.argmax(scores.sum(axis=0)))])
            if c >= cs[-1] and attempt < 1:
                more = cs[-1] * np.logspace(0.5, 2, 4)
                logger.info("lasso: inner CV chose the upper edge of the C grid (C = %.3g); "
                            "refitting with the grid widened to C <= %.3g", c, more[-1])  # fmt: skip
                scores = np.hstack([scores, lasso_inner_scores(Xs, y01, cv, more, seed, states)])
                cs = np.concatenate([cs, more])
                continue
            if c >= cs[-1]:
                logger.info("lasso: inner CV chose the upper edge of the widened C grid too (C = "
                            "%.3g)", c)  # fmt: skip
            elif c <= cs[0]:
                logger.info("lasso: inner CV chose the lower edge of the C grid (C = %.3g, the "
                            "strongest penalty)", c)  # fmt: skip
            break
    clf = _lasso_clf(c, seed).fit(Xs, y01)
    mdl = make_pipeline(*[step for _, step in pre.steps], clf)
    n_feat = int(np.count_nonzero(np.ravel(clf.coef_)))
    return mdl, {"n_features": n_feat, "C": c, "Cs": cs, "inner_cv": kind}


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


@dataclass
class _Setup:
    model: str = "lasso"
    transform: str = "log10"
    batch: str = "none"
    min_prevalence: float = 0.1
    seed: int = 1
    n_jobs: int = 1


def fold_features(frac, cohorts, extra, train, test, setup: _Setup, use_species=True):
    """``(X, preprocess)`` of one fold: preprocessing fitted on ``train`` only, rows train+test."""
    ex = None if extra is None else extra.loc[list(train)]
    pp = fit_preprocess(frac.loc[train], ex, cohorts, setup.transform, setup.batch,
                        setup.min_prevalence, use_species)  # fmt: skip
    ids = list(train) + list(test)
    X = apply_preprocess(pp, frac.loc[ids], None if extra is None else extra.loc[ids], cohorts)
    return X, pp


def _fit_predict(frac, y, cohorts, extra, train, test, setup: _Setup, use_species=True,
                 info_out: dict | None = None, cache: dict | None = None):  # fmt: skip
    """Fit on ``train``, predict ``test``; ``cache`` keeps each fold's label-free features.

    The fold's features (prevalence filter, transform, batch handling: all fitted on ``train``
    without its labels) are the same for every labelling of the same rows, so a permutation
    null passes one ``cache`` to all its runs; everything label-dependent (the model, the
    lasso's inner CV) is refitted every time.
    """
    key = (tuple(train), tuple(test), use_species)
    if cache is not None and key in cache:
        X = cache[key]
    else:
        X, _ = fold_features(frac, cohorts, extra, train, test, setup, use_species)
        if cache is not None:
            cache[key] = X
    yt = (y.loc[train] == "R").to_numpy().astype(int)
    mdl, info = fit_model(X.loc[train].to_numpy(), yt, setup.model, setup.seed, setup.n_jobs,
                          cohorts.loc[train].to_numpy())  # fmt: skip
    if info_out is not None:
        info_out.update(info)
    return mdl.predict_proba(X.loc[test].to_numpy())[:, 1]


def _inner_folds(y01: np.ndarray) -> int:
    # inner CV folds: 5, fewer when the minority class of the training samples is smaller
    return int(min(5, np.bincount(y01, minlength=2).min()))


def _labelled(info: pd.DataFrame, frac: pd.DataFrame) -> pd.DataFrame:
    lab = info[info["response"].isin(["R", "NR"])]
    return lab.loc[[i for i in lab.index if i in frac.index]]


def _shuffle_within_cohort(info: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``info`` with the R/NR labels permuted within each cohort (unlabelled rows untouched)."""
    perm = info.copy()
    lab = perm["response"].isin(["R", "NR"])
    for c in sorted(perm.loc[lab, "cohort"].astype(str).unique()):
        idx = perm.index[lab & (perm["cohort"].astype(str) == c)]
        perm.loc[idx, "response"] = rng.permutation(perm.loc[idx, "response"].to_numpy())
    return perm


def auc_summary(preds: pd.DataFrame) -> dict[str, float]:
    """AUC per held-out cohort of LOCO-style predictions, their ``mean`` and the ``pooled`` AUC.

    ``preds`` has ``cohort, response, probability`` (the held-out predictions).
    """
    out = {}
    for c, g in preds.groupby("cohort"):
        out[str(c)] = delong_auc(g["response"] == "R", g["probability"].astype(float))[0]
    vals = [v for v in out.values() if np.isfinite(v)]
    out["mean"] = float(np.mean(vals)) if vals else np.nan
    out["pooled"] = (delong_auc(preds["response"] == "R", preds["probability"].astype(float))[0]
                     if len(preds) else np.nan)  # fmt: skip
    return out


def permutation_null(
    run_fn,
    info: pd.DataFrame,
    n_permutations: int = 100,
    seed: int = 1,
    n_jobs: int = 1,
    **kwargs,
):
    """Label-permutation null of any held-out prediction procedure.

    Parameters
    ----------
    run_fn : callable
        ``run_fn(info) -> predictions`` (``cohort, response, probability`` of the held-out
        samples), e.g. a LOCO run; it must refit *every* fitted step from the labels it gets.
    info : DataFrame
        ``response`` and ``cohort`` per sample; R/NR labels are shuffled within each cohort.
    n_permutations, seed : int
        Number of permutations and the seed of the shuffles (reproducible).
    n_jobs : int
        Permutations run in parallel processes (joblib), in contiguous chunks (about 4 per
        process, :func:`_chunks`; one copy of ``run_fn``, with whatever it caches, per chunk);
        the shuffles are drawn up front, so the result does not depend on ``n_jobs``.

    Returns
    -------
    DataFrame
        One row per permutation: the AUC of each held-out cohort, ``mean`` and ``pooled``
        (:func:`auc_summary`), with the permuted labels.

    For backward compatibility, ``permutation_null(abundance, info, n, seed, **loco_kwargs)``
    (a table instead of a callable) returns the array of mean LOCO AUCs.
    """
    if not callable(run_fn):  # legacy form: LOCO on an abundance table
        ab = run_fn
        null = permutation_null(lambda inf: loco(ab, inf, seed=seed, **kwargs)[1], info,
                                n_permutations, seed)  # fmt: skip
        return null["mean"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    infos = [_shuffle_within_cohort(info, rng) for _ in range(n_permutations)]
    if n_jobs > 1 and n_permutations > 1:
        from joblib import Parallel, delayed

        chunks = _chunks(n_permutations, n_jobs)
        done = Parallel(n_jobs=n_jobs)(delayed(_run_chunk)(run_fn, [infos[i] for i in c])
                                       for c in chunks)  # fmt: skip
        preds = [p for chunk in done for p in chunk]
    else:
        preds = [run_fn(inf) for inf in infos]
    return pd.DataFrame([auc_summary(p) for p in preds])


def _chunks(n: int, n_jobs: int) -> list[np.ndarray]:
    """Permutation indices in about 4 chunks per process, handed out as processes free up.

    Null runs differ several-fold in cost (a shuffled lasso whose inner CV picks the grid's
    upper edge refits a widened grid), so one chunk per process left one process working alone
    for a quarter of the 100-permutation L1 null of make validate; each chunk still gets one
    copy of the run function and its cache.
    """
    return [c for c in np.array_split(np.arange(n), min(n, 4 * n_jobs)) if len(c)]


def _run_chunk(run_fn, infos):
    return [run_fn(inf) for inf in infos]


def permutation_p(observed: float, null) -> tuple[float, float, float, int]:
    """``(p, null_mean, null_sd, n)``: empirical ``(1 + #{null >= observed}) / (1 + n)``."""
    v = np.asarray(null, dtype=float)
    v = v[np.isfinite(v)]
    if not np.isfinite(observed) or v.size == 0:
        return np.nan, np.nan, np.nan, int(v.size)
    p = (1 + int(np.sum(v >= observed - 1e-12))) / (1 + v.size)
    return float(p), float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size)


def _loco_run(frac, lab, setup, extra, use_species, min_per_class, fl, cache=None):
    """One LOCO pass: per-cohort rows (without the summary) and the held-out predictions.

    ``cache``: label-free fold features shared between runs (:func:`_fit_predict`).
    """
    y, cohorts = lab["response"], lab["cohort"].astype(str)
    rows, preds = [], []
    for c, row in class_counts(lab).iterrows():
        n_r, n_nr = int(row["n_R"]), int(row["n_NR"])
        test = lab.index[cohorts == c]
        train = lab.index[cohorts != c]
        base = {"model": setup.model, "features": fl, "held_out": c, "n_R": n_r, "n_NR": n_nr,
                "n_train": len(train), "train_cohorts": ",".join(sorted(set(cohorts[train])))}  # fmt: skip
        if min(n_r, n_nr) < min_per_class:
            rows.append(base | {"auc": np.nan, "note": f"skipped: {n_r} R / {n_nr} NR, fewer "
                                f"than {min_per_class} per class"})  # fmt: skip
            continue
        if y.loc[train].nunique() < 2:
            rows.append(base | {"auc": np.nan, "note": "skipped: training cohorts lack a class"})
            continue
        fit = {}
        p = _fit_predict(frac, y, cohorts, extra, train, test, setup, use_species, fit, cache)
        if fit["n_features"] == 0:
            rows.append(base | {"auc": np.nan, "n_features": 0, "note": "no model (0 features): "
                                f"the lasso kept no feature (C = {fit['C']:.3g}); left out of "
                                "the mean and pooled AUC"})  # fmt: skip
            logger.info("LOCO %s/%s, held out %s: no model (0 features)", setup.model, fl, c)
            continue
        a, se, lo, hi = delong_auc(y.loc[test] == "R", p)
        rows.append(base | {"auc": a, "ci_low": lo, "ci_high": hi, "se": se,
                            "n_features": fit["n_features"], "note": ""})  # fmt: skip
        preds.append(pd.DataFrame({"sample_id": test, "cohort": c, "response": y.loc[test],
                                   "probability": p, "model": setup.model, "features": fl}))  # fmt: skip
        logger.info("LOCO %s/%s, held out %s: AUC %.3f (%.3f-%.3f), %d features", setup.model,
                    fl, c, a, lo, hi, fit["n_features"])  # fmt: skip
    pr = (pd.concat(preds, ignore_index=True) if preds else
          pd.DataFrame(columns=["sample_id", "cohort", "response", "probability", "model",
                                "features"]))  # fmt: skip
    return rows, pr


def loco(
    abundance: pd.DataFrame,
    info: pd.DataFrame,
    model: str = "lasso",
    transform_method: str = "log10",
    batch: str = "none",
    extra: pd.DataFrame | None = None,
    use_species: bool = True,
    min_prevalence: float = 0.1,
    min_per_class: int = 5,
    seed: int = 1,
    n_jobs: int = 1,
    features_label: str | None = None,
    permutations: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave-one-cohort-out AUROC per held-out cohort.

    Parameters
    ----------
    abundance : DataFrame
        Samples x species relative abundance (percent or fractions).
    info : DataFrame
        Indexed by sample; ``response`` (``R``/``NR``; others unlabelled) and ``cohort``.
    extra : DataFrame, optional
        Extra per-sample features (samples x columns), e.g. guild balance, TOPOSCORE.
    use_species : bool
        False: the extra features alone.
    min_per_class : int
        A cohort is held out only with at least this many R and NR; others still train.
    permutations : int
        Label permutations (within cohort) of the whole LOCO, every fitted step refitted
        (:func:`permutation_null`, seeded by ``seed``); 0 = none.

    Returns
    -------
    auc_table : DataFrame
        One row per cohort (:data:`AUC_COLUMNS`; skipped cohorts and empty lasso models, "no
        model (0 features)", with NaN AUC and a note), then ``mean`` (mean of the per-cohort
        AUCs, Lee's LODO summary; 95% CI from the cohorts' DeLong SEs) and ``pooled`` (AUC of
        all held-out predictions together) rows. With ``permutations``, every AUC row has
        ``perm_p`` ((1 + #null >= observed) / (1 + n)), ``null_mean``, ``null_sd`` and
        ``n_permutations``; the mean row's note says "no signal beyond chance" when p >= 0.05.
        A permutation in which a held-out cohort's lasso kept no feature counts as AUC 0.5.
    predictions : DataFrame
        ``sample_id, cohort, response, probability, model, features`` (held-out cohorts with a
        model).
    """
    frac = to_fractions(abundance)
    lab = _labelled(info, frac)
    setup = _Setup(model, transform_method, batch, min_prevalence, seed, n_jobs)
    fl = features_label or ("species" if extra is None else
                            ("species+extra" if use_species else "extra"))  # fmt: skip
    cache = {} if permutations > 0 else None  # label-free fold features, reused by the null
    rows, pr = _loco_run(frac, lab, setup, extra, use_species, min_per_class, fl, cache)
    tab = pd.DataFrame(rows).reindex(columns=AUC_COLUMNS + ["se"])
    done = tab[tab["auc"].notna()]
    empty = int(tab["note"].astype(str).str.startswith("no model").sum())
    k = len(done)
    mean = done["auc"].mean() if k else np.nan
    se_m = float(np.sqrt((done["se"] ** 2).sum()) / k) if k else np.nan
    note = f"mean of {k} held-out cohorts"
    if empty:
        note += f"; {empty} with no model (0 features) left out"
    summ = [{"model": model, "features": fl, "held_out": "mean", "n_R": int(done["n_R"].sum()),
             "n_NR": int(done["n_NR"].sum()), "auc": mean,
             "ci_low": max(0.0, mean - 1.959964 * se_m) if k else np.nan,
             "ci_high": min(1.0, mean + 1.959964 * se_m) if k else np.nan, "note": note}]  # fmt: skip
    if len(pr):
        a, _, lo, hi = delong_auc(pr["response"] == "R", pr["probability"])
        summ.append({"model": model, "features": fl, "held_out": "pooled",
                     "n_R": int((pr["response"] == "R").sum()),
                     "n_NR": int((pr["response"] == "NR").sum()), "auc": a, "ci_low": lo,
                     "ci_high": hi, "note": "all held-out predictions together"
                     + (f"; {empty} cohort(s) with no model (0 features) left out"
                        if empty else "")})  # fmt: skip
    tab = pd.concat([tab, pd.DataFrame(summ)], ignore_index=True).reindex(columns=AUC_COLUMNS)
    if permutations > 0 and k:
        info_l = lab[["response", "cohort"]].copy()

        def run_fn(inf):
            return _loco_run(frac, inf, setup, extra, use_species, min_per_class, fl, cache)[1]

        # lasso: permutations in parallel; the forest already uses n_jobs inside
        null = permutation_null(run_fn, info_l, permutations, seed,
                                n_jobs=n_jobs if model == "lasso" else 1)  # fmt: skip
        # a permutation whose lasso kept no feature (no prediction) scores as chance, AUC 0.5
        keys = [str(h) for h in tab["held_out"]]
        null = null.reindex(columns=keys).fillna(0.5)
        for i, r in tab.iterrows():
            key = str(r["held_out"])
            if key not in null.columns or not np.isfinite(r["auc"]):
                continue
            p, m, sd, n = permutation_p(r["auc"], null[key])
            tab.loc[i, ["perm_p", "null_mean", "null_sd", "n_permutations"]] = [p, m, sd, n]
        im = tab.index[tab["held_out"] == "mean"][0]
        p = tab.loc[im, "perm_p"]
        if np.isfinite(p):
            tab.loc[im, "note"] += (f"; permutation p = {p:.3g} ({permutations} within-cohort "
                                    "label permutations)"
                                    + ("; no signal beyond chance" if p >= 0.05 else "")
                                    + (" (p < 0.05 needs at least 20 permutations)"
                                       if permutations < 20 else ""))  # fmt: skip
        logger.info("LOCO %s/%s: mean AUC %.3f, permutation p %.3g, null %.3f +- %.3f", model,
                    fl, mean, p, tab.loc[im, "null_mean"], tab.loc[im, "null_sd"])  # fmt: skip
    return tab, pr


def _within_aucs(frac, y: pd.Series, cohorts, k: int, n_repeats: int, seed: int,
                 setup: _Setup) -> list[float]:  # fmt: skip
    """Per-repeat AUC of the out-of-fold probabilities of one cohort (rows ``y.index``)."""
    from sklearn.model_selection import StratifiedKFold

    ids = y.index
    aucs = []
    for rep in range(n_repeats):
        oof = pd.Series(np.nan, index=ids)
        skf = StratifiedKFold(k, shuffle=True, random_state=seed + rep)
        for tr, te in skf.split(ids, y):
            oof.iloc[te] = _fit_predict(frac, y, cohorts, None, ids[tr], ids[te], setup)
        aucs.append(delong_auc(y == "R", oof.to_numpy())[0])
    return aucs


def _within_null(frac, cohorts, ids, labels, k, n_repeats, seed, setup) -> list[float]:
    """Mean within-cohort CV AUC for each labelling in ``labels`` (same CV as the observed)."""
    return [float(np.mean(_within_aucs(frac, pd.Series(yp, index=ids), cohorts, k, n_repeats,
                                       seed, setup))) for yp in labels]  # fmt: skip


WITHIN_COLUMNS = ["model", "cohort", "n_R", "n_NR", "auc_mean", "auc_sd", "perm_p", "null_mean",
                  "null_sd", "n_permutations", "folds", "repeats", "note"]  # fmt: skip


def within_cohort_cv(
    abundance: pd.DataFrame,
    info: pd.DataFrame,
    model: str = "lasso",
    transform_method: str = "log10",
    n_splits: int = 5,
    n_repeats: int = 5,
    min_prevalence: float = 0.1,
    min_per_class: int = 5,
    seed: int = 1,
    n_jobs: int = 1,
    permutations: int = 0,
) -> pd.DataFrame:
    """Repeated stratified k-fold CV inside each cohort, with its label-permutation reference.

    Per repeat, the out-of-fold probabilities of the whole cohort give one AUC; the table holds
    the mean and SD over repeats. ``n_splits`` shrinks to the smaller class size when needed.

    Not an optimistic bound: on small cohorts without signal this AUC scatters widely and can
    sit well below 0.5 (about 0.36 on pure noise in issue 13; 0.33-0.36 in three real melanoma
    cohorts whose shuffled-label references are 0.46-0.53 +- 0.10-0.15). ``permutations`` > 0
    gives the reference to compare it with: the
    cohort's labels shuffled (seeded per cohort; drawn from the sorted labels, so the reference
    depends on the class counts and the profiles only, not on the order of the labels) and the
    same repeated CV re-run, every fitted step included; ``perm_p`` = (1 + #null >= observed) /
    (1 + n) (resolution 1 / (n + 1)), ``null_mean``, ``null_sd``, ``n_permutations``. Lasso
    permutations run on ``n_jobs`` processes (the forest uses them for its trees).
    """
    import zlib

    frac = to_fractions(abundance)
    lab = _labelled(info, frac)
    cohorts = lab["cohort"].astype(str)
    setup = _Setup(model, transform_method, "none", min_prevalence, seed, n_jobs)
    rows = []
    for c, row in class_counts(lab).iterrows():
        n_r, n_nr = int(row["n_R"]), int(row["n_NR"])
        base = {"model": model, "cohort": c, "n_R": n_r, "n_NR": n_nr}
        if min(n_r, n_nr) < min_per_class:
            rows.append(base | {"note": f"skipped: {n_r} R / {n_nr} NR, fewer than "
                                f"{min_per_class} per class"})  # fmt: skip
            continue
        ids = lab.index[cohorts == c]
        y = lab.loc[ids, "response"]
        k = min(n_splits, n_r, n_nr)
        if k < 2:
            rows.append(base | {"note": "skipped: a class of one sample, no CV possible"})
            continue
        sub = frac.loc[ids]
        aucs = _within_aucs(sub, y, cohorts, k, n_repeats, seed, setup)
        obs = float(np.mean(aucs))
        out = base | {"auc_mean": obs, "auc_sd": float(np.std(aucs)), "folds": k,
                      "repeats": n_repeats, "note": ""}  # fmt: skip
        if permutations > 0:
            rng = np.random.default_rng([seed, zlib.crc32(str(c).encode())])
            ordered = np.sort(y.to_numpy())
            labels = [rng.permutation(ordered) for _ in range(permutations)]
            args = (sub, cohorts, ids)
            if model == "lasso" and n_jobs > 1 and permutations > 1:
                from joblib import Parallel, delayed

                chunks = _chunks(permutations, n_jobs)
                done = Parallel(n_jobs=n_jobs)(
                    delayed(_within_null)(*args, [labels[i] for i in ch], k, n_repeats, seed,
                                          setup) for ch in chunks)  # fmt: skip
                null = [v for d in done for v in d]
            else:
                null = _within_null(*args, labels, k, n_repeats, seed, setup)
            p, m, sd, n = permutation_p(obs, null)
            out |= {"perm_p": p, "null_mean": m, "null_sd": sd, "n_permutations": n}
            out["note"] = (f"shuffled-label reference {m:.3f} +- {sd:.3f}: compare with it, not "
                           "with 0.5" + ("; no signal beyond it" if p >= 0.05 else ""))  # fmt: skip
        rows.append(out)
        logger.info("within-cohort CV %s, %s: AUC %.3f +- %.3f%s", model, c, obs, np.std(aucs),
                    "" if permutations <= 0 else f" (null {out['null_mean']:.3f}, p "
                    f"{out['perm_p']:.3g})")  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=WITHIN_COLUMNS)


def cross_cohort_matrix(
    abundance: pd.DataFrame,
    info: pd.DataFrame,
    model: str = "lasso",
    transform_method: str = "log10",
    min_prevalence: float = 0.1,
    min_per_class: int = 5,
    seed: int = 1,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Train on one cohort, test on each other (Lee 2022's cohort x cohort AUC matrix).

    Returns a long table ``train, test, auc``; only cohorts with ``min_per_class`` R and NR
    take part.
    """
    frac = to_fractions(abundance)
    lab = _labelled(info, frac)
    cohorts = lab["cohort"].astype(str)
    cc = class_counts(lab)
    ok = list(cc.index[(cc["n_R"] >= min_per_class) & (cc["n_NR"] >= min_per_class)])
    setup = _Setup(model, transform_method, "none", min_prevalence, seed, n_jobs)
    rows = []
    for a in ok:
        train = lab.index[cohorts == a]
        others = lab.index[(cohorts != a) & cohorts.isin(ok)]
        p = pd.Series(_fit_predict(frac, lab["response"], cohorts, None, train, others, setup),
                      index=others)  # fmt: skip
        for b in ok:
            if b == a:
                continue
            ids = others[cohorts.loc[others] == b]
            rows.append(
                {
                    "model": model,
                    "train": a,
                    "test": b,
                    "auc": delong_auc(lab.loc[ids, "response"] == "R", p.loc[ids])[0],
                }
            )
    return pd.DataFrame(rows, columns=["model", "train", "test", "auc"])


# --------------------------------------------------------------------------------------------
# frozen model: train on all, apply to a new cohort
# --------------------------------------------------------------------------------------------
MODEL_FORMAT = 2


@dataclass
class FrozenModel:
    """A classifier trained on all labelled cohorts, with what is needed to apply it elsewhere.

    ``prep`` holds every fitted preprocessing parameter (:class:`Preprocess`: species, pseudo-
    count, ComBat reference, absent values); ``extra_specs`` how the model rebuilds its extra
    features from a profile itself (guild memberships and direction, TOPOSCORE lists and
    denominators), so that a patient's probability depends on that patient's profile only.
    """

    pipeline: object
    species: list[str] | None
    extra: list[str]
    columns: list[str]
    model: str
    transform: str
    batch: str
    training_cohorts: list[str]
    n_train: int
    naming: str = ""
    versions: dict = field(default_factory=dict)
    format: int = MODEL_FORMAT
    profiler: str = ""
    rank: str = ""
    batch_ref: dict | None = None
    prep: Preprocess | None = None
    extra_specs: dict = field(default_factory=dict)
    n_features: int = 0


def _naming(taxa: Sequence[str]) -> str:
    taxa = [str(t) for t in taxa]
    if not taxa:
        return ""
    sgb = sum("SGB" in t for t in taxa) / len(taxa)
    pref = sum(t.startswith("s__") for t in taxa) / len(taxa)
    return ("sgb" if sgb > 0.5 else "species") + ("_prefixed" if pref > 0.5 else "")


def extra_from_specs(specs: dict, abundance: pd.DataFrame) -> pd.DataFrame:
    """Rebuild extra features from a profile with frozen specs, one sample at a time.

    ``specs``: ``{column: spec}``; ``{"kind": "guild_balance", "foundation": [...],
    "pathobiont": [...]}`` (:func:`icibiome.ecology.guilds.guild_scores` with the training run's guilds
    and direction) or ``{"kind": "toposcore", "sig1": [...], "sig2": [...], "size1": n,
    "size2": n}`` (entries as ``;``-joined profile columns; TOPOSCORE s of
    :func:`icibiome.signatures.toposcore.s_score`).
    """
    out = pd.DataFrame(index=abundance.index)
    for col, sp in specs.items():
        if sp["kind"] == "guild_balance":
            from icibiome.ecology.guilds import guild_scores

            out[col] = guild_scores(abundance, list(sp["foundation"]),
                                    list(sp["pathobiont"]))["guild_balance"].to_numpy()  # fmt: skip
        elif sp["kind"] == "toposcore":
            from icibiome.signatures.toposcore import s_score

            def count(entries):
                n = np.zeros(len(abundance))
                for cols in entries:
                    cols = [c for c in str(cols).split(";") if c and c in abundance.columns]
                    if cols:
                        n += (abundance[cols].fillna(0).sum(axis=1) > 0).to_numpy()
                return n

            out[col] = s_score(count(sp["sig1"]), count(sp["sig2"]), sp["size1"], sp["size2"])
        else:
            raise ValueError(f"unknown extra feature spec {sp['kind']!r}")
    return out


def fit_final(
    abundance: pd.DataFrame,
    info: pd.DataFrame,
    model: str = "lasso",
    transform_method: str = "log10",
    batch: str = "none",
    extra: pd.DataFrame | None = None,
    min_prevalence: float = 0.1,
    seed: int = 1,
    n_jobs: int = 1,
    extra_specs: dict | None = None,
) -> FrozenModel:
    """Train on every labelled sample of every cohort (the model for new patients).

    ``extra_specs`` (:func:`extra_from_specs`) freeze how extra columns are computed; a spec is
    kept only when it reproduces the given column on the training samples (rtol 1e-5),
    otherwise the column is read from the scoring run's table (said in the log and the card).
    """
    import sklearn

    frac = to_fractions(abundance)
    lab = _labelled(info, frac)
    if lab["response"].nunique() < 2:
        raise ValueError("fit_final: the labelled samples hold one class only")
    cohorts = lab["cohort"].astype(str)
    ex = None if extra is None else extra.loc[lab.index].copy()
    specs = {}
    for col, sp in (extra_specs or {}).items():
        if ex is None or col not in ex.columns:
            continue
        got = extra_from_specs({col: sp}, abundance.loc[lab.index])[col]
        want = ex[col]
        if np.allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True):
            specs[col] = sp
            ex[col] = got  # the exact values the model will compute for new samples
        else:
            logger.warning("frozen model: %s is not reproduced from the stored %s spec (max "
                           "difference %.3g); it will be read from the scoring run's table",
                           col, sp["kind"], float(np.nanmax(np.abs(got - want))))  # fmt: skip
    prep = fit_preprocess(frac.loc[lab.index], ex, cohorts, transform_method, batch,
                          min_prevalence)  # fmt: skip
    X = apply_preprocess(prep, frac.loc[lab.index], ex, cohorts)
    y01 = (lab["response"] == "R").to_numpy().astype(int)
    mdl, fit = fit_model(X.to_numpy(), y01, model, seed, n_jobs, cohorts.to_numpy())
    from icibiome import __version__

    return FrozenModel(
        pipeline=mdl, species=prep.species, extra=[] if extra is None else list(extra.columns),
        columns=list(X.columns), model=model, transform=transform_method, batch=batch,
        training_cohorts=sorted(set(cohorts)), n_train=len(lab), naming=_naming(prep.species),
        batch_ref=prep.batch_ref, prep=prep, extra_specs=specs, n_features=fit["n_features"],
        versions={"icibiome": __version__, "scikit-learn": sklearn.__version__,
                  "python": platform.python_version()},
    )  # fmt: skip


def save_model(fm: FrozenModel, path) -> None:
    """Pickle a :class:`FrozenModel` atomically."""
    from icibiome.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(fm, fh)


def load_model(path) -> FrozenModel:
    """Read a model written by :func:`save_model` (only load files you trust: pickle)."""
    from icibiome.errors import UserError

    with open(path, "rb") as fh:
        fm = pickle.load(fh)
    if not isinstance(fm, FrozenModel) or fm.format != MODEL_FORMAT or fm.prep is None:
        raise UserError(f"{path}: not an icibiome model of format {MODEL_FORMAT} (retrain it "
                        "with this version's signatures stage)")  # fmt: skip
    return fm


def apply_model(
    fm: FrozenModel,
    abundance: pd.DataFrame,
    cohorts: pd.Series | None = None,
    extra: pd.DataFrame | None = None,
    min_overlap: float = 0.5,
    profiler: str = "",
    rank: str = "",
) -> pd.Series:
    """Predicted P(response) for new samples, without retraining.

    Every fitted parameter comes from the model, so with ``batch="none"`` a sample's probability
    depends on its own profile only (scored alone or among others: the same number). Models with
    per-cohort batch handling (``cohort_z``, ``combat``) adjust each cohort of ``cohorts`` with
    its own samples; they need ``cohorts`` and at least :data:`MIN_BATCH_SAMPLES` samples per
    cohort (else :class:`~icibiome.errors.UserError`).

    Refuses (UserError) when the profiler or rank of the profile (when both sides know them)
    or the profile's naming differ from the model's, or fewer than ``min_overlap`` of the
    model's species are in the profile (another profiler or database); missing species
    otherwise count as absent. Extra features with a frozen spec (guild balance, TOPOSCORE) are
    computed from ``abundance``; others are read from ``extra``.
    """
    from icibiome.errors import UserError

    for what, mine, theirs in (("profiler", fm.profiler, profiler), ("rank", fm.rank, rank)):
        if mine and theirs and mine != theirs:
            raise UserError(f"the model was trained on {what} '{mine}', the profile is from "
                            f"'{theirs}': apply it to a table of the same {what}")  # fmt: skip
    frac = to_fractions(abundance)
    if fm.species:
        got = _naming(frac.columns)
        if got != fm.naming:
            raise UserError(f"model features are named '{fm.naming}', the profile '{got}': "
                            "use a profile from the same profiler/database as the model")  # fmt: skip
        overlap = np.mean([s in frac.columns for s in fm.species])
        if overlap < min_overlap:
            raise UserError(f"only {overlap:.0%} of the model's {len(fm.species)} species are "
                            f"in the profile (< {min_overlap:.0%}): another profiler or "
                            "database?")  # fmt: skip
    table_cols = [c for c in fm.extra if c not in fm.extra_specs]
    if table_cols and (extra is None or any(c not in extra.columns for c in table_cols)):
        raise UserError(f"the model needs the extra features {table_cols}")
    ex = None
    if fm.extra:
        ex = pd.DataFrame(index=frac.index)
        if fm.extra_specs:
            ex = extra_from_specs(fm.extra_specs, abundance)
        for c in table_cols:
            ex[c] = extra[c].reindex(frac.index)
        ex = ex[fm.extra]
    if fm.batch != "none" and cohorts is None:
        raise UserError(f"this model adjusts each cohort with its own samples (batch "
                        f"'{fm.batch}'): give the cohort of every sample")  # fmt: skip
    coh = (cohorts.astype(str) if cohorts is not None else
           pd.Series("new", index=frac.index))  # fmt: skip
    X = apply_preprocess(fm.prep, frac, ex, coh, min_batch=MIN_BATCH_SAMPLES)
    X = X.reindex(columns=fm.columns)
    return pd.Series(fm.pipeline.predict_proba(X.to_numpy())[:, 1], index=frac.index,
                     name="probability")  # fmt: skip


def write_model_card(fm: FrozenModel, path: str | Path) -> None:
    """A YAML description of a frozen model beside its pickle."""
    import yaml

    from icibiome.io import atomic_path

    prep = fm.prep
    scoring = ("one patient at a time: every parameter is frozen in the model, a sample's "
               "probability depends on its own profile only" if fm.batch == "none" else
               f"per cohort: batch '{fm.batch}' adjusts each new cohort with its own samples, "
               f"so it needs the cohort of every sample and at least {MIN_BATCH_SAMPLES} "
               "samples per cohort; single patients are refused")  # fmt: skip
    doc = {"format": fm.format, "profiler": fm.profiler, "rank": fm.rank, "model": fm.model,
           "transform": fm.transform, "batch": fm.batch, "scoring": scoring,
           "pseudo_count": None if prep is None else float(prep.pseudo),
           "training_cohorts": fm.training_cohorts, "n_train": fm.n_train, "naming": fm.naming,
           "n_species": len(fm.species or []), "n_features": int(fm.n_features),
           "extra_features": fm.extra,
           "extra_frozen": {c: {k: (v if not isinstance(v, list) else len(v))
                                for k, v in sp.items()} for c, sp in fm.extra_specs.items()},
           "extra_from_table": [c for c in fm.extra if c not in fm.extra_specs],
           "versions": fm.versions}  # fmt: skip
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
