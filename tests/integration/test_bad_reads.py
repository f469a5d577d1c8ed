"""Bad reads that must stop the run loudly (issue 12: reads, machine faults, sample exclusion).

Library cases call :mod:`icibiome.reads.qc`; pipeline cases run Snakemake on a tiny project whose
databases are placeholders: every case here must stop before any tool job (fastp, bowtie2) runs,
so the placeholders are never read.
"""

import gzip
import json
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from icibiome.reads.qc import (
    BadReadsError,
    ToolError,
    check_reads,
    fastq_gz_records,
    passed_samples,
    read_stats,
    run_fastp,
    run_host_removal,
    sample_gate,
    scan_reads,
    select_samples,
)

ROOT = Path(__file__).resolve().parents[2]
NAMES = [f"r{i}" for i in range(30)]
HEADER = "sample_id\tsubject_id\tcohort\ttimepoint\tassay\tfq1\tfq2\tresponse\n"


def _records(names, mate=None, seq="ACGTACGTAC"):
    suffix = f"/{mate}" if mate else ""
    return "".join(f"@{n}{suffix}\n{seq}\n+\n{'I' * len(seq)}\n" for n in names)


def _gz(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


def _fastp_json(path, pairs):
    rep = {
        "summary": {
            "before_filtering": {"total_reads": 2 * pairs, "read2_mean_length": 10},
            "after_filtering": {"total_reads": 2 * pairs},
        }
    }
    path.write_text(json.dumps(rep))
    return path


# ------------------------------------------------------------------ 1. mates out of step


def _out_of_step(tmp_path, n=40_000, swap_at=30_001):
    """Same counts, R2 in another order from record ``swap_at`` on (past the first batch)."""
    names = [f"r{i}" for i in range(n)]
    r2_names = list(names)
    i = swap_at - 1
    r2_names[i], r2_names[i + 1] = r2_names[i + 1], r2_names[i]
    r1 = _gz(tmp_path / "S_R1.fq.gz", _records(names, mate=1))
    r2 = _gz(tmp_path / "S_R2.fq.gz", _records(r2_names, mate=2))
    return r1, r2


def test_mates_out_of_step_fail_the_read_check_naming_record_and_files(tmp_path):
    r1, r2 = _out_of_step(tmp_path)
    st = check_reads("S", r1, r2, tmp_path / "S.json")
    assert st["status"] == "fail", st
    reason = st["reason"]
    assert "mates out of step from record 30001" in reason, reason
    assert "R1 'r30000/1' vs R2 'r30001/2'" in reason and str(r1) in reason and str(r2) in reason
    assert json.loads((tmp_path / "S.json").read_text())["status"] == "fail"


def test_mates_out_of_step_after_qc_stop_read_stats(tmp_path):
    r1, r2 = _out_of_step(tmp_path, n=200, swap_at=150)
    out = tmp_path / "stats.json"
    with pytest.raises(BadReadsError) as exc:
        read_stats("S", _fastp_json(tmp_path / "f.json", 200), [r1, r2], out)
    assert str(exc.value).startswith("S: mates out of step from record 150"), exc.value
    assert not out.exists()


def test_mates_in_step_with_casava_names_pass(tmp_path):
    names = [f"M:1:FC:1:1:{i}:1" for i in range(50)]
    r1 = _gz(tmp_path / "a_R1.fq.gz", "".join(f"@{n} 1:N:0:ACGT\nACGT\n+\nIIII\n" for n in names))
    r2 = _gz(tmp_path / "a_R2.fq.gz", "".join(f"@{n} 2:N:0:ACGT\nACGT\n+\nIIII\n" for n in names))
    assert scan_reads(r1, r2) == 50


def test_scan_keeps_the_precise_messages(tmp_path):
    # a non-IUPAC base deep in the file: the fast pass finds it, the message names the record
    names = [f"r{i}" for i in range(20_000)]
    text = _records(names[:19_000]) + _records(["bad"], seq="ACGTXCGTAC") + _records(names[19_000:])
    p = _gz(tmp_path / "x.fq.gz", text)
    with pytest.raises(BadReadsError, match="record 19001 .*non-IUPAC character 'X' at position 5"):
        scan_reads(p)
    fasta = tmp_path / "a.fq"
    fasta.write_text(">r0\nACGT\n")
    with pytest.raises(BadReadsError, match="expected a FASTQ header"):
        scan_reads(fasta)


# ------------------------------------------------------------------ pipeline cases


def _project(tmp_path, reads):
    """A tiny project: samples A and B with the given {(sample, col): (name, bytes)} reads."""
    wd = tmp_path / "wd"
    (wd / "config").mkdir(parents=True)
    (wd / "reads").mkdir()
    default = {
        (s, c): (f"{s}_{c}.fq.gz", gzip.compress(_records(NAMES, mate=k).encode()))
        for s in ("A", "B")
        for k, c in ((1, "fq1"), (2, "fq2"))
    }
    default.update(reads)
    for name, data in default.values():
        (wd / "reads" / name).write_bytes(data)
    (wd / "db").mkdir()
    for ext in ("1", "2", "3", "4", "rev.1", "rev.2"):
        (wd / "db" / f"host.{ext}.bt2").write_text("placeholder\n")
    # the smallest complete .syldb (one genome sketch without k-mers): databases are checked
    # for truncation before any job (icibiome.databases)
    (wd / "db" / "sylph.syldb").write_bytes(
        struct.pack("<QQB", 1, 0, 0) + struct.pack("<2Q", 0, 0) + struct.pack("<4Q", 200, 31, 1, 30)
    )
    (wd / "db" / "taxonomy.tsv").write_text("g1\tk__Bacteria|p__P|c__C|o__O|f__F|g__G|s__G_s\n")
    rows = [
        f"{s}\tP{s}\tC1\tbaseline\tshotgun\treads/{default[s, 'fq1'][0]}\t"
        f"reads/{default[s, 'fq2'][0]}\t{r}"
        for s, r in (("A", "R"), ("B", "NR"))
    ]
    (wd / "samples.tsv").write_text(HEADER + "".join(r + "\n" for r in rows))
    cfg = {
        "samples": "samples.tsv",
        "host_removal": {"bowtie2_index": "db/host"},
        "taxonomy": {"sylph": {"database": "db/sylph.syldb", "taxonomy": "db/taxonomy.tsv"}},
        # 2 samples: too few for beta diversity (checked before any job)
        "diversity": {"activate": False},
    }
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def _snakemake(wd, *args, timeout=300):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(wd)]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        [*cmd, "--cores", "1", *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_pipeline_stops_on_mates_out_of_step_before_fastp(tmp_path):
    shuffled = NAMES[:5] + NAMES[6:7] + NAMES[5:6] + NAMES[7:]
    wd = _project(
        tmp_path,
        {("B", "fq2"): ("B_fq2.fq.gz", gzip.compress(_records(shuffled, mate=2).encode()))},
    )
    rc, out = _snakemake(wd)
    assert rc != 0, out
    assert "Traceback (most recent call last)" not in out, out
    assert "- B: mates out of step from record 6" in out, out
    assert "B_fq2.fq.gz" in out
    assert not (wd / "results" / "qc" / "fastp").exists()
    assert not (wd / "results" / "qc" / "sample_status.tsv").exists()


# ------------------------------------------------------------------ 2. compression by content


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        (
            "A_R1.fastq",  # gzip content, plain name: fastp kept 0 reads and exited 0
            gzip.compress(_records(NAMES, mate=1).encode()),
            "is gzip-compressed but its name does not end in .gz",
        ),
        (
            "A_R1.fastq.gz",  # plain content, .gz name: fastp failed naming only the file
            _records(NAMES, mate=1).encode(),
            "is not gzip-compressed (plain text) but its name ends in .gz",
        ),
    ],
)
def test_compression_name_and_content_must_agree_before_any_job(tmp_path, name, data, expected):
    # both mates named alike (the sheet's own check wants fq1 and fq2 compressed alike)
    r2 = _records(NAMES, mate=2).encode()
    r2 = gzip.compress(r2) if data[:2] == b"\x1f\x8b" else r2
    wd = _project(
        tmp_path,
        {("A", "fq1"): (name, data), ("A", "fq2"): (name.replace("R1", "R2"), r2)},
    )
    rc, out = _snakemake(wd, "-n")
    assert rc != 0, out
    assert "Traceback (most recent call last)" not in out, out
    assert f"samples.tsv: row 2 (sample A): column 'fq1': {wd / 'reads' / name}" in out, out
    assert expected in out, out
    assert "column 'fq2'" in out
    assert "check_reads" not in out  # no job planned, none ran
    assert not (wd / "results").exists()


