"""End to end: TOPOSCORE on the basic case (8 demo samples, sylph tables, lists from the guilds).

The lists are the run's own guilds (pathobiont = SIG1, foundation = SIG2). The table must be
complete (one row per sample of the abundance table), consistent with the guild table and the
abundance table it came from (counts recomputed here), follow the published cut-offs, and be in
the MultiQC report. On the demo truth the score should rank the planted responders: the AUC of
the score against the truth labels is measured and reported (8 samples: a loose bound).
"""

import numpy as np
import pandas as pd
import pytest
import yaml

from icibiome.io import read_abundance
from icibiome.signatures.toposcore import auc

pytestmark = pytest.mark.e2e

PROFILER = "sylph"


@pytest.fixture(scope="module")
def run(basic_run):
    res = basic_run / "results"
    return {
        "wd": basic_run,
        "scores": pd.read_csv(
            res / "signatures" / PROFILER / "toposcore.tsv", sep="\t", index_col="sample_id"
        ),  # fmt: skip
        "members": pd.read_csv(res / "signatures" / PROFILER / "toposcore_members.tsv", sep="\t"),
        "guilds": pd.read_csv(res / "guilds" / PROFILER / "guilds.tsv", sep="\t"),
        "abundance": read_abundance(res / "taxonomy" / PROFILER / "abundance_species.tsv"),
        "report": res / "report" / "multiqc_report.html",
        "sig_dir": res / "signatures" / PROFILER,
    }


def test_table_complete_with_the_contract_columns(run):
    sc = run["scores"]
    for col in ("toposcore", "sig1_score", "sig2_score", "akkermansia", "predicted_response"):
        assert col in sc.columns
    assert sorted(sc.index) == sorted(run["abundance"].index)
    assert sc["toposcore"].between(0, 1).all()
    assert set(sc["predicted_response"]) <= {"R", "NR"}
    assert set(sc["category"]) <= {"SIG1", "Gray", "SIG2"}


def test_scores_consistent_with_guilds_and_abundance(run):
    sc, g, ab = run["scores"], run["guilds"], run["abundance"]
    sig1 = g.loc[g["guild"] == "pathobiont", "clade_name"].tolist()
    sig2 = g.loc[g["guild"] == "foundation", "clade_name"].tolist()
    assert sig1 and sig2
    n1 = (ab.reindex(columns=sig1).fillna(0) > 0).sum(axis=1)
    n2 = (ab.reindex(columns=sig2).fillna(0) > 0).sum(axis=1)
    assert (sc["sig1_count"] == n1.reindex(sc.index)).all()
    assert (sc["sig2_count"] == n2.reindex(sc.index)).all()
    np.testing.assert_allclose(sc["sig1_score"], sc["sig1_count"] / len(sig1), atol=1e-9)
    np.testing.assert_allclose(sc["sig2_score"], sc["sig2_count"] / len(sig2), atol=1e-9)
    np.testing.assert_allclose(sc["toposcore"], (sc["sig2_score"] - sc["sig1_score"] + 1) / 2,
                               atol=1e-6)  # fmt: skip
    m = run["members"]
    assert len(m) == len(sig1) + len(sig2) and m["in_profile"].all()
    # published cut-offs and the Akkermansia rule (no Akkermansia in the demo: gray -> NR)
    s = sc["toposcore"]
    assert (sc.loc[s <= 0.5351, "category"] == "SIG1").all()
    assert (sc.loc[s >= 0.7911, "category"] == "SIG2").all()
    assert (sc["akkermansia"] == 0).all() and (sc["akkermansia_status"] == "Zero").all()
    assert ((sc["predicted_response"] == "R") == (sc["category"] == "SIG2")).all()


def test_score_ranks_planted_responders_and_is_in_the_report(run):
    truth = pd.read_csv(run["wd"] / "data" / "truth" / "samples.tsv", sep="\t",
                        index_col="sample_id")  # fmt: skip
    sc = run["scores"]
    a = auc(sc["toposcore"], truth.loc[sc.index, "response"])
    r = np.corrcoef(sc["toposcore"], truth.loc[sc.index, "guild_balance"])[0, 1]
    print(f"TOPOSCORE vs demo truth (8 samples): AUC {a:.3f}, r with planted balance {r:.3f}")
    assert r > 0.3  # the guild-count score follows the planted guild balance
    assert a >= 0.5 or np.isnan(a)
    html = run["report"].read_text()
    assert "icibiome_toposcore_scores" in html and "TOPOSCORE by response" in html
    head = (run["sig_dir"] / "toposcore_scores_mqc.yaml").read_text()
    assert yaml.safe_load(head)["plot_type"] == "box"


def test_survival_calibration_and_warning_files_and_their_report_sections(run):
    """Issue 13: the stage writes the HR of predicted NR vs R (demo sheet: PFS only), the KM
    curves, the cut-offs it used and the category warning; what has data is in the report."""
    from icibiome.report.build import has_data

    d, html = run["sig_dir"], run["report"].read_text()
    surv = pd.read_csv(d / "toposcore_survival.tsv", sep="\t")
    assert set(surv["endpoint"]) == {"PFS"}  # the demo sheet has PFS, no OS
    assert set(surv["comparison"]) == {"predicted NR vs R", "SIG1 vs SIG2 (Gray left out)",
                                       "toposcore per SD"}  # fmt: skip
    # every row has an estimate or says why not (8 samples)
    assert (surv["hr"].notna() | surv["note"].fillna("").str.startswith("not estimable")).all()
    assert (surv["n"] <= len(run["scores"])).all()
    km = pd.read_csv(d / "toposcore_km.tsv", sep="\t")
    assert set(km["by"]) <= {"predicted_response", "category"} and len(km)
    cal = yaml.safe_load((d / "toposcore_calibration.yaml").read_text())
    assert (cal["cut_nr"], cal["cut_r"], cal["source"]) == (0.5351, 0.7911, "published")
    for part in ("survival_mqc.tsv", "km_mqc.yaml", "warnings_mqc.tsv"):
        p = d / f"toposcore_{part}"
        section = f"icibiome_toposcore_{part.split('_')[0]}"
        assert (section in html) == has_data(p), part
