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

import pandas as pd
import pytest

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


@pytest.mark.slow
def test_import_mode_through_the_module(tmp_path, generic_import):
    wd = tmp_path / "outer"
    generic_import(wd, {"report": {"title": "outer workflow", "truth": None}}, "outer_config.yaml")
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
