"""Sample-sheet validation: good sheets parse, bad sheets fail with file, row and column named."""

import gzip

import pytest

from icibiome.samplesheet import SampleSheetError, read_sample_sheet

HEADER = (
    "sample_id\tsubject_id\tcohort\ttimepoint\tassay\tfq1\tfq2\tresponse\tpfs_months\tpfs_event\n"
)


def _fq(path, names=("r1",), gz=True):
    text = "".join(f"@{n}\nACGT\n+\nIIII\n" for n in names)
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def reads(tmp_path):
    d = tmp_path / "reads"
    d.mkdir()
    _fq(d / "A_R1.fq.gz", ["a1/1"])
    _fq(d / "A_R2.fq.gz", ["a1/2"])
    _fq(d / "B.fq.gz", ["b1"])
    return d


def _sheet(tmp_path, rows, header=HEADER):
    p = tmp_path / "samples.tsv"
    p.write_text(header + "".join(r + "\n" for r in rows))
    return p


GOOD = [
    "A\tP1\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\treads/A_R2.fq.gz\tR\t12.5\t0",
    "B\tP2\tC1\tbaseline\tshotgun\treads/B.fq.gz\t\tNR\t3\t1",
]


def test_good_sheet_parses_with_layout_and_absolute_paths(tmp_path, reads):
    df = read_sample_sheet(_sheet(tmp_path, GOOD))
    assert list(df.index) == ["A", "B"]
    assert df.loc["A", "layout"] == "paired" and df.loc["B", "layout"] == "single"
    assert df.loc["A", "fq1"] == str(reads / "A_R1.fq.gz")
    assert df.loc["B", "fq2"] == ""
    assert df.loc["A", "pfs_months"] == 12.5 and df.loc["B", "pfs_event"] == 1


def test_comments_and_whitespace_are_tolerated(tmp_path, reads):
    rows = [
        "# a comment line",
        " A \tP1\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\treads/A_R2.fq.gz\tR\t\t",
    ]
    df = read_sample_sheet(_sheet(tmp_path, rows))
    assert list(df.index) == ["A"]


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("A B\tP1\tC1\tbaseline\tshotgun\treads/B.fq.gz\t\tR\t\t", "sample_id", "not allowed"),
        ("A;rm\tP1\tC1\tbaseline\tshotgun\treads/B.fq.gz\t\tR\t\t", "sample_id", "not allowed"),
        ("X\tP1\tC1\tbaseline\tshotgun\treads/B.fq.gz\t\tresponder\t\t", "response", "not one of"),
        ("X\tP1\tC1\tbaseline\tWGS\treads/B.fq.gz\t\tR\t\t", "assay", "not one of"),
        ("X\tP1\tC1\tbaseline\tshotgun\treads/missing.fq.gz\t\tR\t\t", "fq1", "file not found"),
        ("X\tP1\tC1\tbaseline\tshotgun\treads/B.fq.gz\t\tR\tsoon\t", "pfs_months", "not a number"),
        ("X\tP1\tC1\tbaseline\tshotgun\treads/B.fq.gz\t\tR\t\t2", "pfs_event", "not one of"),
        ("X\tP1\tC1\tbaseline\tshotgun\treads/B.fq.gz\treads/B.fq.gz\tR\t\t", "fq2", "same file"),
    ],
)
def test_bad_rows_name_file_row_and_column(tmp_path, reads, row, column, fragment):
    p = _sheet(tmp_path, [GOOD[0], row])
    with pytest.raises(SampleSheetError) as exc:
        read_sample_sheet(p)
    msg = str(exc.value)
    assert str(p) in msg
    assert "row 3" in msg  # header is line 1, the bad row is line 3
    assert f"column {column!r}" in msg
    assert fragment in msg


def test_duplicate_ids_and_every_problem_reported_at_once(tmp_path, reads):
    rows = [GOOD[0], GOOD[0], "B\tP2\tC1\tbaseline\tshotgun\treads/nope.fq\t\tmaybe\t\t"]
    with pytest.raises(SampleSheetError) as exc:
        read_sample_sheet(_sheet(tmp_path, rows))
    assert len(exc.value.problems) == 3
    msg = str(exc.value)
    assert "'A' is used on rows [2, 3]" in msg
    assert "file not found" in msg and "'maybe' is not one of" in msg


def test_missing_required_column(tmp_path, reads):
    header = "sample_id\tcohort\tfq1\n"
    with pytest.raises(SampleSheetError, match="required column.*subject_id.*timepoint.*assay"):
        read_sample_sheet(_sheet(tmp_path, ["A\tC1\treads/B.fq.gz"], header=header))


