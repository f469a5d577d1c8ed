"""The demo's FMT and longitudinal arms from reads through the pipeline (e2e case "fmt").

Recovers the planted engraftment share per recipient (error < 0.1; truth/engraftment.tsv) and the
planted rise of the guild balance in responders (days x responder interaction of the MixedLM:
positive, CI excluding 0; truth/longitudinal.tsv).
"""

import pandas as pd
import pytest
from conftest import make_case, run_snakemake

from icibiome.demo.make import make_demo


@pytest.fixture(scope="module")
def fmt_run(tmp_path_factory):
    demo = tmp_path_factory.mktemp("fmt_demo") / "data"
    make_demo(demo, seed=11, n_samples=2, pairs_per_sample=3000, threads=2,
              fmt_recipients=6, longitudinal_subjects=6)  # fmt: skip
    wd = make_case(tmp_path_factory.mktemp("e2e_fmt"), "fmt", demo)
    run_snakemake(wd)
    return wd


@pytest.mark.slow
def test_planted_engraftment_recovered(fmt_run):
    truth = pd.read_csv(fmt_run / "data/truth/engraftment.tsv", sep="\t").set_index("subject_id")
    rec = pd.read_csv(fmt_run / "results/engraftment/recipients.tsv", sep="\t").set_index(
        "subject_id"
    )
    err = (rec["engraftment_share"] - truth["engraftment_share"]).abs()
    assert len(rec) == len(truth) == 6
    assert err.max() < 0.1, err
    assoc = pd.read_csv(fmt_run / "results/engraftment/association.tsv", sep="\t")
    row = assoc[assoc["metric"] == "engraftment_share"].iloc[0]
    assert row["auc"] == 1.0  # benefit planted from engraftment
    assert "too few recipients" in row["note"]  # 3 R / 3 NR: said plainly


@pytest.mark.slow
def test_planted_guild_shift_recovered(fmt_run):
    models = pd.read_csv(fmt_run / "results/longitudinal/mixed_models.tsv", sep="\t")
    models = models.set_index(["score", "cohort"])
    g = models.loc[("guilds:guild_balance", "LON")]  # the arm with the planted shift
    assert g["converged"] and g["estimate"] > 0 and g["ci_low"] > 0, g
    # the FMT arm has no planted guild shift: its interaction CI holds 0
    f = models.loc[("guilds:guild_balance", "FMT")]
    assert f["ci_low"] <= 0 <= f["ci_high"], f
    html = (fmt_run / "results/report/multiqc_report.html").read_text()
    assert "Engraftment trajectory" in html and "Time x response (MixedLM)" in html
