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
* within-cohort: repeated stratified k-fold CV per cohort (Lee: 100 x 5-fold; default 5 x 5);
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

from icibiome.differential import class_counts, clr

logger = logging.getLogger(__name__)

MODELS = ("lasso", "rf")
TRANSFORMS = ("log10", "clr")
BATCH = ("none", "cohort_z", "combat")
LOG10_PSEUDO = 1e-5
AUC_COLUMNS = [
    "model", "features", "held_out", "n_R", "n_NR", "auc", "ci_low", "ci_high", "n_train",
    "train_cohorts", "note",
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


def transform(frac: pd.DataFrame, method: str = "log10") -> pd.DataFrame:
    """Per-sample transform of a fraction table: ``log10(x + 1e-5)`` or CLR (no fitted state)."""
    if method == "log10":
        return np.log10(frac + LOG10_PSEUDO)
    if method == "clr":
        return clr(frac, winsor=0)
    raise ValueError(f"transform must be one of {TRANSFORMS}, not {method!r}")


def cohort_standardise(X: pd.DataFrame, cohorts: pd.Series) -> pd.DataFrame:
    """z-score every column within each cohort (label-free batch adjustment)."""
    out = X.copy()
    for _, idx in X.groupby(cohorts.loc[X.index].to_numpy()).groups.items():
        sub = X.loc[idx]
        sd = sub.std(ddof=0).replace(0, 1.0)
        out.loc[idx] = (sub - sub.mean()) / sd
    return out


def combat_reference(X: pd.DataFrame, cohorts: pd.Series) -> dict[str, pd.Series]:
    """ComBat's reference of the training samples: grand mean and pooled SD per feature.

    As in ComBat without covariates (Johnson et al. 2007; sva / pyComBat): the grand mean is the
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
    change relative to the signed previous value). Not validated against a reference
    implementation: pyComBat (combat 0.3.3) uses ``ddof=0`` there and differs from this by more
    than that explains on a test matrix (batch means and SDs agree to 0.01-0.03).
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
    """
    mean = ref["mean"].reindex(X.columns).fillna(0.0)
    sd = ref["sd"].reindex(X.columns).fillna(1.0)
    Z = (X - mean) / sd
    out = X.copy()
    for _, idx in X.groupby(cohorts.loc[X.index].to_numpy()).groups.items():
        g, d = _combat_eb(Z.loc[idx].to_numpy(dtype=float))
        out.loc[idx] = (Z.loc[idx] - g) / np.sqrt(d) * sd + mean
    return out


def make_model(name: str = "lasso", seed: int = 1, n_jobs: int = 1, inner_folds: int = 5):
    """The scikit-learn pipeline for ``name`` (see the module docstring)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "lasso" and inner_folds < 2:  # a class of one sample: no inner CV, C = 1
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1.0, l1_ratio=1.0, solver="liblinear", class_weight="balanced",
                                 max_iter=1000, random_state=seed)  # fmt: skip
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), clf)
    if name == "lasso":
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold

        clf = LogisticRegressionCV(
            Cs=np.logspace(-2.5, 1, 10), l1_ratios=[1.0], solver="liblinear",
            cv=StratifiedKFold(inner_folds, shuffle=True, random_state=seed), scoring="roc_auc",
            class_weight="balanced", max_iter=1000, random_state=seed,
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


def _kept_species(frac: pd.DataFrame, min_prevalence: float) -> list[str]:
    return list(frac.columns[(frac > 0).mean(axis=0) >= min_prevalence])


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

    For ``batch="combat"`` the reference is ``batch_ref`` (a frozen model's) or fitted on the
    rows ``fit_index`` (the training samples; default all rows).
    """
    parts = []
    if species is not None:
        sp = frac.reindex(columns=list(species), fill_value=0.0)
        parts.append(transform(sp, transform_method).add_prefix("sp:"))
    if extra is not None:
        parts.append(extra.reindex(frac.index).add_prefix("x:"))
    X = pd.concat(parts, axis=1)
    if batch == "cohort_z":
        X = cohort_standardise(X, cohorts)
    elif batch == "combat":
        rows = X.index if fit_index is None else list(fit_index)
        ref = batch_ref if batch_ref is not None else combat_reference(X.loc[rows], cohorts)
        X = combat_adjust(X, cohorts, ref)
    elif batch != "none":
        raise ValueError(f"batch must be one of {BATCH}, not {batch!r}")
    return X


@dataclass
class _Setup:
    model: str = "lasso"
    transform: str = "log10"
    batch: str = "none"
    min_prevalence: float = 0.1
    seed: int = 1
    n_jobs: int = 1


def _fit_predict(frac, y, cohorts, extra, train, test, setup: _Setup, use_species=True):
    species = _kept_species(frac.loc[train], setup.min_prevalence) if use_species else None
    ids = list(train) + list(test)
    X = feature_matrix(frac.loc[ids], species, None if extra is None else extra.loc[ids],
                       cohorts, setup.transform, setup.batch, fit_index=train)  # fmt: skip
    X = X.loc[:, X.loc[train].notna().any()]
    yt = (y.loc[train] == "R").to_numpy().astype(int)
    mdl = make_model(setup.model, setup.seed, setup.n_jobs, _inner_folds(yt))
    mdl.fit(X.loc[train].to_numpy(), yt)
    return mdl.predict_proba(X.loc[test].to_numpy())[:, 1]


def _inner_folds(y01: np.ndarray) -> int:
    # inner CV folds: 5, fewer when the minority class of the training samples is smaller
    return int(min(5, np.bincount(y01, minlength=2).min()))


def _labelled(info: pd.DataFrame, frac: pd.DataFrame) -> pd.DataFrame:
    lab = info[info["response"].isin(["R", "NR"])]
    return lab.loc[[i for i in lab.index if i in frac.index]]


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

    Returns
    -------
    auc_table : DataFrame
        One row per cohort (:data:`AUC_COLUMNS`; skipped cohorts with NaN AUC and a note), then
        ``mean`` (mean of the per-cohort AUCs, Lee's LODO summary) and ``pooled`` (AUC of all
        held-out predictions together) rows.
    predictions : DataFrame
        ``sample_id, cohort, response, probability, model, features``.
    """
    frac = to_fractions(abundance)
    lab = _labelled(info, frac)
    y, cohorts = lab["response"], lab["cohort"].astype(str)
    setup = _Setup(model, transform_method, batch, min_prevalence, seed, n_jobs)
    fl = features_label or ("species" if extra is None else
                            ("species+extra" if use_species else "extra"))  # fmt: skip
    counts = class_counts(lab)
    rows, preds = [], []
    for c, row in counts.iterrows():
        n_r, n_nr = int(row["n_R"]), int(row["n_NR"])
        test = lab.index[cohorts == c]
        train = lab.index[cohorts != c]
        base = {
            "model": model,
            "features": fl,
            "held_out": c,
            "n_R": n_r,
            "n_NR": n_nr,
            "n_train": len(train),
            "train_cohorts": ",".join(sorted(set(cohorts[train]))),
        }
        if min(n_r, n_nr) < min_per_class:
            rows.append(base | {"auc": np.nan, "note": f"skipped: {n_r} R / {n_nr} NR, fewer "
                                f"than {min_per_class} per class"})  # fmt: skip
            continue
        if y.loc[train].nunique() < 2:
            rows.append(base | {"auc": np.nan, "note": "skipped: training cohorts lack a class"})
            continue
        p = _fit_predict(frac, y, cohorts, extra, train, test, setup, use_species)
        a, _, lo, hi = delong_auc(y.loc[test] == "R", p)
        rows.append(base | {"auc": a, "ci_low": lo, "ci_high": hi, "note": ""})
        preds.append(pd.DataFrame({"sample_id": test, "cohort": c, "response": y.loc[test],
                                   "probability": p, "model": model, "features": fl}))  # fmt: skip
        logger.info("LOCO %s/%s, held out %s: AUC %.3f (%.3f-%.3f)", model, fl, c, a, lo, hi)
    tab = pd.DataFrame(rows).reindex(columns=AUC_COLUMNS)
    pr = (pd.concat(preds, ignore_index=True) if preds else
          pd.DataFrame(columns=["sample_id", "cohort", "response", "probability", "model",
                                "features"]))  # fmt: skip
    done = tab[tab["auc"].notna()]
    summ = [{"model": model, "features": fl, "held_out": "mean", "n_R": int(done["n_R"].sum()),
             "n_NR": int(done["n_NR"].sum()), "auc": done["auc"].mean() if len(done) else np.nan,
             "note": f"mean of {len(done)} held-out cohorts"}]  # fmt: skip
    if len(pr):
        a, _, lo, hi = delong_auc(pr["response"] == "R", pr["probability"])
        summ.append({"model": model, "features": fl, "held_out": "pooled",
                     "n_R": int((pr["response"] == "R").sum()),
                     "n_NR": int((pr["response"] == "NR").sum()), "auc": a, "ci_low": lo,
                     "ci_high": hi, "note": "all held-out predictions together"})  # fmt: skip
    tab = pd.concat([tab, pd.DataFrame(summ)], ignore_index=True).reindex(columns=AUC_COLUMNS)
    return tab, pr


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
) -> pd.DataFrame:
    """Repeated stratified k-fold CV inside each cohort (the optimistic contrast to LOCO).

    Per repeat, the out-of-fold probabilities of the whole cohort give one AUC; the table holds
    the mean and SD over repeats. ``n_splits`` shrinks to the smaller class size when needed.
    """
    from sklearn.model_selection import StratifiedKFold

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
        aucs = []
        for rep in range(n_repeats):
            oof = pd.Series(np.nan, index=ids)
            skf = StratifiedKFold(k, shuffle=True, random_state=seed + rep)
            for tr, te in skf.split(ids, y):
                oof.iloc[te] = _fit_predict(frac, y, cohorts, None, ids[tr], ids[te], setup)
            aucs.append(delong_auc(y == "R", oof.to_numpy())[0])
        rows.append(base | {"auc_mean": float(np.mean(aucs)), "auc_sd": float(np.std(aucs)),
                            "folds": k, "repeats": n_repeats, "note": ""})  # fmt: skip
        logger.info("within-cohort CV %s, %s: AUC %.3f +- %.3f", model, c, np.mean(aucs),
                    np.std(aucs))  # fmt: skip
    cols = ["model", "cohort", "n_R", "n_NR", "auc_mean", "auc_sd", "folds", "repeats", "note"]
    return pd.DataFrame(rows).reindex(columns=cols)


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


def permutation_null(
    abundance: pd.DataFrame,
    info: pd.DataFrame,
    n_permutations: int = 10,
    seed: int = 1,
    **kwargs,
) -> np.ndarray:
    """Mean LOCO AUC over held-out cohorts with labels shuffled within each cohort.

    Returns one value per permutation; with no leakage they centre on 0.5.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_permutations):
        perm = info.copy()
        for _, idx in perm.groupby("cohort").groups.items():
            lab = perm.loc[idx, "response"]
            perm.loc[idx, "response"] = rng.permutation(lab.to_numpy())
        tab, _ = loco(abundance, perm, seed=seed, **kwargs)
        out.append(float(tab.loc[tab["held_out"] == "mean", "auc"].iloc[0]))
    return np.asarray(out)


