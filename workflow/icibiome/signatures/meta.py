"""Random-effects meta-analysis of per-cohort effects (docs/methods.md §5, §9d).

Per feature, the per-cohort effects ``b_i`` with variances ``v_i = se_i^2`` (from
:func:`icibiome.signatures.differential.differential_abundance`) are pooled with a random-effects model:

* ``DL``: DerSimonian & Laird (1986) moment estimator of tau^2;
* ``PM``: Paule & Mandel (1982): the root of the PM estimating equation, bracketed and solved
  with ``scipy.optimize.brentq`` (0 when the equation is <= 0 at 0; statsmodels
  ``method_re="pm"``);
* ``REML``: restricted maximum likelihood by Fisher scoring (as ``metafor::rma``, the default of
  MMUPHin ``lm_meta``; Viechtbauer 2005); when scoring stalls, the root of the REML score
  equation (``brentq``). A fit that still does not converge is logged as a warning naming the
  feature and flagged ``converged = False`` in the table.

Pooled effect ``mu = sum(w b) / sum(w)`` with ``w = 1 / (v + tau^2)``. With fewer than 10
cohorts the Hartung-Knapp-Sidik-Jonkman (HKSJ) SE, t test and 95% CI on k - 1 df (IntHout,
Ioannidis & Borm 2014: the Wald interval under-covers with few studies; column ``z`` then holds
the t statistic), otherwise the Wald SE ``1/sqrt(sum w)``, z, p and 95% CI; column
``ci_method`` says which. Cochran's Q, ``I^2 = max(0, (Q - (k-1)) / Q)`` (Higgins & Thompson
2002), and direction consistency (share of cohorts whose effect has the sign of the pooled
effect, the Lee 2022 "consistent direction" idea). q-values are BH over features. DL, PM and
HKSJ agree with statsmodels ``combine_effects`` (checked in the unit tests).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import optimize, stats

from icibiome.stats import bh

logger = logging.getLogger(__name__)

META_COLUMNS = [
    "feature", "effect", "se", "ci_low", "ci_high", "z", "p_value", "q_value", "tau2", "Q",
    "I2", "n_cohorts", "n_positive", "n_negative", "direction_consistency",
    "n_cohorts_q_lt_0.1", "agreement_ancombc", "agreement_dirmult", "method",
    "ci_method", "df", "converged",
]  # fmt: skip


def _tau2_dl(b: np.ndarray, v: np.ndarray) -> float:
    w = 1 / v
    mu = (w * b).sum() / w.sum()
    q = (w * (b - mu) ** 2).sum()
    c = w.sum() - (w**2).sum() / w.sum()
    return float(max(0.0, (q - (len(b) - 1)) / c)) if c > 0 else 0.0


def _pm_equation(tau2: float, b: np.ndarray, v: np.ndarray) -> float:
    """Paule-Mandel estimating equation ``sum w (b - mu)^2 - (k - 1)``; decreasing in tau^2."""
    w = 1 / (v + tau2)
    mu = (w * b).sum() / w.sum()
    return float((w * (b - mu) ** 2).sum() - (len(b) - 1))


def _tau2_pm(b: np.ndarray, v: np.ndarray) -> tuple[float, bool]:
    """Paule-Mandel tau^2: the root of :func:`_pm_equation`, 0 when the equation is <= 0 at 0.

    The equation is monotone decreasing in tau^2 (to ``-(k-1)``), so the root is bracketed
    between 0 and an upper bound found by doubling and solved with ``scipy.optimize.brentq``
    (a Newton step from the DL start can overshoot below 0 and stop there wrongly).
    """
    if _pm_equation(0.0, b, v) <= 0:
        return 0.0, True
    hi = max(float(np.var(b, ddof=1)), float(v.max()), 1e-12)
    for _ in range(200):
        if _pm_equation(hi, b, v) < 0:
            break
        hi *= 2.0
    else:
        return float(hi), False
    root = optimize.brentq(_pm_equation, 0.0, hi, args=(b, v), xtol=1e-14, rtol=1e-12,
                           maxiter=500)  # fmt: skip
    return float(root), True


def _reml_score(tau2: float, b: np.ndarray, v: np.ndarray) -> float:
    """Derivative of the REML log-likelihood in tau^2 (times 2; Viechtbauer 2005, eq. 11)."""
    w = 1 / (v + tau2)
    mu = (w * b).sum() / w.sum()
    return float((w**2 * (b - mu) ** 2).sum() - w.sum() + (w**2).sum() / w.sum())


def _tau2_reml(
    b: np.ndarray, v: np.ndarray, max_iter: int = 100, tol: float = 1e-10
) -> tuple[float, bool]:
    """REML tau^2; ``(tau2, converged)``.

    Fisher scoring from the DL estimate (as metafor). It converges only linearly when the
    variances differ by orders of magnitude and can stop after ``max_iter`` steps short of the
    optimum; then the REML score equation is solved directly (bracketed ``brentq`` around the
    last iterate). ``converged`` is False only when that fails too.
    """
    tau2 = _tau2_dl(b, v)
    for _ in range(max_iter):
        w = 1 / (v + tau2)
        mu = (w * b).sum() / w.sum()
        # Fisher scoring step for REML (Viechtbauer 2005, eq. 12)
        num = (w**2 * ((b - mu) ** 2 - v)).sum() + (w**2).sum() / w.sum()
        new = max(0.0, num / (w**2).sum())
        if abs(new - tau2) < tol:
            return float(new), True
        tau2 = new
    return _reml_root(b, v, tau2)


def _reml_root(b: np.ndarray, v: np.ndarray, start: float) -> tuple[float, bool]:
    """Root of :func:`_reml_score` bracketed from ``start`` (0 when the score is < 0 down to 0)."""
    u = _reml_score(start, b, v)
    if u == 0:
        return float(start), True
    if u > 0:  # the optimum is above start
        lo, hi = start, max(2.0 * start, 1e-12)
        for _ in range(200):
            if _reml_score(hi, b, v) < 0:
                break
            lo, hi = hi, 2.0 * hi
        else:
            return float(start), False
    else:  # below start, or at the boundary 0
        if _reml_score(0.0, b, v) <= 0:
            return 0.0, True
        lo, hi = 0.0, start
    root = optimize.brentq(_reml_score, lo, hi, args=(b, v), xtol=1e-14, rtol=1e-12, maxiter=500)
    return float(root), True


HKSJ_MAX_K = 10  # below this many cohorts, ci="auto" uses Knapp-Hartung (HKSJ)
CI_METHODS = ("auto", "hksj", "wald")


def random_effects(effects, variances, method: str = "DL", ci: str = "auto") -> dict:
    """Pool effects with a random-effects model.

    Parameters
    ----------
    effects, variances : array-like
        Per-study effects and their sampling variances (> 0).
    method : {"DL", "PM", "REML"}
        The tau^2 estimator.
    ci : {"auto", "hksj", "wald"}
        Confidence interval and test of the pooled effect: ``wald`` (normal, SE
        ``1/sqrt(sum w)``), ``hksj`` (Hartung-Knapp-Sidik-Jonkman: SE
        ``sqrt(sum w (b - mu)^2 / ((k - 1) sum w))`` and a t distribution on ``k - 1`` df, as
        statsmodels ``combine_effects(...).conf_int(use_t=True)`` ``*_wls`` and metafor
        ``test="knha"``), or ``auto``: HKSJ with fewer than :data:`HKSJ_MAX_K` studies (the Wald
        interval under-covers with few studies: 0.905 at k = 3 in the unit tests' simulation),
        Wald otherwise. With one study the Wald interval is used.

    Returns
    -------
    dict
        ``effect, se, ci_low, ci_high, z, p_value, tau2, Q, I2, k, ci_method, df, converged``.
        With HKSJ, ``se`` is the HKSJ SE, ``z`` the t statistic and ``df = k - 1`` (NaN for
        Wald). ``converged`` is False when the tau^2 iteration (REML, PM) stopped unconverged.

    Examples
    --------
    >>> r = random_effects([0.5, 0.3, 0.9], [0.04, 0.09, 0.05])
    >>> round(r["effect"], 3), round(r["tau2"], 4), round(r["I2"], 3), r["ci_method"]
    (0.595, 0.0294, 0.344, 'hksj')
    """
    b = np.asarray(effects, dtype=float)
    v = np.asarray(variances, dtype=float)
    ok = np.isfinite(b) & np.isfinite(v) & (v > 0)
    b, v = b[ok], v[ok]
    k = len(b)
    method = method.upper()
    est = {"DL": _tau2_dl, "PM": _tau2_pm, "REML": _tau2_reml}
    if method not in est:
        raise ValueError(f"meta-analysis method must be DL, PM or REML, not {method!r}")
    ci = ci.lower()
    if ci not in CI_METHODS:
        raise ValueError(f"meta-analysis ci must be one of {CI_METHODS}, not {ci!r}")
    if k == 0:
        return {x: np.nan for x in ("effect", "se", "ci_low", "ci_high", "z", "p_value", "tau2",
                                    "Q", "I2", "df")} | {"k": 0, "ci_method": "",
                                                          "converged": True}  # fmt: skip
    converged = True
    if k > 1:
        fit = est[method](b, v)
        tau2, converged = fit if isinstance(fit, tuple) else (fit, True)
    else:
        tau2 = 0.0
    w = 1 / (v + tau2)
    mu = (w * b).sum() / w.sum()
    w0 = 1 / v
    mu0 = (w0 * b).sum() / w0.sum()
    q = float((w0 * (b - mu0) ** 2).sum())
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    use = ("hksj" if 2 <= k < HKSJ_MAX_K else "wald") if ci == "auto" else ci
    se_hksj = np.sqrt((w * (b - mu) ** 2).sum() / ((k - 1) * w.sum())) if k > 1 else 0.0
    if use == "hksj" and not se_hksj > 0:
        use = "wald"  # one study, or every effect identical: no HKSJ scale (it would be 0)
    if use == "hksj":
        df, se = k - 1, se_hksj
        crit = stats.t.isf(0.025, df)
        z = mu / se
        p = 2 * stats.t.sf(abs(z), df)
    else:
        df, se = np.nan, 1 / np.sqrt(w.sum())
        crit = stats.norm.isf(0.025)
        z = mu / se
        p = 2 * stats.norm.sf(abs(z))
    return {
        "effect": float(mu), "se": float(se), "ci_low": float(mu - crit * se),
        "ci_high": float(mu + crit * se), "z": float(z), "p_value": float(p),
        "tau2": float(tau2), "Q": q, "I2": float(i2), "k": k, "ci_method": use,
        "df": float(df), "converged": bool(converged),
    }  # fmt: skip


def _agreement(g: pd.DataFrame, method: str, sign: float) -> float:
    """Share of the feature's cohorts where ``method`` gives the pooled LinDA sign (NaN: not run)."""
    col = f"{method}_effect"
    if col not in g.columns:
        return np.nan
    e = pd.to_numeric(g[col], errors="coerce").dropna()
    return float((np.sign(e) == sign).mean()) if len(e) else np.nan


def meta_analysis(
    da: pd.DataFrame,
    method: str = "DL",
    min_cohorts: int = 2,
    q_cut: float = 0.1,
    ci: str = "auto",
) -> pd.DataFrame:
    """Random-effects meta-analysis of a per-cohort DA table, one row per feature.

    Parameters
    ----------
    da : DataFrame
        Output of :func:`icibiome.signatures.differential.differential_abundance` (``cohort, feature,
        effect, se, q_value``); skipped-cohort rows (empty ``feature``) are ignored.
    method : {"DL", "PM", "REML"}
        tau^2 estimator.
    min_cohorts : int
        Features tested in fewer cohorts are left out.
    q_cut : float
        Per-cohort q threshold for ``n_cohorts_q_lt_<q_cut>``.
    ci : {"auto", "hksj", "wald"}
        Interval and test of the pooled effect (:func:`random_effects`); ``auto`` = HKSJ with
        fewer than 10 cohorts, Wald otherwise.

    Returns
    -------
    DataFrame
        Columns :data:`META_COLUMNS`, sorted by p-value. ``ci_method`` says which interval and
        test each row used (``hksj``: ``z`` is the t statistic on ``df`` degrees of freedom);
        ``converged`` is False where the tau^2 iteration stopped unconverged (also logged as a
        warning naming the feature).
    """
    d = da[(da["feature"].fillna("") != "") & np.isfinite(da["se"].astype(float))]
    d = d[d["se"].astype(float) > 0]
    rows = []
    for feat, g in d.groupby("feature", sort=False):
        if len(g) < min_cohorts:
            continue
        r = random_effects(g["effect"], g["se"].astype(float) ** 2, method, ci=ci)
        if not r["converged"]:
            logger.warning(
                "meta-analysis: %s tau^2 did not converge for feature %s (%d cohorts); its row "
                "has converged = False", method.upper(), feat, r["k"],
            )  # fmt: skip
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
            "method": method.upper(), "ci_method": r["ci_method"], "df": r["df"],
            "converged": r["converged"],
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
