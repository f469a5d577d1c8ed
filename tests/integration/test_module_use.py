"""icibiome used as a Snakemake module from another workflow (the workflow catalog's usage).

A tiny outer Snakefile in a temporary folder imports this checkout's Snakefile by path::

    module icibiome:
        snakefile: "<checkout>/Snakefile"
        config: config
    use rule * from icibiome as icibiome_*

and runs import mode end to end on a small generic counts table (12 samples, 2 cohorts): the
standard tables, diversity and the MultiQC report, with the outer workflow's own config file.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

OUTER = """\
configfile: "outer_config.yaml"


module icibiome:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from icibiome as icibiome_*


rule all:
    default_target: True
    input:
        rules.icibiome_all.input,
"""


def _data(wd: Path) -> None:
    rng = np.random.default_rng(1)
    taxa = [
        f"k__Bacteria|p__P{i % 3}|c__C{i % 3}|o__O{i % 4}|f__F{i % 5}|g__G{i % 6}|s__G{i % 6}_sp{i}"
        for i in range(15)
    ]
    samples = [f"S{j:02d}" for j in range(12)]
    counts = rng.poisson(rng.gamma(1.0, 200, size=(15, 12))) + 1
    data = wd / "data"
    data.mkdir(parents=True)
    table = pd.DataFrame(counts, index=pd.Index(taxa, name="taxon"), columns=samples)
    table.to_csv(data / "counts.tsv", sep="\t")
    sheet = pd.DataFrame(
        {
            "sample_id": samples,
            "subject_id": samples,
            "cohort": ["C1"] * 6 + ["C2"] * 6,
            "timepoint": "baseline",
            "response": ["R", "NR"] * 6,
        }
    )
    sheet.to_csv(data / "samples.tsv", sep="\t", index=False)
    cfg = {
        "samples": "data/samples.tsv",
        "import": {"activate": True, "profiles": ["data/counts.tsv"], "format": "generic"},
        "networks": {"activate": False},
        "toposcore": {"activate": False},
        "signatures": {"activate": False},
        "function_panel": {"activate": False},
        "report": {"title": "outer workflow", "truth": None},
    }
    (wd / "outer_config.yaml").write_text(yaml.safe_dump(cfg))


@pytest.mark.slow
def test_import_mode_through_the_module(tmp_path):
    wd = tmp_path / "outer"
    _data(wd)
    # no config/ folder here: the module must find its schema, library and MultiQC config itself
    (wd / "Snakefile").write_text(OUTER.format(snakefile=ROOT / "Snakefile"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(wd), "--cores", "2"]
    cmd += ["--snakefile", str(wd / "Snakefile")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    # the module's rules ran under their prefixed names
    for rule in ("icibiome_import_profiles", "icibiome_run_diversity", "icibiome_multiqc_report"):
        assert f"rule {rule}:" in proc.stderr, rule
    got = pd.read_csv(wd / "results/taxonomy/imported/counts_species.tsv", sep="\t")
    table = pd.read_csv(wd / "data/counts.tsv", sep="\t", index_col=0)
    assert got.drop(columns=["clade_name", "lineage"]).sum().to_dict() == table.sum().to_dict()
    assert pd.read_csv(wd / "results/diversity/imported/alpha.tsv", sep="\t").shape[0] == 12
    html = (wd / "results/report/multiqc_report.html").read_text()
    assert "outer workflow" in html and "Imported profiles" in html
    # the module's own MultiQC settings (config/multiqc_config.yaml of this checkout) were used
    assert "Made by the icibiome Snakemake pipeline" in html
    assert not (wd / "config").exists()
