"""MetaPhlAn 4 for real on a tiny MetaPhlAn-format database built from the demo genomes."""

import bz2
import gzip
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icibiome.demo.evaluate import profile_accuracy
from icibiome.taxonomy.import_formats import detect_format
from icibiome.taxonomy.importers import read_profile
from icibiome.taxonomy.metaphlan import (
    build_tiny_db,
    metaphlan_to_standard,
    read_metaphlan_profile,
    run_metaphlan,
)
from icibiome.taxonomy.profiles import merge_profiles

INDEX = "mpa_vTiny_CHOCOPhlAnSGB_000"


def _metaphlan_available() -> bool:
    import sys

    return bool(shutil.which("metaphlan") or (Path(sys.executable).parent / "metaphlan").exists())


pytestmark = pytest.mark.skipif(
    not (_metaphlan_available() and shutil.which("bowtie2")),
    reason="metaphlan (pip metaphlan==4.2.5) or bowtie2 not installed",
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from icibiome.demo.make import make_demo

    if shutil.which("art_illumina") is None:
        pytest.skip("art_illumina not installed")
    root = tmp_path_factory.mktemp("mpa")
    demo = make_demo(root / "demo", seed=5, n_samples=2, pairs_per_sample=6000, threads=2)
    db = root / "db"
    build_tiny_db(
        demo / "reference" / "genomes.fa",
        demo / "reference" / "taxonomy.tsv",
        db,
        index_name=INDEX,
        markers_per_genome=10,
        marker_len=900,
        seed=1,
        threads=2,
    )
    return demo, db, root


def test_tiny_db_has_metaphlan_layout(tiny):
    demo, db, _ = tiny
    assert len(list(db.glob(f"{INDEX}*.bt2l"))) >= 6
    with bz2.BZ2File(db / f"{INDEX}.pkl") as fh:
        pkl = pickle.load(fh)
    tax = pd.read_csv(demo / "reference" / "taxonomy.tsv", sep="\t")
    assert len(pkl["taxonomy"]) == len(tax)
    assert all(k.split("|")[-1].startswith("t__SGB") for k in pkl["taxonomy"])
    assert all("SGB" in m and "/" not in m for m in pkl["markers"])
    assert len(pkl["markers"]) == 10 * len(tax)
    assert set(pkl) == {"taxonomy", "markers", "merged_taxon"}


def test_metaphlan_profiles_demo_reads(tiny):
    demo, db, root = tiny
    sheet = pd.read_csv(demo / "samples.tsv", sep="\t", keep_default_na=False)
    paths = []
    for row in sheet.itertuples():
        reads = [demo / row.fq1] + ([demo / row.fq2] if row.fq2 else [])
        out = run_metaphlan(
            reads, db, INDEX, root / f"{row.sample_id}.mpa.txt", threads=2, sample_id=row.sample_id
        )
        parsed = read_metaphlan_profile(out)
        assert parsed.attrs["database"] == INDEX and parsed.attrs["sample_id"] == row.sample_id
        assert detect_format(out) == "metaphlan"
        metaphlan_to_standard(out, root / "prof" / f"{row.sample_id}.tsv")
        paths.append(root / "prof" / f"{row.sample_id}.tsv")
        # the single-sample output imports too (import mode)
        np.testing.assert_allclose(read_profile(out).iloc[:, 2].sum(), 100.0)
    ids = list(sheet["sample_id"])
    merge_profiles(paths, ids, ["species", "genus"], root / "tab")
    acc = profile_accuracy(
        demo / "truth" / "abundance_species.tsv", root / "tab" / "abundance_species.tsv"
    )
    # marker-based: detects only species with enough marker reads, but no false positives
    assert acc["precision"].min() == 1.0
    assert acc["recall"].mean() >= 0.6
    assert acc["bray_curtis"].mean() < 0.25


def test_metaphlan_zero_hit_sample(tiny, tmp_path):
    _, db, _ = tiny
    rng = np.random.default_rng(2)
    fq = tmp_path / "nohit.fastq.gz"
    with gzip.open(fq, "wt") as fh:
        for i in range(300):
            fh.write(f"@r{i}\n{''.join(rng.choice(list('ACGT'), 150))}\n+\n{'I' * 150}\n")
    out = run_metaphlan([fq], db, INDEX, tmp_path / "nohit.mpa.txt", threads=1)
    prof = metaphlan_to_standard(out, tmp_path / "nohit.tsv")
    assert list(prof["lineage"]) == ["UNCLASSIFIED"]
    assert prof["estimated_reads"].iloc[0] == 300