# ------------------------------------------------------------------ 3./4. tool faults

needs_fastp = pytest.mark.skipif(not shutil.which("fastp"), reason="fastp not installed")
needs_bowtie2 = pytest.mark.skipif(
    not (shutil.which("bowtie2") and shutil.which("samtools")), reason="bowtie2/samtools missing"
)


def _random_pairs(tmp_path, n=3000, length=100, seed=3):
    rng = random.Random(seed)
    seqs = ["".join(rng.choice("ACGT") for _ in range(length)) for _ in range(2 * n)]
    q = "I" * length
    r1 = _gz(
        tmp_path / "in" / "S_R1.fq.gz",
        "".join(f"@r{i}/1\n{seqs[2 * i]}\n+\n{q}\n" for i in range(n)),
    )
    r2 = _gz(
        tmp_path / "in" / "S_R2.fq.gz",
        "".join(f"@r{i}/2\n{seqs[2 * i + 1]}\n+\n{q}\n" for i in range(n)),
    )
    return [r1, r2], seqs


def _fastp_kwargs(tmp_path, reads, out_dir):
    return dict(
        reads=reads,
        out_reads=[out_dir / "S_R1.fastq.gz", out_dir / "S_R2.fastq.gz"],
        out_json=out_dir / "S.fastp.json",
        out_html=out_dir / "S.fastp.html",
        log=tmp_path / "fastp.log",
        sample="S",
        threads=1,
        min_length=50,
        cut_tail_quality=20,
        adapters=["--detect_adapter_for_pe"],
    )


