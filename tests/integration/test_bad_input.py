"""The bad-input catalogue: every user error gives a clear message naming file, row/record and
field (or config key), and never a Python traceback; no shell injection through ids, paths or
config values.

Reads are checked by the library (``icibiome.reads.qc.count_fastq`` / ``check_reads``); sample-sheet,
config and database problems through ``snakemake -n`` in a temporary working directory, as a
user would meet them.
"""

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from icibiome.config import ConfigError, check_config, check_resources
from icibiome.reads.qc import BadReadsError, check_reads, count_fastq

ROOT = Path(__file__).resolve().parents[2]
HEADER = "sample_id\tsubject_id\tcohort\ttimepoint\tassay\tfq1\tfq2\tresponse\n"


def _records(n, start=0, seq="ACGTACGTAC", mate=None):
    suffix = f"/{mate}" if mate else ""
    return "".join(f"@r{i}{suffix}\n{seq}\n+\n{'I' * len(seq)}\n" for i in range(start, start + n))


def _gz(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


# ------------------------------------------------------------------------------ malformed FASTQ


def test_good_fastq_counts(tmp_path):
    assert count_fastq(_gz(tmp_path / "ok.fq.gz", _records(7))) == 7
    crlf = tmp_path / "crlf.fq"
    crlf.write_bytes(_records(3).replace("\n", "\r\n").encode())
    assert count_fastq(crlf) == 3
    iupac = tmp_path / "iupac.fq"
    iupac.write_text(_records(2, seq="ACGTNRYKMSWBDHVacgtn"))
    assert count_fastq(iupac) == 2


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "truncated_record.fq",
            _records(3) + "@r3\nACGTACGTAC\n+\n",
            "record 4 (line 13): record: truncated FASTQ",
        ),
        (
            "truncated_quality.fq",
            _records(2) + "@r2\nACGTACGTAC\n+\nIIII",
            "record 3 (line 9): quality: truncated FASTQ",
        ),
        (
            "non_iupac.fq",
            _records(2) + "@r2\nACGTXCGTAC\n+\nIIIIIIIIII\n",
            "record 3 (line 9): sequence: non-IUPAC character 'X' at position 5",
        ),
        (
            "digit_in_seq.fq",
            "@r0\nACG1\n+\nIIII\n",
            "record 1 (line 1): sequence: non-IUPAC character '1' at position 4",
        ),
        (
            "qual_length.fq",
            _records(1) + "@r1\nACGTACGTAC\n+\nIII\n",
            "record 2 (line 5): quality: 3 quality values for a sequence of length 10",
        ),
        ("fasta.fq", ">r0\nACGT\n", "record 1 (line 1): header: expected a FASTQ header"),
        (
            "no_separator.fq",
            "@r0\nACGT\n-\nIIII\n",
            "record 1 (line 1): separator: expected the '+' separator",
        ),
    ],
)
def test_malformed_fastq_names_file_record_and_field(tmp_path, name, content, expected):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(BadReadsError) as exc:
        count_fastq(p)
    assert str(exc.value).startswith(f"{p}: ")
    assert expected in str(exc.value)
    # the same problem gzipped is found the same way
    gz = _gz(tmp_path / "gz" / f"{name}.gz", content)
    with pytest.raises(BadReadsError) as exc:
        count_fastq(gz)
    assert str(exc.value).startswith(f"{gz}: ")
    assert expected in str(exc.value)


