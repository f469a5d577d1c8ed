"""The shipped example configs run for real, as the README gives them, on a small demo.

``make demo-16s`` (config/config_demo.yaml then config/config_16s.yaml) and the import example
(config/config_demo.yaml then config/config_import.yaml) once stopped at once because they
inherited the shotgun demo's ``networks.profiler: kraken2``. Here both run to the report on an
8-sample demo (300 read pairs and 300 16S pairs per sample; about 30 s each on 2 cores), in the
Makefile's layout: a working directory holding ``demo/`` and a link to the shipped ``config/``.
"""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, run_snakemake

STACKS = {
    "16s": ["config/config_demo.yaml", "config/config_16s.yaml"],
    "import": ["config/config_demo.yaml", "config/config_import.yaml"],
}


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    missing = [t for t in ("bowtie2-build", "kraken2-build", "art_illumina", "vsearch", "cutadapt")
               if shutil.which(t) is None]  # fmt: skip
    if missing:
        pytest.skip(f"tools not installed: {', '.join(missing)} (run `make setup`)")
    from icibiome.demo.make import make_demo

    out = tmp_path_factory.mktemp("shipped") / "demo"
    make_demo(out, seed=7, n_samples=8, pairs_per_sample=300, threads=2, amplicon_pairs=300)
    return out


def _run(tmp_path: Path, demo: Path, stack: str) -> Path:
    wd = tmp_path / stack
    wd.mkdir()
    (wd / "demo").symlink_to(demo, target_is_directory=True)
    (wd / "config").symlink_to(ROOT / "config", target_is_directory=True)
    run_snakemake(wd, "--configfile", *STACKS[stack], timeout=900)
    report = wd / "results" / "report" / "multiqc_report.html"
    assert report.stat().st_size > 100_000
    return wd


def _stages_ran(res: Path, profiler: str, n: int) -> None:
    ab = pd.read_csv(res / "taxonomy" / profiler / "abundance_species.tsv", sep="\t")
    assert ab.shape[1] - 2 == n  # clade_name, lineage + one column per sample
    assert (res / "networks" / profiler / "edges.tsv").exists()
    assert (res / "guilds" / profiler / "guilds.tsv").exists()
    scores = pd.read_csv(res / "signatures" / profiler / "toposcore.tsv", sep="\t")
    assert len(scores) == n
    assert (res / "signatures" / profiler / "loco_auc.tsv").exists()
    figures = {f.name for f in (res / "figures").glob("*.svg")}
    assert {f"signatures_{profiler}.svg", f"network_{profiler}.svg",
            f"toposcore_{profiler}.svg", f"pcoa_{profiler}.svg"} <= figures  # fmt: skip


def test_16s_demo_config_runs(small_demo, tmp_path):
    wd = _run(tmp_path, small_demo, "16s")
    res = wd / "results"
    _stages_ran(res, "amplicon", 8)
    assert (res / "amplicon" / "asv_table.tsv").exists()
    assert not (res / "qc" / "fastp").exists()  # no shotgun rule ran
    assert "icibiome 16S demo" in (res / "report" / "multiqc_report.html").read_text()


def test_import_example_config_runs(small_demo, tmp_path):
    wd = _run(tmp_path, small_demo, "import")
    res = wd / "results"
    _stages_ran(res, "imported", 8)
    assert not (res / "qc").exists()  # no read rule ran
    assert "icibiome import-mode demo" in (res / "report" / "multiqc_report.html").read_text()