def _left_behind(d):
    return sorted(p.name for p in Path(d).iterdir()) if Path(d).exists() else []


@needs_fastp
def test_fastp_good_input_same_reads_as_plain_fastp(tmp_path):
    reads, _ = _random_pairs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    counts = run_fastp(**_fastp_kwargs(tmp_path, reads, out))
    assert counts["raw"] == 3000 and counts["trimmed"] == fastq_gz_records(out / "S_R1.fastq.gz")
    assert _left_behind(out) == sorted(
        ["S_R1.fastq.gz", "S_R2.fastq.gz", "S.fastp.json", "S.fastp.html"]
    )
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run(
        ["fastp", "--in1", str(reads[0]), "--in2", str(reads[1]), "--out1", str(ref / "1.fq.gz"),
         "--out2", str(ref / "2.fq.gz"), "--json", str(ref / "j"), "--html", str(ref / "h"),
         "--report_title", "S", "--thread", "1", "--length_required", "50", "--cut_tail",
         "--cut_tail_mean_quality", "20", "--detect_adapter_for_pe"],
        check=True, capture_output=True,
    )  # fmt: skip
    for mine, theirs in (("S_R1.fastq.gz", "1.fq.gz"), ("S_R2.fastq.gz", "2.fq.gz")):
        assert gzip.decompress((out / mine).read_bytes()) == gzip.decompress(
            (ref / theirs).read_bytes()
        )


