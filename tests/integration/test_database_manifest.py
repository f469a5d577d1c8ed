"""The database manifest in the pipeline: checked at workflow start, recorded in run_info.

A tiny working directory with stand-in database files (the check reads paths, checksums and tool
versions, not the contents) and a two-sample sheet; ``snakemake -n`` shows the check runs before
any job, and rule run_info (the only job run) records the result.
"""

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from icibiome.databases import sha256_path

ROOT = Path(__file__).resolve().parents[2]
HEADER = "tool\tname\tversion\tpath\tsha256\tcompatible_tool_versions\n"


@pytest.fixture
def workdir(tmp_path):
    wd = tmp_path / "wd"
    (wd / "db" / "host").mkdir(parents=True)
    # the smallest complete .syldb: one genome sketch without k-mers (icibiome.databases)
    (wd / "db" / "sylph.syldb").write_bytes(
        struct.pack("<QQB", 1, 0, 0) + struct.pack("<2Q", 0, 0) + struct.pack("<4Q", 200, 31, 1, 30)
    )
    (wd / "db" / "taxonomy.tsv").write_text("genome_id\tlineage\ng1\tk__Bacteria\n")
    for i in range(1, 5):
        (wd / "db" / "host" / f"host.{i}.bt2").write_bytes(b"index part %d" % i)
    rows = ["sample_id\tsubject_id\tcohort\ttimepoint\tassay\tfq1\tfq2\tresponse"]
    for s in ("C1_A", "C1_B"):
        for mate in (1, 2):
            with gzip.open(wd / f"{s}_R{mate}.fastq.gz", "wt") as fh:
                fh.write(f"@r1/{mate}\nACGTACGTAC\n+\nIIIIIIIIII\n")
        rows.append(f"{s}\t{s}\tC1\tbaseline\tshotgun\t{s}_R1.fastq.gz\t{s}_R2.fastq.gz\tR")
    (wd / "samples.tsv").write_text("\n".join(rows) + "\n")
    return wd


def _config(wd: Path, manifest: str) -> None:
    cfg = {
        "samples": "samples.tsv",
        "databases": {"manifest": manifest},
        "host_removal": {"bowtie2_index": "db/host/host"},
        "taxonomy": {
            "profilers": ["sylph"],
            "sylph": {"database": "db/sylph.syldb", "taxonomy": "db/taxonomy.tsv"},
        },
        "diversity": {"activate": False},
    }
    (wd / "config").mkdir(exist_ok=True)
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))


def _manifest(wd: Path, sylph_sha=None, sylph_versions=">=0.1", host_path="db/host") -> str:
    sha = sylph_sha if sylph_sha is not None else sha256_path(wd / "db" / "sylph.syldb")
    lines = [
        f"sylph\tsylph_db\tr220-test\tdb/sylph.syldb\t{sha}\t{sylph_versions}",
        f"bowtie2\thost_db\tT2T-test\t{host_path}\t\t*",
        # a tool this run does not use: not checked (its path does not exist)
        "kraken2\tk2_db\tstd\tdb/absent_kraken2\t\t*",
    ]
    (wd / "databases.tsv").write_text(HEADER + "\n".join(lines) + "\n")
    return "databases.tsv"


def _snakemake(wd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(wd), "--cores", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_manifest_checked_and_recorded(workdir):
    _config(workdir, _manifest(workdir))
    proc = _snakemake(workdir, "results/run_info/run_info.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = pd.read_csv(workdir / "results/run_info/databases.tsv", sep="\t", dtype=str)
    assert list(got["name"]) == ["sylph_db", "host_db"]  # kraken2 is not used by this run
    status = dict(zip(got["name"], got["status"], strict=True))
    assert status == {"sylph_db": "ok", "host_db": "unverified"}
    assert got["sha256_observed"].str.fullmatch(r"[0-9a-f]{64}").all()
    mqc = yaml.safe_load((workdir / "results/run_info/run_info_mqc.yaml").read_text())
    row = mqc["data"]["Database sylph_db"]["value"]
    assert "version r220-test" in row and row.endswith("; ok")
    info = yaml.safe_load((workdir / "results/run_info/run_info.yaml").read_text())
    assert [d["name"] for d in info["databases"]] == ["sylph_db", "host_db"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"sylph_sha": "0" * 64}, "database 'sylph_db' (sylph): sha256 mismatch"),
        ({"host_path": "db/no_such_host"}, "database 'host_db' (bowtie2): path"),
        ({"sylph_versions": "<0.1"}, "database 'sylph_db' (sylph): sylph 0."),
    ],
    ids=["checksum", "missing", "version"],
)
def test_manifest_problem_stops_before_any_job(workdir, kwargs, expected):
    _config(workdir, _manifest(workdir, **kwargs))
    proc = _snakemake(workdir, "-n")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert expected in out, out[-3000:]
    assert "Job stats" not in out  # no DAG was built: the check ran first


def test_the_check_is_of_the_database_the_config_names(workdir):
    # before: the manifest's own path was hashed; a run reading another (modified) database
    # reported 'status ok' in its provenance
    other = workdir / "db" / "sylph_modified.syldb"
    original = (workdir / "db" / "sylph.syldb").read_bytes()
    other.write_bytes(original[:-8] + struct.pack("<Q", 29))  # a complete, modified database
    _config(workdir, _manifest(workdir))
    cfg = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    cfg["taxonomy"]["sylph"]["database"] = "db/sylph_modified.syldb"
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(workdir, "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "key 'taxonomy.sylph.database': the run reads " in out, out[-3000:]
    assert (
        str(other) in out and "not the manifest's sylph database (sylph_db: db/sylph.syldb)" in out
    )
    assert "Traceback" not in out and "Job stats" not in out


def test_only_the_manifest_row_the_config_names_is_checked(workdir):
    from icibiome.databases import verify_databases

    _config(workdir, _manifest(workdir))
    manifest = pd.read_csv(workdir / "databases.tsv", sep="\t", dtype=str, keep_default_na=False)
    extra = manifest.iloc[[0]].assign(name="sylph_old", path="db/old.syldb", sha256="")
    both = pd.concat([manifest, extra], ignore_index=True)
    cfg = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    res = verify_databases(
        both, tools=["sylph", "bowtie2"], base_dir=workdir, config=cfg,
        tool_versions={"sylph": "0.1.0", "bowtie2": "2.5.0"},
    )  # fmt: skip
    # db/old.syldb does not exist but the run does not read it: not checked
    assert list(res["name"]) == ["sylph_db", "host_db"]
    assert list(res["status"]) == ["ok", "unverified"]
