"""End-to-end: the 16S amplicon path of the pipeline on synthetic amplicons of the demo samples.

The session demo's 16S-like loci and true abundances give 2x250 MiSeq-like V4 pairs (primers,
ART MSv1 errors, ~3 % PCR chimeras; :func:`icibiome.demo.amplicon.simulate_amplicons`) for its 8
samples; the case tests/e2e/amplicon runs the whole pipeline on them with the vsearch denoiser
(16S-only sheet: no shotgun rule runs) and, when R dada2 is installed, the ASV part again with
DADA2. Thresholds are measured values with a margin (seed 7, 8 samples x 2,000 pairs):
vsearch recall 1.0 in every sample, at most 1.3 % of reads on a spurious ASV (a chimera),
ASV Bray-Curtis <= 0.022, genus Bray-Curtis <= 0.016, 94-97 % of pairs in the ASV table;
DADA2 recall 0.35-1.0 (mean 0.72), ASV Bray-Curtis <= 0.064, ~50 % of pairs in the ASV table.
"""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import E2E_SAMPLES, make_case, run_snakemake

from icibiome.amplicon.dada2 import dada2_available
from icibiome.amplicon.sequences import read_fasta
from icibiome.amplicon.tables import TRACKING_COLUMNS, read_asv_table, read_biom
from icibiome.demo.amplicon import evaluate_asvs, simulate_amplicons
from icibiome.io import read_abundance, read_standard_table
from icibiome.taxonomy.profiles import bray_curtis

pytestmark = [
    pytest.mark.skipif(shutil.which("vsearch") is None, reason="vsearch not installed"),
    pytest.mark.skipif(shutil.which("cutadapt") is None, reason="cutadapt not installed"),
]
PAIRS = 2000


@pytest.fixture(scope="module")
def amplicons(demo_data, tmp_path_factory):
    """16S reads of the demo samples, a 16S sheet, the SINTAX reference and the truth."""
    return simulate_amplicons(
        demo_data / "reference" / "16s.fa",
        demo_data / "truth" / "abundance_species.tsv",
        None,
        tmp_path_factory.mktemp("amplicon") / "data",
        reads_per_sample=PAIRS,
        seed=7,
        sample_sheet=demo_data / "samples.tsv",
        threads=2,
    )


@pytest.fixture(scope="module")
def run(amplicons, tmp_path_factory):
    wd = make_case(tmp_path_factory.mktemp("e2e"), "amplicon", amplicons)
    run_snakemake(wd)
    return {"wd": wd, "res": wd / "results", "truth": amplicons / "truth"}


def _monotone(tracking, columns):
    steps = tracking[list(columns)].dropna(axis=1, how="all")
    return bool((steps.diff(axis=1).iloc[:, 1:].fillna(0) <= 0).all().all())


def test_asvs_match_the_truth(run):
    amp = run["res"] / "amplicon"
    ev = evaluate_asvs(amp / "asvs.fa", amp / "asv_table.tsv", run["truth"])
    assert len(ev) == E2E_SAMPLES
    assert ev["recall"].min() >= 0.9  # measured 1.0
    assert ev["spurious_percent"].max() < 3.0  # measured <= 1.3
    assert ev["bray_curtis"].max() < 0.05  # measured <= 0.022
    for rank, limit in (("genus", 0.04), ("phylum", 0.03)):  # measured 0.016, 0.010
        obs = read_abundance(run["res"] / "taxonomy" / "amplicon" / f"abundance_{rank}.tsv")
        tru = read_abundance(run["truth"] / f"amplicon_abundance_{rank}.tsv")
        bc = [bray_curtis(obs.loc[s], tru.loc[s]) for s in obs.index]
        assert max(bc) < limit, (rank, bc)


def test_read_tracking_is_monotone_and_complete(run):
    t = pd.read_csv(run["res"] / "amplicon" / "read_tracking.tsv", sep="\t", index_col=0)
    assert list(t.columns) == list(TRACKING_COLUMNS) and len(t) == E2E_SAMPLES
    assert (t["input"] == PAIRS).all()
    assert t["denoised"].isna().all()  # vsearch denoises unique sequences, not reads
    assert t.drop(columns="denoised").notna().all().all()
    assert _monotone(t, TRACKING_COLUMNS)
    assert (t["primer_trimmed"] / t["input"]).min() > 0.98  # measured 0.995
    assert (t["non_chimeric"] / t["input"]).min() > 0.9  # measured 0.94
    assert (t["assigned"] / t["non_chimeric"]).min() > 0.98  # measured 1.0 (genus)
    # the ASV table's column sums are the non-chimeric reads
    tab = read_asv_table(run["res"] / "amplicon" / "asv_table.tsv")
    np.testing.assert_array_equal(tab.sum()[t.index].to_numpy(), t["non_chimeric"].to_numpy())


def test_standard_tables_biom_and_downstream_stages(run):
    res = run["res"]
    tab = read_asv_table(res / "amplicon" / "asv_table.tsv")
    pd.testing.assert_frame_equal(read_biom(res / "amplicon" / "asv_table.biom"), tab)
    assert list(read_fasta(res / "amplicon" / "asvs.fa")) == list(tab.index)
    for rank in ("species", "genus", "family", "phylum"):
        a = read_abundance(res / "taxonomy" / "amplicon" / f"abundance_{rank}.tsv")
        np.testing.assert_allclose(a.sum(axis=1), 100.0)
        c = read_standard_table(res / "taxonomy" / "amplicon" / f"counts_{rank}.tsv")
        np.testing.assert_allclose(c.drop(columns="lineage").sum().to_numpy(), tab.sum())
    # the later stages read profiler 'amplicon' like any profiler
    for rel in (
        "diversity/amplicon/permanova.tsv",
        "networks/amplicon/edges.tsv",
        "guilds/amplicon/guild_scores.tsv",
        "signatures/amplicon/toposcore.tsv",
    ):
        assert (res / rel).stat().st_size > 0, rel
    # a 16S-only sheet runs no shotgun rule
    assert not (res / "qc").exists() and not (res / "taxonomy" / "sylph").exists()


