"""TOPOSCORE endpoints: sample-sheet inputs, survival by predicted class, cut-off calibration.

* :func:`read_sheet` and :func:`sheet_akkermansia`: the sample sheet at each patient's baseline
  and an external *Akkermansia* status (e.g. qPCR);
* :func:`survival_endpoints`: Cox PH hazard ratios and Kaplan-Meier curves of OS / PFS by
  predicted class (NR vs R, the published endpoint), by category and per SD of the score
  (docs/methods.md §8 rows 10-14);
* :func:`category_check`: whether the SIG1 / Gray / SIG2 distribution is degenerate;
* :class:`Calibration`, :func:`fit_calibration`, :func:`read_calibration` and
  :func:`resolve_calibration`: the cut-offs a run uses and where they come from (docs/methods.md
  §9c step 5); :func:`check_settings` checks the sheet-dependent settings before any job.

The score is :mod:`icibiome.signatures.toposcore`; the rule's entry point
:mod:`icibiome.signatures.toposcore_stage`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.signatures.toposcore import (
    AKK_HIGH,
    CUT_NR,
    CUT_R,
    ToposcoreError,
    youden_cutoffs,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# sample sheet inputs: survival, external Akkermansia status
# --------------------------------------------------------------------------------------------
AKK_STATUSES = ("Zero", "Low", "High")


def read_sheet(samples_tsv: str | os.PathLike) -> tuple[pd.DataFrame, pd.Series]:
    """The validated sample sheet (:func:`icibiome.samplesheet.read_sample_sheet`, no file
    checks) and each sample's line number in the file (header = line 1), for error messages."""
    from icibiome.samplesheet import outcomes_at_baseline, read_sample_sheet

    # response and survival only at each patient's baseline (donors and follow-ups are scored,
    # not counted in the AUC, hazard ratios or calibration)
    sheet = outcomes_at_baseline(read_sample_sheet(samples_tsv, check_files=False))
    lines = [i + 1 for i, ln in enumerate(Path(samples_tsv).read_text(errors="replace").splitlines())
             if ln.strip() and not ln.lstrip().startswith("#")][1:]  # fmt: skip
    return sheet, pd.Series(lines[: len(sheet)], index=sheet.index)


def sheet_akkermansia(
    sheet: pd.DataFrame, column: str, lines: pd.Series | None = None, source: str = "sample sheet"
) -> pd.Series:
    """External *Akkermansia* status per sample from a sample-sheet column (e.g. qPCR).

    Values ``Zero`` / ``Low`` / ``High`` (any case); an empty cell (or ``NA``) = not measured:
    that sample keeps the status from its profile. Anything else raises
    :class:`~icibiome.signatures.toposcore.ToposcoreError` naming the file, row, sample and column
    (config key ``toposcore.akkermansia_column``).

    Examples
    --------
    >>> sheet = pd.DataFrame({"akk": ["zero", "", "HIGH"]}, index=["a", "b", "c"])
    >>> sheet_akkermansia(sheet, "akk").tolist()
    ['Zero', '', 'High']
    """
    if column not in sheet.columns:
        raise ToposcoreError(
            f"toposcore.akkermansia_column: {source} has no column {column!r} "
            f"(columns: {', '.join(map(str, sheet.columns))})"
        )
    canon = {v.lower(): v for v in AKK_STATUSES}
    raw = sheet[column].astype(object).where(sheet[column].notna(), "").astype(str).str.strip()
    raw = raw.where(~raw.str.lower().isin(["na", "nan", "none"]), "")
    bad = raw[(raw != "") & ~raw.str.lower().isin(list(canon))]
    if len(bad):
        sid = bad.index[0]
        row = f"row {int(lines[sid])} " if lines is not None and sid in lines.index else ""
        more = f" (and {len(bad) - 1} more row(s))" if len(bad) > 1 else ""
        raise ToposcoreError(
            f"{source}: {row}(sample {sid}): column {column!r} "
            f"(toposcore.akkermansia_column): {bad.iloc[0]!r} is not one of Zero, Low, High "
            f"(empty = use the profile){more}"
        )
    return raw.map(lambda v: canon.get(v.lower(), ""))


# --------------------------------------------------------------------------------------------
# survival by predicted class and category (the published endpoint, docs/methods.md §8 rows 10-14)
# --------------------------------------------------------------------------------------------
SURVIVAL_COLUMNS = ["endpoint", "comparison", "n", "events", "n_cohorts", "hr", "ci_low",
                    "ci_high", "p_value", "logrank_p", "medians", "note"]  # fmt: skip