# --------------------------------------------------------------------------------------------
# frozen model: train on all, apply to a new cohort
# --------------------------------------------------------------------------------------------
MODEL_FORMAT = 1


@dataclass
class FrozenModel:
    """A classifier trained on all labelled cohorts, with what is needed to apply it elsewhere."""

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


def _naming(taxa: Sequence[str]) -> str:
    taxa = [str(t) for t in taxa]
    if not taxa:
        return ""
    sgb = sum("SGB" in t for t in taxa) / len(taxa)
    pref = sum(t.startswith("s__") for t in taxa) / len(taxa)
    return ("sgb" if sgb > 0.5 else "species") + ("_prefixed" if pref > 0.5 else "")


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
) -> FrozenModel:
    """Train on every labelled sample of every cohort (the model for new patients)."""
    import sklearn

    frac = to_fractions(abundance)
    lab = _labelled(info, frac)
    if lab["response"].nunique() < 2:
        raise ValueError("fit_final: the labelled samples hold one class only")
    cohorts = lab["cohort"].astype(str)
    species = _kept_species(frac.loc[lab.index], min_prevalence)
    ex = None if extra is None else extra.loc[lab.index]
    ref = None
    if batch == "combat":  # the training reference travels with the model
        raw = feature_matrix(frac.loc[lab.index], species, ex, cohorts, transform_method, "none")
        ref = combat_reference(raw, cohorts)
    X = feature_matrix(frac.loc[lab.index], species, ex, cohorts, transform_method, batch,
                       batch_ref=ref)  # fmt: skip
    y01 = (lab["response"] == "R").to_numpy().astype(int)
    mdl = make_model(model, seed, n_jobs, _inner_folds(y01))
    mdl.fit(X.to_numpy(), y01)
    from icibiome import __version__

    return FrozenModel(
        pipeline=mdl, species=species, extra=[] if extra is None else list(extra.columns),
        columns=list(X.columns), model=model, transform=transform_method, batch=batch,
        training_cohorts=sorted(set(cohorts)), n_train=len(lab), naming=_naming(species),
        batch_ref=ref,
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
    with open(path, "rb") as fh:
        fm = pickle.load(fh)
    if not isinstance(fm, FrozenModel) or fm.format != MODEL_FORMAT:
        raise ValueError(f"{path}: not an icibiome model of format {MODEL_FORMAT}")
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

    Refuses (ValueError) when the profiler or rank of the profile (when both sides know them)
    or the profile's naming differ from the model's, or fewer than ``min_overlap`` of the
    model's species are in the profile (another profiler or database); missing species
    otherwise count as absent.
    """
    for what, mine, theirs in (("profiler", fm.profiler, profiler), ("rank", fm.rank, rank)):
        if mine and theirs and mine != theirs:
            raise ValueError(f"the model was trained on {what} '{mine}', the profile is from "
                             f"'{theirs}': apply it to a table of the same {what}")  # fmt: skip
    frac = to_fractions(abundance)
    if fm.species:
        got = _naming(frac.columns)
        if got != fm.naming:
            raise ValueError(f"model features are named '{fm.naming}', the profile '{got}': "
                             "use a profile from the same profiler/database as the model")  # fmt: skip
        overlap = np.mean([s in frac.columns for s in fm.species])
        if overlap < min_overlap:
            raise ValueError(f"only {overlap:.0%} of the model's {len(fm.species)} species are "
                             f"in the profile (< {min_overlap:.0%}): another profiler or "
                             "database?")  # fmt: skip
    if fm.extra and (extra is None or any(c not in extra.columns for c in fm.extra)):
        raise ValueError(f"the model needs the extra features {fm.extra}")
    coh = cohorts if cohorts is not None else pd.Series("new", index=frac.index)
    X = feature_matrix(frac, fm.species, None if not fm.extra else extra[fm.extra], coh,
                       fm.transform, fm.batch, batch_ref=fm.batch_ref).reindex(columns=fm.columns)  # fmt: skip
    return pd.Series(fm.pipeline.predict_proba(X.to_numpy())[:, 1], index=frac.index,
                     name="probability")  # fmt: skip


def write_model_card(fm: FrozenModel, path: str | Path) -> None:
    """A YAML description of a frozen model beside its pickle."""
    import yaml

    from icibiome.io import atomic_path

    doc = {"format": fm.format, "profiler": fm.profiler, "rank": fm.rank, "model": fm.model,
           "transform": fm.transform, "batch": fm.batch,
           "training_cohorts": fm.training_cohorts, "n_train": fm.n_train, "naming": fm.naming,
           "n_species": len(fm.species or []), "extra_features": fm.extra,
           "versions": fm.versions}  # fmt: skip
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
