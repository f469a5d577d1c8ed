"""Ground truth for the signatures stage: the 60-sample demo plants a responder signal through the
guild balance (icibiome.demo.make.plant_ecology: foundation members rise, pathobiont members fall with
z, and P(R) = logistic(2 z)).

Measured on the planted cell abundances (truth/abundance_species.tsv), covariates age, sex,
antibiotics, demo seeds 1-5 (seed 1 is used here):

* meta-analysis sign of the 11 guild members (6 foundation +, 5 pathobiont -): 11/11 every seed;
* AUC of |pooled t| for guild member vs not: 0.846, 0.972, 0.755, 1.000, 0.881;
* LOCO mean AUC (2 cohorts), L1-logistic: 0.751, 0.897, 0.784, 0.822, 0.631;
  random forest: 0.841, 0.882, 0.827, 0.866, 0.738;
* labels permuted within cohorts, L1-logistic, 3 permutations per seed: 0.42-0.61 (mean 0.50).

The stage as the pipeline runs it (shipped config, schema defaults, the rule's argument mapping)
on read-count tables like a profiler's (8,000 reads per sample, seed 1): LOCO mean AUC 0.691
(L1-logistic), 0.798 (random forest), 0.859 with the planted balance alone; guild-member signs
still 11/11.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_networks_pipeline import _pipeline_tables

from icibiome.io import read_abundance
from icibiome.signatures import differential as da
from icibiome.signatures import meta as mt
from icibiome.signatures import predict as pr
from icibiome.signatures.stage import OUTPUTS, run_signatures

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo60(tmp_path_factory):
    from icibiome.demo.make import make_demo

    out = tmp_path_factory.mktemp("demo60") / "demo"
    make_demo(out, seed=1, n_samples=60, pairs_per_sample=100, threads=1, databases=False)
    return out


def _truth(demo):
    ab = read_abundance(demo / "truth" / "abundance_species.tsv")
    info = pd.read_csv(demo / "truth" / "samples.tsv", sep="\t", index_col="sample_id")
    guild = pd.read_csv(demo / "truth" / "guilds.tsv", sep="\t").set_index("clade_name")["guild"]
    return ab, info, guild


def test_meta_analysis_recovers_the_planted_guild_members_with_their_sign(demo60):
    ab, info, guild = _truth(demo60)
    res = da.differential_abundance(ab, info, covariates=["age", "sex", "antibiotics"])
    assert set(res["cohort"]) == {"C1", "C2"} and res["covariates"].iloc[0] == "age,sex,antibiotics"
    meta = mt.meta_analysis(res)
    expected = meta["feature"].map(guild).map({"foundation": 1, "pathobiont": -1, "none": 0})
    member = expected != 0
    assert member.sum() == 11
    assert (np.sign(meta.loc[member, "effect"]) == expected[member]).all()  # measured 11/11
    # 2 cohorts: the default interval is HKSJ (t on 1 df), whose SE rests on two effects and
    # ranks the members poorly (AUC 0.573); the ranking is checked on the Wald SE (0.846)
    assert (meta["ci_method"] == "hksj").all()
    wald = mt.meta_analysis(res, ci="wald").set_index("feature").loc[meta["feature"]]
    t = (wald["effect"] / wald["se"]).abs().to_numpy()
    assert pr.delong_auc(member.to_numpy(), t)[0] >= 0.75  # measured 0.846


@pytest.mark.parametrize("model,floor", [("lasso", 0.65), ("rf", 0.7)])  # measured 0.751, 0.841
def test_loco_on_the_demo_beats_chance(demo60, model, floor):
    ab, info, _ = _truth(demo60)
    tab, pred = pr.loco(ab, info, model=model, seed=1)
    mean = tab.set_index("held_out").loc["mean", "auc"]
    assert mean >= floor, tab
    assert len(pred) == 60 and pred["probability"].between(0, 1).all()


def _settings() -> dict:
    from snakemake.utils import update_config, validate

    # as `make demo`: the template (config/config.yaml), then config/config_demo.yaml over it
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((ROOT / "config" / "config_demo.yaml").read_text()))
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    # the keys rule signatures does not pass to run_signatures, read from the rule itself
    rule = (ROOT / "rules" / "signatures.smk").read_text()
    block = re.search(r'config\["signatures"\]\.items\(\)\)\s*if k\s*not in \((.*?)\)', rule, re.S)
    drop = re.findall(r'"(\w+)"', block.group(1))
    assert "activate" in drop and "use_guilds" in drop
    return {k: v for k, v in cfg["signatures"].items() if k not in drop}  # as the rule


def test_stage_with_the_shipped_config_on_pipeline_tables(demo60, tmp_path):
    abundance, _ = _pipeline_tables(demo60 / "truth", tmp_path, seed=1)
    truth = pd.read_csv(demo60 / "truth" / "samples.tsv", sep="\t", index_col="sample_id")
    scores = tmp_path / "guild_scores.tsv"
    truth[["guild_balance"]].rename_axis("sample_id").to_csv(scores, sep="\t")
    settings = _settings()
    assert settings["permutations"] == {"balance": 100, "lasso": 20, "rf": 5, "within_lasso": 20,
                                        "within_rf": 5}  # config_demo.yaml  # fmt: skip
    # fewer CV repeats and permutations: test time
    settings |= {
        "within_repeats": 1,
        "permutations": {"balance": 3, "lasso": 3, "rf": 1, "within_lasso": 3, "within_rf": 1},
    }
    assert settings["classifiers"] == ["lasso", "rf"] and settings["min_per_class"] == 5
    paths = run_signatures(abundance, demo60 / "samples.tsv", tmp_path / "out",
                           extra_tsvs={"guilds": scores, "toposcore": None},
                           label="sylph, species", **settings)  # fmt: skip
    for key in OUTPUTS:
        assert paths[key].exists() and paths[key].stat().st_size > 0, key
    auc = pd.read_csv(paths["loco_auc"], sep="\t")
    # the balance needs markers agreeing in >= 2 training cohorts: with the demo's 2 cohorts
    # its folds are empty and say so (not counted in any mean)
    bal = auc[auc["model"].isin(["balance", "stack"]) & auc["held_out"].isin(["C1", "C2"])]
    assert bal["auc"].isna().all() and bal["note"].str.contains("only 1 has enough").all()
    auc = auc[~auc["model"].isin(["balance", "stack"])]
    assert set(auc["features"]) == {"species", "extra", "species+extra"}
    means = auc[auc["held_out"] == "mean"].set_index(["model", "features"])
    # every AUC row has its permutation reference (n as configured per model)
    assert (means["n_permutations"] == [3, 3, 3, 1, 1, 1]).all(), means
    assert means["perm_p"].between(0, 1).all() and means["null_sd"].notna().all()
    assert means["note"].str.contains("permutation p = ").all()
    loco_mqc = paths["signatures_loco_mqc.tsv"].read_text()
    assert "perm_p" in loco_mqc and "null_mean" in loco_mqc
    # the within-cohort CV with its permutation reference, in the table and the report
    within = pd.read_csv(paths["within"], sep="\t").set_index(["model", "cohort"])
    assert within["n_permutations"].tolist() == [3, 3, 1, 1], within
    assert within["perm_p"].between(0, 1).all() and within["null_mean"].notna().all()
    within_mqc = paths["signatures_within_mqc.tsv"].read_text()
    assert "null_mean" in within_mqc and "not against 0.5" in within_mqc
    mean = means["auc"]
    assert mean[("lasso", "species")] >= 0.62  # measured 0.691
    assert mean[("rf", "species")] >= 0.7  # measured 0.798
    assert mean[("lasso", "extra")] >= 0.75  # the planted balance itself: measured 0.859
    surv = pd.read_csv(paths["survival"], sep="\t").set_index("score")
    assert (
        surv.loc["guild_balance", "hr_per_sd"] < 1 and surv.loc["guild_balance", "p_value"] < 0.01
    )
    fm = pr.load_model(paths["model"])
    assert fm.training_cohorts == ["C1", "C2"] and fm.extra == ["guild_balance"]
    mqc = yaml.safe_load(paths["signatures_roc_mqc.yaml"].read_text())
    assert mqc["plot_type"] == "linegraph" and set(mqc["data"]) == {"C1", "C2"}
    head = paths["signatures_meta_mqc.tsv"].read_text().splitlines()[0]
    assert head.startswith("# id: icibiome_signatures_meta")
