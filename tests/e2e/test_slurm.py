"""The demo through ``snakemake --profile profiles/slurm`` on a one-node SLURM cluster.

The cluster (munged, slurmctld, slurmd) is started by this module under a temp dir and stopped
when the module ends, whatever happens (tests/e2e/slurm_cluster.py). SLURM and munge are
apt-get installed only as root with ``CI`` or ``ICIBIOME_SLURM_INSTALL=1`` set, and removed
again at the end, so the rest of the suite does not pay the ~10 s per snakemake call that SLURM's
client tools cost without a controller (tool-notes §F6); otherwise the module is skipped with the
reason. Every snakemake call runs under ``timeout -k 30 600`` (§F7).

The profile is used as a site would: a copy with only the lines marked ``EDIT ME`` changed
(partition, account, queue size), plus a shorter first status check to keep the test short.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_case
from slurm_cluster import SlurmCluster, ensure_slurm_installed, uninstall

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"


def test_profile_marks_site_settings_and_scales_resources():
    """The profile is valid YAML, marks what a site edits, retries, and scales with input size."""
    text = PROFILE.read_text()
    prof = yaml.safe_load(text)
    assert prof["executor"] == "slurm"
    assert prof["slurm-status-command"] == "squeue"  # no accounting database needed
    assert prof["retries"] >= 1
    edit_me = {m.group(1).strip() for m in re.finditer(r"^\s*([\w-]+):.*#\s*EDIT ME", text, re.M)}
    assert {"slurm_partition", "slurm_account", "jobs", "slurm-no-account"} <= edit_me
    for rule, res in prof["set-resources"].items():
        # database rules take their memory from the rule (icibiome.resources.db_mem_mb)
        assert "attempt" in str(res.get("mem_mb", "attempt")), f"{rule}: memory must grow on retry"
        assert "runtime" in res, f"{rule}: no runtime limit"
    for key in ("mem_mb", "runtime"):
        assert "input.size_mb" in str(prof["default-resources"][key])
    assert all("input.size_mb" in str(v) for v in prof["set-threads"].values())
    # the expressions evaluate to sane numbers for a tiny and a human-sized input
    for size_mb, attempt in ((1, 1), (4000, 1), (4000, 2)):
        env = {"input": type("I", (), {"size_mb": size_mb})(), "attempt": attempt}
        for rule, expr in prof["set-threads"].items():
            t = eval(str(expr), {"min": min, "max": max, "int": int}, env)  # noqa: S307
            assert 1 <= t <= 8, (rule, size_mb, t)
        mems = [
            eval(str(r["mem_mb"]), {"min": min, "max": max, "int": int}, env)  # noqa: S307
            for r in prof["set-resources"].values()
            if "mem_mb" in r
        ]
        assert all(m >= 500 for m in mems)
    # memory of the database rules is not overridden here (tests/unit/test_resources.py)
    for rule in ("bowtie2_remove_host_paired", "sylph_profile", "kraken2_classify"):
        assert "mem_mb" not in prof["set-resources"].get(rule, {}), rule


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason, installed = ensure_slurm_installed()
    try:
        if reason:
            pytest.skip(f"SLURM test cluster unavailable: {reason}")
        root = Path(tmp_path_factory.mktemp("slurm"))
        with SlurmCluster(root) as cluster:  # stopped on exit, also on failure
            yield cluster
    finally:
        uninstall(installed)


def _site_profile(tmp_path, cluster) -> Path:
    """A copy of profiles/slurm with the EDIT ME values a site would set (here: the test node)."""
    prof = yaml.safe_load(PROFILE.read_text())
    prof["default-resources"]["slurm_partition"] = cluster.partition  # EDIT ME
    del prof["default-resources"]["slurm_account"]  # EDIT ME: no account on this cluster
    prof["slurm-no-account"] = True  # EDIT ME
    prof["jobs"] = 4  # EDIT ME
    prof["slurm-init-seconds-before-status-checks"] = 2  # test speed only (default 40 s)
    prof["latency-wait"] = 5
    prof["seconds-between-status-checks"] = 3  # test speed only (default 10 s)
    d = tmp_path / "profile_slurm"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump(prof, sort_keys=False))
    return d


def test_cluster_runs_a_job(slurm):
    proc = subprocess.run(
        ["timeout", "-k", "10", "120", "sbatch", "--parsable", "--wait", "--wrap", "hostname"],
        env=slurm.env(),
        capture_output=True,
        text=True,
        cwd=slurm.root,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + slurm.logs()
    job = proc.stdout.strip().split(";")[0]
    assert (slurm.root / f"slurm-{job}.out").read_text().strip() == slurm.node


N_SLURM_SAMPLES = 4  # 4 demo samples x 5 job types keep the run near 2 minutes on 2 cores


def _subset_case(tmp_path: Path, demo: Path, n: int) -> tuple[Path, list[str]]:
    """The basic case on the first ``n`` demo samples (absolute paths; the demo is not copied)."""
    wd = make_case(tmp_path, "basic", demo)
    sheet = pd.read_csv(demo / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet = sheet[sheet["assay"] == "shotgun"].head(n).copy()
    for col in ("fq1", "fq2"):
        sheet[col] = [str((demo / p).resolve()) if p else "" for p in sheet[col]]
    sheet.to_csv(wd / "samples_subset.tsv", sep="\t", index=False)
    cfg_path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["samples"] = "samples_subset.tsv"
    cfg["networks"] = {"activate": False}  # 4 samples are too few for a network
    # TOPOSCORE from the run's guilds needs the network; signatures need labelled cohorts
    cfg["toposcore"] = {"activate": False}
    cfg["signatures"] = {"activate": False}
    cfg_path.write_text(yaml.safe_dump(cfg))
    return wd, list(sheet["sample_id"])


def test_demo_on_slurm_matches_local_run(slurm, basic_run, demo_data, tmp_path):
    wd, samples = _subset_case(tmp_path, demo_data, N_SLURM_SAMPLES)
    profile = _site_profile(tmp_path, slurm)
    cmd = [
        "timeout", "-k", "30", "600",
        sys.executable, "-m", "snakemake",
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(wd),
        "--profile", str(profile),
    ]  # fmt: skip
    env = slurm.env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=wd, check=False)
    elapsed = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    (tmp_path / "snakemake_slurm.log").write_text(out)
    print(f"SLURM run of {len(samples)} demo samples: {elapsed:.1f} s (rc {proc.returncode})")
    assert proc.returncode == 0, f"{out[-8000:]}\n{slurm.logs()}"

    # every non-local job went through SLURM (one submission line per job, with its job id)
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", out)
    per_sample_rules = (
        "check_reads",
        "fastp_paired",
        "bowtie2_remove_host_paired",
        "sylph_profile",
    )
    assert len(submitted) >= len(per_sample_rules) * len(samples), out[-3000:]
    ctld = (slurm.root / "log" / "slurmctld.log").read_text()
    for _, slurm_id in submitted:
        assert f"_job_complete: JobId={slurm_id} WEXITSTATUS 0" in ctld, slurm_id

    # the same per-sample results as the local run of the same samples (session fixture)
    res, ref = wd / "results", basic_run / "results"
    for s in samples:
        a = pd.read_csv(res / "taxonomy" / "sylph" / "profiles" / f"{s}.tsv", sep="\t")
        b = pd.read_csv(ref / "taxonomy" / "sylph" / "profiles" / f"{s}.tsv", sep="\t")
        # numeric tolerance: the UNCLASSIFIED residual is summed in pysylph's thread order
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-6)
        assert (res / "qc" / "stats" / f"{s}.json").read_text() == (
            ref / "qc" / "stats" / f"{s}.json"
        ).read_text()
    t_slurm = pd.read_csv(res / "qc" / "read_tracking.tsv", sep="\t", index_col="sample_id")
    t_local = pd.read_csv(ref / "qc" / "read_tracking.tsv", sep="\t", index_col="sample_id")
    cols = ["raw", "trimmed", "non_host", "classified", "host", "adapter_trimmed_reads"]
    pd.testing.assert_frame_equal(t_slurm[cols], t_local.loc[samples, cols])
    assert (res / "report" / "multiqc_report.html").stat().st_size > 0