def test_corrupt_and_truncated_gzip(tmp_path):
    good = _gz(tmp_path / "good.fq.gz", _records(2000)).read_bytes()
    cut = tmp_path / "cut.fq.gz"
    cut.write_bytes(good[: len(good) // 2])
    flipped = bytearray(good)
    for i in range(40, len(flipped) - 40, 97):  # damage the deflate stream, keep the header
        flipped[i] ^= 0xFF
    bad = tmp_path / "flipped.fq.gz"
    bad.write_bytes(bytes(flipped))
    for p in (cut, bad):
        with pytest.raises(BadReadsError) as exc:
            count_fastq(p)
        assert str(exc.value).startswith(f"{p}: corrupt or truncated compressed file")


def test_check_reads_reports_empty_mismatch_and_corrupt_without_raising(tmp_path):
    empty = tmp_path / "empty.fq.gz"
    _gz(empty, "")
    r1 = _gz(tmp_path / "r1.fq.gz", _records(5, mate=1))
    r2 = _gz(tmp_path / "r2.fq.gz", _records(4, mate=2))
    bad = tmp_path / "bad.fq"
    bad.write_text("@r0\nAC#T\n+\nIIII\n")
    cases = {
        "EMPTY": (empty, None, f"{empty}: no reads"),
        "MISMATCH": (r1, r2, f"R1 has 5 reads but R2 has 4 ({r1}, {r2})"),
        "CORRUPT": (bad, None, "sequence: non-IUPAC character '#'"),
    }
    for sample, (fq1, fq2, reason) in cases.items():
        st = check_reads(sample, fq1, fq2, tmp_path / f"{sample}.json")
        assert st["status"] == "fail", st
        assert reason in st["reason"], st


# ------------------------------------------------------------------------------ snakemake -n


def _syldb(path):
    """The smallest complete sylph database: one genome sketch without k-mers."""
    path.write_bytes(
        struct.pack("<QQB", 1, 0, 0) + struct.pack("<2Q", 0, 0) + struct.pack("<4Q", 200, 31, 1, 30)
    )
    return path


def _project(tmp_path, rows=None, config_extra=None):
    """A tiny project: 2 valid paired samples (real FASTQ), placeholder databases, config."""
    wd = tmp_path / "wd"
    (wd / "config").mkdir(parents=True)
    for s in ("A", "B"):
        _gz(wd / "reads" / f"{s}_R1.fq.gz", _records(20, mate=1))
        _gz(wd / "reads" / f"{s}_R2.fq.gz", _records(20, mate=2))
    (wd / "db").mkdir()
    for ext in ("1", "2", "3", "4", "rev.1", "rev.2"):
        (wd / "db" / f"host.{ext}.bt2").write_text("placeholder\n")
    _syldb(wd / "db" / "sylph.syldb")
    (wd / "db" / "taxonomy.tsv").write_text("g1\tk__Bacteria|p__P|c__C|o__O|f__F|g__G|s__G_s\n")
    rows = rows or [
        "A\tP1\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\treads/A_R2.fq.gz\tR",
        "B\tP2\tC1\tbaseline\tshotgun\treads/B_R1.fq.gz\treads/B_R2.fq.gz\tNR",
    ]
    (wd / "samples.tsv").write_text(HEADER + "".join(r + "\n" for r in rows))
    cfg = {
        "samples": "samples.tsv",
        "host_removal": {"bowtie2_index": "db/host"},
        "taxonomy": {"sylph": {"database": "db/sylph.syldb", "taxonomy": "db/taxonomy.tsv"}},
        "diversity": {"activate": False},  # 2 samples: too few for beta diversity
    }
    for dotted, value in (config_extra or {}).items():
        node = cfg
        *parents, last = dotted.split(".")
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = value
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def _snakemake(wd, *args, timeout=300):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(wd)]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        [*cmd, "--cores", "1", *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    return proc.returncode, proc.stdout + proc.stderr


def _assert_clean_failure(rc, out, *fragments):
    assert rc != 0, out
    assert "Traceback (most recent call last)" not in out, out
    for f in fragments:
        assert f in out, f"{f!r} not in:\n{out}"


def test_valid_tiny_project_dry_runs(tmp_path):
    rc, out = _snakemake(_project(tmp_path), "-n")
    assert rc == 0, out
    assert "check_reads" in out


def test_sample_sheet_problems_all_reported_without_traceback(tmp_path):
    wd = _project(tmp_path)
    (wd / "reads" / "dir.fq.gz").mkdir()
    rows = [
        "A\tP1\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\treads/A_R2.fq.gz\tR",  # row 2: fine
        "A\tP2\tC1\tbaseline\tshotgun\treads/B_R1.fq.gz\treads/B_R2.fq.gz\tNR",  # row 3: dup id
        "S 1\tP3\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\t\tR",  # row 4: space in id
        "S;rm -rf x\tP4\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\t\tR",  # row 5: metachars
        "S$(id)\tP5\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\t\tR",  # row 6: substitution
        "M\tP6\tC1\tbaseline\tshotgun\treads/missing_R1.fq.gz\t\tNR",  # row 7: missing file
        "D\tP7\tC1\tbaseline\tshotgun\treads/dir.fq.gz\t\tNR",  # row 8: not a file
        "U\tP8\tC1\tbaseline\tshotgun\treads/B_R1.fq.gz\t\tresponder",  # row 9: bad response
    ]
    (wd / "samples.tsv").write_text(HEADER + "".join(r + "\n" for r in rows))
    rc, out = _snakemake(wd, "-n")
    sheet = "samples.tsv"
    _assert_clean_failure(
        rc,
        out,
        "has 7 problem(s)",
        f"{sheet}: column 'sample_id': sample_id 'A' is used on rows [2, 3]",
        f"{sheet}: row 4 (sample 'S 1'): column 'sample_id': 'S 1' is not allowed",
        f"{sheet}: row 5 (sample 'S;rm -rf x'): column 'sample_id'",
        f"{sheet}: row 6 (sample 'S$(id)'): column 'sample_id'",
        f"{sheet}: row 7 (sample 'M'): column 'fq1': file not found:",
        f"{sheet}: row 8 (sample 'D'): column 'fq1': not a regular file",
        f"{sheet}: row 9 (sample 'U'): column 'response': 'responder' is not one of 'R', 'NR'",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: cannot make one unreadable")
def test_unreadable_read_file(tmp_path):
    wd = _project(tmp_path)
    (wd / "reads" / "A_R1.fq.gz").chmod(0)
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(rc, out, "row 2 (sample 'A'): column 'fq1': file not readable")


def test_cohort_with_one_class_is_reported(tmp_path, caplog):
    # a single-class cohort is legal (it is profiled) but cannot give a within-cohort contrast
    from icibiome.samplesheet import read_sample_sheet

    wd = _project(
        tmp_path,
        rows=[
            "A\tP1\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\treads/A_R2.fq.gz\tR",
            "B\tP2\tC1\tbaseline\tshotgun\treads/B_R1.fq.gz\treads/B_R2.fq.gz\tR",
        ],
    )
    read_sample_sheet(wd / "samples.tsv")
    assert any(
        "cohort 'C1' has only R samples" in r.getMessage()
        and str(wd / "samples.tsv") in r.getMessage()
        for r in caplog.records
    ), caplog.text


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        ({"on_bad_sampel": "exclude"}, ["on_bad_sampel"]),
        ({"qc.fastp.min_lenght": 30}, ["min_lenght"]),
        ({"on_bad_sample": "skip"}, ["'skip' is not one of", "stop", "exclude"]),
        ({"min_reads_after_qc": -5}, ["-5 is less than the minimum of 0"]),
        ({"taxonomy.sylph.min_ani": 101}, ["101 is greater than the maximum of 100"]),
        ({"qc.fastp.cut_tail_quality": "high"}, ["'high' is not of type 'integer'"]),
    ],
    ids=["typo_top", "typo_nested", "enum", "below_min", "above_max", "wrong_type"],
)
def test_config_typos_and_out_of_range_values(tmp_path, extra, fragments):
    rc, out = _snakemake(_project(tmp_path, config_extra=extra), "-n")
    _assert_clean_failure(rc, out, *fragments)


def test_check_config_gives_one_line_per_problem_with_typo_suggestions():
    cfg = {
        "on_bad_sampel": "stop",
        "qc": {"fastp": {"min_lenght": 30, "adapter_r1": "AGATC;touch x"}},
        "min_reads_after_qc": -1,
        "taxonomy": {"ranks": ["specie"]},
    }
    with pytest.raises(ConfigError) as exc:
        check_config(cfg, source="config/config.yaml")
    msg = str(exc.value)
    assert msg.startswith("configuration (config/config.yaml) has 5 problem(s)")
    assert "key 'on_bad_sampel': unknown key (did you mean 'on_bad_sample'?)" in msg
    assert "key 'qc.fastp.min_lenght': unknown key (did you mean 'qc.fastp.min_length'?)" in msg
    assert "key 'min_reads_after_qc': -1 is less than the minimum of 0" in msg
    assert "key 'taxonomy.ranks.0': 'specie' is not one of" in msg
    assert "key 'qc.fastp.adapter_r1': 'AGATC;touch x' contains character(s) ';'" in msg
    check_config({})  # the empty config is valid (schema defaults)


def test_check_resources_names_key_and_path(tmp_path):
    wd = _project(tmp_path)
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    cfg["host_removal"]["activate"] = True
    cfg["taxonomy"]["profilers"] = ["sylph"]
    assert set(check_resources(cfg, base=wd)) == {
        "host_removal.bowtie2_index",
        "taxonomy.sylph.database",
        "taxonomy.sylph.taxonomy",
    }
    (wd / "db" / "sylph.syldb").unlink()
    (wd / "db" / "taxonomy.tsv").write_text("")
    cfg["host_removal"]["bowtie2_index"] = "db/nohost"
    with pytest.raises(ConfigError) as exc:
        check_resources(cfg, base=wd)
    msg = str(exc.value)
    assert "key 'host_removal.bowtie2_index': bowtie2 index not found: no " in msg
    assert f"key 'taxonomy.sylph.database': not found: {wd / 'db' / 'sylph.syldb'}" in msg
    assert f"key 'taxonomy.sylph.taxonomy': file is empty: {wd / 'db' / 'taxonomy.tsv'}" in msg
    # host removal off: its index is not needed
    cfg["host_removal"]["activate"] = False
    with pytest.raises(ConfigError) as exc:
        check_resources(cfg, base=wd)
    assert "bowtie2_index" not in str(exc.value)
    # optional input files are checked only when given
    cfg.setdefault("report", {})["truth"] = "truth/missing.tsv"
    cfg.setdefault("toposcore", {})["sig1"] = None
    with pytest.raises(ConfigError) as exc:
        check_resources(cfg, base=wd)
    assert f"key 'report.truth': not found: {wd / 'truth' / 'missing.tsv'}" in str(exc.value)
    assert "toposcore.sig1" not in str(exc.value)


def test_missing_database_stops_before_any_job(tmp_path):
    wd = _project(tmp_path)
    (wd / "db" / "sylph.syldb").unlink()
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(
        rc, out, "key 'taxonomy.sylph.database': not found:", str(wd / "db" / "sylph.syldb")
    )
    wd2 = _project(tmp_path / "b", config_extra={"host_removal.bowtie2_index": "db/nohost"})
    rc, out = _snakemake(wd2, "-n")
    _assert_clean_failure(rc, out, "key 'host_removal.bowtie2_index': bowtie2 index not found")


def test_shell_metacharacters_in_config_values_are_rejected(tmp_path):
    wd = _project(tmp_path, config_extra={"qc.fastp.adapter_r1": "AGATC;touch INJECTED"})
    rc, out = _snakemake(wd, "results/qc/fastp/A.fastp.json")
    _assert_clean_failure(rc, out, "key 'qc.fastp.adapter_r1'", "';'")
    assert not (wd / "INJECTED").exists()


@pytest.mark.skipif(
    any(not __import__("shutil").which(t) for t in ("fastp",)), reason="fastp not installed"
)
def test_shell_metacharacters_in_paths_are_quoted(tmp_path):
    """A read file whose name holds ; $( ) ' and spaces runs through fastp without injection."""
    wd = _project(tmp_path)
    evil = "A ;touch INJECTED1; $(touch INJECTED2) `touch INJECTED3` 'q'"
    for r in ("R1", "R2"):
        os.rename(wd / "reads" / f"A_{r}.fq.gz", wd / "reads" / f"{evil}_{r}.fq.gz")
    rows = [
        f"A\tP1\tC1\tbaseline\tshotgun\treads/{evil}_R1.fq.gz\treads/{evil}_R2.fq.gz\tR",
        "B\tP2\tC1\tbaseline\tshotgun\treads/B_R1.fq.gz\treads/B_R2.fq.gz\tNR",
    ]
    (wd / "samples.tsv").write_text(HEADER + "".join(r + "\n" for r in rows))
    rc, out = _snakemake(wd, "results/qc/fastp/A.fastp.json")
    assert rc == 0, out
    assert (wd / "results" / "qc" / "fastp" / "A.fastp.json").stat().st_size > 0
    leaked = sorted(p.name for p in wd.rglob("INJECTED*"))
    assert leaked == [], f"shell injection through a read path: {leaked}"


# ------------------------------------------------------------------------------ issue 12: sheet


def _no_job_planned(out):
    # a dry run that stopped before planning lists no job (no 'Job stats' table, no rule names)
    assert "Job stats" not in out, out
    assert "rule check_reads" not in out and "localrule check_reads" not in out, out


def test_hash_in_a_sheet_cell_is_kept_and_a_path_with_hash_is_named(tmp_path):
    wd = _project(
        tmp_path,
        rows=[
            "A\tP1\tC1\twk#6\tshotgun\treads/A_R1.fq.gz\treads/A_R2.fq.gz\tR",
            "B\tP2\tC1\tbaseline\tshotgun\treads/run#2/B_R1.fq.gz\treads/B_R2.fq.gz\tNR",
        ],
    )
    rc, out = _snakemake(wd, "-n")
    # before: the B row was cut at '#' ('file not found: .../reads/run'); now the full path
    _assert_clean_failure(
        rc,
        out,
        "row 3 (sample 'B'): column 'fq1': file not found: "
        f"{wd / 'reads' / 'run#2' / 'B_R1.fq.gz'}",
    )
    assert "row 2" not in out  # 'wk#6' is a valid time point
    _no_job_planned(out)


@pytest.mark.parametrize("spelled", ["Response", " response "])
def test_misspelled_response_header_stops_before_any_job(tmp_path, spelled):
    # before: 'Response' was kept as an extra column and the run ended with 0 R / 0 NR
    wd = _project(tmp_path)
    text = (wd / "samples.tsv").read_text().replace("\tresponse\n", f"\t{spelled}\n", 1)
    (wd / "samples.tsv").write_text(text)
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(
        rc, out, f"column {spelled!r} differs from the known column 'response'", "samples.tsv"
    )
    _no_job_planned(out)


# ------------------------------------------------------------------------------ issue 12: import

LIN = "k__Bacteria|p__Bacillota|c__Clostridia|o__Eubacteriales|f__Lachnospiraceae|g__Blautia|s__"


def _import_project(tmp_path, table=None, config_extra=None, n=4):
    """Import mode: a generic taxa x samples table of relative abundances and a metadata sheet."""
    wd = tmp_path / "wd"
    (wd / "config").mkdir(parents=True)
    ids = [f"S{i}" for i in range(1, n + 1)]
    if table is None:
        rows = [f"{LIN}Blautia_{x}\t" + "\t".join(str(10 + i + j) for j in range(n))
                for i, x in enumerate("abc")]  # fmt: skip
        table = "taxon\t" + "\t".join(ids) + "\n" + "\n".join(rows) + "\n"
    (wd / "profiles.tsv").write_text(table)
    sheet = ["sample_id\tsubject_id\tcohort\ttimepoint\tresponse"]
    sheet += [f"{s}\tP{i}\tC1\tbaseline\t{'R' if i % 2 else 'NR'}" for i, s in enumerate(ids)]
    (wd / "samples.tsv").write_text("\n".join(sheet) + "\n")
    cfg = {
        "samples": "samples.tsv",
        "import": {"activate": True, "profiles": ["profiles.tsv"], "format": "generic"},
        "diversity": {"activate": False},
    }
    for dotted, value in (config_extra or {}).items():
        node = cfg
        *parents, last = dotted.split(".")
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = value
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def _import_table(cells):
    rows = [f"{LIN}Blautia_{x}\t" + "\t".join(v) for x, v in cells]
    return "taxon\tS1\tS2\tS3\tS4\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    ("cells", "fragments"),
    [
        (
            [("a", ["10", "NA", "3", "4"]), ("b", ["1", "2", "3", "4"])],
            ["1 missing value(s)", f"line 2 (taxon '{LIN}Blautia_a'): column 'S2': 'NA'",
             "import.missing: zero"],
        ),
        (
            [("a", ["10", "", "3", "4"]), ("b", ["1", "2", "3", "4"])],
            ["1 missing value(s)", f"line 2 (taxon '{LIN}Blautia_a'): column 'S2': ''"],
        ),
        (
            [("a", ["10", "1", "3", "4"]), ("b", ["1", "2", "3", "4"]), ("a", ["1", "1", "1", "1"])],
            [f"taxon '{LIN}Blautia_a' on lines 2, 4", "not summed"],
        ),
        (
            [("a", ["10", "1", "3", "4"]), ("b", ["1", "-2", "3", "4"])],
            ["1 negative value(s)", f"line 3 (taxon '{LIN}Blautia_b'): column 'S2': '-2'"],
        ),
    ],
    ids=["NA", "blank", "duplicated_taxon", "negative"],
)  # fmt: skip
def test_import_bad_cells_stop_before_any_job(tmp_path, cells, fragments):
    # before: NA/blank -> 0 and renormalised, duplicates summed, negatives into the tables
    wd = _import_project(tmp_path, table=_import_table(cells))
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(rc, out, "import.profiles: profiles.tsv: ", *fragments)
    assert "Job stats" not in out, out


