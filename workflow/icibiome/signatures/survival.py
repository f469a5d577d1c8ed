"""Survival (PFS/OS) against a per-sample score: Cox PH stratified by cohort, Kaplan-Meier, log-rank.

Uses lifelines (Davidson-Pilon 2019). For a score (e.g. the out-of-cohort predicted probability
of :func:`icibiome.signatures.predict.loco`, the guild balance, or TOPOSCORE):

* Cox PH of the endpoint on the score standardised to unit SD, stratified by cohort (each
  cohort its own baseline hazard, as cohorts differ in follow-up and treatment), Efron ties:
  HR per SD with 95% CI and Wald p;
* the score split at its median *within each cohort* into ``high``/``low`` groups: stratified
  Cox HR high vs low, Kaplan-Meier curves and medians per group, and the log-rank test
  stratified by cohort like the Cox models (:func:`stratified_logrank`; lifelines'
  ``logrank_test`` cannot stratify) (as Björk et al. 2024 for their balance and Derosa et al.
  2024 for TOPOSCORE).

The p-values are per test; ``q_value``, ``q_high_vs_low`` and ``logrank_q`` are
Benjamini-Hochberg adjusted over the rows of the table (every score x endpoint of the run).

A higher score is meant to mean a better prognosis, so HR < 1 is the expected direction.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from icibiome.stats import bh

logger = logging.getLogger(__name__)

ENDPOINTS = {"PFS": ("pfs_months", "pfs_event"), "OS": ("os_months", "os_event")}
SURV_COLUMNS = [
    "score", "endpoint", "n", "events", "n_cohorts", "hr_per_sd", "hr_ci_low", "hr_ci_high",
    "p_value", "hr_high_vs_low", "hr_hl_ci_low", "hr_hl_ci_high", "p_high_vs_low",
    "logrank_p", "median_high", "median_low", "note", "q_value", "q_high_vs_low", "logrank_q",
    "logrank_strata",
]  # fmt: skip


def _prepare(df: pd.DataFrame, time: str, event: str, score: str, strata: str | None):
    cols = [time, event, score] + ([strata] if strata else [])
    d = df[cols].copy()
    for c in (time, event, score):
        d[c] = pd.to_numeric(d[c], errors="coerce")
    d = d.dropna()
    d = d[d[time] > 0]
    return d


def _cox(d: pd.DataFrame, time: str, event: str, covariate: str, strata: str | None):
    from lifelines import CoxPHFitter

    cph = CoxPHFitter()
    cols = [time, event, covariate] + ([strata] if strata else [])
    cph.fit(d[cols], duration_col=time, event_col=event, strata=[strata] if strata else None)
    s = cph.summary.loc[covariate]
    return (float(s["exp(coef)"]), float(s["exp(coef) lower 95%"]),
            float(s["exp(coef) upper 95%"]), float(s["p"]))  # fmt: skip


def score_groups(score: pd.Series, cohorts: pd.Series | None = None) -> pd.Series:
    """``high``/``low`` by the median of the score, within each cohort when given."""
    if cohorts is None:
        return pd.Series(np.where(score > score.median(), "high", "low"), index=score.index)
    med = score.groupby(cohorts).transform("median")
    return pd.Series(np.where(score > med, "high", "low"), index=score.index)


def kaplan_meier(d: pd.DataFrame, time: str, event: str, group: str) -> pd.DataFrame:
    """KM step curves per group: ``group, time, survival, at_risk`` (time 0 included)."""
    from lifelines import KaplanMeierFitter

    rows = []
    for g, sub in d.groupby(group):
        km = KaplanMeierFitter().fit(sub[time], sub[event])
        sf = km.survival_function_.iloc[:, 0]
        at_risk = km.event_table["at_risk"].reindex(sf.index).fillna(0)
        rows.append(pd.DataFrame({"group": g, "time": sf.index.to_numpy(),
                                  "survival": sf.to_numpy(),
                                  "at_risk": at_risk.to_numpy().astype(int)}))  # fmt: skip
    return (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["group", "time", "survival", "at_risk"])
    )


def stratified_logrank(time, event, group, strata=None) -> dict[str, float]:
    """Log-rank test of two groups, stratified: O - E and its variance summed over strata.

    Parameters
    ----------
    time, event : array-like
        Follow-up time and event indicator (1 = event).
    group : array-like
        Two group labels; the first in sorted order is the one whose ``O - E`` is reported.
    strata : array-like, optional
        Stratum per subject (e.g. cohort); None = one stratum (the ordinary log-rank test).

    Returns
    -------
    dict
        ``chi2`` (1 df), ``p_value``, ``o_minus_e``, ``variance``, ``n_strata`` (strata with
        both groups and at least one event).

    Notes
    -----
    In each stratum, at each distinct event time with ``n`` at risk (``n1`` in group 1) and
    ``d`` events (``d1`` in group 1): ``O - E += d1 - d n1 / n`` and ``V += d (n1/n)
    (1 - n1/n) (n - d) / (n - 1)`` (the hypergeometric variance, as lifelines'
    ``logrank_test`` and R's ``survdiff``). ``chi2 = (sum O - E)^2 / sum V``. This is the
    score test of a Cox model with the group indicator stratified by ``strata`` (exactly so
    without tied event times). Strata with one group only contribute nothing.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float) > 0
    g = np.asarray(group)
    labels = sorted(pd.unique(g).tolist())
    if len(labels) != 2:
        raise ValueError(f"log-rank test needs two groups, got {labels}")
    g1 = g == labels[0]
    st = np.zeros(len(t)) if strata is None else pd.factorize(np.asarray(strata))[0]
    o_e = var = 0.0
    used = 0
    for s in np.unique(st):
        m = st == s
        ts, es, gs = t[m], e[m], g1[m]
        if gs.all() or not gs.any() or not es.any():
            continue
        used += 1
        for u in np.unique(ts[es]):
            at_risk = ts >= u
            n, n1 = at_risk.sum(), (at_risk & gs).sum()
            dead = es & (ts == u)
            d, d1 = dead.sum(), (dead & gs).sum()
            o_e += d1 - d * n1 / n
            if n > 1:
                var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    chi2 = o_e**2 / var if var > 0 else np.nan
    p = float(stats.chi2.sf(chi2, 1)) if var > 0 else np.nan
    return {"chi2": float(chi2), "p_value": p, "o_minus_e": float(o_e), "variance": float(var),
            "n_strata": used}  # fmt: skip


