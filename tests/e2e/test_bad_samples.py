"""``on_bad_sample: stop | exclude`` with a corrupt sample, through the real pipeline.

The cohort is three demo samples, one of whose R1 file is a gzip stream cut in half (it passes
the sample-sheet checks, which read only the first record, and fails the full read check):

* ``stop``: the run fails before any trimming, with a message naming the sample and the
  problem and no Python traceback, and leaves no partial output of the failed step;
* ``exclude``: the run finishes; the sample is absent from the standard tables and listed with
  its reason in ``excluded_samples_mqc.tsv`` and in the MultiQC report.
"""

import gzip
import hashlib
import os
import re
import subprocess
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


def _head_pairs(src: Path, dst: Path, n: int) -> None:
    """The first ``n`` records of a gzipped FASTQ, gzipped."""
    with gzip.open(src, "rt") as fh:
        lines = [next(fh) for _ in range(4 * n)]
    with gzip.open(dst, "wt") as out:
        out.writelines(lines)


def _case(
    tmp_path: Path, demo: Path, on_bad_sample: str, bad_kind: str = "cut"
) -> tuple[Path, str, list[str]]:
    """A work dir with 2 good demo samples and 1 bad one.

    ``bad_kind``: ``cut``: its R1 is truncated mid-stream (fails the read check); ``few``: it
    has only 40 well-formed pairs (passes the read check, too few after QC: min 100); ``none``:
    the third sample is left good.
    """
    wd = tmp_path / f"{on_bad_sample}_{bad_kind}"
    (wd / "config").mkdir(parents=True)
    sheet = pd.read_csv(demo / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet = sheet[sheet["assay"] == "shotgun"].head(N_GOOD + 1).copy()
    for col in ("fq1", "fq2"):
        sheet[col] = [str((demo / p).resolve()) if p else "" for p in sheet[col]]
    bad = sheet["sample_id"].iloc[-1]
    (wd / "reads").mkdir()
    if bad_kind == "cut":
        src = Path(sheet["fq1"].iloc[-1])
        raw = src.read_bytes()
        cut = wd / "reads" / f"{bad}_R1_cut.fastq.gz"
        cut.write_bytes(raw[: len(raw) // 2])
        sheet.loc[sheet["sample_id"] == bad, "fq1"] = str(cut)
    elif bad_kind == "few":
        for col in ("fq1", "fq2"):
            few = wd / "reads" / f"{bad}_{col}_few.fastq.gz"
            _head_pairs(Path(sheet[col].iloc[-1]), few, 40)
            sheet.loc[sheet["sample_id"] == bad, col] = str(few)
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


def _mentions(path: Path, sample: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_-]){re.escape(sample)}(?![A-Za-z0-9_-])", path.read_text())


def test_excluded_after_qc_is_no_column_anywhere_downstream(demo_data, tmp_path):
    """One gate: a sample with too few reads after QC reaches no profiler, DIAMOND or table."""
    wd, bad, good = _case(tmp_path, demo_data, "exclude", bad_kind="few")
    run_snakemake(wd)
    res = wd / "results"
    # nothing per-sample ran on it after QC
    assert not (res / "functions" / "panel" / "hits" / f"{bad}.tsv").exists()
    assert not (res / "taxonomy" / "sylph" / "profiles" / f"{bad}.tsv").exists()
    # no column of it in any table downstream of QC, nor in the report's heatmap
    panel = res / "functions" / "panel"
    for name in ("category_rpkm.tsv", "protein_rpkm.tsv", "protein_counts.tsv",
                 "taxon_rpkm.tsv", "features.tsv", "function_panel_mqc.yaml"):  # fmt: skip
        assert not _mentions(panel / name, bad), name
        for g in good:
            assert _mentions(panel / name, g), (name, g)
    cat = pd.read_csv(panel / "category_rpkm.tsv", sep="\t", index_col="category")
    assert sorted(cat.columns) == sorted(good)
    for rank in ("species", "genus"):
        ab = read_abundance(res / "taxonomy" / "sylph" / f"abundance_{rank}.tsv")
        assert sorted(ab.index) == sorted(good), ab.index
    # one table holds both decisions
    gate = pd.read_csv(res / "qc" / "sample_gate.tsv", sep="\t", keep_default_na=False)
    row = gate.set_index("sample_id").loc[bad]
    assert (row["stage"], row["status"]) == ("after QC", "excluded"), gate
    assert "fragments left after QC and host removal (minimum 100)" in row["reason"]
    assert sorted(gate.loc[gate["status"] == "pass", "sample_id"]) == sorted(good)
    # the report's exclusion table names it with the reason
    excluded = pd.read_csv(
        res / "report" / "custom" / "excluded_samples_mqc.tsv", sep="\t", comment="#"
    )
    assert list(excluded.iloc[:, 0]) == [bad]
    assert "fragments left after QC" in excluded["reason"].iloc[0]
    html = (res / "report" / "multiqc_report.html").read_text()
    assert "icibiome_excluded" in html and "fragments left after QC" in html


def _tables(results: Path) -> dict[str, str]:
    """sha256 of every result table; as in test_reruns.py, run_info and the profiler comparison
    (each profiler's wall seconds per sample) are left out."""
    skip = ("run_info/", "evaluation/")
    timed = {"taxonomy/profiler_comparison.tsv", "report/custom/profiler_comparison_mqc.tsv"}
    out = {}
    for p in sorted(results.rglob("*.tsv")):
        rel = p.relative_to(results).as_posix()
        if not rel.startswith(skip) and "_data/" not in rel and rel not in timed:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_disk_full_during_fastp_is_loud_and_the_rerun_is_identical(demo_data, tmp_path):
    """fastp on a full disk: the run stops naming fastp and the cause, leaves no partial output,
    and after space is freed the rerun gives the tables of an undisturbed run, byte for byte."""
    ref, _, samples = _case(tmp_path / "ref", demo_data, "stop", bad_kind="none")
    run_snakemake(ref)
    wd, victim, _ = _case(tmp_path / "full", demo_data, "stop", bad_kind="none")
    # a fastp that, for one sample, writes part of its output and fails as on a full disk
    real = subprocess.run(["which", "fastp"], capture_output=True, text=True).stdout.strip()
    fake = tmp_path / "bin" / "fastp"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/bash\n"
        f'if [[ " $* " != *" --report_title {victim} "* ]]; then exec {real} "$@"; fi\n'
        'args=("$@"); for ((i=0; i<$#; i++)); do\n'
        "  [[ ${args[i]} == --out1 ]] && out1=${args[i+1]}\n"
        "  [[ ${args[i]} == --json ]] && json=${args[i+1]}\n"
        "done\n"
        'head -c 5000 /dev/urandom > "$out1"; : > "$json"\n'
        'echo "ERROR: failed to write $out1: No space left on device" >&2\nexit 1\n'
    )
    fake.chmod(0o755)
    env_path = os.environ["PATH"]
    os.environ["PATH"] = f"{fake.parent}{os.pathsep}{env_path}"
    try:
        proc = run_snakemake(wd, check=False)
    finally:
        os.environ["PATH"] = env_path
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "fastp exited with status 1" in out and "No space left on device" in out, out[-5000:]
    assert "Traceback (most recent call last)" not in out, out[-5000:]
    fastp_dir = wd / "results" / "qc" / "fastp"
    # (the folder itself is gone when the failed job was the only one to write in it)
    names = [p.name for p in fastp_dir.iterdir()] if fastp_dir.exists() else []
    left = sorted(n for n in names if n.startswith((victim, ".part")))
    assert left == [], f"partial fastp outputs left behind: {left}"
    assert not (wd / "results" / "qc" / "stats" / f"{victim}.json").exists()
    # space freed (the real fastp again): the rerun completes, identical to the undisturbed run
    run_snakemake(wd)
    a, b = _tables(wd / "results"), _tables(ref / "results")
    assert sorted(a) == sorted(b)
    differ = sorted(k for k in a if a[k] != b[k])
    assert not differ, f"tables differ from the undisturbed run: {differ}"
