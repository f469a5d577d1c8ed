"""End to end: the signatures stage on the basic case (8 demo samples, 2 cohorts, sylph tables).

With 2 per class required, cohort C1 (2 R / 2 NR at demo seed 7) is tested and held out and C2
(1 R / 3 NR) is listed as skipped with the reason, in every table, without failing the run. The
guild balance of the networks stage and TOPOSCORE enter as extra features. The outputs must be
complete and agree with each other, the abundance table and the sample sheet, and be in the
MultiQC report.
"""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

from icibiome.io import read_abundance
from icibiome.signatures.frozen import apply_model, load_model, save_model
from icibiome.signatures.predict import delong_auc

pytestmark = pytest.mark.e2e

PROFILER = "sylph"


@pytest.fixture(scope="module")
def run(basic_run):
    res = basic_run / "results"
    sig = res / "signatures" / PROFILER

    def tsv(name):
        return pd.read_csv(sig / name, sep="\t")

    return {
        "sig": sig,
        "da": tsv("differential.tsv"),
        "meta": tsv("meta_analysis.tsv"),
        "auc": tsv("loco_auc.tsv"),
        "pred": tsv("loco_predictions.tsv"),
        "within": tsv("within_cohort_auc.tsv"),
        "surv": tsv("survival.tsv"),
        "abundance": read_abundance(res / "taxonomy" / PROFILER / "abundance_species.tsv"),
        "sheet": pd.read_csv(basic_run / "data" / "samples.tsv", sep="\t", index_col="sample_id"),
        "report": res / "report" / "multiqc_report.html",
    }


def test_small_cohort_is_skipped_with_its_reason_everywhere(run):
    da, auc, within = run["da"], run["auc"], run["within"]
    counts = run["sheet"].groupby("cohort")["response"].value_counts().unstack(fill_value=0)
    assert counts.loc["C1"].tolist() == [2, 2] and sorted(counts.loc["C2"]) == [1, 3]
    c2 = da[da["cohort"] == "C2"]
    assert len(c2) == 1 and c2["note"].iloc[0].startswith("skipped: 1 R / 3 NR")
    assert (da.loc[da["cohort"] == "C1", "feature"].str.startswith("s__")).all()
    # the held-out cohort's AUCs carry a permutation reference (schema default: 100 for lasso)
    held = auc[auc["held_out"].isin(["C1", "mean", "pooled"]) & auc["auc"].notna()]
    assert (held["n_permutations"] == 100).all() and held["perm_p"].between(0, 1).all()
    skipped = auc[auc["held_out"] == "C2"]
    assert skipped["auc"].isna().all() and skipped["note"].str.contains("fewer than 2").all()
    assert within.set_index("cohort").loc["C2", "note"].startswith("skipped")


def test_tables_agree_with_each_other_and_the_inputs(run):
    da, meta, auc, pred, ab = run["da"], run["meta"], run["auc"], run["pred"], run["abundance"]
    c1 = da[da["cohort"] == "C1"]
    assert set(c1["feature"]) <= set(ab.columns)
    assert c1["q_value"].between(0, 1).all() and (c1["q_value"] >= c1["p_value"] - 1e-12).all()
    assert meta.empty  # one tested cohort: nothing to pool (min 2 cohorts)
    # the scikit-bio sensitivity methods ran on C1 (4 samples) or say why they could not
    for m in ("ancombc", "dirmult"):
        ran = c1[f"{m}_effect"].notna().all() and c1[f"{m}_q"].between(0, 1).all()
        assert ran or c1["note"].str.contains(f"{m} failed").all(), m
    classic = auc[~auc["model"].isin(["balance", "stack"])]  # the balance has its own rows
    assert set(classic["features"]) == {"species", "extra", "species+extra"}
    c1_ids = sorted(i for i in ab.index if run["sheet"].loc[i, "cohort"] == "C1")
    for (model, feats), p in pred.groupby(["model", "features"]):
        assert sorted(p["sample_id"]) == c1_ids and p["probability"].between(0, 1).all()
        row = auc[(auc["model"] == model) & (auc["features"] == feats) & (auc["held_out"] == "C1")]
        a = delong_auc(p["response"] == "R", p["probability"])[0]
        assert row["auc"].iloc[0] == pytest.approx(a)
        resp = run["sheet"].loc[p["sample_id"], "response"].to_numpy()
        assert (p["response"].to_numpy() == resp).all()
    assert set(run["surv"]["score"]) >= {"loco_probability", "guild_balance", "toposcore"}
    assert set(run["surv"]["endpoint"]) == {"PFS"}


