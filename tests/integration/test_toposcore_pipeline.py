"""The TOPOSCORE stage as the pipeline runs it: the shipped ``toposcore:`` config (schema defaults
filled in) through the rule's argument mapping, on pipeline-like tables of a 60-sample demo.

The planted guilds of the demo truth serve as lists, once as user-given SIG files (one name per
line: pathobiont = SIG1, foundation = SIG2) and once through a guild table, as the pipeline does
without SIG files. The score must separate the planted responders. Measured AUC of the score vs
the truth response at 8,000 reads per sample, demo seeds 1-5: 0.797, 0.858, 0.774, 0.898, 0.804
(the planted guild balance itself: 0.872, 0.920, 0.790, 0.891, 0.792). On the planted *cell*
abundances, with no detection limit, every guild member is present almost everywhere and the
AUC is 0.45-0.59: a presence/absence score needs the detection limit of real profiles (docs/methods.md §1).
"""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_networks_pipeline import _pipeline_tables

from icibiome.signatures import toposcore as tp
from icibiome.signatures import toposcore_stage as ts

ROOT = Path(__file__).resolve().parents[2]


def _settings() -> dict:
    from snakemake.utils import update_config, validate

    # as `make demo`: the template (config/config.yaml), then config/config_demo.yaml over it
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((ROOT / "config" / "config_demo.yaml").read_text()))
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    # exactly the mapping of rules/toposcore.smk
    return {k: v for k, v in cfg["toposcore"].items() if k not in ("activate", "profiler", "rank")}


@pytest.fixture(scope="module")
def demo60(tmp_path_factory):
    from icibiome.demo.make import make_demo

    out = tmp_path_factory.mktemp("demo60") / "demo"
    make_demo(out, seed=1, n_samples=60, pairs_per_sample=100, threads=1, databases=False)
    return out


def test_user_lists_and_guild_lists_score_the_planted_responders(demo60, tmp_path):
    abundance, _ = _pipeline_tables(demo60 / "truth", tmp_path, seed=1)
    guilds = pd.read_csv(demo60 / "truth" / "guilds.tsv", sep="\t")
    settings = _settings()
    assert settings["sig1"] is None and settings["sig2"] is None  # the demo uses its guilds
    for k, guild in (("sig1", "pathobiont"), ("sig2", "foundation")):
        p = tmp_path / f"{k}.txt"
        p.write_text("taxon\n" + "\n".join(guilds.loc[guilds["guild"] == guild, "clade_name"]))
        settings[k] = str(p)
    user = ts.run_toposcore(abundance, tmp_path / "user", samples_tsv=demo60 / "samples.tsv",
                            label="test, species", **settings)  # fmt: skip
    settings.update(sig1=None, sig2=None)
    from_guilds = ts.run_toposcore(abundance, tmp_path / "guilds", samples_tsv=demo60 / "samples.tsv",
                                   guilds_tsv=demo60 / "truth" / "guilds.tsv", **settings)  # fmt: skip
    a = pd.read_csv(user["scores"], sep="\t", index_col="sample_id")
    b = pd.read_csv(from_guilds["scores"], sep="\t", index_col="sample_id")
    pd.testing.assert_frame_equal(a, b)
    truth = pd.read_csv(demo60 / "truth" / "samples.tsv", sep="\t", index_col="sample_id")
    assert sorted(a.index) == sorted(truth.index)
    auc = tp.auc(a["toposcore"], truth.loc[a.index, "response"])
    assert auc >= 0.7, auc  # measured 0.797
    assert a["toposcore"].corr(truth.loc[a.index, "guild_balance"], method="spearman") > 0.6
    mqc = yaml.safe_load(user["toposcore_scores_mqc"].read_text())
    assert mqc["plot_type"] == "box" and f"{auc:.3f}" in mqc["description"]
    assert user["toposcore_table_mqc"].read_text().startswith("# id: icibiome_toposcore_table")
    members = pd.read_csv(user["members"], sep="\t")
    assert members["in_profile"].all()


def test_guild_table_without_a_pair_gives_nan_scores_and_a_report_note(demo60, tmp_path):
    abundance, _ = _pipeline_tables(demo60 / "truth", tmp_path, seed=1)
    g = tmp_path / "guilds.tsv"
    pd.DataFrame({"clade_name": ["s__x"], "lineage": ["s__x"], "guild": ["unassigned"]}).to_csv(
        g, sep="\t", index=False
    )
    paths = ts.run_toposcore(abundance, tmp_path / "out", guilds_tsv=g, **_settings())
    sc = pd.read_csv(paths["scores"], sep="\t", index_col="sample_id")
    assert len(sc) == 60 and sc["toposcore"].isna().all()
    assert "No TOPOSCORE" in paths["toposcore_scores_mqc"].read_text()
