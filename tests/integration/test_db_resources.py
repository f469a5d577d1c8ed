"""The database rules ask for memory from their databases' files (icibiome.resources.db_mem_mb).

A dry run on a working directory with sparse stand-in databases of human size (nothing is read or
written but their sizes): Snakemake's own `input.size_mb` would see the Kraken2 folder as ~0 MB.
"""

import gzip
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)


def _sparse_syldb(path: Path, size: int) -> None:
    """A sparse .syldb of ``size`` bytes that passes the layout walk: one genome whose k-mer
    list fills the file (icibiome.databases.check_syldb)."""
    n_kmers, rest = divmod(size - (8 + 8 + 1 + 8 + 8 + 32), 8)  # the file name takes the rest
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<QQ", 1, n_kmers))
        fh.seek(8 * n_kmers, 1)
        fh.write(b"\x00" + struct.pack("<Q", rest) + b"g" * rest + struct.pack("<Q", 0))
        fh.write(struct.pack("<4Q", 200, 31, 1, 30))
    assert path.stat().st_size == size


def _sparse_k2(db: Path, size: int) -> None:
    """A sparse Kraken2 database whose hash.k2d header agrees with its size."""
    capacity, rest = divmod(size - 32, 4)
    assert rest == 0
    db.mkdir(parents=True, exist_ok=True)
    with open(db / "hash.k2d", "wb") as fh:
        fh.write(struct.pack("<4Q", capacity, 0, 15, 17))
        fh.truncate(size)
    (db / "taxo.k2d").write_bytes(b"K2TAXDAT")
    (db / "opts.k2d").write_bytes(b"\x00" * 8)


def test_dry_run_memory_from_database_files(tmp_path):
    wd = tmp_path / "wd"
    for ext in (".1.bt2", ".2.bt2", ".3.bt2", ".4.bt2", ".rev.1.bt2", ".rev.2.bt2"):
        _sparse(wd / "db" / "host" / f"host{ext}", 500_000_000)  # 3,000 MB index
    _sparse(wd / "db" / "host" / "host.fa", 3_100_000_000)  # not loaded: not counted
    # the databases are checked for truncation before any job: headers that fit the sizes
    _sparse_syldb(wd / "db" / "sylph.syldb", 13_000_000_000)
    (wd / "db" / "taxonomy.tsv").write_text("genome_id\tlineage\ng1\tk__Bacteria\n")
    _sparse_k2(wd / "db" / "k2", 16_000_000_000 - 16)  # + 8-byte taxo.k2d and opts.k2d
    _sparse(wd / "db" / "k2" / "library" / "library.fna", 50_000_000_000)  # not loaded
    rows = ["sample_id\tsubject_id\tcohort\ttimepoint\tassay\tfq1\tfq2\tresponse"]
    for s in ("C1_A", "C1_B"):
        for mate in (1, 2):
            with gzip.open(wd / f"{s}_R{mate}.fastq.gz", "wt") as fh:
                fh.write(f"@r1/{mate}\nACGTACGTAC\n+\nIIIIIIIIII\n")
        rows.append(f"{s}\t{s}\tC1\tbaseline\tshotgun\t{s}_R1.fastq.gz\t{s}_R2.fastq.gz\tR")
    (wd / "samples.tsv").write_text("\n".join(rows) + "\n")
    cfg = {
        "samples": "samples.tsv",
        "host_removal": {"bowtie2_index": "db/host/host"},
        "taxonomy": {
            "profilers": ["sylph", "kraken2"],
            "sylph": {"database": "db/sylph.syldb", "taxonomy": "db/taxonomy.tsv"},
            "kraken2": {"database": "db/k2", "library": "", "library_taxonomy": ""},
        },
        "diversity": {"activate": False},
        "networks": {"activate": False},
        "toposcore": {"activate": False},
        "signatures": {"activate": False},
        "function_panel": {"activate": False},
        "report": {"truth": None},
    }
    (wd / "config").mkdir()
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    targets = ["results/taxonomy/kraken2/reports/C1_A.k2report"]
    targets += ["results/taxonomy/sylph/profiles/C1_A.tsv"]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(wd), "--cores", "1", "-n", *targets]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mem = {}
    for block in re.split(r"^(?=rule \w+:$)", proc.stdout, flags=re.M):
        m = re.match(r"rule (\w+):$(?:.|\n)*?^\s+resources: .*?mem_mb=(\d+)", block, re.M)
        if m:
            mem[m.group(1)] = m.group(2)
    # 1.2 x 3,000 MB + 1,000; 1.1 x 16,000 MB (the *.k2d files) + 1,000; 1.3 x 13,000 MB + 1,000
    assert mem == {
        "bowtie2_remove_host_paired": "4600",
        "kraken2_classify": "18600",
        "sylph_profile": "17900",
    }, proc.stdout[-3000:]