def test_import_missing_zero_runs_and_lists_the_filled_cells(tmp_path):
    table = _import_table([("a", ["10", "NA", "3", "4"]), ("b", ["1", "2", "3", "4"])])
    wd = _import_project(tmp_path, table=table, config_extra={"import.missing": "zero"})
    rc, out = _snakemake(wd, "results/taxonomy/imported/filled_cells.tsv")
    assert rc == 0, out
    filled = (wd / "results" / "taxonomy" / "imported" / "filled_cells.tsv").read_text()
    assert f"2\t{LIN}Blautia_a\tS2\tNA" in filled, filled


def test_import_bare_names_with_default_ranks_stop_before_any_job(tmp_path):
    # before: the dry run passed, then import_profiles died with a traceback naming 'lineages='
    table = "taxon\tS1\tS2\tS3\tS4\nBlautia_a\t1\t2\t3\t4\nBlautia_b\t4\t3\t2\t1\n"
    wd = _import_project(tmp_path, table=table)
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(
        rc,
        out,
        "profiles.tsv: no taxa at rank(s) genus, family, phylum of taxonomy.ranks",
        "give import.lineages",
        "set taxonomy.ranks to ['species']",
    )
    assert "lineages=" not in out and "Job stats" not in out
    wd2 = _import_project(tmp_path / "b", table=table, config_extra={"taxonomy.ranks": ["species"]})
    rc, out = _snakemake(wd2, "-n")
    assert rc == 0, out


