"""Run provenance: config snapshot, sample-sheet checksum, versions and the command line."""

import hashlib
import shutil
import sys

import yaml

from icibiome.io import sha256_file
from icibiome.report.provenance import RUN_INFO_FILES, command_line, write_run_info


def test_sha256_matches_hashlib_on_a_multi_chunk_file(tmp_path):
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB chunk
    p = tmp_path / "blob"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


def test_command_line_is_normalised_and_not_a_tracked_param_type():
    ns = command_line(["/x/.venv/bin/snakemake", "--cores", "2", "--config", "a=b c"])
    assert ns.argv[0] == "snakemake"
    assert ns.text == "snakemake --cores 2 --config 'a=b c'"
    # Snakemake compares only params of builtin types between runs; the namespace must not be one
    assert not isinstance(ns, (str, bytes, list, tuple, dict, set, int, float))
    ns = command_line(["/venv/lib/python3.11/site-packages/snakemake/__main__.py", "-n"])
    assert ns.text == "snakemake -n"
    assert command_line().argv[1:] == sys.argv[1:]  # default: this process's own argv


def test_write_run_info_writes_snapshot_checksum_versions_and_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample_id\tfq1\nA\ta.fq\n")
    config = {"samples": "samples.tsv", "qc": {"fastp": {"min_length": 50}}, "ranks": ["species"]}
    info = write_run_info(
        tmp_path / "results" / "run_info",
        config,
        sheet,
        command_line(["snakemake", "--cores", "2"]),
        tools=["fastp", "no_such_tool_xyz"],
        packages=["pandas", "no-such-package-xyz"],
    )
    out = tmp_path / "results" / "run_info"
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_INFO_FILES)
    assert yaml.safe_load((out / "config.yaml").read_text()) == config
    assert (out / "samples.tsv").read_bytes() == sheet.read_bytes()
    on_disk = yaml.safe_load((out / "run_info.yaml").read_text())
    assert on_disk == info
    assert on_disk["sample_sheet"]["sha256"] == hashlib.sha256(sheet.read_bytes()).hexdigest()
    assert on_disk["command_line"] == "snakemake --cores 2"
    assert on_disk["python"] == sys.version.split()[0]
    import pandas

    assert on_disk["packages"] == {"pandas": pandas.__version__, "no-such-package-xyz": None}
    assert on_disk["tools"]["no_such_tool_xyz"] is None
    if shutil.which("fastp"):
        assert on_disk["tools"]["fastp"][0].isdigit()
    # the report's provenance table carries the same checksums and command line
    section = yaml.safe_load((out / "run_info_mqc.yaml").read_text())
    values = {k: v["value"] for k, v in section["data"].items()}
    assert values["Sample sheet (sha256)"] == on_disk["sample_sheet"]["sha256"]
    assert values["Command line"] == "snakemake --cores 2"
    cfg_sha = hashlib.sha256((out / "config.yaml").read_bytes()).hexdigest()
    assert values["Configuration (sha256 of results/run_info/config.yaml)"] == cfg_sha
    # no temporary files left behind
    assert not list(out.glob(".*"))


def test_config_with_mapping_subclasses_is_written_as_plain_yaml(tmp_path):
    class Cfg(dict):  # Snakemake hands configs over as dict subclasses
        pass

    sheet = tmp_path / "s.tsv"
    sheet.write_text("x\n")
    write_run_info(tmp_path / "ri", Cfg(a=Cfg(b=[1, 2]), p=tmp_path), sheet, "snakemake")
    snap = yaml.safe_load((tmp_path / "ri" / "config.yaml").read_text())
    assert snap == {"a": {"b": [1, 2]}, "p": str(tmp_path)}