@needs_fastp
def test_fastp_disk_full_on_a_real_small_filesystem(tmp_path):
    # fastp exits 0 on a full disk, leaving zero-byte and cut files: they must not survive
    reads, _ = _random_pairs(tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mnt)], capture_output=True
    )
    if proc.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {proc.stderr.decode().strip()}")
    try:
        with pytest.raises(ToolError) as exc:
            run_fastp(**_fastp_kwargs(tmp_path, reads, mnt))
        msg = str(exc.value)
        assert msg.startswith("fastp exited 0 but left an incomplete output: "), msg
        assert "No space left on device" in msg and str(mnt) in msg, msg
        assert "Traceback" not in msg
        assert _left_behind(mnt) == []  # no output, no temporary file
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _fake_tool(tmp_path, name, body):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/bash\n" + body)
    tool.chmod(0o755)
    return bin_dir


def test_fastp_failing_with_enospc_names_tool_and_cause(tmp_path, monkeypatch):
    # a fastp that writes part of its output, then fails as a write on a full disk does
    reads, _ = _random_pairs(tmp_path, n=10)
    body = (
        'while [ $# -gt 0 ]; do [ "$1" = --out1 ] && out1=$2; shift; done\n'
        'printf "\\037\\213partial" > "$out1"\n'
        'echo "ERROR: Failed to write: No space left on device" >&2\nexit 1\n'
    )
    monkeypatch.setenv("PATH", f"{_fake_tool(tmp_path, 'fastp', body)}:{os.environ['PATH']}")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ToolError) as exc:
        run_fastp(**_fastp_kwargs(tmp_path, reads, out))
    msg = str(exc.value)
    assert msg.startswith("fastp exited with status 1: "), msg
    assert "No space left on device" in msg and str(tmp_path / "fastp.log") in msg
    assert _left_behind(out) == []


def _host_kwargs(tmp_path, reads, index):
    out = tmp_path / "host"
    return dict(
        reads=reads,
        index=str(index),
        out_reads=[out / "S_R1.fastq.gz", out / "S_R2.fastq.gz"],
        bowtie2_log=out / "S.bowtie2.log",
        log=tmp_path / "host.log",
        threads=1,
    )


@needs_bowtie2
def test_host_removal_keeps_non_host_pairs(tmp_path):
    reads, seqs = _random_pairs(tmp_path, n=200)
    genome = tmp_path / "idx" / "host.fa"
    genome.parent.mkdir()
    # the host genome holds the first 50 pairs' R1 sequences: those pairs are removed
    genome.write_text(">host\n" + "".join(seqs[2 * i] for i in range(50)) + "\n")
    subprocess.run(
        ["bowtie2-build", "-q", str(genome), str(genome.with_suffix(""))],
        check=True,
        capture_output=True,
    )
    kw = _host_kwargs(tmp_path, reads, genome.with_suffix(""))
    kept = run_host_removal(**kw)
    assert kept == 150, kept
    assert scan_reads(*kw["out_reads"]) == 150
    assert "overall alignment rate" in Path(kw["bowtie2_log"]).read_text()
    assert not list((tmp_path / "host").glob(".part.*"))


@needs_bowtie2
def test_corrupt_bowtie2_index_is_reported_as_bowtie2(tmp_path):
    reads, _ = _random_pairs(tmp_path, n=20)
    (tmp_path / "idx").mkdir()
    for ext in ("1", "2", "3", "4", "rev.1", "rev.2"):
        (tmp_path / "idx" / f"host.{ext}.bt2").write_bytes(b"\0garbage" * 8)
    kw = _host_kwargs(tmp_path, reads, tmp_path / "idx" / "host")
    with pytest.raises(ToolError) as exc:
        run_host_removal(**kw)
    msg = str(exc.value)
    assert msg.startswith("bowtie2 exited with status"), msg  # not samtools' parse error
    assert "samtools" not in msg.split(";")[0]
    log = tmp_path / "host.bowtie2.log"
    assert f"log: {log}" in msg and log.stat().st_size > 0  # bowtie2's stderr kept
    assert _left_behind(tmp_path / "host") == []


