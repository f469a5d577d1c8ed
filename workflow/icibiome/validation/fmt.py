"""Validation of the engraftment and longitudinal stages on the real FMT trials and NSCLC visits.

``python -m icibiome.validation.fmt [--shared DIR] [--out DIR]`` (part of ``make validate``):

* **FMT trials** - Davar et al. Science 2021 (responder-derived FMT + pembrolizumab in
  PD-1-refractory melanoma; 15 recipients, 6 with clinical benefit in the curated ORR) and Baruch
  et al. Science 2021 (FMT + nivolumab; 10 recipients, 2 donors). MetaPhlAn 4 tables of
  ``ici_mpa4_8cohorts`` (species rows and ``t__SGB`` rows), donor links and timings of
  ``ici_cmd_curated_metadata`` (Davar: ``fmt_id`` = the donor material sample a recipient got;
  Baruch: ``fmt_role`` = the donor sample). Donor samples are those whose id is a donor link;
  the recipient's baseline is its first collection. Writes ``validation_fmt_samples.tsv`` (per
  post-FMT sample), ``validation_fmt.tsv`` (per trial and resolution: recipients, donors, samples
  per recipient, engraftment share in R vs NR with AUROC, DeLong CI and Mann-Whitney p, and
  the same for donor similarity).
* **NSCLC visits** - TOPOSCORE (published SIG1/SIG2 lists) at V0 and V3 of the patients of
  ``toposcore_nsclc`` DS5/DS6, OS12 from DS1: change per patient by OS12 (paired tests; the
  visit is the time axis, days are not in the tables) -> ``validation_longitudinal.tsv``.

Trials of 10-15 recipients cannot settle whether engraftment predicts benefit: the tables carry
the n and the CI, and a note where a class has fewer than 5 recipients.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.engraftment import donors as en
from icibiome.engraftment import longitudinal as lg
from icibiome.io import write_tsv

logger = logging.getLogger(__name__)

DEFAULT_SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
TRIALS = {
    "DavarD_2021": ("Davar_merged_table.txt", "DavarD_2021.tsv", "fmt_id"),
    "BaruchEN_2021": ("Baruch_merged_table.txt", "BaruchEN_2021.tsv", "fmt_role"),
}
PUBLISHED = {
    "DavarD_2021": "Davar 2021: 6 of 15 recipients with clinical benefit; responders acquired more donor taxa",
    "BaruchEN_2021": "Baruch 2021: 3 of 10 recipients responded; donor-like shift in responders",
}


def read_mpa_table(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A MetaPhlAn 4 merged table as (species, SGB) tables, samples (run accessions) x taxa, percent."""
    t = pd.read_csv(path, sep="\t", comment="#", index_col=0)
    t.columns = [c.split("_", 1)[1] if c.split("_", 1)[0] in ("metaphlan", "metaphlan4d", "profiled")
                 else c for c in t.columns]  # fmt: skip
    names = t.index.astype(str)
    sp = t[names.str.contains(r"\|s__[^|]+$")]
    sp.index = sp.index.str.rsplit("|", n=1).str[1]
    sgb = t[names.str.contains(r"\|t__[^|]+$")]
    sgb.index = sgb.index.str.rsplit("|", n=2).str[1:].str.join("|")
    return sp.T.groupby(level=0).sum(), sgb.T.groupby(level=0).sum()


def trial_design(meta: pd.DataFrame, link_col: str, trial: str) -> pd.DataFrame:
    """FMT design (indexed by run accession) from a curated metadata table."""
    m = meta.dropna(subset=["ncbi_accession"]).copy()
    acc = m.set_index("sample_id")["ncbi_accession"].astype(str)
    links = set(m[link_col].dropna().astype(str))
    donor = m["sample_id"].isin(links)
    resp = (
        m["disease_response_orr"].astype(str).str.lower().map({"yes": "R", "no": "NR"}).fillna("")
    )
    d = pd.DataFrame({
        "subject_id": m["subject_id"].astype(str).to_numpy(),
        "role": np.where(donor, "donor", "patient"),
        "donor_id": m[link_col].map(acc).fillna("").to_numpy(),
        "days": pd.to_numeric(m["days_from_first_collection"], errors="coerce").to_numpy(),
        "response": np.where(donor, "", resp),
        "cohort": trial,
    }, index=m["ncbi_accession"].astype(str).to_numpy())  # fmt: skip
    # a donor subject's own samples taken as a patient (Davar's donors were responders) are not
    # recipients: keep only patient samples with a donor link or of subjects that have one
    rec_subjects = set(d.loc[d["donor_id"] != "", "subject_id"])
    keep = (d["role"] == "donor") | d["subject_id"].isin(rec_subjects)
    d = d[keep]
    d.loc[d["role"] == "donor", "subject_id"] = "donor:" + d.loc[d["role"] == "donor"].index
    # every sample of a recipient carries its donor link (recorded on post-FMT samples only)
    link = d[d["donor_id"] != ""].groupby("subject_id")["donor_id"].first()
    pat = d["role"] == "patient"
    d.loc[pat, "donor_id"] = d.loc[pat, "subject_id"].map(link).fillna("")
    return d


