"""FMT donor engraftment: what a faecal microbiota transplant leaves behind in each recipient.

Design (one row per sample; see :func:`fmt_design`): ``subject_id``, ``role`` (``patient`` or
``donor``), ``donor_id`` (the donor sample(s) a recipient received, ``;``-separated; set on the
recipient's samples), ``days`` (integer, from treatment start or first collection), ``response``
(``R``/``NR`` per recipient) and ``cohort`` (the trial).

Per recipient and post-FMT sample, at the resolution of the table it is given (species, or
MetaPhlAn ``t__SGB`` sub-species rows, or sylph per-genome hits):

* **donor-specific taxa**: present in the donor(s) and absent from the recipient's baseline; the
  number found post-FMT and their share (``engraftment_share``), the measure that tracked clinical
  benefit in the strain-resolved reanalysis of the FMT trials (2025 preprint; Davar et al. Science
  2021;371:595; Baruch et al. Science 2021;371:602);
* **recipient-specific taxa**: present at baseline and absent from the donor(s); the share lost;
* similarity of the post-FMT sample to the donor and to its own baseline: Bray-Curtis and Jaccard
  (presence) dissimilarity and the Aitchison distance (CLR with a fixed pseudo-count, so a pair's
  distance does not depend on the other samples of the run).

Presence is ``abundance > detection`` (a fraction; default 1e-4, i.e. 0.01 %). With several
donors (pooled material), the donor profile is the mean of the donor samples and a taxon is a
donor taxon when it is present in any of them.

Association with response is computed on one value per recipient (the mean over the recipient's
post-FMT samples, or the last one): Mann-Whitney U (exact when there are no ties), AUROC with a
DeLong CI (:func:`icibiome.signatures.predict.delong_auc`), per trial and pooled over trials. Trials of 10-15
recipients cannot support firm conclusions; the table says so (``note``) when a class has fewer
than :data:`MIN_PER_CLASS` recipients.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from icibiome.errors import UserError

logger = logging.getLogger(__name__)

DETECTION = 1e-4  # presence: relative abundance (fraction) above 0.01 %
PSEUDO = (
    1e-6  # Aitchison pseudo-count (fraction), fixed: distances of a pair never depend on others
)
MIN_PER_CLASS = 5  # below this many recipients per class a trial's test is flagged as too small
ROLES = ("patient", "donor")

SAMPLE_COLUMNS = [
    "cohort", "subject_id", "sample_id", "days", "response", "donor_ids", "baseline_id",
    "n_donor_taxa", "n_baseline_taxa", "n_sample_taxa", "n_donor_specific", "n_engrafted",
    "engraftment_share", "n_recipient_specific", "n_lost", "lost_share",
    "bray_curtis_donor", "bray_curtis_baseline", "jaccard_donor", "jaccard_baseline",
    "aitchison_donor", "aitchison_baseline", "closer_to_donor",
]  # fmt: skip
METRICS = ("engraftment_share", "lost_share", "bray_curtis_donor", "jaccard_donor",
           "aitchison_donor", "donor_minus_baseline_bc")  # fmt: skip


class EngraftmentError(UserError):
    """The FMT design (roles, donor links, timings) does not allow an engraftment analysis."""


def _split_ids(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [v.strip() for v in str(value).replace(",", ";").split(";") if v.strip()]


def fmt_design(info: pd.DataFrame) -> pd.DataFrame:
    """Check and normalise an FMT design table (indexed by sample id).

    Required columns: ``subject_id``, ``role``, ``days``; ``donor_id`` on recipients' samples;
    optional ``response`` and ``cohort``. Raises :class:`EngraftmentError` naming the sample and
    column: unknown role, a donor sample id that is not in the table, a recipient without a donor,
    missing days, a donor with a response label.
    """
    need = [c for c in ("subject_id", "role", "days") if c not in info.columns]
    if need:
        raise EngraftmentError(f"FMT design: missing column(s) {need}")
    d = info.copy()
    d.index = d.index.astype(str)
    d["role"] = d["role"].fillna("patient").astype(str).str.strip().str.lower()
    bad = d.index[~d["role"].isin(ROLES)]
    if len(bad):
        raise EngraftmentError(
            f"FMT design: sample {bad[0]!r} column 'role': {d.loc[bad[0], 'role']!r} is not one of {list(ROLES)}"
        )
    days = pd.to_numeric(d["days"], errors="coerce")
    bad = d.index[days.isna() & (d["role"] == "patient")]
    if len(bad):
        raise EngraftmentError(
            f"FMT design: sample {bad[0]!r} column 'days' is missing or not a number"
        )
    d["days"] = days
    if "donor_id" not in d.columns:
        d["donor_id"] = ""
    d["donor_id"] = d["donor_id"].fillna("").astype(str)
    if "response" not in d.columns:
        d["response"] = ""
    d["response"] = d["response"].fillna("").astype(str)
    if "cohort" not in d.columns:
        d["cohort"] = "all"
    d["cohort"] = d["cohort"].fillna("all").astype(str)
    donors = set(d.index[d["role"] == "donor"])
    for s in d.index:
        ids = _split_ids(d.at[s, "donor_id"])
        if d.at[s, "role"] == "donor":
            if ids:
                raise EngraftmentError(
                    f"FMT design: donor sample {s!r} has a 'donor_id' ({d.at[s, 'donor_id']!r})"
                )
            if d.at[s, "response"] in ("R", "NR"):
                raise EngraftmentError(
                    f"FMT design: donor sample {s!r} has a 'response' label ({d.at[s, 'response']!r});"
                    " response belongs to recipients"
                )
        for i in ids:
            if i not in donors:
                raise EngraftmentError(
                    f"FMT design: sample {s!r} column 'donor_id': {i!r} is not a donor sample of the sheet"
                )
    return d


def _fractions(abundance: pd.DataFrame) -> pd.DataFrame:
    """Samples x taxa, each row summing to 1 (percent tables are rescaled)."""
    if (abundance < 0).any().any():
        raise EngraftmentError("abundance table has negative values")
    tot = abundance.sum(axis=1)
    empty = tot.index[tot <= 0]
    if len(empty):
        raise EngraftmentError(f"sample {empty[0]!r} has no abundance at all")
    return abundance.div(tot, axis=0)


def _clr(v: np.ndarray, pseudo: float) -> np.ndarray:
    lv = np.log(v + pseudo)
    return lv - lv.mean()


def _pair(
    a: np.ndarray, b: np.ndarray, detection: float, pseudo: float
) -> tuple[float, float, float]:
    bc = float(distance.braycurtis(a, b)) if (a.sum() + b.sum()) > 0 else np.nan
    pa, pb = a > detection, b > detection
    jac = float(distance.jaccard(pa, pb)) if (pa | pb).any() else 0.0
    ait = float(np.linalg.norm(_clr(a, pseudo) - _clr(b, pseudo)))
    return bc, jac, ait


def recipients(design: pd.DataFrame) -> dict[str, dict]:
    """Per recipient subject: baseline sample, post-FMT samples (later days), donor sample ids.

    The baseline is the subject's sample with ``timepoint == 'baseline'`` when the design has that
    column, else the earliest ``days``; two baselines for one subject are an error.
    """
    out = {}
    pat = design[design["role"] == "patient"]
    for subj, rows in pat.groupby("subject_id", sort=True):
        donors = sorted({i for v in rows["donor_id"] for i in _split_ids(v)})
        if not donors:
            continue  # not an FMT recipient
        if (
            "timepoint" in rows.columns
            and (rows["timepoint"].astype(str).str.lower() == "baseline").any()
        ):
            base = rows.index[rows["timepoint"].astype(str).str.lower() == "baseline"]
            if len(base) > 1:
                raise EngraftmentError(
                    f"FMT design: subject {subj!r} has two baseline samples: {list(base)}"
                )
            base = base[0]
        else:
            first = rows["days"].min()
            base = rows.index[rows["days"] == first]
            if len(base) > 1:
                raise EngraftmentError(
                    f"FMT design: subject {subj!r} has {len(base)} samples at its first day ({first:g}): "
                    f"{list(base)}; mark one as timepoint 'baseline'"
                )
            base = base[0]
        post = rows[rows["days"] > rows.at[base, "days"]].sort_values("days")
        resp = sorted(set(rows["response"]) - {""})
        if len(resp) > 1:
            raise EngraftmentError(
                f"FMT design: subject {subj!r} has several response labels {resp}"
            )
        out[str(subj)] = {
            "baseline": base, "post": list(post.index), "donors": donors,
            "response": resp[0] if resp else "", "cohort": rows["cohort"].iloc[0],
        }  # fmt: skip
    return out


def engraftment(
    abundance: pd.DataFrame,
    design: pd.DataFrame,
    detection: float = DETECTION,
    pseudo: float = PSEUDO,
) -> pd.DataFrame:
    """Per recipient post-FMT sample: donor-specific taxa engrafted, recipient taxa lost, similarity.

    Parameters
    ----------
    abundance : DataFrame
        Samples x taxa (relative abundance, percent or fractions; one resolution per call).
    design : DataFrame
        The FMT design (:func:`fmt_design`), indexed by sample id.

    Returns
    -------
    DataFrame with :data:`SAMPLE_COLUMNS`, one row per recipient post-FMT sample in the table.
    """
    design = fmt_design(design)
    frac = _fractions(abundance)
    rows = []
    for subj, r in recipients(design).items():
        missing = [s for s in [r["baseline"], *r["donors"]] if s not in frac.index]
        if missing:
            logger.warning(
                "engraftment: recipient %s left out: sample(s) %s not in the table", subj, missing
            )
            continue
        donor = frac.loc[r["donors"]]
        d_pres = (donor > detection).any(axis=0).to_numpy()
        d_prof = donor.mean(axis=0).to_numpy()
        base = frac.loc[r["baseline"]].to_numpy()
        b_pres = base > detection
        d_spec = d_pres & ~b_pres
        r_spec = b_pres & ~d_pres
        for s in r["post"]:
            if s not in frac.index:
                logger.warning("engraftment: %s sample %s is not in the table", subj, s)
                continue
            x = frac.loc[s].to_numpy()
            pres = x > detection
            bc_d, jac_d, ait_d = _pair(x, d_prof, detection, pseudo)
            bc_b, jac_b, ait_b = _pair(x, base, detection, pseudo)
            n_ds, n_rs = int(d_spec.sum()), int(r_spec.sum())
            n_eng, n_lost = int((d_spec & pres).sum()), int((r_spec & ~pres).sum())
            rows.append({
                "cohort": r["cohort"], "subject_id": subj, "sample_id": s,
                "days": design.at[s, "days"], "response": r["response"],
                "donor_ids": ";".join(r["donors"]), "baseline_id": r["baseline"],
                "n_donor_taxa": int(d_pres.sum()), "n_baseline_taxa": int(b_pres.sum()),
                "n_sample_taxa": int(pres.sum()), "n_donor_specific": n_ds, "n_engrafted": n_eng,
                "engraftment_share": n_eng / n_ds if n_ds else np.nan,
                "n_recipient_specific": n_rs, "n_lost": n_lost,
                "lost_share": n_lost / n_rs if n_rs else np.nan,
                "bray_curtis_donor": bc_d, "bray_curtis_baseline": bc_b,
                "jaccard_donor": jac_d, "jaccard_baseline": jac_b,
                "aitchison_donor": ait_d, "aitchison_baseline": ait_b,
                "closer_to_donor": bool(bc_d < bc_b),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def per_recipient(
    samples: pd.DataFrame, how: str = "mean", max_days: float | None = None
) -> pd.DataFrame:
    """One row per recipient: the mean (or ``last``) of each metric over its post-FMT samples.

    ``max_days`` keeps only samples up to that many days after the first collection (e.g. the
    trial's primary window). ``donor_minus_baseline_bc`` = Bray-Curtis to baseline minus to donor
    (> 0: the recipient moved towards the donor).
    """
    s = samples if max_days is None else samples[samples["days"] <= max_days]
    s = s.assign(donor_minus_baseline_bc=s["bray_curtis_baseline"] - s["bray_curtis_donor"])
    cols = [m for m in METRICS if m in s.columns]
    g = s.sort_values("days").groupby(["cohort", "subject_id", "response"], sort=True)
    agg = g[cols].last() if how == "last" else g[cols].mean()
    agg["n_post_samples"] = g.size()
    agg["last_day"] = g["days"].max()
    return agg.reset_index()


def _assoc_row(vals: pd.Series, resp: pd.Series, label: str, metric: str) -> dict:
    from icibiome.signatures.predict import delong_auc

    r, nr = vals[resp == "R"].dropna(), vals[resp == "NR"].dropna()
    row = {"cohort": label, "metric": metric, "n_R": len(r), "n_NR": len(nr),
           "median_R": r.median() if len(r) else np.nan,
           "median_NR": nr.median() if len(nr) else np.nan,
           "auc": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "note": ""}  # fmt: skip
    if len(r) == 0 or len(nr) == 0:
        row["note"] = "no test: a response class is empty"
        return row
    ties = pd.concat([r, nr]).duplicated().any()
    method = "asymptotic" if ties else "exact"
    row["p_value"] = float(stats.mannwhitneyu(r, nr, alternative="two-sided", method=method).pvalue)
    keep = vals.notna() & resp.isin(["R", "NR"])
    a, _, lo, hi = delong_auc((resp[keep] == "R").to_numpy(), vals[keep].to_numpy())
    row.update({"auc": a, "ci_low": lo, "ci_high": hi})
    notes = [f"Mann-Whitney {method}"]
    if min(len(r), len(nr)) < MIN_PER_CLASS:
        notes.append(
            f"too few recipients to conclude (< {MIN_PER_CLASS} per class); the CI shows how little is known"
        )
    row["note"] = "; ".join(notes)
    return row


def association(recip: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Engraftment metrics vs response, per trial and pooled over trials (one value per recipient).

    AUROC > 0.5: higher values in responders. The pooled row ranks recipients of all trials
    together (trials with different designs: read it next to the per-trial rows).
    """
    lab = recip[recip["response"].isin(["R", "NR"])]
    rows = []
    for m in metrics:
        if m not in lab.columns:
            continue
        for c, g in lab.groupby("cohort", sort=True):
            rows.append(_assoc_row(g[m], g["response"], c, m))
        if lab["cohort"].nunique() > 1:
            rows.append(_assoc_row(lab[m], lab["response"], "pooled", m))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# the stage (rules/engraftment.smk): named inputs and outputs, settings from the schema
# --------------------------------------------------------------------------------------------
def _design_from_sheet(samples_tsv) -> pd.DataFrame:
    from icibiome.samplesheet import read_sample_sheet

    sheet = read_sample_sheet(samples_tsv, check_files=False)
    cols = [c for c in ("subject_id", "role", "donor_id", "days", "response", "cohort", "timepoint")
            if c in sheet.columns]  # fmt: skip
    return sheet[cols]


def has_donors(sheet: pd.DataFrame) -> bool:
    """Whether a sample sheet describes an FMT design (a ``role`` column with a donor)."""
    return "role" in sheet.columns and (sheet["role"].fillna("").astype(str) == "donor").any()


def run_engraftment(
    *,
    abundance: str,
    samples: str,
    samples_out: str,
    recipients_out: str,
    association_out: str,
    table_mqc: str,
    trajectory_mqc: str,
    heatmap_mqc: str,
    detection: float,
    label: str = "",
) -> None:
    """Rule ``engraftment``: per-sample and per-recipient engraftment, association, report files."""
    from pathlib import Path

    from icibiome.io import read_abundance, write_tsv

    ab = read_abundance(abundance)
    design = _design_from_sheet(samples)
    design = design.loc[[s for s in design.index if s in ab.index]]
    per_sample = engraftment(ab.loc[design.index], design, detection=detection)
    recip = per_recipient(per_sample)
    assoc = association(recip)
    for df, path in ((per_sample, samples_out), (recip, recipients_out), (assoc, association_out)):
        write_tsv(df, path, index=False)
    logger.info(
        "engraftment (%s): %d recipients, %d post-FMT samples", label, len(recip), len(per_sample)
    )
    _write_mqc(per_sample, recip, assoc, ab, design, Path(table_mqc), Path(trajectory_mqc),
               Path(heatmap_mqc), label, detection)  # fmt: skip


def _write_mqc(per_sample, recip, assoc, ab, design, table_mqc, trajectory_mqc, heatmap_mqc,
               label, detection) -> None:  # fmt: skip
    from icibiome.mqc import write_plot, write_table

    parent = {
        "parent_id": "icibiome_engraftment",
        "parent_name": "FMT donor engraftment",
        "parent_description": (
            f"Donor-specific taxa (present in the donor, absent from the recipient's baseline; "
            f"presence = relative abundance > {detection:g}) found after FMT, recipient taxa lost, "
            "and similarity to the donor vs to the own baseline, per recipient; association with "
            f"response ({label}). Trials of 10-15 recipients cannot settle whether engraftment "
            "predicts benefit: read the CIs. Tables: results/engraftment/."
        ),
    }
    tab = assoc.copy()
    if len(tab):
        tab.index = tab["cohort"] + " | " + tab["metric"]
        tab = tab[
            ["n_R", "n_NR", "median_R", "median_NR", "auc", "ci_low", "ci_high", "p_value", "note"]
        ]
    else:
        tab = pd.DataFrame({"note": ["no recipient with a response label"]}, index=["none"])
    fmt3 = {"format": "{:,.3f}"}
    write_table(tab, {"id": "icibiome_engraftment_association", "section_name":
                   "Engraftment vs response", "description": "One value per recipient (mean over "
                   "its post-FMT samples); AUROC > 0.5: higher in responders (DeLong 95% CI), "
                   "Mann-Whitney p.", "plot_type": "table", **parent,
                   "headers": {"auc": fmt3, "ci_low": fmt3, "ci_high": fmt3,
                               "median_R": fmt3, "median_NR": fmt3,
                               "p_value": {"format": "{:,.2e}"}},
                   "pconfig": {"id": "icibiome_engraftment_association_table",
                               "title": "icibiome: engraftment vs response"}},
             table_mqc, "Trial | metric")  # fmt: skip
    traj = {}
    for subj, g in per_sample.sort_values("days").groupby("subject_id"):
        resp = g["response"].iloc[0] or "unlabelled"
        traj[f"{subj} ({resp})"] = {float(d): round(float(v), 4)
                                    for d, v in zip(g["days"], g["engraftment_share"], strict=True)
                                    if np.isfinite(v)}  # fmt: skip
    write_plot({"id": "icibiome_engraftment_trajectory", "section_name": "Engraftment trajectory",
               **parent, "description": "Share of the donor-specific taxa found in each post-FMT "
               "sample, per recipient (legend: recipient and response).", "plot_type": "linegraph",
               "pconfig": {"id": "icibiome_engraftment_trajectory_plot", "title":
                           "icibiome: donor engraftment over time", "xlab": "days",
                           "ylab": "share of donor-specific taxa", "ymin": 0, "ymax": 1},
               "data": traj or {"no recipient": {0: 0.0}}}, trajectory_mqc)  # fmt: skip
    frac = _fractions(ab)
    pres = frac > detection
    donors = sorted({d for v in per_sample["donor_ids"] for d in _split_ids(v)})
    last = per_sample.sort_values("days").groupby("subject_id").tail(1)
    rows, cols = list(last["subject_id"] + " (" + last["sample_id"] + ")"), donors
    data = [[round(1 - float(distance.jaccard(pres.loc[s], pres.loc[d])), 3) for d in donors]
            for s in last["sample_id"]]  # fmt: skip
    write_plot({"id": "icibiome_engraftment_heatmap", "section_name": "Donor-recipient similarity",
               **parent, "description": "Jaccard similarity (shared taxa / taxa of either) between "
               "each recipient's last post-FMT sample and every donor sample.",
               "plot_type": "heatmap", "xcats": cols or ["no donor"], "ycats": rows or ["no recipient"],
               "pconfig": {"id": "icibiome_engraftment_heatmap_plot", "title":
                           "icibiome: donor-recipient Jaccard similarity", "min": 0, "max": 1},
               "data": data or [[0.0]]}, heatmap_mqc)  # fmt: skip
