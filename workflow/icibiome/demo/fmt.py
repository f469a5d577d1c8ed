"""The demo's optional FMT and longitudinal arms (:func:`icibiome.demo.make.make_demo` ``fmt_recipients``
/ ``longitudinal_subjects``), with their own random stream so the baseline arm is unchanged.

FMT arm (cohort ``FMT``): two donors carry every *donor-only* genome (non-guild species with no
congener in the community, absent from every recipient's baseline); each recipient is sampled
before FMT (day 0) and at days 14 and 42, carrying a planted number ``k`` of the donor-only
genomes after FMT. Benefit is tied to engraftment: responders are the recipients with
``k / n_donor_only >= 0.5``. Truth: ``truth/engraftment.tsv``.

Longitudinal arm (cohort ``LON``): patients sampled at days 0, 30 and 60 whose latent guild
balance ``z`` (see :func:`icibiome.demo.make.plant_ecology`) rises by :data:`GUILD_SLOPE` per day on
treatment in responders and stays put in non-responders; abundances follow the baseline model
(log-abundance linear in ``z`` for guild members). Truth: ``truth/longitudinal.tsv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GUILD_LOADING = 1.2  # as icibiome.demo.make.GUILD_LOADING
GUILD_SLOPE = 0.03  # planted rise of the guild balance per day in responders (longitudinal arm)
FMT_DAYS = (0, 14, 42)
LON_DAYS = (0, 30, 60)
ENGRAFTED = (5, 2, 6, 1, 4, 3, 6, 2, 5, 1, 4, 3)  # donor-only genomes found after FMT, by recipient
DESIGN_COLUMNS = ("role", "donor_id", "days", "treatment")


def donor_only_genomes(tax: pd.DataFrame, n: int = 6) -> list[str]:
    """Non-guild genomes whose genus has no other member in the community (few misassigned reads)."""
    genus_size = tax["genus"].map(tax["genus"].value_counts())
    pick = tax[(tax["guild"] == "none") & (genus_size == 1)]
    return list(pick["genome_id"][:n])


def _profile(rng, tax, z, absent_extra=(), present_boost=(), random_absence=True):
    sign = tax["guild"].map({"foundation": 1.0, "pathobiont": -1.0, "none": 0.0}).to_numpy()
    in_guild = sign != 0
    base = np.where(in_guild, 0.5, 0.0)
    logab = (
        base + GUILD_LOADING * z * sign + rng.normal(0, 1, len(tax)) * np.where(in_guild, 0.35, 0.6)
    )
    ids = tax["genome_id"].to_numpy()
    boost = np.isin(ids, list(present_boost))
    logab[boost] += 1.0
    draw = rng.random(len(tax))
    absent = (draw < np.where(in_guild, 0.03, 0.2)) & ~boost & random_absence
    absent |= np.isin(ids, list(absent_extra))
    ab = np.exp(logab) * ~absent
    return ab / ab.sum()


def plant_arms(
    seed: int, tax: pd.DataFrame, n_recipients: int, n_longitudinal: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Abundance (samples x genomes), clinical rows and truth tables of the two arms."""
    rng = np.random.default_rng([seed, 17])  # own stream: the baseline arm's draws are unchanged
    donor_only = donor_only_genomes(tax)
    if n_recipients and len(donor_only) < 3:
        raise ValueError("the FMT arm needs at least 3 donor-only genomes (use the full community)")
    rows, clin, eng, lon = [], [], [], []

    def add(sid, subject, cohort, timepoint, response, role, donor, days, treatment, ab):
        rows.append(pd.Series(ab, index=tax["genome_id"], name=sid))
        clin.append({"sample_id": sid, "subject_id": subject, "cohort": cohort,
                     "timepoint": timepoint, "response": response, "role": role,
                     "donor_id": donor, "days": days, "treatment": treatment})  # fmt: skip

    if n_recipients:
        donors = ["FMT_D1", "FMT_D2"]
        for d in donors:
            add(d, d.replace("FMT_D", "DON"), "FMT", "donor", "", "donor", "", 0, "FMT donor",
                _profile(rng, tax, rng.normal(0.5, 0.5), present_boost=donor_only))  # fmt: skip
        for r in range(n_recipients):
            k = min(ENGRAFTED[r % len(ENGRAFTED)], len(donor_only))
            share = k / len(donor_only)
            resp = "R" if share >= 0.5 else "NR"
            z = rng.normal(-0.5, 0.5)  # PD-1-refractory recipients: pathobiont-leaning
            # every other species present: the donor-specific taxa are exactly the donor-only ones,
            # so the planted share k / n_donor_only is the share the definition measures
            base = _profile(rng, tax, z, absent_extra=donor_only, random_absence=False)
            engrafted = list(rng.choice(donor_only, k, replace=False))
            donor = donors[r % 2]
            subject = f"REC{r + 1:02d}"
            for day in FMT_DAYS:
                if day == 0:
                    ab = base
                else:
                    ab = base.copy()
                    ids = tax["genome_id"].to_numpy()
                    ab[np.isin(ids, engrafted)] = rng.uniform(0.03, 0.06, k)
                    ab = ab / ab.sum()
                add(f"FMT_{subject}_d{day}", subject, "FMT", "baseline" if day == 0 else f"day{day}",
                    resp, "patient", donor, day, "FMT + anti-PD-1", ab)  # fmt: skip
            eng.append({"subject_id": subject, "donor_id": donor, "response": resp,
                        "n_donor_only": len(donor_only), "n_engrafted": k, "engraftment_share": share,
                        "engrafted": ";".join(sorted(engrafted))})  # fmt: skip
    for s in range(n_longitudinal):
        resp = "R" if s % 2 == 0 else "NR"
        z0 = rng.normal(0, 0.7)
        subject = f"LON{s + 1:02d}"
        for day in LON_DAYS:
            z = z0 + (GUILD_SLOPE * day if resp == "R" else 0.0)
            add(f"LON_{subject}_d{day}", subject, "LON", "baseline" if day == 0 else f"day{day}",
                resp, "patient", "", day, "anti-PD-1", _profile(rng, tax, z))  # fmt: skip
            lon.append({"subject_id": subject, "sample_id": f"LON_{subject}_d{day}", "days": day,
                        "response": resp, "guild_balance_z": round(z, 4)})  # fmt: skip
    ab = pd.DataFrame(rows)
    ab.index.name = "sample_id"
    return ab, pd.DataFrame(clin), pd.DataFrame(eng), pd.DataFrame(lon)