def test_import_leaf_keep_runs_and_leaf_rank_needs_it(tmp_path):
    # import.leaf: keep: bare MAG ids with import.lineages -> abundance_leaf.tsv under their
    # lineage; without import.lineages, or rank leaf outside keep, the run stops before any job
    table = "taxon\tS1\tS2\tS3\tS4\nMAG1\t1\t2\t3\t4\nMAG2\t4\t3\t2\t1\n"
    wd = _import_project(tmp_path, table=table, config_extra={"import.leaf": "keep"})
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(rc, out, "import.leaf: keep needs import.lineages", "(e.g. MAG1)")
    (wd / "lineages.tsv").write_text(
        f"clade\tlineage\nMAG1\t{LIN}Blautia_a\nMAG2\t{LIN}Blautia_a\n"
    )
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    cfg["import"]["lineages"] = "lineages.tsv"
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    rc, out = _snakemake(wd, "results/taxonomy/imported/import_manifest.tsv")
    assert rc == 0, out
    leaf = (wd / "results" / "taxonomy" / "imported" / "abundance_leaf.tsv").read_text()
    assert f"t__MAG1\t{LIN}Blautia_a|t__MAG1\t20" in leaf, leaf
    wd2 = _import_project(tmp_path / "b", config_extra={"taxonomy.ranks": ["species", "leaf"]})
    rc, out = _snakemake(wd2, "-n")
    _assert_clean_failure(rc, out, "rank 'leaf' needs import mode with import.leaf: keep")


