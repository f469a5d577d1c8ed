"""The networks stage as the pipeline runs it: the demo config's settings through the rules'
argument mapping, on pipeline-like tables of a 60-sample demo, scored by icibiome.demo.evaluate.

The library's own guild-recovery tests (tests/unit/test_guilds.py) use hand-picked parameters
and pseudo-counts; this one checks that the shipped ``networks:``/``guilds:`` config (schema
defaults filled in), passed the way rules/networks.smk passes it, recovers the planted guilds
from read counts at the depth ``make demo`` simulates (8,000 pairs per sample), and that
``icibiome.demo.evaluate.guild_recovery`` measures it.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from icibiome.demo.evaluate import guild_recovery
from icibiome.ecology import guilds as gd
from icibiome.ecology import network as nw
from icibiome.io import read_standard_table, write_standard_table

ROOT = Path(__file__).resolve().parents[2]
PAIRS = 8000  # reads per sample of `make demo` (Makefile DEMO_PAIRS)

# Threshold ARI >= 0.7 (as tests/unit/test_guilds.py). Measured with the demo config (SparCC,
# prevalence 0.5, p < 0.01, |r| >= 0.3, 1,000 permutations, min module 3): the pipeline on the
# real `make demo` reads (60 x 8,000, seed 1, sylph) gave ARI 0.867; these read-count tables
# gave 1.0, 1.0 | 1.0, 1.0 | 0.86, 0.73 | 1.0, 1.0 over demo seeds 1-4 x read draws 1-2 (1.0 for
# the draw used here). A swapped orientation, a lost guild or a merged pair falls far below.
ARI_MIN = 0.7


def _config() -> dict:
    from snakemake.utils import update_config, validate

    # as `make demo`: the template (config/config.yaml), then config/config_demo.yaml over it
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((ROOT / "config" / "config_demo.yaml").read_text()))
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))  # fills defaults
    return cfg


def _pipeline_tables(truth: Path, out: Path, seed: int) -> tuple[Path, Path]:
    """Standard abundance and counts tables as a profiler gives them: reads drawn per sample."""
    read = read_standard_table(truth / "read_abundance_species.tsv")
    frac = read.drop(columns="lineage")
    frac = frac / frac.sum()
    rng = np.random.default_rng(seed)
    counts = pd.DataFrame(
        {s: rng.multinomial(PAIRS, frac[s].to_numpy()) for s in frac.columns}, index=frac.index
    ).astype(float)
    paths = []
    for name, tab in (("counts", counts), ("abundance", 100 * counts / counts.sum())):
        t = tab.reset_index()
        t.insert(1, "lineage", read["lineage"].to_numpy())
        paths.append(out / f"{name}_species.tsv")
        write_standard_table(t, paths[-1])
    return paths[1], paths[0]


@pytest.fixture(scope="module")
def demo60(tmp_path_factory):
    from icibiome.demo.make import make_demo

    out = tmp_path_factory.mktemp("demo60") / "demo"
    make_demo(out, seed=1, n_samples=60, pairs_per_sample=100, threads=1, databases=False)
    return out


def test_demo_config_recovers_planted_guilds(demo60, tmp_path):
    cfg = _config()
    assert cfg["networks"]["activate"], "the demo config runs the networks stage"
    abundance, counts = _pipeline_tables(demo60 / "truth", tmp_path, seed=1)
    # exactly the mapping of rules/networks.smk (every other key is a build_network argument)
    settings = {
        k: v for k, v in cfg["networks"].items() if k not in ("activate", "profiler", "rank")
    }
    net = nw.build_network(abundance, counts, demo60 / "samples.tsv", tmp_path / "networks",
                           threads=1, **settings)  # fmt: skip
    g = cfg["guilds"]
    paths = gd.build_guilds(
        net["edges"].parent, abundance, demo60 / "samples.tsv", tmp_path / "guilds",
        method=g["method"], min_cluster_size=g["min_module_size"], deep_split=g["deep_split"],
        component=g["component"], annotation_tsv=g["annotation"], functions_tsv=g["functions"],
        seed=g["seed"], label="test, species",
    )  # fmt: skip
    table, summary = guild_recovery(demo60 / "truth" / "guilds.tsv", paths["guilds"],
                                    demo60 / "truth" / "samples.tsv", paths["guild_scores"])  # fmt: skip
    assert summary["guild_ari"] >= ARI_MIN, (summary, table)
    assert table["same_label"].all(), table  # foundation found as foundation, not swapped
    assert (table["recall"] >= 0.8).all() and (table["precision"] >= 0.6).all(), table
    assert summary["guild_balance_rho"] > 0.8, summary
    for name in ("guilds_membership_mqc", "guilds_scores_mqc", "guilds_network_mqc"):
        assert paths[name].stat().st_size > 0
    assert "plot_type: box" in paths["guilds_scores_mqc"].read_text()


def test_guild_recovery_scores_a_perfect_and_a_swapped_call(tmp_path):
    truth = pd.DataFrame({"clade_name": list("abcdefg"),
                          "guild": ["foundation"] * 3 + ["pathobiont"] * 2 + ["none"] * 2})  # fmt: skip
    truth.to_csv(tmp_path / "truth.tsv", sep="\t", index=False)
    found = truth.assign(guild=["foundation"] * 3 + ["pathobiont"] * 2 + ["unassigned", "filtered"])
    found.to_csv(tmp_path / "found.tsv", sep="\t", index=False)
    table, s = guild_recovery(tmp_path / "truth.tsv", tmp_path / "found.tsv")
    assert s["guild_ari"] == pytest.approx(1.0)
    assert table["same_label"].all() and (table["precision"] == 1).all()
    swapped = found.assign(guild=["pathobiont"] * 3 + ["foundation"] * 2 + ["module_3"] * 2)
    swapped.to_csv(tmp_path / "swapped.tsv", sep="\t", index=False)
    table, s = guild_recovery(tmp_path / "truth.tsv", tmp_path / "swapped.tsv")
    assert s["guild_ari"] == pytest.approx(1.0)  # same partition ...
    assert not table["same_label"].any()  # ... but oriented the wrong way round
    assert list(table["found"]) == ["pathobiont", "foundation"]
