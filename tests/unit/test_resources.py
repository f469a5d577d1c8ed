"""Memory from database sizes (icibiome.resources), on fake databases of known size.

Sparse files give real apparent sizes (GB) without using disk.
"""

from pathlib import Path

import pytest

from icibiome.resources import db_mem_mb, db_size_mb


def _sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


@pytest.fixture
def kraken_db(tmp_path):
    """A Kraken2 Standard-16-like folder: 16 GB hash, small opts/taxo, plus a 40 GB build library."""
    db = tmp_path / "k2_standard_16gb"
    _sparse(db / "hash.k2d", 16_000_000_000)
    _sparse(db / "opts.k2d", 64)
    _sparse(db / "taxo.k2d", 3_999_936)
    _sparse(db / "library" / "bacteria" / "library.fna", 40_000_000_000)
    _sparse(db / "seqid2taxid.map", 1_000_000)
    return db


def test_folder_counts_its_files_not_the_entry(kraken_db):
    # the folder entry itself is ~4 kB (what Snakemake's input.size_mb would count)
    assert kraken_db.stat().st_size < 100_000
    assert db_size_mb(kraken_db) == pytest.approx(16_000 + 4 + 40_000 + 1, abs=1e-3)
    assert db_size_mb(kraken_db, ["*.k2d"]) == pytest.approx(16_004, abs=1e-3)


def test_kraken2_memory_from_hash(kraken_db):
    # 1.1 x 16,004 MB + 1,000 = 18,604.4 -> 18,605; doubled on each retry
    assert db_mem_mb(kraken_db, 1.1, 1000, patterns=["*.k2d"]) == 18_605
    assert db_mem_mb(kraken_db, 1.1, 1000, attempt=2, patterns=["*.k2d"]) == 37_210
    assert db_mem_mb(kraken_db, 1.1, 1000, attempt=3, patterns=["*.k2d"]) == 74_420


def test_bowtie2_prefix_counts_index_files_only(tmp_path):
    host = tmp_path / "host"
    sizes = {
        ".1.bt2": 1_000_000_000,
        ".2.bt2": 700_000_000,
        ".3.bt2": 20_000,
        ".4.bt2": 700_000_000,
    }
    sizes |= {".rev.1.bt2": 1_000_000_000, ".rev.2.bt2": 700_000_000}
    for ext, size in sizes.items():
        _sparse(host / f"GRCh38{ext}", size)
    _sparse(host / "GRCh38.fa", 3_100_000_000)  # the FASTA beside the index is not loaded
    _sparse(host / "other.1.bt2", 5_000_000_000)  # another index in the same folder
    prefix = host / "GRCh38"
    assert db_size_mb(prefix, ["*.bt2", "*.bt2l"]) == pytest.approx(4_100.02)
    assert db_mem_mb(prefix, 1.2, 1000, patterns=["*.bt2", "*.bt2l"]) == 5_921


def test_metaphlan_large_index_and_several_paths(tmp_path):
    mpa = tmp_path / "metaphlan"
    _sparse(mpa / "mpa_vJun23.1.bt2l", 2_000_000_000)
    _sparse(mpa / "mpa_vJun23.rev.1.bt2l", 2_000_000_000)
    _sparse(mpa / "mpa_vJun23.pkl", 50_000_000)
    _sparse(mpa / "mpa_vJun23.tar", 3_000_000_000)  # the downloaded archive, not loaded
    assert db_size_mb(mpa / "mpa_vJun23", ["*.bt2", "*.bt2l"]) == 4_000
    # several databases (HUMAnN: ChocoPhlAn + UniRef), a missing or empty one counts 0
    uniref = _sparse(tmp_path / "uniref" / "uniref90.dmnd", 20_000_000_000).parent
    assert db_size_mb([mpa, uniref, "", tmp_path / "absent"]) == pytest.approx(27_050)
    assert db_mem_mb([uniref, ""], 0.25, 6000) == 11_000
    # the same file reached twice is counted once
    assert db_size_mb([uniref, uniref / "uniref90.dmnd"]) == 20_000


def test_missing_database_gives_base_and_bad_arguments_fail(tmp_path):
    assert db_mem_mb(tmp_path / "absent", 1.3, 1000) == 1000
    with pytest.raises(ValueError, match="attempt"):
        db_mem_mb(tmp_path, 1.0, 1000, attempt=0)
    with pytest.raises(ValueError, match="factor"):
        db_mem_mb(tmp_path, -1.0, 1000)
