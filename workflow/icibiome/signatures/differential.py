"""Per-cohort differential abundance of responders (R) vs non-responders (NR).

Each cohort is tested on its own (cohorts differ ~10x more than any clinical variable; Lee et al.
2022, Nat Med 28:535), and the per-cohort effects are pooled by :mod:`icibiome.signatures.meta`.

Primary test: a LinDA-style CLR regression (Zhou et al. 2022, Genome Biol 23:95; docs/methods.md §5,
§9d). Per cohort:

1. prevalence filter (``min_prevalence`` within the cohort, MaAsLin2's default 0.1);
2. :func:`linda_log2clr`: zeros replaced by half the smallest non-zero value of the cohort,
   log2, centred per sample (CLR over the kept features); values above the per-feature 97th
   percentile winsorised (LinDA ``outlier.pct = 0.03``);
3. one OLS per feature, ``clr ~ R + covariates`` (all features share the design, so one
   least-squares solve does them all);
4. compositional bias correction: the mode of the R coefficients over features (Gaussian kernel
   density) is subtracted, and t, p are recomputed with the same SE (LinDA);
5. Benjamini-Hochberg q within the cohort.

Alongside: a Wilcoxon rank-sum test on the CLR values (with its own BH q), the single-feature
AUROC (SIAMCAT ``check.associations``), prevalence and mean relative abundance in R and NR.

Sensitivity methods (``sensitivity``; the issue asks for agreement across DA methods), both from
scikit-bio on the same prevalence-filtered features of the cohort:

* ``ancombc``: :func:`skbio.stats.composition.ancombc` (Lin & Peddada 2020, Nat Commun 11:3514),
  formula ``response + covariates`` (the covariates LinDA used), zeros replaced as for the CLR;
  the natural-log fold change is reported as log2 (``ancombc_effect``), BH q within the cohort;
* ``dirmult``: :func:`skbio.stats.composition.dirmult_ttest` (ALDEx2-like Dirichlet-multinomial
  posterior draws, Fernandes et al. 2014), no covariates, on relative abundances scaled to
  10,000 per sample (standard tables need not carry counts); its ``Log2(FC)``, p and BH q.

A method that fails on a cohort (e.g. too few samples) leaves its columns empty, with the
reason in ``note``.

A cohort with fewer than ``min_per_class`` samples in R or NR is not tested; it is kept in the
output as one row with ``feature`` empty and the reason in ``note``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from icibiome.stats import auroc, bh  # noqa: F401  (used here and by the signatures stage as da.*)

logger = logging.getLogger(__name__)

DA_COLUMNS = [
    "cohort", "feature", "n_R", "n_NR", "prevalence_R", "prevalence_NR", "mean_R", "mean_NR",
    "effect", "se", "t", "df", "p_value", "q_value", "effect_raw", "bias", "wilcoxon_p",
    "wilcoxon_q", "auroc", "ancombc_effect", "ancombc_p", "ancombc_q", "dirmult_effect",
    "dirmult_p", "dirmult_q", "covariates", "note",
]  # fmt: skip

SENSITIVITY_METHODS = ("ancombc", "dirmult")


def prevalence_filter(
    abundance: pd.DataFrame, min_prevalence: float = 0.1, min_abundance: float = 0.0
) -> pd.DataFrame:
    """Keep features present (> ``min_abundance``) in at least ``min_prevalence`` of samples."""
    prev = (abundance > min_abundance).mean(axis=0)
    return abundance.loc[:, prev >= min_prevalence]


def linda_log2clr(abundance: pd.DataFrame, winsor: float = 0.03) -> pd.DataFrame:
    """LinDA's transform: log2 CLR, zeros -> half the smallest non-zero value, winsorised.

    Not a plain CLR (natural log, no zero handling, no winsorising as
    ``skbio.stats.composition.clr``): base 2, one pseudo-count for the whole table (half its
    smallest non-zero value) and, by default, the values above each feature's 97th percentile
    set to it (LinDA ``outlier.pct = 0.03``).

    Parameters
    ----------
    abundance : DataFrame
        Non-negative values (any scale), samples x features.
    winsor : float
        Upper per-feature winsorising fraction applied to the CLR values (0 = none).

    Examples
    --------
    >>> x = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 0.5]})
    >>> linda_log2clr(x, winsor=0).round(3).to_dict("list")
    {'a': [0.0, 1.0], 'b': [0.0, -1.0]}
    """
    x = abundance.to_numpy(dtype=float)
    pos = x[x > 0]
    pseudo = pos.min() / 2 if pos.size else 1.0
    lx = np.log2(np.where(x > 0, x, pseudo))
    lx = lx - lx.mean(axis=1, keepdims=True)
    if winsor > 0 and lx.shape[0] > 2:
        hi = np.quantile(lx, 1 - winsor, axis=0)
        lx = np.minimum(lx, hi)
    return pd.DataFrame(lx, index=abundance.index, columns=abundance.columns)


def design_matrix(
    info: pd.DataFrame, group: pd.Series, covariates: Sequence[str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """Intercept, R indicator and usable covariates (numeric as is, categorical one-hot).

    A covariate is dropped (and named in the returned notes) when it is missing for any sample
    or constant within the samples.

    Returns
    -------
    X : ndarray
        n x k design; column 1 is the R indicator.
    used : list of str
        Covariates in the model.
    notes : list of str
        Why covariates were dropped.
    """
    cols = [np.ones(len(group)), (group.to_numpy() == "R").astype(float)]
    used, notes = [], []
    for c in covariates:
        if c not in info.columns:
            notes.append(f"{c}: not in the sample sheet")
            continue
        v = info[c].replace("", np.nan)
        if v.isna().any():
            notes.append(f"{c}: missing for {int(v.isna().sum())} samples")
            continue
        num = pd.to_numeric(v, errors="coerce")
        if num.notna().all():
            if num.nunique() < 2:
                notes.append(f"{c}: constant")
                continue
            cols.append((num - num.mean()).to_numpy(dtype=float))
        else:
            levels = sorted(v.astype(str).unique())
            if len(levels) < 2:
                notes.append(f"{c}: constant")
                continue
            for lev in levels[1:]:
                cols.append((v.astype(str) == lev).to_numpy(dtype=float))
        used.append(c)
    X = np.column_stack(cols)
    if used and X.shape[1] > len(group) - 2:
        notes.append(f"{len(group)} samples too few for {X.shape[1] - 2} covariate terms: "
                     "dropped all")  # fmt: skip
        X, used = X[:, :2], []
    elif np.linalg.matrix_rank(X) < X.shape[1]:
        notes.append("covariates collinear with response: dropped all")
        X, used = X[:, :2], []
    return X, used, notes


def _kde_mode(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    if v.size < 3 or np.ptp(v) == 0:
        return float(np.median(v)) if v.size else 0.0
    kde = stats.gaussian_kde(v)
    grid = np.linspace(v.min(), v.max(), 512)
    return float(grid[np.argmax(kde(grid))])


def linda(clr_values: pd.DataFrame, X: np.ndarray, bias_correct: bool = True) -> pd.DataFrame:
    """LinDA-style OLS of every feature on the design ``X`` (column 1 = the tested effect).

    Returns a DataFrame indexed by feature with ``effect, se, t, df, p_value, effect_raw, bias``.
    """
    Y = clr_values.to_numpy(dtype=float)
    n, k = X.shape
    df = n - k
    xtx_inv = np.linalg.pinv(X.T @ X)
    beta = xtx_inv @ X.T @ Y
    resid = Y - X @ beta
    s2 = (resid**2).sum(axis=0) / max(df, 1)
    se = np.sqrt(s2 * xtx_inv[1, 1])
    raw = beta[1]
    bias = _kde_mode(raw) if bias_correct else 0.0
    eff = raw - bias
    with np.errstate(divide="ignore", invalid="ignore"):
        t = eff / se
    p = 2 * stats.t.sf(np.abs(t), df) if df > 0 else np.full_like(t, np.nan)
    return pd.DataFrame(
        {
            "effect": eff,
            "se": se,
            "t": t,
            "df": df,
            "p_value": p,
            "effect_raw": raw,
            "bias": bias,
        },  # fmt: skip
        index=clr_values.columns,
    )


def _ancombc(ab: pd.DataFrame, X: np.ndarray) -> pd.DataFrame:
    from skbio.stats.composition import ancombc

    x = ab.to_numpy(dtype=float)
    pos = x[x > 0]
    table = pd.DataFrame(np.where(x > 0, x, pos.min() / 2 if pos.size else 1.0),
                         index=ab.index, columns=[f"f{i}" for i in range(ab.shape[1])])  # fmt: skip
    md = pd.DataFrame(X[:, 1:], index=ab.index, columns=[f"x{i}" for i in range(X.shape[1] - 1)])
    res = ancombc(table, md, " + ".join(md.columns), p_adjust=None).result
    r = res.xs("x0", level="Covariate").reindex(table.columns)
    return pd.DataFrame({"ancombc_effect": r["Log(FC)"].to_numpy() / np.log(2),
                         "ancombc_p": r["pvalue"].to_numpy()}, index=ab.columns)  # fmt: skip


def _dirmult(ab: pd.DataFrame, resp: pd.Series, seed: int = 1) -> pd.DataFrame:
    from skbio.stats.composition import dirmult_ttest

    frac = ab.div(ab.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    table = (frac * 10_000).round()
    table.columns = [f"f{i}" for i in range(ab.shape[1])]
    res = dirmult_ttest(table, resp.astype(str), treatment="R", reference="NR", draws=128,
                        p_adjust=None, seed=seed).reindex(table.columns)  # fmt: skip
    return pd.DataFrame({"dirmult_effect": res["Log2(FC)"].to_numpy(),
                         "dirmult_p": res["pvalue"].to_numpy()}, index=ab.columns)  # fmt: skip


def differential_cohort(
    abundance: pd.DataFrame,
    info: pd.DataFrame,
    covariates: Sequence[str] = (),
    min_prevalence: float = 0.1,
    bias_correct: bool = True,
    sensitivity: Sequence[str] = (),
) -> pd.DataFrame:
    """Differential abundance R vs NR in one cohort (see the module docstring).

    Parameters
    ----------
    abundance : DataFrame
        Samples x features relative abundance of the cohort's labelled samples.
    info : DataFrame
        Same index; column ``response`` (``R``/``NR``) and the covariates.
    """
    resp = info.loc[abundance.index, "response"]
    ab = prevalence_filter(abundance, min_prevalence)
    X, used, notes = design_matrix(info.loc[ab.index], resp, covariates)
    cl = linda_log2clr(ab)
    res = linda(cl, X, bias_correct=bias_correct)
    is_r = (resp == "R").to_numpy()
    clv = cl.to_numpy()
    res["wilcoxon_p"] = stats.mannwhitneyu(clv[is_r], clv[~is_r], axis=0).pvalue
    res["auroc"] = auroc(clv, is_r)
    pres = ab.to_numpy() > 0
    res["prevalence_R"] = pres[is_r].mean(axis=0)
    res["prevalence_NR"] = pres[~is_r].mean(axis=0)
    res["mean_R"] = ab.to_numpy()[is_r].mean(axis=0)
    res["mean_NR"] = ab.to_numpy()[~is_r].mean(axis=0)
    res["q_value"] = bh(res["p_value"])
    res["wilcoxon_q"] = bh(res["wilcoxon_p"])
    res["n_R"], res["n_NR"] = int(is_r.sum()), int((~is_r).sum())
    for method in sensitivity:
        if method not in SENSITIVITY_METHODS:
            raise ValueError(f"unknown DA sensitivity method {method!r}: {SENSITIVITY_METHODS}")
        try:
            extra = _ancombc(ab, X) if method == "ancombc" else _dirmult(ab, resp)
        except Exception as err:  # scikit-bio refuses tiny or degenerate cohorts
            notes.append(f"{method} failed: {type(err).__name__}: {err}")
            logger.warning("%s failed on a cohort: %s", method, err)
            continue
        res[f"{method}_effect"] = extra[f"{method}_effect"]
        res[f"{method}_p"] = extra[f"{method}_p"]
        res[f"{method}_q"] = bh(extra[f"{method}_p"])
    res["covariates"] = ",".join(used)
    res["note"] = "; ".join(notes)
    return res.rename_axis("feature").reset_index()


def class_counts(info: pd.DataFrame, cohort_col: str = "cohort") -> pd.DataFrame:
    """R and NR counts per cohort (labelled samples only)."""
    lab = info[info["response"].isin(["R", "NR"])]
    tab = pd.crosstab(lab[cohort_col], lab["response"]).reindex(columns=["R", "NR"], fill_value=0)
    allc = sorted(info[cohort_col].astype(str).unique())
    return tab.reindex(allc, fill_value=0).rename(columns={"R": "n_R", "NR": "n_NR"})


def differential_abundance(
    abundance: pd.DataFrame,
    info: pd.DataFrame,
    covariates: Sequence[str] = (),
    min_prevalence: float = 0.1,
    min_per_class: int = 5,
    cohort_col: str = "cohort",
    bias_correct: bool = True,
    sensitivity: Sequence[str] = (),
) -> pd.DataFrame:
    """Per-cohort differential abundance, R vs NR, for every cohort of ``info``.

    Parameters
    ----------
    abundance : DataFrame
        Samples x features relative abundance (percent or fractions).
    info : DataFrame
        Indexed by sample; ``response`` (``R``, ``NR``, other = unlabelled), ``cohort_col`` and
        the covariate columns.
    covariates : sequence of str
        Sample-sheet columns adjusted for (dropped per cohort when missing or constant).
    min_prevalence : float
        Per-cohort prevalence a feature needs to be tested.
    min_per_class : int
        Cohorts with fewer R or NR samples are skipped (one row, reason in ``note``).
    sensitivity : sequence of {"ancombc", "dirmult"}
        Sensitivity methods run beside LinDA (module docstring).

    Returns
    -------
    DataFrame
        Columns :data:`DA_COLUMNS`; ``effect`` is the bias-corrected log2 CLR difference R - NR.
    """
    counts = class_counts(info, cohort_col)
    parts = []
    for cohort, row in counts.iterrows():
        n_r, n_nr = int(row["n_R"]), int(row["n_NR"])
        if min(n_r, n_nr) < min_per_class:
            note = f"skipped: {n_r} R / {n_nr} NR, fewer than {min_per_class} per class"
            logger.warning("differential abundance, cohort %s %s", cohort, note)
            parts.append(pd.DataFrame([{"cohort": cohort, "feature": "", "n_R": n_r,
                                        "n_NR": n_nr, "note": note}]))  # fmt: skip
            continue
        ids = info.index[(info[cohort_col].astype(str) == cohort)
                         & info["response"].isin(["R", "NR"])]  # fmt: skip
        ab = abundance.loc[[i for i in ids if i in abundance.index]]
        res = differential_cohort(ab, info.loc[ab.index], covariates, min_prevalence,
                                  bias_correct, sensitivity)  # fmt: skip
        res.insert(0, "cohort", cohort)
        parts.append(res)
        logger.info("differential abundance, cohort %s: %d features, %d with q < 0.1",
                    cohort, len(res), int((res["q_value"] < 0.1).sum()))  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=DA_COLUMNS)
    return pd.concat(parts, ignore_index=True).reindex(columns=DA_COLUMNS)