def test_report_has_cutadapt_and_read_tracking(run):
    rep = run["res"] / "report"
    data = rep / "multiqc_report_data"
    cut = pd.read_csv(data / "multiqc_cutadapt.txt", sep="\t", index_col=0)
    tracking = pd.read_csv(run["res"] / "amplicon" / "read_tracking.tsv", sep="\t", index_col=0)
    assert sorted(cut.index) == sorted(tracking.index)  # named after the samples
    assert (cut["r_processed"] == PAIRS).all()  # pairs
    np.testing.assert_array_equal(cut.loc[tracking.index, "r_written"], tracking["primer_trimmed"])
    mq = pd.read_csv(data / "multiqc_amplicon_read_tracking.txt", sep="\t", index_col=0)
    np.testing.assert_array_equal(mq.loc[tracking.index, "merged"], tracking["merged"])
    html = (rep / "multiqc_report.html").read_text()
    assert "Cutadapt" in html and "16S read tracking" in html
    assert "icibiome_composition_amplicon_genus" in html
    assert not (data / "multiqc_fastp.txt").exists()
    versions = pd.read_csv(data / "multiqc_software_versions.txt", sep="\t", index_col=0)
    assert versions.loc["vsearch", "vsearch"].startswith("2.")
    assert "fastp" not in versions.index  # no shotgun tool ran


@pytest.mark.slow
def test_dada2_denoiser(amplicons, tmp_path):
    """The same reads with DADA2 (ASV part only: the later stages are those of the vsearch run)."""
    ok, why = dada2_available()
    if not ok:
        pytest.skip(why)
    wd = make_case(tmp_path, "amplicon", amplicons)
    cfg = wd / "config" / "config.yaml"
    cfg.write_text(cfg.read_text().replace("denoiser: vsearch", "denoiser: dada2"))
    run_snakemake(wd, "results/amplicon/read_tracking.tsv", "results/amplicon/asv_table.biom")
    amp = wd / "results" / "amplicon"
    ev = evaluate_asvs(amp / "asvs.fa", amp / "asv_table.tsv", amplicons / "truth")
    assert ev["recall"].mean() >= 0.6  # measured 0.72 (DADA2 drops the rarest at ~1,000 pairs)
    assert ev["spurious_percent"].max() < 5.0  # measured <= 1.4
    assert ev["bray_curtis"].max() < 0.1  # measured <= 0.064
    t = pd.read_csv(amp / "read_tracking.tsv", sep="\t", index_col=0)
    # DADA2 order: filtered -> denoised -> merged -> non-chimeric
    order = ["input", "primer_trimmed", "filtered", "denoised", "merged", "non_chimeric"]
    assert t[order].notna().all().all() and _monotone(t, order)
    assert (t["non_chimeric"] / t["input"]).min() > 0.3  # measured 0.48
    assert "dada2 1." in (wd / "logs" / "amplicon_dada2" / "dada2_R.log").read_text()


def test_mixed_sheet_plans_both_paths_and_mismatch_stops(demo_data, amplicons, tmp_path):
    """A sheet with shotgun and 16S samples: each assay goes to its own profilers (dry run)."""
    import yaml

    shot = pd.read_csv(demo_data / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    amp = pd.read_csv(amplicons / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    amp["sample_id"] = "A16S_" + amp["sample_id"]
    for df, base in ((shot, demo_data), (amp, amplicons)):
        for col in ("fq1", "fq2"):
            df[col] = [str(base / p) if p else "" for p in df[col]]
    wd = tmp_path / "mixed"
    (wd / "config").mkdir(parents=True)
    pd.concat([shot, amp]).to_csv(wd / "mixed.tsv", sep="\t", index=False)
    cfg = {
        "samples": "mixed.tsv",
        "host_removal": {"bowtie2_index": str(demo_data / "db" / "host" / "host")},
        "taxonomy": {
            "profilers": ["sylph", "amplicon"],
            "sylph": {
                "database": str(demo_data / "db" / "sylph" / "demo.syldb"),
                "taxonomy": str(demo_data / "db" / "sylph" / "taxonomy.tsv"),
            },
        },
        "amplicon": {"sintax": {"reference": str(amplicons / "reference" / "sintax.fa")}},
    }
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = run_snakemake(wd, "-n").stdout
    jobs = dict(  # the dry run's job-count table: "<rule> <count>"
        line.split() for line in out.splitlines() if re.fullmatch(r"\w+\s+\d+", line.strip())
    )
    n = str(len(amp))
    assert jobs.get("amplicon_cutadapt") == n and jobs.get("amplicon_merge_filter") == n
    assert jobs.get("check_reads") == str(len(shot))
    # 16S samples without the amplicon profiler: stopped before any job, with the reason
    cfg["taxonomy"]["profilers"] = ["sylph"]
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    bad = run_snakemake(wd, "-n", check=False)
    assert bad.returncode != 0 and "no 'amplicon'" in bad.stdout + bad.stderr
