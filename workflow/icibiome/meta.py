"""Random-effects meta-analysis of per-cohort effects (docs/methods.md §5, §9d).

Per feature, the per-cohort effects ``b_i`` with variances ``v_i = se_i^2`` (from
:func:`icibiome.differential.differential_abundance`) are pooled with a random-effects model:

* ``DL``: DerSimonian & Laird (1986) moment estimator of tau^2;
* ``PM``: Paule & Mandel (1982) iterated estimator (statsmodels ``method_re="iterated"``);
* ``REML``: restricted maximum likelihood by Fisher scoring (as ``metafor::rma``, the default of
  MMUPHin ``lm_meta``; Viechtbauer 2005).

Pooled effect ``mu = sum(w b) / sum(w)`` with ``w = 1 / (v + tau^2)``, SE ``1/sqrt(sum w)``,
Wald z, p and 95% CI; Cochran's Q, ``I^2 = max(0, (Q - (k-1)) / Q)`` (Higgins & Thompson 2002),
and direction consistency (share of cohorts whose effect has the sign of the pooled effect, the
Lee 2022 "consistent direction" idea). q-values are BH over features. DL and PM agree with
statsmodels ``combine_effects`` (checked in the unit tests).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from icibiome.differential import bh

logger = logging.getLogger(__name__)

META_COLUMNS = [
    "feature", "effect", "se", "ci_low", "ci_high", "z", "p_value", "q_value", "tau2", "Q",
    "I2", "n_cohorts", "n_positive", "n_negative", "direction_consistency",
    "n_cohorts_q_lt_0.1", "agreement_ancombc", "agreement_dirmult", "method",
]  # fmt: skip


def _tau2_dl(b: np.ndarray, v: np.ndarray) -> float:
    w = 1 / v
    mu = (w * b).sum() / w.sum()
    q = (w * (b - mu) ** 2).sum()
    c = w.sum() - (w**2).sum() / w.sum()
    return float(max(0.0, (q - (len(b) - 1)) / c)) if c > 0 else 0.0


def _tau2_pm(b: np.ndarray, v: np.ndarray, max_iter: int = 100, tol: float = 1e-10) -> float:
    k = len(b)
    tau2 = _tau2_dl(b, v)
    for _ in range(max_iter):
        w = 1 / (v + tau2)
        mu = (w * b).sum() / w.sum()
        f = (w * (b - mu) ** 2).sum() - (k - 1)
        if abs(f) < tol:
            break
        df = -(w**2 * (b - mu) ** 2).sum()
        new = max(0.0, tau2 - f / df)
        if new == 0.0 and f < 0:
            return 0.0
        if abs(new - tau2) < tol:
            tau2 = new
            break
        tau2 = new
    return float(tau2)


def _tau2_reml(b: np.ndarray, v: np.ndarray, max_iter: int = 100, tol: float = 1e-10) -> float:
    tau2 = _tau2_dl(b, v)
    for _ in range(max_iter):
        w = 1 / (v + tau2)
        mu = (w * b).sum() / w.sum()
        # Fisher scoring step for REML (Viechtbauer 2005, eq. 12)
        num = (w**2 * ((b - mu) ** 2 - v)).sum() + (w**2).sum() / w.sum()
        new = max(0.0, num / (w**2).sum())
        if abs(new - tau2) < tol:
            return float(new)
        tau2 = new
    return float(tau2)


def random_effects(effects, variances, method: str = "DL") -> dict[str, float]:
    """Pool effects with a random-effects model.

    Parameters
    ----------
    effects, variances : array-like
        Per-study effects and their sampling variances (> 0).
    method : {"DL", "PM", "REML"}
        The tau^2 estimator.

    Returns
    -------
    dict
        ``effect, se, ci_low, ci_high, z, p_value, tau2, Q, I2, k``.

    Examples
    --------
    >>> r = random_effects([0.5, 0.3, 0.9], [0.04, 0.09, 0.05])
    >>> round(r["effect"], 3), round(r["tau2"], 4), round(r["I2"], 3)
    (0.595, 0.0294, 0.344)
    """
    b = np.asarray(effects, dtype=float)
    v = np.asarray(variances, dtype=float)
    ok = np.isfinite(b) & np.isfinite(v) & (v > 0)
    b, v = b[ok], v[ok]
    k = len(b)
    if k == 0:
        return {x: np.nan for x in ("effect", "se", "ci_low", "ci_high", "z", "p_value", "tau2",
                                    "Q", "I2")} | {"k": 0}  # fmt: skip
    method = method.upper()
    est = {"DL": _tau2_dl, "PM": _tau2_pm, "REML": _tau2_reml}
    if method not in est:
        raise ValueError(f"meta-analysis method must be DL, PM or REML, not {method!r}")
    tau2 = est[method](b, v) if k > 1 else 0.0
    w = 1 / (v + tau2)
    mu = (w * b).sum() / w.sum()
    se = 1 / np.sqrt(w.sum())
    w0 = 1 / v
    mu0 = (w0 * b).sum() / w0.sum()
    q = float((w0 * (b - mu0) ** 2).sum())
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    z = mu / se
    return {
        "effect": float(mu), "se": float(se), "ci_low": float(mu - 1.959964 * se),
        "ci_high": float(mu + 1.959964 * se), "z": float(z),
        "p_value": float(2 * stats.norm.sf(abs(z))), "tau2": float(tau2), "Q": q,
        "I2": float(i2), "k": k,
    }  # fmt: skip


def _agreement(g: pd.DataFrame, method: str, sign: float) -> float:
    """Share of the feature's cohorts where ``method`` gives the pooled LinDA sign (NaN: not run)."""
    col = f"{method}_effect"
    if col not in g.columns:
        return np.nan
    e = pd.to_numeric(g[col], errors="coerce").dropna()
    return float((np.sign(e) == sign).mean()) if len(e) else np.nan