def test_import_mode_dry_run_has_no_empty_path_warnings(tmp_path):
    # before: six 'Empty file path encountered' warnings (function panel, Bracken library)
    rc, out = _snakemake(_import_project(tmp_path), "-n")
    assert rc == 0, out
    assert "Empty file path" not in out, out
    assert "import_profiles" in out


# ------------------------------------------------------------------------------ issue 12: config


def test_tab_indented_config_names_file_line_and_column(tmp_path):
    # before: "Config file is not valid JSON or YAML" with no file and no line
    wd = _project(tmp_path)
    cfg = wd / "config" / "config.yaml"
    text = cfg.read_text()
    assert "\n  bowtie2_index" in text
    line = text.splitlines().index("  bowtie2_index: db/host") + 1
    cfg.write_text(text.replace("\n  bowtie2_index", "\n\tbowtie2_index"))
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(
        rc,
        out,
        f"config/config.yaml line {line} column 1: found a tab character where YAML expects spaces",
    )
    assert "Job stats" not in out
    cfg.write_text(text.replace("samples: samples.tsv", "samples: [samples.tsv"))
    rc, out = _snakemake(wd, "-n")
    line = text.splitlines().index("samples: samples.tsv") + 1
    _assert_clean_failure(rc, out, f"config/config.yaml line {line + 1} column 9: expected ','")


