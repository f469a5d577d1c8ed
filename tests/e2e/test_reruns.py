"""Reproducibility and fault tolerance on the demo, with the real tools.

* a one-parameter change re-runs only the jobs that depend on it (dry-run job list);
* a run killed mid-way (SIGKILL to Snakemake's whole process group while jobs run) resumes
  with ``--unlock`` + ``--rerun-incomplete`` and ends with the same result tables, byte for
  byte, as the uninterrupted session run (so results are also identical across two runs);
* ``results/run_info/`` holds the config snapshot, sample-sheet checksum, versions and command.

"Nothing to do on a second run" is tests/e2e/test_basic.py::test_second_run_has_nothing_to_do.
"""

import gzip
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, make_case, run_snakemake

pytestmark = pytest.mark.e2e

UPSTREAM = {
    "check_reads",
    "select_samples",
    "fastp_paired",
    "fastp_single",
    "bowtie2_remove_host_paired",
    "bowtie2_remove_host_single",
    "read_stats",
    "sample_gate",
}


def _planned_jobs(out: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    if "Nothing to be done" in out:
        return {}
    m = re.search(r"Job stats:\njob\s+count\n[-\s]+\n(.*?)\ntotal\s+\d+", out, re.S)
    assert m, out[-3000:]
    return {line.split()[0]: int(line.split()[1]) for line in m.group(1).splitlines()}


def _result_tables(results: Path) -> dict[str, str]:
    """sha256 of every result table (TSV) under ``results/`` and of the non-host reads; run_info,
    evaluation and logs excluded."""
    out = {}
    for p in sorted(results.rglob("*.tsv")):
        rel = p.relative_to(results).as_posix()
        # evaluation/ is written into the shared run by the demo-evaluation test, not the pipeline;
        # the profiler comparison holds each profiler's seconds per sample (wall time: varies)
        timed = ("taxonomy/profiler_comparison.tsv", "report/custom/profiler_comparison_mqc.tsv")
        if rel.startswith(("run_info/", "evaluation/")) or "_data/" in rel or rel in timed:
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    # the non-host reads too, in the same order (bowtie2 --reorder), whatever the threads
    for p in sorted(results.glob("qc/host/*.fastq.gz")):
        out[p.relative_to(results).as_posix()] = hashlib.sha256(
            gzip.decompress(p.read_bytes())
        ).hexdigest()
    return out


@pytest.fixture
def basic_copy(basic_run, tmp_path):
    """A copy of the finished basic run (results, metadata, mtimes) that a test may change."""
    wd = tmp_path / "copy"
    shutil.copytree(basic_run, wd, symlinks=True)
    return wd


def _set(cfg_path: Path, dotted: str, value) -> None:
    cfg = yaml.safe_load(cfg_path.read_text())
    node = cfg
    *parents, last = dotted.split(".")
    for k in parents:
        node = node.setdefault(k, {})
    node[last] = value
    cfg_path.write_text(yaml.safe_dump(cfg))


def test_copy_of_finished_run_has_nothing_to_do(basic_copy):
    # the copy itself is up to date (so the changes below are due to the parameter only)
    proc = run_snakemake(basic_copy, "--notemp", "-n")
    assert _planned_jobs(proc.stdout + proc.stderr) == {}


def test_profiler_parameter_reruns_profiles_and_downstream_only(basic_copy, demo_data):
    n = len([ln for ln in (demo_data / "samples.tsv").read_text().splitlines()[1:] if ln.strip()])
    _set(basic_copy / "config" / "config.yaml", "taxonomy.sylph.min_ani", 96)
    proc = run_snakemake(basic_copy, "--notemp", "-n")
    jobs = _planned_jobs(proc.stdout + proc.stderr)
    assert jobs.get("sylph_profile") == n, jobs
    assert {"merge_profiles", "multiqc_report"} <= set(jobs), jobs
    assert not UPSTREAM & set(jobs), f"upstream jobs re-run for a profiler parameter: {jobs}"
    # (`--list-changes params` is no help here: Snakemake 9.27 lists every output with params,
    # even on an up-to-date run; the dry-run job list is what a re-run would really do)


def test_report_parameter_reruns_only_the_report(basic_copy):
    _set(basic_copy / "config" / "config.yaml", "report.top_n_taxa", 5)
    proc = run_snakemake(basic_copy, "--notemp", "-n")
    jobs = set(_planned_jobs(proc.stdout + proc.stderr)) - {"all", "run_info"}
    assert jobs == {"report_custom_content", "multiqc_report"}, jobs


def _popen_snakemake(wd: Path, log: Path) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(wd),
        "--cores", "2",
    ]  # fmt: skip
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    with open(log, "wb") as fh:
        # own session = own process group: the kill reaches snakemake and every job it started
        return subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def test_killed_run_resumes_to_identical_results(basic_run, demo_data, tmp_path):
    wd = make_case(tmp_path, "basic", demo_data)
    log = tmp_path / "killed.log"
    proc = _popen_snakemake(wd, log)
    fastp = wd / "results" / "qc" / "fastp"
    deadline = time.monotonic() + 600
    try:
        # kill while per-sample jobs run: after the first fastp report, before the last profile
        while time.monotonic() < deadline and proc.poll() is None:
            if fastp.is_dir() and any(fastp.glob("*.fastp.json")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed:\n" + log.read_text()
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    assert not (wd / "results" / "report" / "multiqc_report.html").exists()
    # a killed run leaves its lock behind; a user removes it with --unlock, then re-runs
    run_snakemake(wd, "--unlock")
    dry = run_snakemake(wd, "-n")
    assert _planned_jobs(dry.stdout + dry.stderr), "nothing left to do after the kill?"
    resumed = run_snakemake(wd, "--rerun-incomplete")
    out = resumed.stdout + resumed.stderr
    # jobs finished before the kill are not repeated
    assert "check_reads" not in _planned_jobs(out), _planned_jobs(out)
    _assert_same_tables(wd / "results", basic_run / "results")
    again = run_snakemake(wd, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    assert not list((wd / "results").rglob("*.part")), "temporary files left behind"


def _assert_same_tables(results: Path, reference: Path) -> None:
    """Every result table byte-identical to the reference run's."""
    a, b = _result_tables(results), _result_tables(reference)
    assert sorted(a) == sorted(b)
    differ = sorted(k for k in a if a[k] != b[k])
    assert not differ, f"result tables not byte-identical between runs: {differ}"


def test_run_info_records_config_sheet_versions_and_command(basic_run, demo_data):
    ri = basic_run / "results" / "run_info"
    info = yaml.safe_load((ri / "run_info.yaml").read_text())
    sheet = demo_data / "samples.tsv"
    assert info["sample_sheet"]["sha256"] == hashlib.sha256(sheet.read_bytes()).hexdigest()
    assert (ri / "samples.tsv").read_bytes() == sheet.read_bytes()
    cfg = yaml.safe_load((ri / "config.yaml").read_text())
    assert cfg["on_bad_sample"] == "stop" and cfg["taxonomy"]["sylph"]["min_ani"] == 95
    assert info["command_line"].startswith("snakemake ") and "--directory" in info["command_line"]
    assert info["tools"]["fastp"] and info["packages"]["snakemake"]
