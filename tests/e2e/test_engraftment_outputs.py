"""Engraftment and longitudinal stages end to end (import mode, planted truth; no reads needed).

An FMT arm (2 donors, 10 recipients sampled at days 0/14/42, a planted share of the donor-specific
species engrafted per recipient, higher in responders) and a longitudinal arm (12 patients at days
0/30/60/90, responders gaining species over time, non-responders not) as one generic counts TSV
with a sheet using the design columns role / donor_id / days. The run must recover the planted
engraftment shares (error < 0.1) and the planted days x response interaction (sign, CI excluding
0), and show both sections in the report.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

from icibiome.demo.genomes import TAXA

N_DONOR_ONLY = 8  # species only the donors carry


def _lineages():
    return [
        "|".join(["k__Bacteria", *(f"{p}__{v}" for p, v in zip("pcofg", t[:5], strict=True)),
                  f"s__{t[4]}_{t[5]}"])
        for t in TAXA
    ]  # fmt: skip


def _planted(wd: Path, depth: int = 20_000):
    rng = np.random.default_rng(5)
    lin = _lineages()
    n = len(lin)
    donor_only = np.arange(N_DONOR_ONLY)
    core = np.arange(N_DONOR_ONLY, N_DONOR_ONLY + 8)  # in donors and every baseline
    rest = np.arange(N_DONOR_ONLY + 8, n)
    cols, rows, truth = {}, [], {}

    def draw(present):
        w = np.zeros(n)
        w[present] = rng.lognormal(0, 0.5, len(present))
        return rng.multinomial(depth, w / w.sum())

    for d in ("D1", "D2"):
        cols[d] = draw(np.concatenate([donor_only, core]))
        rows.append({"sample_id": d, "subject_id": f"DON{d[1]}", "cohort": "FMT", "timepoint": "donor",
                     "response": "", "role": "donor", "donor_id": "", "days": 0})  # fmt: skip
    for r in range(10):
        resp = "R" if r < 5 else "NR"
        k = [6, 6, 5, 7, 6, 2, 1, 2, 3, 2][r]  # donor-specific species engrafted (of 8)
        truth[f"REC{r}"] = k / N_DONOR_ONLY
        own = rng.choice(rest, 5, replace=False)
        for day in (0, 14, 42):
            present = np.concatenate([core, own])
            if day:
                present = np.concatenate([present, rng.choice(donor_only, k, replace=False)])
            sid = f"REC{r}_d{day}"
            cols[sid] = draw(present)
            rows.append({"sample_id": sid, "subject_id": f"REC{r}", "cohort": "FMT",
                         "timepoint": "baseline" if day == 0 else f"day{day}", "response": resp,
                         "role": "patient", "donor_id": "D1" if r % 2 else "D2", "days": day})  # fmt: skip
    for s in range(12):
        resp = "R" if s < 6 else "NR"
        base = rng.choice(np.arange(N_DONOR_ONLY, n), 6, replace=False)
        pool = [i for i in range(N_DONOR_ONLY, n) if i not in base]
        for j, day in enumerate((0, 30, 60, 90)):
            gained = pool[: 2 * j] if resp == "R" else []  # responders gain 2 species per visit
            sid = f"L{s}_d{day}"
            cols[sid] = draw(np.concatenate([base, np.array(gained, dtype=int)]))
            rows.append({"sample_id": sid, "subject_id": f"L{s}", "cohort": "LONG",
                         "timepoint": "baseline" if day == 0 else f"day{day}", "response": resp,
                         "role": "patient", "donor_id": "", "days": day})  # fmt: skip
    data = wd / "data"
    data.mkdir(parents=True)
    pd.DataFrame(cols, index=pd.Index(lin, name="taxon")).to_csv(data / "counts.tsv", sep="\t")
    pd.DataFrame(rows).to_csv(data / "samples.tsv", sep="\t", index=False)
    cfg = {
        "samples": "data/samples.tsv",
        "import": {"activate": True, "profiles": ["data/counts.tsv"], "format": "generic"},
        "diversity": {"activate": True, "permutations": 99},
        "networks": {"activate": False},
        "toposcore": {"activate": False},
        "signatures": {"activate": False},
        "report": {"title": "icibiome engraftment e2e"},
    }
    (wd / "config").mkdir()
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return truth


@pytest.mark.slow
def test_engraftment_and_longitudinal_recovered(tmp_path):
    wd = tmp_path / "fmt"
    truth = _planted(wd)
    run_snakemake(wd)
    res = wd / "results"
    rec = pd.read_csv(res / "engraftment/recipients.tsv", sep="\t").set_index("subject_id")
    err = (rec["engraftment_share"] - pd.Series(truth)).abs()
    assert len(rec) == 10 and err.max() < 0.1, err
    assoc = pd.read_csv(res / "engraftment/association.tsv", sep="\t")
    row = assoc[assoc["metric"] == "engraftment_share"].iloc[0]
    assert row["auc"] == 1.0 and row["n_R"] == 5 and row["n_NR"] == 5
    models = pd.read_csv(res / "longitudinal/mixed_models.tsv", sep="\t")
    obs = models.set_index(["score", "cohort"]).loc[("alpha:observed", "LONG")]
    assert obs["estimate"] > 0 and obs["ci_low"] > 0, obs  # planted: R gain species, NR do not
    html = (res / "report/multiqc_report.html").read_text()
    for section in ("FMT donor engraftment", "Engraftment vs response", "Longitudinal dynamics"):
        assert section in html, section
    # a recipient pointing at a donor that is not in the sheet: error before any job, row named
    sheet = pd.read_csv(wd / "data/samples.tsv", sep="\t")
    sheet.loc[sheet["sample_id"] == "REC3_d14", "donor_id"] = "D7"
    sheet.to_csv(wd / "data/samples.tsv", sep="\t", index=False)
    proc = run_snakemake(wd, "-n", "--forceall", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "sample 'REC3_d14'): column 'donor_id': 'D7' is not the sample_id of a donor row" in out
    assert "Traceback" not in out