def test_pair_mismatch_and_mixed_compression(tmp_path, reads):
    _fq(reads / "other_R2.fq.gz", ["zz/2"])
    _fq(reads / "plain_R2.fq", ["a1/2"], gz=False)
    rows = [
        "A\tP1\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\treads/other_R2.fq.gz\tR\t\t",
        "B\tP1\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\treads/plain_R2.fq\tR\t\t",
    ]
    with pytest.raises(SampleSheetError) as exc:
        read_sample_sheet(_sheet(tmp_path, rows))
    msg = str(exc.value)
    assert "first read names of the pair differ ('a1' vs 'zz')" in msg
    assert "differ in compression" in msg


def test_empty_read_file_and_missing_sheet(tmp_path, reads):
    (reads / "empty.fq.gz").write_bytes(b"")
    rows = ["E\tP1\tC1\tbaseline\tshotgun\treads/empty.fq.gz\t\tR\t\t"]
    with pytest.raises(SampleSheetError, match="file is empty"):
        read_sample_sheet(_sheet(tmp_path, rows))
    with pytest.raises(SampleSheetError, match="file not found"):
        read_sample_sheet(tmp_path / "nope.tsv")


def test_header_only_sheet(tmp_path):
    with pytest.raises(SampleSheetError, match="no samples"):
        read_sample_sheet(_sheet(tmp_path, []))


# ------------------------------------------------------------------ longitudinal and FMT designs
def _design_sheet(tmp_path, rows):
    header = "sample_id\tsubject_id\tcohort\ttimepoint\tresponse\trole\tdonor_id\tdays\n"
    p = tmp_path / "design.tsv"
    p.write_text(header + "\n".join(rows) + "\n")
    return p


def test_fmt_design_errors_name_row_and_column(tmp_path):
    rows = [
        "D1\tDON1\tT1\tdonor\tR\tdonor\t\t0",  # a donor with a response label
        "R1a\tREC1\tT1\tbaseline\tNR\tpatient\tD1\t0",
        "R1b\tREC1\tT1\tbaseline\tNR\tpatient\tD9\t14",  # two baselines; D9 is no donor
    ]
    with pytest.raises(SampleSheetError) as exc:
        read_sample_sheet(_design_sheet(tmp_path, rows), reads=False)
    msg = str(exc.value)
    assert "row 2 (sample 'D1'): column 'response': a donor sample has no response label" in msg
    assert (
        "row 4 (sample 'R1b'): column 'donor_id': 'D9' is not the sample_id of a donor row" in msg
    )
    assert "subject 'REC1' has 2 baseline samples (rows [3, 4])" in msg
    assert len(exc.value.problems) == 3


def test_analysis_samples_one_baseline_per_patient_no_donor(tmp_path):
    from icibiome.samplesheet import analysis_samples

    rows = [
        "D1\tDON1\tT1\tdonor\t\tdonor\t\t0",
        "R1a\tREC1\tT1\tbaseline\tNR\tpatient\tD1\t0",
        "R1b\tREC1\tT1\tday14\tNR\tpatient\tD1\t14",
        "R2b\tREC2\tT1\tday14\tR\tpatient\tD1\t14",
        "R2a\tREC2\tT1\tscreening\tR\tpatient\tD1\t-3",  # no 'baseline' label: earliest day
        "P3\tPAT3\tT1\tbaseline\tR\t\t\t",
    ]
    sheet = read_sample_sheet(_design_sheet(tmp_path, rows), reads=False)
    assert list(analysis_samples(sheet)) == ["R1a", "R2a", "P3"]
    assert sheet.loc["R1b", "days"] == 14 and sheet.loc["D1", "role"] == "donor"


def test_hash_inside_a_cell_is_data_not_a_comment(tmp_path, reads):
    # pandas' comment='#' cut the row at 'wk#6': timepoint 'wk', the rest of the row lost
    rows = [
        "# a comment line",
        "A\tP1\tC1\twk#6\tshotgun\treads/A_R1.fq.gz\treads/A_R2.fq.gz\tR\t12.5\t0",
    ]
    df = read_sample_sheet(_sheet(tmp_path, rows))
    assert df.loc["A", "timepoint"] == "wk#6"
    assert df.loc["A", "response"] == "R" and df.loc["A", "pfs_months"] == 12.5
    assert df.loc["A", "fq2"] == str(reads / "A_R2.fq.gz")


