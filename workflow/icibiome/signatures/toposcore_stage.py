"""The TOPOSCORE stage: :func:`run_toposcore` (rule ``toposcore``) and its MultiQC content.

Reads one profiler's standard abundance table, the SIG lists (files or the run's guilds) and the
sample sheet; scores every sample (:func:`icibiome.signatures.toposcore.score_samples`), fits or
reuses the cut-offs and computes the survival endpoints
(:mod:`icibiome.signatures.toposcore_endpoints`), and writes the tables of :data:`OUTPUTS` and the
``toposcore_*_mqc.*`` report sections.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.io import atomic_path, read_abundance, write_tsv
from icibiome.mqc import write_table
from icibiome.signatures.settings import ToposcoreSettings
from icibiome.signatures.toposcore import (
    ToposcoreError,
    auc,
    guild_signatures,
    read_signature,
    score_samples,
)
from icibiome.signatures.toposcore_endpoints import (
    DEGENERATE_SHARE,
    KM_COLUMNS,
    SURVIVAL_COLUMNS,
    Calibration,
    category_check,
    fit_calibration,
    read_sheet,
    resolve_calibration,
    sheet_akkermansia,
    survival_endpoints,
)
from icibiome.taxonomy.harmonise import NameMap

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# the pipeline stage
# --------------------------------------------------------------------------------------------
def _key(label: str) -> str:
    return "_" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") if label else ""


def _parent(label: str, description: str | None = None) -> dict:
    key = _key(label)
    out = {"parent_id": f"icibiome_toposcore{key}",
           "parent_name": f"TOPOSCORE ({label})" if label else "TOPOSCORE"}  # fmt: skip
    return out | ({"parent_description": description} if description is not None else {})


def _write_mqc(
    scores: pd.DataFrame, response: pd.Series | None, out_dir: Path, label: str, note: str,
    cal: Calibration | None = None, reference: str = "",
) -> list[Path]:  # fmt: skip
    import yaml

    from icibiome.report.sections import toposcore_prediction_note

    key = _key(label)
    resp = (response.reindex(scores.index) if response is not None
            else pd.Series("", index=scores.index)).fillna("").replace("", "unknown")  # fmt: skip
    held = ~scores.get("calibration_sample", pd.Series(False, index=scores.index)).astype(bool)
    a = auc(scores.loc[held, "toposcore"],
            resp[held].where(resp[held].isin(["R", "NR"]), ""))  # fmt: skip
    auc_txt = f"AUC of the score for response (R vs NR): {a:.3f}. " if np.isfinite(a) else ""
    if cal is not None and cal.source == "fitted":
        auc_txt = auc_txt.replace("AUC", "AUC on the cohorts not used for calibration", 1)
    cut_txt = (f"Cut-offs {cal.cut_nr:.4g} / {cal.cut_r:.4g}, Akkermansia High >= "
               f"{cal.akk_high:.4g} % ({cal.to_dict()['description']}). " if cal else "")  # fmt: skip
    parent = _parent(label,
        "TOPOSCORE of Derosa et al. (2024, Cell 187:3373): s = (SIG2 present/|SIG2| - SIG1 "
        "present/|SIG1| + 1)/2; s <= cut_nr predicts NR, s >= cut_r predicts R, in between "
        "Akkermansia decides (0 < Akk < 4.799 % predicts R). "
        + note + " " + cut_txt + auc_txt
        + toposcore_prediction_note(scores) + " "  # why (nearly) all samples share one class
        + (reference + " " if reference else "")
        + "Tables: results/signatures/<profiler>/toposcore*.tsv (icibiome.signatures.toposcore).",
    )  # fmt: skip
    written = []
    head = {
        "id": f"icibiome_toposcore_table{key}",
        "section_name": "TOPOSCORE per sample",
        "description": "Counts of SIG1/SIG2 entries present, the score, its category, "
                       "Akkermansia status (and its source: profile or sample sheet) and the "
                       "prediction, with the sheet's response.",
        "plot_type": "table",
        **parent,
        # every column, not only those with a header below (the prediction was left out)
        "pconfig": {"id": f"icibiome_toposcore_table_plot{key}", "title": "icibiome: TOPOSCORE",
                    "only_defined_headers": False},
        "headers": {
            "toposcore": {"title": "TOPOSCORE", "format": "{:,.3f}", "min": 0, "max": 1},
            "sig1_count": {"title": "SIG1 present", "format": "{:,.0f}"},
            "sig2_count": {"title": "SIG2 present", "format": "{:,.0f}"},
            "akkermansia": {"title": "Akkermansia %", "format": "{:,.3f}"},
        },
    }  # fmt: skip
    cols = ["toposcore", "category", "sig1_count", "sig2_count", "akkermansia",
            "akkermansia_status", "akkermansia_source", "predicted_response"]  # fmt: skip
    tab = scores[[c for c in cols if c in scores.columns]].assign(response=resp)
    if (~held).any():
        tab["calibration_sample"] = ~held
    written.append(write_table(tab, head, out_dir / "toposcore_table_mqc.tsv", "Sample"))
    datasets, labels = [], []
    for col, name in (("toposcore", "TOPOSCORE"), ("sig1_score", "SIG1 fraction present"),
                      ("sig2_score", "SIG2 fraction present")):  # fmt: skip
        v = scores[col].astype(float)
        ds = {f"{g} (n={int((resp == g).sum())})": [float(x) for x in v[resp == g].dropna()]
              for g in sorted(resp.unique())}  # fmt: skip
        datasets.append({k: x for k, x in ds.items() if x})
        labels.append({"name": name, "ylab": name})
    doc = {
        "id": f"icibiome_toposcore_scores{key}",
        "section_name": "TOPOSCORE by response",
        **parent,
        "description": "Per-sample TOPOSCORE and the fraction of each SIG list present, by the "
                       "sample sheet's response group. " + auc_txt,
        "plot_type": "box",
        "pconfig": {"id": f"icibiome_toposcore_scores_plot{key}",
                    "title": "icibiome: TOPOSCORE by response", "data_labels": labels,
                    "boxpoints": "all"},
        "data": datasets,
    }  # fmt: skip
    p = out_dir / "toposcore_scores_mqc.yaml"
    with atomic_path(p) as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    written.append(p)
    return written


def _write_mqc_endpoints(
    surv: pd.DataFrame, km: pd.DataFrame, categories: pd.DataFrame, degenerate: bool,
    cal: Calibration, out_dir: Path, label: str,
) -> list[Path]:  # fmt: skip
    """Survival table, Kaplan-Meier curves and the category warning; each left out of the report
    when it has nothing to show (no survival columns; a category distribution that is fine)."""
    import yaml

    key, parent = _key(label), _parent(label)
    written = []
    stab = surv.assign(row=surv["endpoint"].astype(str) + " | " + surv["comparison"].astype(str))
    stab = stab.set_index("row")
    stab = stab[["n", "events", "hr", "ci_low", "ci_high", "p_value", "logrank_p", "medians",
                 "note"]]  # fmt: skip
    written.append(write_table(stab, {
        "id": f"icibiome_toposcore_survival{key}", "section_name": "TOPOSCORE and survival",
        "description": "Cox hazard ratio (lifelines, 95% CI, Wald p; stratified by cohort when "
                       "there are several) of predicted non-responders (SIG1+) vs predicted "
                       "responders (SIG2+), the published endpoint; of SIG1 vs SIG2; and per SD of "
                       "the score (HR < 1 expected). Log-rank p and median survival (months) per "
                       "group. Samples used to calibrate the cut-offs are left out.",
        "plot_type": "table", **parent,
        "pconfig": {"id": f"icibiome_toposcore_survival_table{key}",
                    "title": "icibiome: TOPOSCORE survival"}},
        out_dir / "toposcore_survival_mqc.tsv", "Endpoint | comparison"))  # fmt: skip
    data, labels = [], []
    for (ep, by), d in km.groupby(["endpoint", "by"], sort=True) if len(km) else []:
        data.append({f"{g} (n={int(s['at_risk'].iloc[0])})": {
            round(float(t), 3): round(float(v), 4)
            for t, v in zip(s["time"], s["survival"], strict=True)}
            for g, s in d.groupby("group", sort=True)})  # fmt: skip
        labels.append({"name": f"{ep} by {by}", "ylab": f"{ep} probability"})
    p = out_dir / "toposcore_km_mqc.yaml"
    with atomic_path(p) as tmp:
        if data:
            tmp.write_text(yaml.safe_dump({
                "id": f"icibiome_toposcore_km{key}", "section_name": "TOPOSCORE Kaplan-Meier",
                **parent, "description": "Kaplan-Meier curves by predicted response (NR = SIG1+, "
                "R = SIG2+) and by category (SIG1 / Gray / SIG2); n = samples at time 0.",
                "plot_type": "linegraph",
                "pconfig": {"id": f"icibiome_toposcore_km_plot{key}",
                            "title": "icibiome: TOPOSCORE Kaplan-Meier", "xlab": "months",
                            "ylab": "survival probability", "ymin": 0, "ymax": 1,
                            "data_labels": labels},
                "data": data}, sort_keys=False, width=1000))  # fmt: skip
        else:  # no survival columns: comments only, left out of the report
            tmp.write_text("# no survival data (os_months/os_event, pfs_months/pfs_event)\n")
    written.append(p)
    warn = categories.assign(cut_nr=cal.cut_nr, cut_r=cal.cut_r) if degenerate else (
        categories.iloc[:0])  # fmt: skip
    written.append(write_table(warn, {
        "id": f"icibiome_toposcore_warnings{key}",
        "section_name": "TOPOSCORE warning: degenerate categories",
        "description": f"SIG1 or SIG2 holds less than {DEGENERATE_SHARE:.0%} of the "
                       f"{int(categories['n'].sum())} samples scored with cut-offs "
                       f"{cal.cut_nr:.4g} / {cal.cut_r:.4g} ({cal.source}); with MetaPhlAn 4 "
                       "profiles the published cut-offs give 30 % / 23 %. The cut-offs fit "
                       "another profiler / depth: predictions are not comparable with the "
                       "paper. Re-calibrate on a labelled training cohort "
                       "(toposcore.calibration_cohorts or toposcore.calibration).",
        "plot_type": "table", **parent,
        "pconfig": {"id": f"icibiome_toposcore_warnings_table{key}",
                    "title": "icibiome: TOPOSCORE categories"}},
        out_dir / "toposcore_warnings_mqc.tsv", "Category"))  # fmt: skip
    return written


SCORE_COLUMNS = ["sig1_count", "sig2_count", "sig1_score", "sig2_score", "toposcore", "category",
                 "akkermansia", "akkermansia_status", "akkermansia_source", "toposcore_class",
                 "predicted_response", "calibration_sample"]  # fmt: skip
#: Files of the stage (key -> name in ``out_dir``); the rule's outputs.
OUTPUTS = {"scores": "toposcore.tsv", "members": "toposcore_members.tsv",
           "survival": "toposcore_survival.tsv", "km": "toposcore_km.tsv",
           "calibration": "toposcore_calibration.yaml"}  # fmt: skip


def _write_empty(samples: pd.Index, out: Path, reason: str, label: str,
                 cal: Calibration) -> dict[str, Path]:  # fmt: skip
    """No lists (no competing guild pair): NaN scores, empty members, a note in the report."""
    import yaml

    scores = pd.DataFrame(index=pd.Index(samples, name="sample_id"), columns=SCORE_COLUMNS)
    paths = {k: out / v for k, v in OUTPUTS.items()}
    write_tsv(scores, paths["scores"], index=True)
    write_tsv(pd.DataFrame(columns=["signature", "entry", "naming", "names", "profile_taxa",
                                    "in_profile"]), paths["members"])  # fmt: skip
    write_tsv(pd.DataFrame(columns=SURVIVAL_COLUMNS), paths["survival"])
    write_tsv(pd.DataFrame(columns=KM_COLUMNS), paths["km"])
    with atomic_path(paths["calibration"]) as tmp:
        tmp.write_text(yaml.safe_dump(cal.to_dict(), sort_keys=False, width=1000))
    key, parent = _key(label), _parent(label)
    for name in ("table_mqc.tsv", "scores_mqc.yaml"):
        doc = {"id": f"icibiome_toposcore_{name.split('_')[0]}{key}",
               "section_name": "TOPOSCORE", **parent, "plot_type": "html",
               "data": f"<p>No TOPOSCORE: {reason}.</p>"}  # fmt: skip
        p = out / f"toposcore_{name}"
        with atomic_path(p) as tmp:
            if name.endswith(".tsv"):  # a table section needs a table: one row per sample
                head = {k: v for k, v in doc.items() if k != "data"} | {"plot_type": "table"}
                lines = yaml.safe_dump(head, sort_keys=False, width=1000).splitlines()
                body = "".join(f"# {line}\n" for line in lines) + "Sample\tnote\n"
                body += "".join(f"{s}\tno SIG lists\n" for s in samples)
                tmp.write_text(body)
            else:
                tmp.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
        paths[p.stem] = p
    cats = category_check([])[0]
    for p in _write_mqc_endpoints(
        pd.DataFrame(columns=SURVIVAL_COLUMNS),
        pd.DataFrame(columns=KM_COLUMNS),
        cats,
        False,
        cal,
        out,
        label,
    ):
        paths[p.stem] = p  # fmt: skip
    return paths


def run_toposcore(
    abundance_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    samples_tsv: str | os.PathLike | None = None,
    guilds_tsv: str | os.PathLike | None = None,
    settings: ToposcoreSettings | None = None,
    label: str = "",
    **overrides,
) -> dict[str, Path]:
    """Score every sample of a standard abundance table (rule ``toposcore``).

    Parameters
    ----------
    abundance_tsv : path-like
        Standard abundance table (percent of classified, :mod:`icibiome.io`).
    out_dir : path-like
        Writes (:data:`OUTPUTS`) ``toposcore.tsv``
        (:func:`~icibiome.signatures.toposcore.score_samples`, index ``sample_id``;
        ``calibration_sample`` marks samples used to fit the cut-offs), ``toposcore_members.tsv``
        (each list entry, the profile taxa standing for it and ``in_profile``),
        ``toposcore_survival.tsv`` / ``toposcore_km.tsv``
        (:func:`~icibiome.signatures.toposcore_endpoints.survival_endpoints`: HR of
        predicted NR vs R, SIG1 vs SIG2, per SD; Kaplan-Meier by prediction and category),
        ``toposcore_calibration.yaml`` (the cut-offs used and their source; give it as
        ``calibration`` to reuse them) and the MultiQC files ``toposcore_*_mqc.*``.
    samples_tsv : path-like, optional
        Sample sheet: ``response`` (shown beside the scores), survival columns, cohorts.
    settings : ToposcoreSettings, optional
        The ``toposcore`` config section (:class:`icibiome.signatures.settings.ToposcoreSettings`,
        whose defaults are the schema's); ``overrides`` replace single fields (a name that is
        not a field is a TypeError). The fields:
    sig1, sig2 : path-like, optional
        SIG list files (:func:`~icibiome.signatures.toposcore.read_signature`), e.g. the
        published ``sig1.txt`` / ``sig2.txt``.
    guilds_tsv : path-like, optional
        Used when no SIG files are given:
        :func:`~icibiome.signatures.toposcore.guild_signatures`.
    naming, name_map, akkermansia, cut_nr, cut_r, akk_high
        See :func:`~icibiome.signatures.toposcore.score_samples`; ``name_map`` is a file for
        :class:`icibiome.taxonomy.harmonise.NameMap`.
    akkermansia_column : str, optional
        Sample-sheet column with an external *Akkermansia* status
        (:func:`~icibiome.signatures.toposcore_endpoints.sheet_akkermansia`).
    calibration : path-like, optional
        A ``toposcore_calibration.yaml`` of a training run: its cut-offs replace ``cut_nr`` /
        ``cut_r`` / ``akk_high``. Refused when fitted on other tables (``label``) or on samples
        of this run.
    calibration_cohorts : sequence of str
        Cohorts of the sheet whose labelled samples fit the cut-offs
        (:func:`~icibiome.signatures.toposcore_endpoints.fit_calibration`); those samples are
        then left out of the survival table and the AUC.
    cancer_type : str, optional
        Chooses the published reference sentences of the report (:mod:`icibiome.signatures.references`).
    sig1_size, sig2_size : int, optional
        Denominators; None = list sizes.
    label : str
        Shown in the report section name, e.g. ``"sylph, species"``.
    """
    s = replace(settings or ToposcoreSettings(), **overrides)
    sig1, sig2, naming, name_map = s.sig1, s.sig2, s.naming, s.name_map
    akkermansia, akkermansia_column = s.akkermansia, s.akkermansia_column
    cut_nr, cut_r, akk_high = s.cut_nr, s.cut_r, s.akk_high
    calibration, calibration_cohorts = s.calibration, s.calibration_cohorts
    cancer_type, sig1_size, sig2_size = s.cancer_type, s.sig1_size, s.sig2_size
    from icibiome.signatures.references import published_reference

    out = Path(out_dir)
    cal = resolve_calibration(
        calibration, list(calibration_cohorts), cut_nr, cut_r, akk_high, label
    )
    if akkermansia_column and samples_tsv is None:
        raise ToposcoreError("toposcore.akkermansia_column needs a sample sheet")
    if sig1 and sig2:
        s1, s2 = read_signature(sig1, "SIG1"), read_signature(sig2, "SIG2")
        note = f"Lists: {Path(sig1).name} ({s1.size}) / {Path(sig2).name} ({s2.size})."
    elif sig1 or sig2:
        raise ToposcoreError("toposcore: give both sig1 and sig2 files, or neither")
    elif guilds_tsv:
        try:
            s1, s2 = guild_signatures(guilds_tsv)
        except ToposcoreError as err:  # a weak network is a result, not a failed run
            logger.warning("%s; every score is NaN", err)
            return _write_empty(
                read_abundance(abundance_tsv).index,
                out,
                str(err),
                label,
                cal or Calibration(cut_nr, cut_r, akk_high, "config", label),
            )
        note = (
            f"Lists from the run's guilds: SIG1 = pathobiont ({s1.size}), SIG2 = foundation "
            f"({s2.size})."
        )
    else:
        raise ToposcoreError("toposcore: no SIG lists (sig1/sig2 files or a guilds table)")
    nm = NameMap.from_file(name_map) if name_map else None
    ab = read_abundance(abundance_tsv)
    ab.index = ab.index.astype(str)
    sheet, response, akk_ext = pd.DataFrame(index=ab.index), None, None
    if samples_tsv is not None:
        sheet, lines = read_sheet(samples_tsv)
        sheet.index = sheet.index.astype(str)
        response = sheet["response"].fillna("").astype(str).str.strip()
        if akkermansia_column:
            akk_ext = sheet_akkermansia(sheet, akkermansia_column, lines, str(samples_tsv))
            logger.info("Akkermansia status from sheet column %r for %d of %d samples",
                        akkermansia_column, int((akk_ext.reindex(ab.index).fillna("") != "").sum()),
                        len(ab))  # fmt: skip
    size_pair = (sig1_size or s1.size, sig2_size or s2.size)

    def score(c: Calibration | None):
        c = c or Calibration(cut_nr, cut_r, akk_high, "config")
        return score_samples(ab, s1, s2, naming=naming, name_map=nm, akkermansia=akkermansia,
                             cut_nr=c.cut_nr, cut_r=c.cut_r, akk_high=c.akk_high,
                             sizes=size_pair, akk_status=akk_ext)  # fmt: skip

    scores, members = score(cal)
    if cal is None:  # fit on the training cohorts (the score itself does not depend on cut-offs)
        if "cohort" not in sheet.columns:
            raise ToposcoreError("toposcore.calibration_cohorts needs a sample sheet with cohorts")
        cal = fit_calibration(scores, sheet, list(calibration_cohorts), akk_high, label)
        scores, members = score(cal)
    reused = sorted(set(cal.samples) & set(scores.index)) if cal.source == "file" else []
    if reused:
        raise ToposcoreError(
            f"toposcore.calibration: {cal.origin} was fitted on {len(reused)} sample(s) of this "
            f"run (e.g. {', '.join(reused[:3])}); cut-offs must not be evaluated on the samples "
            "they were fitted on"
        )
    scores["calibration_sample"] = scores.index.isin(cal.samples if cal.source == "fitted" else [])
    held = ~scores["calibration_sample"]
    cats, degenerate = category_check(scores.loc[held, "category"])
    if degenerate:
        logger.warning(
            "TOPOSCORE categories are degenerate on these tables (%s; SIG1 or SIG2 below %.0f%% of "
            "%d samples, published 30%% / 23%%): cut-offs %.4g / %.4g (%s) do not fit this "
            "profiler/depth; calibrate them on a labelled training cohort "
            "(toposcore.calibration_cohorts or toposcore.calibration)",
            ", ".join(f"{k} {int(r['n'])} ({r['share']:.1%})" for k, r in cats.iterrows()),
            100 * DEGENERATE_SHARE, int(cats["n"].sum()), cal.cut_nr, cal.cut_r, cal.source,
        )  # fmt: skip
    surv, km = survival_endpoints(scores[held], sheet)
    endpoints = set(surv.loc[surv["hr"].notna(), "endpoint"]) if len(surv) else set()
    if response is not None and response.reindex(scores.index[held]).isin(["R", "NR"]).any():
        endpoints.add("response")
    reference = published_reference("toposcore", cancer_type, endpoints)
    paths = {k: out / v for k, v in OUTPUTS.items()}
    write_tsv(scores, paths["scores"], index=True, float_format="%.10g")
    write_tsv(members, paths["members"])
    write_tsv(surv, paths["survival"], float_format="%.6g")
    write_tsv(km, paths["km"], float_format="%.10g")
    import yaml

    with atomic_path(paths["calibration"]) as tmp:
        tmp.write_text(yaml.safe_dump(cal.to_dict(), sort_keys=False, width=1000))
    for p in _write_mqc(scores, response, out, label, note, cal, reference):
        paths[p.stem] = p
    for p in _write_mqc_endpoints(surv, km, cats, degenerate, cal, out, label):
        paths[p.stem] = p
    logger.info("TOPOSCORE of %d samples: %s", len(scores),
                scores["predicted_response"].value_counts().to_dict())  # fmt: skip
    return paths