def run_fmt(shared: Path = DEFAULT_SHARED) -> tuple[pd.DataFrame, pd.DataFrame]:
    samples, summary = [], []
    for trial, (table, meta_file, link) in TRIALS.items():
        sp, sgb = read_mpa_table(shared / "ici_mpa4_8cohorts" / table)
        meta = pd.read_csv(shared / "ici_cmd_curated_metadata" / meta_file, sep="\t", dtype=str)
        design = trial_design(meta, link, trial)
        design = design.loc[[s for s in design.index if s in sp.index]]
        recips = en.recipients(en.fmt_design(design))
        for res, tab in (("species", sp), ("SGB", sgb)):
            s = en.engraftment(tab.loc[design.index], design)
            s.insert(1, "resolution", res)
            samples.append(s)
            rec = en.per_recipient(s)
            assoc = en.association(rec, ["engraftment_share", "donor_minus_baseline_bc",
                                         "bray_curtis_donor"]).set_index("metric")  # fmt: skip
            row = {
                "trial": trial,
                "resolution": res,
                "recipients": len(rec),
                "R": int((rec["response"] == "R").sum()),
                "NR": int((rec["response"] == "NR").sum()),
                "donors": int((design["role"] == "donor").sum()),
                "samples_per_recipient": float(
                    np.mean([1 + len(r["post"]) for r in recips.values()])
                ),
                "engraftment_R": rec.loc[rec["response"] == "R", "engraftment_share"].median(),
                "engraftment_NR": rec.loc[rec["response"] == "NR", "engraftment_share"].median(),
            }
            for m, key in (("engraftment_share", "engraftment"),
                           ("donor_minus_baseline_bc", "donor_shift")):  # fmt: skip
                a = assoc.loc[m]
                row.update({f"{key}_auc": a["auc"], f"{key}_ci_low": a["ci_low"],
                            f"{key}_ci_high": a["ci_high"], f"{key}_p": a["p_value"]})  # fmt: skip
            row["note"] = assoc.loc["engraftment_share", "note"]
            row["published"] = PUBLISHED[trial]
            summary.append(row)
            logger.info("%s %s: engraftment R %.3f vs NR %.3f, AUC %.3f (%.3f-%.3f) p %.3g",
                        trial, res, row["engraftment_R"], row["engraftment_NR"],
                        row["engraftment_auc"], row["engraftment_ci_low"],
                        row["engraftment_ci_high"], row["engraftment_p"])  # fmt: skip
    samples = pd.concat(samples, ignore_index=True)
    # pooled over both trials, per resolution: one value per recipient, ranked together
    for res, s in samples.groupby("resolution", sort=False):
        rec = en.per_recipient(s.drop(columns="resolution"))
        a = en.association(rec.assign(cohort="pooled"), ["engraftment_share"]).iloc[0]
        summary.append({
            "trial": "pooled (Davar + Baruch)", "resolution": res, "recipients": len(rec),
            "R": int(a["n_R"]), "NR": int(a["n_NR"]),
            "engraftment_R": a["median_R"], "engraftment_NR": a["median_NR"],
            "engraftment_auc": a["auc"], "engraftment_ci_low": a["ci_low"],
            "engraftment_ci_high": a["ci_high"], "engraftment_p": a["p_value"],
            "note": "trials of different designs ranked together; " + a["note"],
            "published": "2025 strain-resolved reanalysis: benefit tracked donor strain integration",
        })  # fmt: skip
    return samples, pd.DataFrame(summary)


def run_nsclc_visits(shared: Path = DEFAULT_SHARED) -> pd.DataFrame:
    """TOPOSCORE at V0 and V3 of the NSCLC patients, change by OS12 (paired tests)."""
    from icibiome.signatures import toposcore as tp

    d = shared / "toposcore_nsclc"
    visits = pd.read_csv(d / "DS5_longitudinal_clinical_data_v1.csv", dtype=str)
    clin = pd.read_csv(d / "DS1_oncology_clinical_data_v1.csv", dtype=str)
    ab = pd.read_csv(d / "DS6_longitudinal_microbiome_data_v1.csv", index_col=0)
    ab = ab.T.groupby(level=0).sum().T  # a species named in two columns: summed (SOURCE.md)
    sig1 = tp.read_signature(d / "sig1.txt", "SIG1")
    sig2 = tp.read_signature(d / "sig2.txt", "SIG2")
    scores, _ = tp.score_samples(ab, sig1, sig2)
    os12 = clin.set_index("Sample_id")["OS12"]
    rows = []
    for _, v in visits.iterrows():
        resp = os12.get(v["Sample_id_V0"], "")
        for visit, col in ((0, "Sample_id_V0"), (1, "Sample_id_V3")):
            if v[col] in scores.index:
                rows.append({"sample_id": v[col], "subject_id": v["Patient_id"], "days": visit,
                             "response": resp if resp in ("R", "NR") else ""})  # fmt: skip
    design = pd.DataFrame(rows).set_index("sample_id")
    long, models, paired = lg.longitudinal(scores.loc[design.index, ["toposcore"]], design)
    both = long.groupby("subject_id").size().eq(2).sum()
    out = paired.assign(cohort="toposcore_nsclc DS5/DS6", endpoint="OS12", time="visit V0 -> V3",
                        patients_with_both_visits=int(both))  # fmt: skip
    m = models.iloc[0]
    out["mixedlm_visit_x_R"] = m["estimate"]
    out["mixedlm_ci_low"], out["mixedlm_ci_high"], out["mixedlm_p"] = (
        m["ci_low"],
        m["ci_high"],
        m["p_value"],
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m icibiome.validation.fmt", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (a.shared / "ici_mpa4_8cohorts").is_dir():
        print(f"validate_fmt: {a.shared}/ici_mpa4_8cohorts not found", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    samples, summary = run_fmt(a.shared)
    write_tsv(samples, a.out / "validation_fmt_samples.tsv", index=False)
    write_tsv(summary, a.out / "validation_fmt.tsv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 3):
        print(summary.drop(columns=["published", "note"]).to_string(index=False))
    if (a.shared / "toposcore_nsclc").is_dir():
        visits = run_nsclc_visits(a.shared)
        write_tsv(visits, a.out / "validation_longitudinal.tsv", index=False)
        with pd.option_context(
            "display.width", 200, "display.max_columns", 30, "display.precision", 3
        ):
            print(visits.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
