"""``on_bad_sample: stop | exclude`` with a corrupt sample, through the real pipeline.

The cohort is three demo samples, one of whose R1 file is a gzip stream cut in half (it passes
the sample-sheet checks, which read only the first record, and fails the full read check):

* ``stop``: the run fails before any trimming, with a message naming the sample and the
  problem and no Python traceback, and leaves no partial output of the failed step;
* ``exclude``: the run finishes; the sample is absent from the standard tables and listed with
  its reason in ``excluded_samples_mqc.tsv`` and in the MultiQC report.
"""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_snakemake

from icibiome.io import read_abundance

pytestmark = pytest.mark.e2e

N_GOOD = 2


def _rebase(node, demo: Path):
    """The basic case's paths under ``data/`` pointed at the demo folder."""
    if isinstance(node, dict):
        return {k: _rebase(v, demo) for k, v in node.items()}
    if isinstance(node, str) and node.startswith("data/"):
        return str(demo / Path(node).relative_to("data"))
    return node


def _case(tmp_path: Path, demo: Path, on_bad_sample: str) -> tuple[Path, str, list[str]]:
    """A work dir with 2 good demo samples and 1 whose R1 is truncated mid-stream."""
    wd = tmp_path / on_bad_sample
    (wd / "config").mkdir(parents=True)
    sheet = pd.read_csv(demo / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet = sheet[sheet["assay"] == "shotgun"].head(N_GOOD + 1).copy()
    for col in ("fq1", "fq2"):
        sheet[col] = [str((demo / p).resolve()) if p else "" for p in sheet[col]]
    bad = sheet["sample_id"].iloc[-1]
    src = Path(sheet["fq1"].iloc[-1])
    raw = src.read_bytes()
    cut = wd / "reads" / f"{bad}_R1_cut.fastq.gz"
    cut.parent.mkdir()
    cut.write_bytes(raw[: len(raw) // 2])
    sheet.loc[sheet["sample_id"] == bad, "fq1"] = str(cut)
    sheet.to_csv(wd / "samples.tsv", sep="\t", index=False)
    cfg = yaml.safe_load((ROOT / "tests" / "e2e" / "basic" / "config.yaml").read_text())
    cfg["samples"] = "samples.tsv"
    cfg["on_bad_sample"] = on_bad_sample
    cfg = _rebase(cfg, demo)
    cfg["diversity"] = {"activate": False}  # two samples left: too few for diversity statistics
    cfg["networks"] = {"activate": False}  # and for a network
    # TOPOSCORE from the run's guilds needs the network; signatures need labelled cohorts
    cfg["toposcore"] = {"activate": False}
    cfg["signatures"] = {"activate": False}
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd, bad, list(sheet["sample_id"].iloc[:N_GOOD])


def test_stop_fails_early_naming_sample_and_problem(demo_data, tmp_path):
    wd, bad, _ = _case(tmp_path, demo_data, "stop")
    proc = run_snakemake(wd, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "1 sample(s) have unusable reads (on_bad_sample: stop)" in out, out[-5000:]
    assert f"- {bad}: " in out and "corrupt or truncated compressed file" in out, out[-5000:]
    assert "on_bad_sample: exclude" in out  # the message says how to go on
    # no partial output: the failed checkpoint's table is absent, no temp files, no trimming
    assert not (wd / "results" / "qc" / "sample_status.tsv").exists()
    assert not list((wd / "results").rglob("*.part"))
    assert not (wd / "results" / "qc" / "fastp").exists()
    # a user error, not a crash: no Python traceback on the console or in the job log
    assert "Traceback (most recent call last)" not in out, out[-5000:]


def test_exclude_finishes_without_the_sample_and_reports_it(demo_data, tmp_path):
    wd, bad, good = _case(tmp_path, demo_data, "exclude")
    run_snakemake(wd)
    res = wd / "results"
    for rank in ("species", "genus"):
        ab = read_abundance(res / "taxonomy" / "sylph" / f"abundance_{rank}.tsv")
        assert sorted(ab.index) == sorted(good), ab.index
    tracking = pd.read_csv(res / "qc" / "read_tracking.tsv", sep="\t")
    assert bad not in set(tracking["sample_id"])
    status = pd.read_csv(res / "qc" / "sample_status.tsv", sep="\t", keep_default_na=False)
    assert status.set_index("sample_id").loc[bad, "status"] == "excluded"
    excluded = pd.read_csv(
        res / "report" / "custom" / "excluded_samples_mqc.tsv", sep="\t", comment="#"
    )
    assert list(excluded.iloc[:, 0]) == [bad]
    reason = excluded["reason"].iloc[0]
    assert "corrupt or truncated compressed file" in reason and f"{bad}_R1_cut" in reason
    html = (res / "report" / "multiqc_report.html").read_text()
    assert "icibiome_excluded" in html and bad in html
    assert not (res / "qc" / "fastp" / f"{bad}.fastp.json").exists()