def test_hash_in_a_path_names_the_real_path(tmp_path, reads):
    (reads / "run#2").mkdir()
    _fq(reads / "run#2" / "B.fq.gz", ["b1"])
    rows = ["B\tP2\tC1\tbaseline\tshotgun\treads/run#2/B.fq.gz\t\tNR\t\t"]
    df = read_sample_sheet(_sheet(tmp_path, rows))
    assert df.loc["B", "fq1"] == str(reads / "run#2" / "B.fq.gz")
    rows = ["B\tP2\tC1\tbaseline\tshotgun\treads/run#3/B.fq.gz\t\tNR\t\t"]
    with pytest.raises(SampleSheetError) as exc:
        read_sample_sheet(_sheet(tmp_path, rows))
    assert f"file not found: {reads / 'run#3' / 'B.fq.gz'}" in str(exc.value)


@pytest.mark.parametrize(
    ("spelled", "known"),
    [
        ("Response", "response"),
        ("SEX", "sex"),
        (" response ", "response"),
        ("Sample_ID", "sample_id"),
    ],
)
def test_header_differing_only_by_case_or_space_is_an_error(tmp_path, reads, spelled, known):
    header = HEADER.rstrip("\n").split("\t")
    header = [spelled if h == known else h for h in header]
    if known not in HEADER:
        header.append(spelled)
    row = GOOD[0] + ("\tM" if known not in HEADER else "")
    p = _sheet(tmp_path, [row], header="\t".join(header) + "\n")
    with pytest.raises(SampleSheetError) as exc:
        read_sample_sheet(p)
    msg = str(exc.value)
    assert f"column {spelled!r} differs from the known column {known!r}" in msg
    assert str(p) in msg and "line 1" in msg


def test_crlf_and_bom_sheets_parse(tmp_path, reads):
    text = HEADER + "".join(r + "\n" for r in GOOD)
    p = tmp_path / "samples.tsv"
    p.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    df = read_sample_sheet(p)
    assert list(df.index) == ["A", "B"]
    assert list(df["response"]) == ["R", "NR"] and df.loc["B", "pfs_event"] == 1


def test_yaml_syntax_errors_name_file_line_and_column(tmp_path, capsys):
    from icibiome.config import ConfigError, check_yaml_file, main

    cfg = tmp_path / "my_config.yaml"
    cfg.write_text("samples: s.tsv\ntaxonomy:\n  ranks: [species]\n\tprofilers: [sylph]\n")
    with pytest.raises(ConfigError) as exc:
        check_yaml_file(cfg)
    assert exc.value.problems == [
        f"{cfg} line 4 column 1: found a tab character where YAML expects spaces "
        "(indent with spaces)"
    ]
    assert main([str(cfg)]) == 1
    assert f"{cfg} line 4 column 1" in capsys.readouterr().out
    cfg.write_text("samples: s.tsv\n")
    assert main([str(cfg)]) == 0


def test_outcomes_only_at_baseline_for_the_response_analyses(tmp_path):
    from icibiome.samplesheet import outcomes_at_baseline
    from icibiome.signatures.stage import sample_info

    rows = [
        "D1\tDON1\tT1\tdonor\t\tdonor\t\t0",
        "R1a\tREC1\tT1\tbaseline\tNR\tpatient\tD1\t0",
        "R1b\tREC1\tT1\tday14\tNR\tpatient\tD1\t14",
        "P3\tPAT3\tT1\tbaseline\tR\t\t\t",
    ]
    path = _design_sheet(tmp_path, rows)
    sheet = outcomes_at_baseline(read_sample_sheet(path, reads=False))
    assert sheet["response"].to_dict() == {"D1": "", "R1a": "NR", "R1b": "", "P3": "R"}
    # the signatures stage sees one labelled sample per patient (a follow-up is not a second NR)
    info = sample_info(path, ["D1", "R1a", "R1b", "P3"])
    assert (info["response"] == "NR").sum() == 1 and (info["response"] == "R").sum() == 1


def test_one_stool_by_shotgun_and_16s_is_one_baseline_of_each(tmp_path, reads):
    from icibiome.samplesheet import analysis_samples

    _fq(reads / "S_16S.fq.gz", ["s1"])
    rows = [
        "A\tP1\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\treads/A_R2.fq.gz\tR\t\t",
        "A16\tP1\tC1\tbaseline\t16S\treads/S_16S.fq.gz\t\tR\t\t",
    ]
    sheet = read_sample_sheet(_sheet(tmp_path, rows))
    assert list(analysis_samples(sheet)) == ["A", "A16"]
    rows.append("A2\tP1\tC1\tbaseline\tshotgun\treads/A_R1.fq.gz\treads/A_R2.fq.gz\tR\t\t")
    with pytest.raises(SampleSheetError, match="2 baseline samples of assay 'shotgun'"):
        read_sample_sheet(_sheet(tmp_path, rows))