def meta_analysis(
    da: pd.DataFrame, method: str = "DL", min_cohorts: int = 2, q_cut: float = 0.1
) -> pd.DataFrame:
    """Random-effects meta-analysis of a per-cohort DA table, one row per feature.

    Parameters
    ----------
    da : DataFrame
        Output of :func:`icibiome.differential.differential_abundance` (``cohort, feature,
        effect, se, q_value``); skipped-cohort rows (empty ``feature``) are ignored.
    method : {"DL", "PM", "REML"}
        tau^2 estimator.
    min_cohorts : int
        Features tested in fewer cohorts are left out.
    q_cut : float
        Per-cohort q threshold for ``n_cohorts_q_lt_<q_cut>``.

    Returns
    -------
    DataFrame
        Columns :data:`META_COLUMNS`, sorted by p-value.
    """
    d = da[(da["feature"].fillna("") != "") & np.isfinite(da["se"].astype(float))]
    d = d[d["se"].astype(float) > 0]
    rows = []
    for feat, g in d.groupby("feature", sort=False):
        if len(g) < min_cohorts:
            continue
        r = random_effects(g["effect"], g["se"].astype(float) ** 2, method)
        sign = np.sign(r["effect"])
        npos = int((g["effect"] > 0).sum())
        nneg = int((g["effect"] < 0).sum())
        rows.append({
            "feature": feat, **{k: r[k] for k in ("effect", "se", "ci_low", "ci_high", "z",
                                                  "p_value", "tau2", "Q", "I2")},
            "n_cohorts": r["k"], "n_positive": npos, "n_negative": nneg,
            "direction_consistency": (npos if sign > 0 else nneg) / r["k"] if r["k"] else np.nan,
            "n_cohorts_q_lt_0.1": int((g["q_value"] < q_cut).sum()),
            **{f"agreement_{m}": _agreement(g, m, sign) for m in ("ancombc", "dirmult")},
            "method": method.upper(),
        })  # fmt: skip
    out = pd.DataFrame(rows, columns=META_COLUMNS)
    if out.empty:
        return out
    out["q_value"] = bh(out["p_value"])
    return out.sort_values(["p_value", "feature"], kind="stable").reset_index(drop=True)


def forest_data(da: pd.DataFrame, meta: pd.DataFrame, features) -> pd.DataFrame:
    """Forest-plot rows for ``features``: one per cohort (effect, 95% CI) plus the pooled row.

    Returns columns ``feature, study, effect, ci_low, ci_high, weight_hint`` where ``study`` is
    the cohort name or ``pooled (<method>)``.
    """
    rows = []
    for f in features:
        g = da[da["feature"] == f]
        for _, r in g.iterrows():
            rows.append({"feature": f, "study": r["cohort"], "effect": r["effect"],
                         "ci_low": r["effect"] - 1.959964 * r["se"],
                         "ci_high": r["effect"] + 1.959964 * r["se"],
                         "se": r["se"]})  # fmt: skip
        m = meta[meta["feature"] == f]
        if len(m):
            m = m.iloc[0]
            rows.append({"feature": f, "study": f"pooled ({m['method']})", "effect": m["effect"],
                         "ci_low": m["ci_low"], "ci_high": m["ci_high"],
                         "se": m["se"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["feature", "study", "effect", "ci_low", "ci_high", "se"])