def _n_samples(tmp_path, n, responses=None, **extra):
    rows = []
    for i in range(n):
        s = f"S{i}"
        _gz(tmp_path / "wd" / "reads" / f"{s}_R1.fq.gz", _records(20, mate=1))
        _gz(tmp_path / "wd" / "reads" / f"{s}_R2.fq.gz", _records(20, mate=2))
        resp = responses[i] if responses else ("R" if i % 2 else "NR")
        rows.append(f"{s}\tP{i}\tC{i % 2}\tbaseline\tshotgun\treads/{s}_R1.fq.gz\t"
                    f"reads/{s}_R2.fq.gz\t{resp}")  # fmt: skip
    return _project(tmp_path, rows=rows, config_extra=extra)


def test_networks_on_too_few_samples_stop_before_any_job(tmp_path):
    # before: the shipped settings on a 6-sample sheet failed minutes into the run (traceback
    # in build_network: "no group has enough samples for a network")
    wd = _n_samples(tmp_path, 6, **{"taxonomy.profilers": ["sylph"], "networks.activate": True})
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(
        rc,
        out,
        "key 'networks.activate': a network needs networks.min_group_samples = 8 samples in a "
        "group; profiler 'sylph' has all samples: 6 in the sample sheet",
    )
    assert "Job stats" not in out
    ok = _n_samples(tmp_path / "b", 6, **{"taxonomy.profilers": ["sylph"],
                    "networks.activate": True, "networks.min_group_samples": 6})  # fmt: skip
    rc, out = _snakemake(ok, "-n")
    assert rc == 0, out


