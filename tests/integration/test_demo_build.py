"""The demo's three databases are built and usable with the real tools (bowtie2, Kraken2, sylph).

A small demo (24 genomes, 3 samples x 4000 fragments) is made once for the module; the tests are
skipped with a reason where a tool is missing.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icibiome.demo.make import make_demo
from icibiome.io import read_abundance

TOOLS = ("art_illumina", "bowtie2", "bowtie2-build", "bowtie2-inspect", "kraken2", "kraken2-build")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"tools not installed: {', '.join(missing)} (run `make setup`)")
    pytest.importorskip("pysylph")
    out = tmp_path_factory.mktemp("demo") / "demo"
    return make_demo(out, seed=11, n_samples=3, pairs_per_sample=4000, threads=2)


def _head_fastq(path: Path, n: int) -> list[tuple[str, str, str]]:
    recs = []
    with gzip.open(path, "rt") as fh:
        while len(recs) < n:
            block = [fh.readline().rstrip("\n") for _ in range(4)]
            if not block[0]:
                break
            recs.append((block[0][1:], block[1], block[3]))
    return recs


def _write_fastq(path: Path, recs) -> None:
    path.write_text("".join(f"@{n}\n{s}\n+\n{q}\n" for n, s, q in recs))


def test_bowtie2_index_holds_the_host_and_maps_host_reads(demo, tmp_path):
    prefix = demo / "db" / "host" / "host"
    proc = subprocess.run(
        ["bowtie2-inspect", "-s", str(prefix)], capture_output=True, text=True, check=True
    )
    seqs = {
        f[1]: int(f[2])
        for f in (ln.split("\t") for ln in proc.stdout.splitlines())
        if f[0].startswith("Sequence-")
    }
    assert seqs == {"HOST_chr1": 150_000, "HOST_chr2": 150_000}
    sheet = pd.read_csv(demo / "samples.tsv", sep="\t", keep_default_na=False)
    recs = _head_fastq(demo / sheet["fq1"].iloc[0], 1000)
    fq = tmp_path / "r.fq"
    _write_fastq(fq, recs)
    sam = subprocess.run(
        ["bowtie2", "-x", str(prefix), "-U", str(fq), "--no-hd", "-p", "2", "--seed", "1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [ln.split("\t") for ln in sam.splitlines()]
    host = [int(r[1]) & 4 == 0 for r in rows if r[0].startswith("HOST_")]
    micro = [int(r[1]) & 4 == 0 for r in rows if not r[0].startswith("HOST_")]
    assert len(host) > 30
    assert np.mean(host) > 0.95  # host reads align (adapter/low-quality ones too, locally or not)
    assert np.mean(micro) < 0.01  # microbial reads do not


def test_kraken2_classifies_reads_to_the_right_species(demo, tmp_path):
    db = demo / "db" / "kraken2"
    tax = pd.read_csv(demo / "reference" / "taxonomy.tsv", sep="\t")
    taxid = dict(zip(tax["genome_id"], tax["taxid"], strict=True))
    sheet = pd.read_csv(demo / "samples.tsv", sep="\t", keep_default_na=False)
    paired = sheet[sheet["fq2"] != ""].iloc[0]
    r1 = _head_fastq(demo / paired["fq1"], 2000)
    r2 = _head_fastq(demo / paired["fq2"], 2000)
    f1, f2 = tmp_path / "r1.fq", tmp_path / "r2.fq"
    _write_fastq(f1, r1)
    _write_fastq(f2, r2)
    out = tmp_path / "k2.out"
    subprocess.run(
        ["kraken2", "--db", str(db), "--paired", "--threads", "2", "--output", str(out),
         "--report", str(tmp_path / "k2.report"), str(f1), str(f2)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    k = pd.read_csv(out, sep="\t", header=None, usecols=[1, 2], names=["read", "taxid"])
    k["origin"] = k["read"].str.split("-").str[0]
    micro = k[~k["origin"].str.startswith("HOST_")]
    host = k[k["origin"].str.startswith("HOST_")]
    correct = micro["taxid"] == micro["origin"].map(taxid)
    species_level = micro["taxid"].isin(set(taxid.values()))
    assert len(micro) > 1000
    assert correct.mean() > 0.75, correct.mean()  # the rest stops at genus or above (shared k-mers)
    assert correct[species_level].mean() > 0.97  # species calls are almost always right
    assert (~species_level & (micro["taxid"] != 0)).any()  # congeneric sharing is real
    assert (host["taxid"] == 0).mean() > 0.95  # the host is not in the database
    nodes = (db / "taxonomy" / "nodes.dmp").read_text()
    assert all(f"{t}\t|\t" in nodes for t in taxid.values())
    assert (db / "opts.k2d").stat().st_size == 64


def test_sylph_profile_matches_truth(demo):
    import pysylph

    params = json.loads((demo / "db" / "sylph" / "params.json").read_text())
    assert params["k"] == 31 and params["min_ani_suggested"] == 95
    db = pysylph.Database.load(str(demo / "db" / "sylph" / "demo.syldb"))
    assert {g.name for g in db} == set(
        pd.read_csv(demo / "db" / "sylph" / "taxonomy.tsv", sep="\t")["genome_id"]
    )
    assert db[0].c == params["c"] and db[0].k == params["k"]
    lineage = pd.read_csv(demo / "db" / "sylph" / "taxonomy.tsv", sep="\t").set_index("genome_id")
    truth = read_abundance(demo / "truth" / "abundance_species.tsv")
    sheet = pd.read_csv(demo / "samples.tsv", sep="\t", keep_default_na=False)
    sketcher = pysylph.Sketcher(c=params["c"], k=params["k"])
    for row in sheet.itertuples():

        def seqs(p):
            with gzip.open(demo / p, "rt") as fh:
                return [ln.rstrip() for i, ln in enumerate(fh) if i % 4 == 1]

        if row.fq2:
            sk = sketcher.sketch_paired(row.sample_id, seqs(row.fq1), seqs(row.fq2))
        else:
            sk = sketcher.sketch_single(row.sample_id, seqs(row.fq1))
        hits = pysylph.Profiler(db, minimum_ani=params["min_ani_suggested"]).profile(sk)
        prof = pd.Series(
            {
                lineage.at[h.genome_sketch.name, "lineage"].split("|")[-1]: h.taxonomic_abundance
                for h in hits
            }
        )
        t = truth.loc[row.sample_id]
        p = prof.reindex(t.index, fill_value=0.0)
        assert set(prof.index) <= set(t.index)
        bc = float(np.abs(t - p).sum() / (t.sum() + p.sum()))
        assert bc < 0.3, (row.sample_id, bc)