KM_COLUMNS = ["endpoint", "by", "group", "time", "survival", "at_risk"]
#: Comparisons of :func:`survival_endpoints`: (label, column, group coded 1, group coded 0).
COMPARISONS = (("predicted NR vs R", "predicted_response", "NR", "R"),
               ("SIG1 vs SIG2 (Gray left out)", "category", "SIG1", "SIG2"))  # fmt: skip


class _NotEstimable(Exception):
    pass


def _cox_lifelines(d: pd.DataFrame, covariate: str, strata: bool) -> tuple[float, ...]:
    """HR, 95% CI, p of ``covariate``; raises :class:`_NotEstimable` when the fit does not
    converge or the CI is not finite (the events of a group separate, e.g. no events in one
    group of a stratum: the HR would be 0 or infinite, lifelines returns e.g. 3.5e7 (0-inf))."""
    import warnings

    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceWarning

    cols = ["time", "event", covariate] + (["stratum"] if strata else [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        cph = CoxPHFitter().fit(d[cols], duration_col="time", event_col="event",
                                strata=["stratum"] if strata else None)  # fmt: skip
    r = cph.summary.loc[covariate]
    out = (float(r["exp(coef)"]), float(r["exp(coef) lower 95%"]),
           float(r["exp(coef) upper 95%"]), float(r["p"]))  # fmt: skip
    diverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if diverged or not np.all(np.isfinite(out[:3])) or out[1] <= 0:
        raise _NotEstimable("not estimable: the events separate the groups (Cox did not "
                            "converge; the HR would be 0 or infinite)")  # fmt: skip
    return out


def _medians(km: pd.DataFrame) -> str:
    out = []
    for g, sub in km.groupby("group", sort=True):
        below = sub[sub["survival"] <= 0.5]
        out.append(f"{g} {below['time'].iloc[0]:.3g}" if len(below) else f"{g} not reached")
    return "; ".join(out)


def survival_endpoints(
    scores: pd.DataFrame, sheet: pd.DataFrame, min_events: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cox PH and Kaplan-Meier of OS / PFS by TOPOSCORE's prediction, category and score.

    For each endpoint of :data:`icibiome.signatures.survival.ENDPOINTS` with time/event columns in the
    sheet (samples with time > 0 and an event flag):

    * ``predicted NR vs R``: Cox PH hazard ratio of predicted non-responders (SIG1+) vs
      predicted responders (SIG2+) — the published endpoint (Derosa 2024; docs/methods.md §8 row 10:
      OS HR 2.13 (1.54-2.95) on the NSCLC discovery cohort) — with the log-rank p;
    * ``SIG1 vs SIG2 (Gray left out)``: the same for the two outer categories;
    * ``toposcore per SD``: HR per SD of the score (higher score = expected better, HR < 1).

    lifelines ``CoxPHFitter`` (Efron ties; the published 2.13 (1.54-2.95) is reproduced to two
    decimals by both Efron and Breslow), stratified by ``cohort`` when the samples come from
    more than one cohort (each its own baseline hazard); the log-rank test is then unstratified
    and the note says so. Fewer than ``min_events`` events, an empty group or a fit that does
    not converge (the events separate the groups, e.g. none in one group: the HR would be 0 or
    infinite): the row holds no HR and its note starts with ``not estimable``.

    Returns
    -------
    table : DataFrame
        :data:`SURVIVAL_COLUMNS`; ``medians`` = median survival per group (months).
    km : DataFrame
        :data:`KM_COLUMNS`: Kaplan-Meier curves by ``predicted_response`` and by ``category``.
    """
    from lifelines.statistics import logrank_test

    from icibiome.signatures.survival import ENDPOINTS, kaplan_meier

    rows, kms = [], []
    for ep, (tcol, ecol) in ENDPOINTS.items():
        if tcol not in sheet.columns or ecol not in sheet.columns:
            continue
        d = pd.DataFrame({
            "time": pd.to_numeric(sheet[tcol].reindex(scores.index), errors="coerce"),
            "event": pd.to_numeric(sheet[ecol].reindex(scores.index), errors="coerce"),
            "toposcore": pd.to_numeric(scores["toposcore"], errors="coerce"),
            "predicted_response": scores["predicted_response"],
            "category": scores["category"],
            "stratum": (sheet["cohort"].reindex(scores.index).astype(str)
                        if "cohort" in sheet.columns else "all"),
        }, index=scores.index)  # fmt: skip
        d = d.dropna(subset=["time", "event", "toposcore"])
        d = d[d["time"] > 0]
        if d.empty:
            continue
        n_coh = int(d["stratum"].nunique())
        strat = n_coh > 1
        base = {"endpoint": ep, "n_cohorts": n_coh}
        lr_note = "log-rank unstratified; Cox stratified by cohort" if strat else ""
        for label, col, one, zero in COMPARISONS:
            sub = d[d[col].isin([one, zero])].assign(x=lambda t, c=col, o=one: (t[c] == o) * 1.0)
            row = base | {"comparison": label, "n": len(sub), "events": int(sub["event"].sum())}
            n1, n0 = int((sub["x"] == 1).sum()), int((sub["x"] == 0).sum())
            km = kaplan_meier(d, "time", "event", col)  # by category: Gray included
            kms.append(km.assign(endpoint=ep, by=col))
            if n1 == 0 or n0 == 0 or row["events"] < min_events:
                rows.append(row | {"note": f"not estimable: {n1} {one}, {n0} {zero}, "
                                   f"{row['events']} events"})  # fmt: skip
                continue
            notes = [lr_note] if lr_note else []
            try:
                hr, lo, hi, p = _cox_lifelines(sub, "x", strat)
                row |= {"hr": hr, "ci_low": lo, "ci_high": hi, "p_value": p}
            except _NotEstimable as err:
                notes.insert(0, str(err))
            except Exception as err:  # other lifelines failures on tiny data
                notes.insert(0, f"not estimable: Cox failed ({str(err).split('.')[0]})")
            a, b = sub[sub["x"] == 1], sub[sub["x"] == 0]
            row["logrank_p"] = float(logrank_test(a["time"], b["time"], a["event"],
                                                  b["event"]).p_value)  # fmt: skip
            row["medians"] = _medians(km[km["group"].isin([one, zero])])
            rows.append(row | {"note": "; ".join(notes)})
        row = base | {"comparison": "toposcore per SD", "n": len(d),
                      "events": int(d["event"].sum())}  # fmt: skip
        sd = d["toposcore"].std(ddof=0)
        if row["events"] < min_events or not sd > 0:
            rows.append(row | {"note": f"not estimable: {row['events']} events, score SD {sd:.3g}"})
            continue
        d["z"] = (d["toposcore"] - d["toposcore"].mean()) / sd
        try:
            hr, lo, hi, p = _cox_lifelines(d, "z", strat)
            row |= {"hr": hr, "ci_low": lo, "ci_high": hi, "p_value": p,
                    "note": "Cox stratified by cohort" if strat else ""}  # fmt: skip
        except _NotEstimable as err:
            row["note"] = str(err)
        except Exception as err:
            row["note"] = f"not estimable: Cox failed ({str(err).split('.')[0]})"
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=SURVIVAL_COLUMNS)
    km = (pd.concat(kms, ignore_index=True).reindex(columns=KM_COLUMNS) if kms
          else pd.DataFrame(columns=KM_COLUMNS))  # fmt: skip
    return table, km


# --------------------------------------------------------------------------------------------
# category distribution and cut-off calibration
# --------------------------------------------------------------------------------------------
#: Category shares with the published cut-offs on the NSCLC discovery cohort (MetaPhlAn 4
#: vJan21; SIG1 74 / Gray 114 / SIG2 57 of 245, docs/methods.md §8 row 9).
PUBLISHED_SHARES = {"SIG1": 74 / 245, "Gray": 114 / 245, "SIG2": 57 / 245}
#: A distribution is *degenerate* when SIG1 or SIG2 holds less than this share of the samples
#: (published: 30 % and 23 %) ...
DEGENERATE_SHARE = 0.05
#: ... among at least this many scored samples (fewer: not judged).
DEGENERATE_MIN_SAMPLES = 20


def category_check(category: Sequence[str]) -> tuple[pd.DataFrame, bool]:
    """Counts and shares of SIG1 / Gray / SIG2 and whether the distribution is degenerate.

    Degenerate = at least :data:`DEGENERATE_MIN_SAMPLES` samples and SIG1 or SIG2 (the two
    categories that predict) with a share below :data:`DEGENERATE_SHARE` (5 %), where the
    published cut-offs give 30 % / 23 % on MetaPhlAn 4 profiles: the cut-offs do not fit this
    profiler / depth (e.g. 3 of 627 samples in SIG2 on another profiler's tables; 0 of 266 on
    the MetaPhlAn 3 melanoma tables of curatedMetagenomicData). A thin Gray zone is not
    degenerate: cut-offs fitted by :func:`~icibiome.signatures.toposcore.youden_cutoffs` are
    often close together.

    Examples
    --------
    >>> tab, bad = category_check(["SIG1"] * 30 + ["Gray"] * 60 + ["SIG2"] * 1)
    >>> bad, int(tab.loc["SIG2", "n"])
    (True, 1)
    """
    c = pd.Series(np.asarray(category, dtype=object)).dropna()
    n = len(c)
    tab = pd.DataFrame({"n": [int((c == k).sum()) for k in PUBLISHED_SHARES]},
                       index=pd.Index(list(PUBLISHED_SHARES), name="category"))  # fmt: skip
    tab["share"] = tab["n"] / n if n else np.nan
    tab["published_share"] = pd.Series(PUBLISHED_SHARES)
    tab["below_threshold"] = (tab["share"] < DEGENERATE_SHARE) & (tab.index != "Gray")
    degenerate = bool(n >= DEGENERATE_MIN_SAMPLES and tab["below_threshold"].any())
    return tab, degenerate


@dataclass
class Calibration:
    """The cut-offs a run used and where they come from (``toposcore_calibration.yaml``)."""

    cut_nr: float
    cut_r: float
    akk_high: float
    source: str  # published | config | fitted | file
    profile: str = ""
    cohorts: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    n_R: int = 0
    n_NR: int = 0
    origin: str = ""

    def to_dict(self) -> dict:
        doc = {
            "cut_nr": float(self.cut_nr), "cut_r": float(self.cut_r),
            "akk_high": float(self.akk_high), "source": self.source, "profile": self.profile,
            "description": {
                "published": "published cut-offs of Derosa et al. 2024 (MetaPhlAn 4 vJan21)",
                "config": "cut-offs set in the config (toposcore.cut_nr / cut_r)",
                "fitted": "fitted on the labelled samples of the training cohorts below (Youden "
                          "J on the sheet's response, icibiome.signatures.toposcore.youden_cutoffs); those "
                          "samples are left out of this run's evaluation",
                "file": f"reused from {self.origin}",
            }[self.source],
        }  # fmt: skip
        if self.source in ("fitted", "file") and self.samples:
            doc |= {"fitted_on_cohorts": list(self.cohorts), "n_R": int(self.n_R),
                    "n_NR": int(self.n_NR), "fitted_on_samples": list(self.samples)}  # fmt: skip
        return doc


def _training_labels(
    sheet: pd.DataFrame, ids: pd.Index, cohorts: Sequence[str]
) -> tuple[pd.Series, int, int]:
    """The response of the samples ``ids`` of training ``cohorts`` ("" elsewhere), with the
    checks of :func:`fit_calibration`; R and NR counts."""
    have = sorted(sheet["cohort"].astype(str).unique())
    unknown = [c for c in cohorts if c not in have]
    if unknown:
        raise ToposcoreError(f"toposcore.calibration_cohorts: {unknown} not in the sample sheet's "
                             f"cohorts {have}")  # fmt: skip
    coh = sheet["cohort"].astype(str).reindex(ids)
    train = coh.isin(list(cohorts))
    if train.all() or not (coh.notna() & ~train).any():
        raise ToposcoreError(
            "toposcore.calibration_cohorts covers every scored sample: the cut-offs would be "
            "fitted on the data they evaluate; keep at least one cohort out, or fit them in a "
            "training run and give its toposcore_calibration.yaml as toposcore.calibration"
        )
    lab = sheet["response"].reindex(ids).fillna("").astype(str).where(train, "")
    n_r, n_nr = int((lab == "R").sum()), int((lab == "NR").sum())
    if n_r < 2 or n_nr < 2:
        raise ToposcoreError(f"toposcore.calibration_cohorts {list(cohorts)}: {n_r} R and {n_nr} "
                             "NR labelled samples; need at least 2 of each in the sheet's "
                             "response column")  # fmt: skip
    return lab, n_r, n_nr


def check_settings(
    samples_tsv: str | os.PathLike,
    akkermansia_column: str | None = None,
    calibration: str | os.PathLike | None = None,
    calibration_cohorts: Sequence[str] = (),
) -> None:
    """The sheet-dependent ``toposcore`` settings, checked before any job (rules/common.smk):
    the Akkermansia column's values, the calibration cohorts and the calibration file. Raises
    :class:`~icibiome.signatures.toposcore.ToposcoreError` with one line naming the key (and
    file, row, column)."""
    sheet, lines = read_sheet(samples_tsv)
    if akkermansia_column:
        sheet_akkermansia(sheet, akkermansia_column, lines, str(samples_tsv))
    if calibration and calibration_cohorts:
        resolve_calibration(calibration, calibration_cohorts, CUT_NR, CUT_R, AKK_HIGH, "")
    if calibration:
        if Path(calibration).parts[:1] == ("results",):  # would be this run's own output
            raise ToposcoreError(f"toposcore.calibration: {calibration} is inside this run's "
                                 "results/; copy the training run's file elsewhere (e.g. "
                                 "config/toposcore_calibration.yaml)")  # fmt: skip
        read_calibration(calibration)
    if calibration_cohorts:
        _training_labels(sheet, sheet.index, calibration_cohorts)


def fit_calibration(
    scores: pd.DataFrame, sheet: pd.DataFrame, cohorts: Sequence[str], akk_high: float,
    profile: str = "",
) -> Calibration:  # fmt: skip
    """Cut-offs re-fitted on the labelled samples of training ``cohorts`` (docs/methods.md §9c step 5).

    :func:`~icibiome.signatures.toposcore.youden_cutoffs` of the score against the sheet's
    ``response`` (R / NR) of those cohorts' samples only. Raises
    :class:`~icibiome.signatures.toposcore.ToposcoreError` naming
    ``toposcore.calibration_cohorts`` when a cohort is not in the sheet, when every cohort would
    be used (nothing would be left to evaluate: fit on a training run and reuse its calibration
    file instead) or when R or NR labels are missing.
    """
    lab, n_r, n_nr = _training_labels(sheet, scores.index, cohorts)
    cut_nr, cut_r = youden_cutoffs(scores["toposcore"], lab)
    used = sorted(lab.index[lab.isin(["R", "NR"])].astype(str))
    logger.info("TOPOSCORE cut-offs fitted on cohorts %s (%d R / %d NR): %.4f / %.4f",
                list(cohorts), n_r, n_nr, cut_nr, cut_r)  # fmt: skip
    return Calibration(cut_nr, cut_r, akk_high, "fitted", profile, list(cohorts), used, n_r, n_nr)


def read_calibration(path: str | os.PathLike) -> Calibration:
    """A stored ``toposcore_calibration.yaml`` (of a training run) to reuse."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ToposcoreError(f"toposcore.calibration: {path}: file not found")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ToposcoreError(f"toposcore.calibration: {path}: not YAML ({err})") from None
    if not isinstance(doc, dict):
        raise ToposcoreError(f"toposcore.calibration: {path}: not a calibration file")
    vals = {}
    for k in ("cut_nr", "cut_r", "akk_high"):
        v = doc.get(k)
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
            raise ToposcoreError(f"toposcore.calibration: {path}: {k} must be a number, got {v!r}")
        vals[k] = float(v)
    if not 0 <= vals["cut_nr"] < vals["cut_r"] <= 1:
        raise ToposcoreError(f"toposcore.calibration: {path}: need 0 <= cut_nr < cut_r <= 1, got "
                             f"{vals['cut_nr']} / {vals['cut_r']}")  # fmt: skip
    return Calibration(vals["cut_nr"], vals["cut_r"], vals["akk_high"], "file",
                       str(doc.get("profile") or ""), list(doc.get("fitted_on_cohorts") or []),
                       [str(s) for s in doc.get("fitted_on_samples") or []],
                       int(doc.get("n_R") or 0), int(doc.get("n_NR") or 0), str(path))  # fmt: skip


def resolve_calibration(
    calibration, calibration_cohorts, cut_nr, cut_r, akk_high, label
) -> Calibration | None:
    """The stored calibration to reuse, or the config's cut-offs; None = fit them later."""
    if calibration and calibration_cohorts:
        raise ToposcoreError("toposcore: give calibration (a stored file) or calibration_cohorts "
                             "(fit on training cohorts of this run), not both")  # fmt: skip
    if calibration:
        cal = read_calibration(calibration)
        if cal.profile and label and cal.profile != label:
            raise ToposcoreError(f"toposcore.calibration: {calibration} was fitted on {cal.profile} "
                                 f"tables; this run scores {label} tables")  # fmt: skip
        return cal
    if calibration_cohorts:
        return None
    published = (cut_nr, cut_r, akk_high) == (CUT_NR, CUT_R, AKK_HIGH)
    return Calibration(cut_nr, cut_r, akk_high, "published" if published else "config", label)
