"""Profiler ``metaphlan`` in the pipeline: MetaPhlAn 4 for real (tiny database from the demo
genomes) on demo reads, through QC into the standard tables, checked against the demo truth."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from icibiome.demo.evaluate import profile_accuracy

ROOT = Path(__file__).resolve().parents[2]
INDEX = "mpa_vTiny_CHOCOPhlAnSGB_000"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ((Path(sys.executable).parent / "metaphlan").exists() or shutil.which("metaphlan"))
        or not all(shutil.which(t) for t in ("bowtie2", "fastp", "art_illumina")),
        reason="metaphlan (pip metaphlan==4.2.5), bowtie2, fastp or art_illumina not installed",
    ),
]


def test_metaphlan_profiler_in_pipeline(tmp_path):
    from icibiome.demo.make import make_demo
    from icibiome.taxonomy.metaphlan import build_tiny_db

    demo = make_demo(
        tmp_path / "demo", seed=5, n_samples=3, pairs_per_sample=4000, threads=2, databases=False
    )
    build_tiny_db(
        demo / "reference" / "genomes.fa",
        demo / "reference" / "taxonomy.tsv",
        tmp_path / "mpa",
        index_name=INDEX,
        markers_per_genome=10,
        marker_len=900,
        seed=1,
        threads=2,
    )
    wd = tmp_path / "wd"
    (wd / "config").mkdir(parents=True)
    cfg = {
        "samples": str(demo / "samples.tsv"),
        "host_removal": {"activate": False},
        "taxonomy": {
            "profilers": ["metaphlan"],
            "ranks": ["species", "genus"],
            "metaphlan": {"db_dir": str(tmp_path / "mpa"), "index": INDEX},
        },
        "diversity": {"activate": False},
    }
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/taxonomy/metaphlan/abundance_species.tsv"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    proc = subprocess.run(
        [*cmd, "--directory", str(wd), "--cores", "2", target],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    ids = list(pd.read_csv(demo / "samples.tsv", sep="\t")["sample_id"])
    for s in ids:  # the raw MetaPhlAn output is kept beside the standard profile
        raw = (wd / f"results/taxonomy/metaphlan/reports/{s}.mpa.txt").read_text()
        assert f"#{INDEX}" in raw.splitlines()[0] + raw
    counts = pd.read_csv(wd / "results/taxonomy/metaphlan/counts_species.tsv", sep="\t")
    assert (counts[ids].sum() > 0).all()
    acc = profile_accuracy(demo / "truth" / "abundance_species.tsv", wd / target)
    # the same thresholds as tests/integration/test_metaphlan_run.py (marker-based profiler)
    assert acc["precision"].min() == 1.0
    assert acc["recall"].mean() >= 0.6
    assert acc["bray_curtis"].mean() < 0.25