@needs_bowtie2
def test_bowtie2_killed_by_the_oom_killer_is_named(tmp_path, monkeypatch):
    reads, _ = _random_pairs(tmp_path, n=20)
    body = 'echo "Warning: about to use lots of memory" >&2\nkill -9 $$\n'
    monkeypatch.setenv("PATH", f"{_fake_tool(tmp_path, 'bowtie2', body)}:{os.environ['PATH']}")
    with pytest.raises(ToolError) as exc:
        run_host_removal(**_host_kwargs(tmp_path, reads, tmp_path / "none"))
    msg = str(exc.value)
    assert msg.startswith("bowtie2 was killed by SIGKILL (the out-of-memory killer?)"), msg
    assert "about to use lots of memory" in msg
    assert _left_behind(tmp_path / "host") == []


# ------------------------------------------------------------------ 5. one sample gate


def test_sample_gate_joins_read_check_and_post_qc_decisions(tmp_path):
    checks = []
    for sid, st, reason in (
        ("A", "pass", ""),
        ("B", "fail", "x.fq.gz: no reads"),
        ("C", "pass", ""),
    ):
        f = tmp_path / f"{sid}.check.json"
        f.write_text(json.dumps({"sample_id": sid, "status": st, "reason": reason, "fragments": 5}))
        checks.append(f)
    select_samples(checks, "exclude", tmp_path / "status.tsv")
    stats = []
    for sid, st in (("A", "pass"), ("C", "excluded")):
        f = tmp_path / f"{sid}.stats.json"
        reason = "" if st == "pass" else "only 3 fragments left after QC and host removal"
        f.write_text(json.dumps({"sample_id": sid, "status": st, "reason": reason}))
        stats.append(f)
    gate = sample_gate(tmp_path / "status.tsv", stats, tmp_path / "gate.tsv")
    assert gate.values.tolist() == [
        ["A", "after QC", "pass", ""],
        ["B", "read check", "excluded", "x.fq.gz: no reads"],
        ["C", "after QC", "excluded", "only 3 fragments left after QC and host removal"],
    ]
    assert passed_samples(tmp_path / "gate.tsv") == ["A"]
    # every per-sample stage after QC reads this table through one helper (the input functions
    # live in rules/common.smk and in each stage's rules/functions/<stage>.smk)
    files = [ROOT / "rules" / "common.smk", *sorted((ROOT / "rules" / "functions").glob("*.smk"))]
    common = "\n".join(f.read_text() for f in files)
    for getter in ("get_profiles", "get_function_hits", "get_humann_tables", "get_report_inputs"):
        body = common.split(f"def {getter}(")[1].split("\ndef ")[0]
        assert "get_gated_samples()" in body and "get_passed_samples()" not in body, getter


def test_no_read_left_after_qc_is_a_bad_sample_even_with_minimum_zero(tmp_path):
    empty1 = _gz(tmp_path / "e_R1.fq.gz", "")
    empty2 = _gz(tmp_path / "e_R2.fq.gz", "")
    fp = tmp_path / "f.json"
    fp.write_text(json.dumps({"summary": {
        "before_filtering": {"total_reads": 20, "read2_mean_length": 10},
        "after_filtering": {"total_reads": 0}}}))  # fmt: skip
    st = read_stats("E", fp, [empty1, empty2], tmp_path / "s.json", 0, "exclude")
    assert st["status"] == "excluded" and "only 0 fragments" in st["reason"]
    with pytest.raises(BadReadsError, match="E: only 0 fragments left"):
        read_stats("E", fp, [empty1, empty2], tmp_path / "s2.json", 0, "stop")
    assert not (tmp_path / "s2.json").exists()
