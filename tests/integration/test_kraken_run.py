"""Kraken2 + the Bracken method for real: the demo's Kraken2 database, its genomes and ART reads.

Runs the real ``kraken2`` binary (Debian 2.1.2) on a tiny :func:`icibiome.demo.make.make_demo` data set;
checks the rank-code fix on real reports, Bracken's re-estimation against the planted truth, the
zero-hit path, and the import of the written reports.
"""

import gzip
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from icibiome.demo.evaluate import profile_accuracy
from icibiome.taxonomy.bracken import (
    build_kmer_distribution,
    kraken_to_standard,
    read_kmer_distribution,
)
from icibiome.taxonomy.importers import read_profile
from icibiome.taxonomy.kraken import read_report, read_taxo_k2d
from icibiome.taxonomy.profiles import merge_profiles

pytestmark = pytest.mark.skipif(shutil.which("kraken2") is None, reason="kraken2 not installed")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from icibiome.demo.make import make_demo

    if shutil.which("art_illumina") is None:
        pytest.skip("art_illumina not installed")
    root = tmp_path_factory.mktemp("k2")
    demo = make_demo(root / "demo", seed=7, n_samples=3, pairs_per_sample=3000, threads=2)
    db = demo / "db" / "kraken2"
    work = root / "work"
    work.mkdir()
    kd = work / "database150mers.kmer_distrib"
    long = build_kmer_distribution(
        db,
        demo / "reference" / "genomes.fa",
        demo / "reference" / "taxonomy.tsv",
        read_len=150,
        out=kd,
        step=10,
        threads=2,
    )
    sheet = pd.read_csv(demo / "samples.tsv", sep="\t", keep_default_na=False)
    reports = {}
    for row in sheet.itertuples():
        rep = work / f"{row.sample_id}.k2report"
        reads = [str(demo / row.fq1)] + ([str(demo / row.fq2)] if row.fq2 else [])
        paired = ["--paired"] if row.fq2 else []
        subprocess.run(
            ["kraken2", "--db", str(db), "--threads", "2", *paired, "--report", str(rep)]
            + ["--output", "-", *reads],
            check=True,
            capture_output=True,
        )
        reports[row.sample_id] = rep
    return demo, db, work, kd, long, reports


def test_kmer_distribution_from_the_database_genomes(run):
    demo, db, work, kd, long, _ = run
    tax = pd.read_csv(demo / "reference" / "taxonomy.tsv", sep="\t")
    dist = read_kmer_distribution(kd)
    # every genome is in the distribution; most of its windows land on its own species
    own = {t: dist.get(t, {}).get(t, 0.0) for t in tax["taxid"]}
    assert len(own) == len(tax) and min(own.values()) > 0.5
    # each genome's fractions (over mapped taxa) sum to at most 1
    per_genome = long.groupby("genome_taxid")["windows_mapped"].sum()
    totals = long.groupby("genome_taxid")["windows_total"].first()
    assert (per_genome <= totals).all()
    # congeneric windows that Kraken2 stops at the genus are recorded at the genus taxid
    parent, rank, _ = read_taxo_k2d(db / "taxo.k2d")
    genus_rows = long[long["mapped_taxid"].map(rank) == "genus"]
    assert len(genus_rows) > 0
    assert (genus_rows["genome_taxid"].map(parent) == genus_rows["mapped_taxid"]).all()


def test_real_reports_get_rank_codes_and_bracken_beats_raw_kraken(run):
    demo, db, work, kd, _, reports = run
    first = next(iter(reports.values()))
    fixed = read_report(first, nodes=db)
    # kraken2 2.1.2 leaves some codes empty (tool-notes F1); the fix restores R/D/P
    assert any(ln.split("\t")[3] == "" for ln in first.read_text().splitlines())
    assert set(fixed.loc[fixed["taxid"].isin([1, 2]), "rank_code"]) == {"R", "D"}
    assert (fixed["rank_code"] != "").all()
    for s, rep in reports.items():
        kraken_to_standard(rep, work / "raw" / f"{s}.tsv", nodes=db)
        kraken_to_standard(
            rep,
            work / "br" / f"{s}.tsv",
            kmer_distr=kd,
            nodes=db,
            out_bracken=work / f"{s}.bracken",
            out_fixed_report=work / f"{s}.fixed.k2report",
        )
    ids = list(reports)
    for name in ("raw", "br"):
        merge_profiles(
            [work / name / f"{s}.tsv" for s in ids], ids, ["species"], work / f"t_{name}"
        )
    truth = demo / "truth" / "read_abundance_species.tsv"
    acc_raw = profile_accuracy(truth, work / "t_raw" / "abundance_species.tsv")
    acc_br = profile_accuracy(truth, work / "t_br" / "abundance_species.tsv")
    bc_raw, bc_br = acc_raw["bray_curtis"].mean(), acc_br["bray_curtis"].mean()
    assert bc_br < bc_raw  # re-estimation moves genus-stuck reads to the right species
    assert bc_br < 0.02
    assert acc_br["recall"].min() == 1.0 and acc_br["precision"].min() >= 0.9
    # the Bracken output and the fixed report import as profiles
    s = ids[0]
    b = read_profile(work / f"{s}.bracken")
    k = read_profile(work / f"{s}.fixed.k2report")
    assert detect_sum(b) and detect_sum(k)


def detect_sum(table):
    return np.isclose(table.iloc[:, 2:].sum().iloc[0], 100.0)


def test_zero_hit_sample_is_a_valid_profile(run, tmp_path):
    _, db, _, kd, _, _ = run
    rng = np.random.default_rng(1)
    fq = tmp_path / "nohit.fastq.gz"
    with gzip.open(fq, "wt") as fh:
        for i in range(200):
            seq = "".join(rng.choice(list("ACGT"), 150))
            fh.write(f"@r{i}\n{seq}\n+\n{'I' * 150}\n")
    rep = tmp_path / "nohit.k2report"
    subprocess.run(
        ["kraken2", "--db", str(db), "--report", str(rep), "--output", "-", str(fq)],
        check=True,
        capture_output=True,
    )
    prof = kraken_to_standard(rep, tmp_path / "nohit.tsv", kmer_distr=kd, nodes=db)
    assert prof.loc[prof["lineage"] == "UNCLASSIFIED", "estimated_reads"].iloc[0] >= 195
    merged = merge_profiles([tmp_path / "nohit.tsv"], ["Z"], ["species"], tmp_path / "m")
    assert merged["species"]["Z"].sum() == 0  # all-zero column, no crash