def test_frozen_model_applies_to_the_profiles(run):
    fm = load_model(run["sig"] / "model.pkl")
    card = yaml.safe_load((run["sig"] / "model.yaml").read_text())
    assert card["training_cohorts"] == ["C1", "C2"] == fm.training_cohorts and card["n_train"] == 8
    assert fm.extra == ["guild_balance", "toposcore"]
    extra = pd.concat([pd.read_csv(run["sig"].parents[1] / "guilds" / PROFILER / "guild_scores.tsv",
                                   sep="\t", index_col="sample_id")[["guild_balance"]],
                       pd.read_csv(run["sig"] / "toposcore.tsv", sep="\t",
                                   index_col="sample_id")[["toposcore"]]], axis=1)  # fmt: skip
    p = apply_model(fm, run["abundance"], extra=extra)
    assert len(p) == 8 and np.isfinite(p).all()
    # the model rebuilds both extras itself from its stored guilds / TOPOSCORE lists, so a
    # patient scored alone gets the same probability as in the batch
    assert set(fm.extra_specs) == {"guild_balance", "toposcore"}, card
    assert card["extra_from_table"] == [] and "one patient at a time" in card["scoring"]
    alone = pd.concat([apply_model(fm, run["abundance"].loc[[s]]) for s in p.index])
    np.testing.assert_allclose(alone.to_numpy(), p.to_numpy(), rtol=0, atol=1e-12)


def test_report_has_the_signatures_sections(run):
    html = run["report"].read_text()
    for key in (
        "icibiome_signatures_meta",
        "icibiome_signatures_loco",
        "icibiome_signatures_roc",
        "icibiome_signatures_km",
        "icibiome_signatures_figure",
    ):
        assert key in html, key


def test_frozen_model_of_a_run_applies_to_a_table_without_retraining(run, basic_run, tmp_path):
    # the model of the basic run, as a model from an earlier run: rule apply_frozen_model gives
    # the same probabilities as apply_model, and the AUC table per cohort
    model = tmp_path / "earlier_model.pkl"
    model.write_bytes((run["sig"] / "model.pkl").read_bytes())
    overlay = tmp_path / "frozen.yaml"
    overlay.write_text(yaml.safe_dump({"signatures": {"frozen_model": str(model)}}))
    target = f"results/signatures/{PROFILER}/frozen_predictions.tsv"
    run_snakemake(
        basic_run,
        "--configfile",
        str(basic_run / "config" / "config.yaml"),
        str(overlay),
        "--",
        target,
    )
    got = pd.read_csv(basic_run / target, sep="\t", index_col="sample_id")
    fm = load_model(model)
    assert (fm.profiler, fm.rank) == (PROFILER, "species")
    extra = pd.concat([pd.read_csv(run["sig"].parents[1] / "guilds" / PROFILER / "guild_scores.tsv",
                                   sep="\t", index_col="sample_id")[["guild_balance"]],
                       pd.read_csv(run["sig"] / "toposcore.tsv", sep="\t",
                                   index_col="sample_id")[["toposcore"]]], axis=1)  # fmt: skip
    cohorts = run["sheet"].loc[run["abundance"].index, "cohort"]
    want = apply_model(fm, run["abundance"], cohorts, extra=extra)
    assert np.allclose(got.loc[want.index, "probability"], want, atol=1e-6)
    assert set(got["predicted"]) <= {"R", "NR"}
    auc = pd.read_csv(basic_run / f"results/signatures/{PROFILER}/frozen_auc.tsv", sep="\t")
    assert set(auc["cohort"]) == {"C1", "C2", "all"} and auc["auc"].between(0, 1).all()
    assert auc["perm_p"].between(0, 1).all() and (auc["n_permutations"] == 999).all()
    # a model from another profiler is refused with a message naming the model file
    fm.profiler = "kraken2"
    pr_save = tmp_path / "kraken2_model.pkl"
    save_model(fm, pr_save)
    overlay.write_text(yaml.safe_dump({"signatures": {"frozen_model": str(pr_save)}}))
    proc = run_snakemake(basic_run, "--configfile", str(basic_run / "config" / "config.yaml"), str(overlay), "--forcerun",
                         "apply_frozen_model", "--", target, check=False)  # fmt: skip
    assert proc.returncode != 0
    log = (basic_run / f"logs/apply_frozen_model/{PROFILER}.log").read_text()
    assert "kraken2_model.pkl" in log and "trained on profiler 'kraken2'" in log


def test_balance_model_runs_in_the_stage(run):
    """The nested balance (and its stack with the guild balance / TOPOSCORE) joins the LOCO
    table, with a row per cohort (held out or skipped with the reason), and the final balance
    is written as a marker list and a YAML (or an honest placeholder when it cannot be fitted)."""
    auc = run["auc"]
    bal = auc[auc["model"] == "balance"]
    assert set(bal["held_out"]) >= {"C1", "C2"}
    assert bal.loc[bal["auc"].isna(), "note"].str.len().gt(0).all()
    assert "stack" in set(auc["model"])  # extra features present: the stack is reported too
    for name in ("balance_markers.tsv", "balance_model.yaml"):
        assert (run["sig"] / name).stat().st_size > 0
