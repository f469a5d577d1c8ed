"""Survival (PFS/OS) against a per-sample score: Cox PH stratified by cohort, Kaplan-Meier, log-rank.

Uses lifelines (Davidson-Pilon 2019). For a score (e.g. the out-of-cohort predicted probability
of :func:`icibiome.predict.loco`, the guild balance, or TOPOSCORE):

* Cox PH of the endpoint on the score standardised to unit SD, stratified by cohort (each
  cohort its own baseline hazard, as cohorts differ in follow-up and treatment), Efron ties:
  HR per SD with 95% CI and Wald p;
* the score split at its median *within each cohort* into ``high``/``low`` groups: stratified
  Cox HR high vs low, Kaplan-Meier curves and medians per group, and the log-rank test
  (as Björk et al. 2024 for their balance and Derosa et al. 2024 for TOPOSCORE).

A higher score is meant to mean a better prognosis, so HR < 1 is the expected direction.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

ENDPOINTS = {"PFS": ("pfs_months", "pfs_event"), "OS": ("os_months", "os_event")}
SURV_COLUMNS = [
    "score", "endpoint", "n", "events", "n_cohorts", "hr_per_sd", "hr_ci_low", "hr_ci_high",
    "p_value", "hr_high_vs_low", "hr_hl_ci_low", "hr_hl_ci_high", "p_high_vs_low",
    "logrank_p", "median_high", "median_low", "note",
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
    from lifelines.statistics import logrank_test

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
    h, lw = d[d["group"] == "high"], d[d["group"] == "low"]
    if len(h) and len(lw):
        lr = logrank_test(h[time], lw[time], h[event], lw[event])
        row["logrank_p"] = float(lr.p_value)
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
    """:func:`survival_by_score` for every score x endpoint present in ``df``."""
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
    km = (
        pd.concat(kms, ignore_index=True)
        if kms
        else pd.DataFrame(columns=["group", "time", "survival", "at_risk", "score", "endpoint"])
    )
    return tab, km
