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

Everything is deterministic for a given ``seed``. The preprocessing lives in
:mod:`icibiome.signatures.preprocess`, the classifiers in :mod:`icibiome.signatures.models`,
the frozen model in :mod:`icibiome.signatures.frozen`; their public names are re-exported
here (``__all__``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from icibiome.signatures.differential import class_counts

# re-exported: callers use ``predict.<name>`` (models of earlier versions unpickle through
# icibiome.signatures.frozen.MOVED_MODULES, not through this module)
from icibiome.signatures.frozen import (  # noqa: F401  (re-export)
    MODEL_FORMAT,
    FrozenModel,
    apply_model,
    extra_from_specs,
    fit_final,
    load_model,
    save_model,
    write_model_card,
)
from icibiome.signatures.models import (  # noqa: F401  (re-export)
    LASSO_CS,
    MODELS,
    fit_model,
    inner_cv,
    lasso_inner_scores,
    make_model,
)
from icibiome.signatures.preprocess import (  # noqa: F401  (re-export)
    BATCH,
    LOG10_PSEUDO,
    MIN_BATCH_SAMPLES,
    TRANSFORMS,
    Preprocess,
    apply_preprocess,
    clr_pseudo,
    cohort_standardise,
    combat_adjust,
    combat_reference,
    feature_matrix,
    fit_preprocess,
    labelled,
    to_fractions,
    transform,
)

logger = logging.getLogger(__name__)

AUC_COLUMNS = [
    "model", "features", "held_out", "n_R", "n_NR", "auc", "ci_low", "ci_high", "n_train",
    "train_cohorts", "n_features", "perm_p", "null_mean", "null_sd", "n_permutations", "note",
]  # fmt: skip


__all__ = [
    "AUC_COLUMNS",
    "WITHIN_COLUMNS",
    "delong_auc",
    "fold_features",
    "auc_summary",
    "permutation_null",
    "permutation_p",
    "loco",
    "within_cohort_cv",
    "cross_cohort_matrix",
    "MODEL_FORMAT",
    "FrozenModel",
    "apply_model",
    "extra_from_specs",
    "fit_final",
    "load_model",
    "save_model",
    "write_model_card",
    "LASSO_CS",
    "MODELS",
    "fit_model",
    "inner_cv",
    "lasso_inner_scores",
    "make_model",
    "BATCH",
    "MIN_BATCH_SAMPLES",
    "TRANSFORMS",
    "Preprocess",
    "apply_preprocess",
    "clr_pseudo",
    "cohort_standardise",
    "combat_adjust",
    "combat_reference",
    "feature_matrix",
    "fit_preprocess",
    "labelled",
    "to_fractions",
    "transform",
]


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
    lab = labelled(info, frac)
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
    lab = labelled(info, frac)
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
    lab = labelled(info, frac)
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