def test_design_checks_diversity_groups_and_classes(tmp_path):
    wd = _n_samples(
        tmp_path, 8, responses=["R"] * 8,
        **{"taxonomy.profilers": ["sylph"], "networks.activate": True,
           "networks.group_column": "cohort", "signatures.activate": True},
    )  # fmt: skip
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(
        rc,
        out,
        "has 2 problem(s)",
        "profiler 'sylph' has C0: 4, C1: 4 in the sample sheet",
        "key 'signatures.activate': response signatures need responders and non-responders; "
        "profiler 'sylph' has 8 R / 0 NR",
    )
    wd = _project(tmp_path / "b", config_extra={"diversity.activate": True})
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(
        rc, out, "key 'diversity.activate': beta diversity needs at least 3 samples, profiler "
        "'sylph' has 2 in the sample sheet"
    )  # fmt: skip
    wd = _project(tmp_path / "c", config_extra={"networks.activate": True,
                                                "networks.group_column": "centre"})  # fmt: skip
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(
        rc, out, "key 'networks.group_column': 'centre' is not a sample-sheet column"
    )


# ------------------------------------------------------------------------------ issue 12: databases


def test_truncated_sylph_and_empty_kraken2_databases_stop_before_any_job(tmp_path):
    # before: found mid-run, as tracebacks in sylph_profile / kraken2_classify
    import pysylph

    wd = _project(
        tmp_path,
        config_extra={
            "taxonomy.profilers": ["sylph", "kraken2"],
            "taxonomy.kraken2.database": "db/kraken2",
            "taxonomy.kraken2.library": "",
        },
    )
    sk = pysylph.Sketcher(c=100, k=31)
    genome = "".join("ACGT"[(i * 7 + i // 5) % 4] for i in range(20_000))
    db = wd / "db" / "sylph.syldb"
    pysylph.Database([sk.sketch_genome("g1", [genome])]).dump(str(db))
    data = db.read_bytes()
    db.write_bytes(data[: len(data) * 2 // 3])  # an interrupted copy
    (wd / "db" / "kraken2").mkdir()
    rc, out = _snakemake(wd, "-n")
    _assert_clean_failure(
        rc,
        out,
        f"key 'taxonomy.sylph.database': {db}: truncated or not a sylph .syldb database",
        f"key 'taxonomy.kraken2.database': {wd / 'db' / 'kraken2' / 'hash.k2d'} is missing",
    )
    assert "Job stats" not in out
