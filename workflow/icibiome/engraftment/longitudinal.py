"""Longitudinal dynamics: what changes in a patient between baseline and on-treatment.

Per subject, the change from its baseline sample of per-sample scores (alpha diversity, guild
balance, TOPOSCORE, a signature score, ...), and per score a linear mixed model with a random
intercept per subject (statsmodels ``MixedLM``)::

    score ~ days * responder + (1 | subject)

whose ``days:responder`` interaction says whether the score moves differently over time in
responders than in non-responders (estimate, Wald CI, p). Where every subject has exactly two
samples, the paired changes are also compared between responders and non-responders
(Mann-Whitney U) and tested against no change within each group (Wilcoxon signed-rank).

The baseline of a subject is its sample with ``timepoint == 'baseline'`` if the design has that
column, else its earliest ``days``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from icibiome.errors import UserError

logger = logging.getLogger(__name__)

MODEL_COLUMNS = ["score", "cohort", "n_subjects", "n_samples", "n_R", "n_NR", "term", "estimate",
                 "ci_low", "ci_high", "p_value", "converged", "note"]  # fmt: skip


class LongitudinalError(UserError):
    """The design (subjects, days, response) does not allow a longitudinal analysis."""


def _baselines(design: pd.DataFrame) -> pd.Series:
    """Baseline sample id per subject."""
    out = {}
    for subj, rows in design.groupby("subject_id", sort=True):
        if "timepoint" in rows.columns:
            b = rows.index[rows["timepoint"].astype(str).str.lower() == "baseline"]
            if len(b) > 1:
                raise LongitudinalError(f"subject {subj!r} has two baseline samples: {list(b)}")
            if len(b) == 1:
                out[subj] = b[0]
                continue
        first = rows["days"].min()
        b = rows.index[rows["days"] == first]
        if len(b) > 1:
            raise LongitudinalError(
                f"subject {subj!r} has {len(b)} samples at its first day ({first:g}): {list(b)}"
            )
        out[subj] = b[0]
    return pd.Series(out, name="baseline_id")


def change_from_baseline(scores: pd.DataFrame, design: pd.DataFrame) -> pd.DataFrame:
    """Long table: subject, sample, days, response, score, value, baseline value and change.

    ``scores``: samples x score columns; ``design``: indexed by sample with ``subject_id``,
    ``days`` and ``response``. Samples of subjects with a single sample are left out.
    """
    d = design.loc[[s for s in design.index if s in scores.index]].copy()
    d["days"] = pd.to_numeric(d["days"], errors="coerce")
    if d["days"].isna().any():
        bad = d.index[d["days"].isna()][0]
        raise LongitudinalError(f"sample {bad!r} column 'days' is missing or not a number")
    multi = d["subject_id"].map(d["subject_id"].value_counts()) > 1
    d = d[multi]
    base = _baselines(d)
    rows = []
    for col in scores.columns:
        v = pd.to_numeric(scores[col], errors="coerce")
        for s in d.index:
            b = base[d.at[s, "subject_id"]]
            rows.append({
                "score": col, "subject_id": d.at[s, "subject_id"], "sample_id": s,
                "days": d.at[s, "days"], "days_from_baseline": d.at[s, "days"] - d.at[b, "days"],
                "response": d.at[s, "response"] if "response" in d.columns else "",
                "cohort": d.at[s, "cohort"] if "cohort" in d.columns else "all",
                "value": v.get(s, np.nan), "baseline_value": v.get(b, np.nan),
                "change": v.get(s, np.nan) - v.get(b, np.nan), "is_baseline": s == b,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _fit_mixedlm(formula: str, d: pd.DataFrame):
    """MixedLM fit, trying statsmodels' default optimiser, then Powell and Nelder-Mead; returns
    (fit or None, notes, whether the returned fit converged)."""
    import statsmodels.formula.api as smf

    notes = []
    for method in (None, "powell", "nm"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = smf.mixedlm(formula, d, groups=d["subject_id"])
                fit = (
                    model.fit(reml=True) if method is None else model.fit(reml=True, method=method)
                )
            except (np.linalg.LinAlgError, ValueError) as err:
                notes.append(f"{method or 'lbfgs'}: {err}")
                continue
        msgs = sorted({str(w.message).splitlines()[0] for w in caught})
        ok = bool(fit.converged) and not any("converge" in m.lower() for m in msgs)
        if ok or method == "nm":
            return fit, notes + msgs + ([] if ok else ["did not converge"]), ok
        notes.append(f"{method or 'lbfgs'}: did not converge")
    return None, notes, False


def mixed_model(long: pd.DataFrame, score: str, cohort: str | None = None) -> dict:
    """``value ~ days_from_baseline * responder (+ cohort) + (1 | subject)`` for one score.

    ``cohort`` None: all cohorts together, with a fixed effect per cohort when there are several;
    else that cohort alone. Returns a row of :data:`MODEL_COLUMNS` for the interaction term
    ``days:responder`` (the difference in slope per day, responders minus non-responders). A fit
    that is singular or does not converge is reported with ``converged = False`` and a note.
    """
    d = long[(long["score"] == score) & long["response"].isin(["R", "NR"])].dropna(subset=["value"])
    if cohort is not None:
        d = d[d["cohort"] == cohort]
    d = d.assign(responder=(d["response"] == "R").astype(float), days=d["days_from_baseline"])
    subj = d.groupby("subject_id")["response"].first()
    base = {"score": score, "cohort": cohort or "all", "n_subjects": int(d["subject_id"].nunique()),
            "n_samples": len(d), "n_R": int((subj == "R").sum()), "n_NR": int((subj == "NR").sum()),
            "term": "days:responder", "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
            "p_value": np.nan, "converged": False, "note": ""}  # fmt: skip
    if base["n_R"] < 2 or base["n_NR"] < 2 or d["days"].nunique() < 2:
        base["note"] = "not fitted: fewer than 2 subjects per class or a single time point"
        return base
    formula = "value ~ days * responder"
    if cohort is None and d["cohort"].nunique() > 1:
        formula += " + C(cohort)"
    fit, notes, ok = _fit_mixedlm(formula, d)
    if fit is None:
        base["note"] = "not fitted: " + "; ".join(notes)
        logger.warning("MixedLM %s (%s) not fitted: %s", score, base["cohort"], base["note"])
        return base
    ci = fit.conf_int().loc["days:responder"]
    base.update({
        "estimate": float(fit.params["days:responder"]), "ci_low": float(ci[0]),
        "ci_high": float(ci[1]), "p_value": float(fit.pvalues["days:responder"]),
        "converged": ok,
        "note": "; ".join(notes),
    })  # fmt: skip
    if not base["converged"]:
        logger.warning("MixedLM %s (%s) did not converge: %s", score, base["cohort"], base["note"])
    return base


def paired_tests(long: pd.DataFrame) -> pd.DataFrame:
    """Where subjects have exactly two samples: change within R and NR (Wilcoxon signed-rank)
    and R vs NR (Mann-Whitney U) per score."""
    rows = []
    for score, g in long.groupby("score", sort=True):
        n = g.groupby("subject_id").size()
        two = n.index[n == 2]
        if len(two) == 0:
            continue
        ch = g[g["subject_id"].isin(two) & ~g["is_baseline"]].dropna(subset=["change"])
        row = {"score": score, "n_subjects": len(two)}
        for cls in ("R", "NR"):
            c = ch.loc[ch["response"] == cls, "change"]
            row[f"n_{cls}"] = len(c)
            row[f"median_change_{cls}"] = c.median() if len(c) else np.nan
            row[f"p_change_{cls}"] = (float(stats.wilcoxon(c).pvalue)
                                      if len(c) >= 2 and (c != 0).any() else np.nan)  # fmt: skip
        r, nr = ch.loc[ch["response"] == "R", "change"], ch.loc[ch["response"] == "NR", "change"]
        row["p_R_vs_NR"] = (float(stats.mannwhitneyu(r, nr, alternative="two-sided").pvalue)
                            if len(r) and len(nr) else np.nan)  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def longitudinal(scores: pd.DataFrame, design: pd.DataFrame, names: Sequence[str] | None = None):
    """Change-from-baseline table, mixed models (one row per score) and paired tests."""
    long = change_from_baseline(scores if names is None else scores[list(names)], design)
    rows = []
    cohorts = sorted(long["cohort"].unique()) if len(long) else []
    for sc in long["score"].unique() if len(long) else []:
        rows.append(mixed_model(long, sc))
        if len(cohorts) > 1:  # and each cohort alone
            rows += [mixed_model(long, sc, c) for c in cohorts]
    models = pd.DataFrame(rows, columns=MODEL_COLUMNS)
    return long, models, paired_tests(long)


# --------------------------------------------------------------------------------------------
# the stage (rules/engraftment.smk, rule longitudinal)
# --------------------------------------------------------------------------------------------
SCORE_COLUMNS = {"alpha": ("shannon", "observed"), "guilds": ("guild_balance",),
                 "toposcore": ("toposcore",)}  # fmt: skip


def has_timepoints(sheet: pd.DataFrame) -> bool:
    """Whether some patient of the sheet has more than one sample."""
    d = sheet
    if "role" in d.columns:
        d = d[d["role"].fillna("").astype(str) != "donor"]
    return bool(d["subject_id"].duplicated().any())


def run_longitudinal(
    *,
    samples: str,
    scores: dict[str, str],
    changes_out: str,
    models_out: str,
    paired_out: str,
    models_mqc: str,
    spaghetti_mqc: str,
) -> None:
    """Rule ``longitudinal``: per-sample scores of the earlier stages -> change, models, plots.

    ``scores`` maps a source (``alpha``, ``guilds``, ``toposcore``) to its per-sample table; the
    columns of :data:`SCORE_COLUMNS` present there are analysed.
    """
    from icibiome.io import write_tsv
    from icibiome.mqc import write_plot, write_table
    from icibiome.samplesheet import read_sample_sheet

    sheet = read_sample_sheet(samples, check_files=False)
    if "role" in sheet.columns:
        sheet = sheet[sheet["role"].fillna("").astype(str) != "donor"]
    if "days" not in sheet.columns:
        sheet = sheet.assign(days=np.nan)
    if sheet["days"].isna().any():
        # without days, the order of a subject's samples is the sheet's (baseline first)
        order = sheet.groupby("subject_id").cumcount()
        sheet = sheet.assign(days=sheet["days"].fillna(order))
        logger.warning(
            "longitudinal: no 'days' for some samples; their time axis is the sample order"
        )
    parts = []
    for src, path in sorted(scores.items()):
        t = pd.read_csv(path, sep="\t", index_col=0)
        cols = [c for c in SCORE_COLUMNS.get(src, ()) if c in t.columns]
        parts.append(t[cols].add_prefix(f"{src}:"))
    tab = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=sheet.index)
    tab = tab.reindex(sheet.index)
    long, models, paired = longitudinal(tab, sheet[["subject_id", "days", "response", "cohort"]])
    write_tsv(long, changes_out, index=False)
    write_tsv(models, models_out, index=False)
    write_tsv(paired, paired_out, index=False)
    parent = {"parent_id": "icibiome_longitudinal", "parent_name": "Longitudinal dynamics",
              "parent_description": "Change of per-sample scores from each patient's baseline; "
              "linear mixed model score ~ days x response + (1 | subject) (statsmodels MixedLM). "
              "Tables: results/longitudinal/."}  # fmt: skip
    m = models.set_index(models["score"] + " | " + models["cohort"])[["n_subjects", "n_R", "n_NR", "estimate", "ci_low", "ci_high",
                                   "p_value", "converged", "note"]] if len(models) else \
        pd.DataFrame({"note": ["no score with repeated samples"]}, index=["none"])  # fmt: skip
    write_table(m, {"id": "icibiome_longitudinal_models", "section_name": "Time x response (MixedLM)",
                 "description": "Difference in slope per day, responders minus non-responders "
                 "(the days x responder interaction), 95% CI and p.", "plot_type": "table",
                 **parent, "headers": {"estimate": {"format": "{:,.4f}"},
                                       "ci_low": {"format": "{:,.4f}"}, "ci_high": {"format": "{:,.4f}"},
                                       "p_value": {"format": "{:,.2e}"}},
                 "pconfig": {"id": "icibiome_longitudinal_models_table",
                             "title": "icibiome: longitudinal models"}}, models_mqc, "Score | cohort")  # fmt: skip
    data = {}
    first = long["score"].iloc[0] if len(long) else None
    for subj, g in (
        long[long["score"] == first].sort_values("days").groupby("subject_id") if first else []
    ):
        resp = g["response"].iloc[0] or "unlabelled"
        data[f"{subj} ({resp})"] = {float(d): round(float(v), 4)
                                    for d, v in zip(g["days_from_baseline"], g["change"], strict=True)
                                    if np.isfinite(v)}  # fmt: skip
    write_plot({"id": "icibiome_longitudinal_spaghetti", "section_name": "Change from baseline",
               **parent, "description": f"{first or 'no score'}: change from each patient's "
               "baseline over time, one line per patient (legend: patient and response).",
               "plot_type": "linegraph", "pconfig": {"id": "icibiome_longitudinal_spaghetti_plot",
               "title": "icibiome: change from baseline", "xlab": "days from baseline",
               "ylab": f"change in {first}"}, "data": data or {"no repeated samples": {0: 0.0}}},
              spaghetti_mqc)  # fmt: skip