def survival_by_score(
    df: pd.DataFrame,
    score: str,
    endpoint: str = "PFS",
    strata: str | None = "cohort",
    min_events: int = 3,
) -> tuple[dict, pd.DataFrame]:
    """Cox and KM of one endpoint on one score.

    Parameters
    ----------
    df : DataFrame
        Per sample: the score column, the endpoint's time/event columns (:data:`ENDPOINTS`) and
        ``strata``.
    score : str
        Column of ``df``.
    endpoint : {"PFS", "OS"}
    min_events : int
        Fewer events: the row says so and holds no estimates.

    Returns
    -------
    row : dict
        Keys :data:`SURV_COLUMNS`.
    km : DataFrame
        Kaplan-Meier curves (``group`` high/low) with ``score`` and ``endpoint`` columns.
    """
    time, event = ENDPOINTS[endpoint]
    row = {"score": score, "endpoint": endpoint}
    if time not in df.columns or event not in df.columns or score not in df.columns:
        return row | {"n": 0, "note": f"no {time}/{event}/{score} columns"}, pd.DataFrame()
    st = strata if strata and strata in df.columns else None
    d = _prepare(df, time, event, score, st)
    n_ev = int(d[event].sum()) if len(d) else 0
    row |= {"n": len(d), "events": n_ev, "n_cohorts": int(d[st].nunique()) if st else 1}
    if n_ev < min_events or d[score].nunique() < 2:
        return row | {"note": f"not estimable: {n_ev} events, {d[score].nunique()} score "
                      "values"}, pd.DataFrame()  # fmt: skip
    d = d.assign(z=(d[score] - d[score].mean()) / d[score].std(ddof=0))
    d["group"] = score_groups(d[score], d[st] if st else None)
    d["high"] = (d["group"] == "high").astype(float)
    notes = []
    try:
        hr, lo, hi, p = _cox(d, time, event, "z", st)
        row |= {"hr_per_sd": hr, "hr_ci_low": lo, "hr_ci_high": hi, "p_value": p}
    except Exception as err:  # lifelines convergence failures on tiny data
        notes.append(f"Cox per SD failed: {err}")
    try:
        hr, lo, hi, p = _cox(d, time, event, "high", st)
        row |= {"hr_high_vs_low": hr, "hr_hl_ci_low": lo, "hr_hl_ci_high": hi,
                "p_high_vs_low": p}  # fmt: skip
    except Exception as err:
        notes.append(f"Cox high vs low failed: {err}")
    if d["group"].nunique() == 2:
        lr = stratified_logrank(d[time], d[event], d["group"], d[st] if st else None)
        row["logrank_p"] = lr["p_value"]
        row["logrank_strata"] = st or "none"
    km = kaplan_meier(d, time, event, "group")
    for g in ("high", "low"):
        sub = km[km["group"] == g]
        below = sub[sub["survival"] <= 0.5]
        row[f"median_{g}"] = float(below["time"].iloc[0]) if len(below) else np.inf
    row["note"] = "; ".join(notes)
    return row, km.assign(score=score, endpoint=endpoint)


def survival_table(
    df: pd.DataFrame, scores, strata: str | None = "cohort", min_events: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`survival_by_score` for every score x endpoint present in ``df``.

    ``q_value``, ``q_high_vs_low`` and ``logrank_q`` are the Benjamini-Hochberg adjusted
    ``p_value``, ``p_high_vs_low`` and ``logrank_p`` over the rows of the table; the p-values
    themselves are unadjusted.
    """
    rows, kms = [], []
    for s in scores:
        for ep, (t, e) in ENDPOINTS.items():
            if t not in df.columns or e not in df.columns or df[t].isna().all():
                continue
            r, km = survival_by_score(df, s, ep, strata, min_events)
            rows.append(r)
            if len(km):
                kms.append(km)
    tab = pd.DataFrame(rows).reindex(columns=SURV_COLUMNS)
    if len(tab):  # BH over every test of the table (all scores x endpoints)
        for p, q in (("p_value", "q_value"), ("p_high_vs_low", "q_high_vs_low"),
                     ("logrank_p", "logrank_q")):  # fmt: skip
            tab[q] = bh(pd.to_numeric(tab[p], errors="coerce"))
    km = (
        pd.concat(kms, ignore_index=True)
        if kms
        else pd.DataFrame(columns=["group", "time", "survival", "at_risk", "score", "endpoint"])
    )
    return tab, km
