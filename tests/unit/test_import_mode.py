"""Import mode planning (icibiome.taxonomy.import_mode) and the sample sheet without read columns."""

import pandas as pd
import pytest

from icibiome.samplesheet import SampleSheetError, read_sample_sheet
from icibiome.taxonomy.import_mode import ImportModeError, plan_import, run_import

LIN = "k__Bacteria|p__Bacillota|c__C|o__O|f__F|g__G|s__G_"


def _table(path, samples, counts=False):
    rows = {f"{LIN}{x}": [(30 if i % 2 else 20) + j + 0.5 for j in range(len(samples))]
            for i, x in enumerate("abc")}  # fmt: skip
    df = pd.DataFrame(rows, index=samples).T
    if counts:
        df = df * 100
    df.rename_axis("taxon").to_csv(path, sep="\t")
    return path


def _sheet(path, ids, extra=""):
    lines = ["sample_id\tsubject_id\tcohort\ttimepoint\tresponse"]
    lines += [f"{s}\tP{i}\tC1\tbaseline\t{'R' if i % 2 else 'NR'}" for i, s in enumerate(ids)]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def test_plan_lists_both_mismatches_and_stops(tmp_path):
    prof = _table(tmp_path / "p.tsv", ["A", "B", "X"])
    with pytest.raises(ImportModeError) as err:
        plan_import([prof], ["A", "B", "C"], fmt="generic")
    msg = str(err.value)
    assert "1 sample(s) of the sample sheet have no profile: C" in msg
    assert "1 profiled sample(s) have no row in the sample sheet: X" in msg


def test_plan_exclude_and_counts(tmp_path):
    prof = _table(tmp_path / "p.tsv", ["A", "B", "X"], counts=True)
    plan = plan_import([prof], ["A", "B", "C"], fmt="generic", on_mismatch="exclude")
    assert plan.samples == ["A", "B"] and plan.has_counts
    assert plan.excluded().set_index("sample_id")["reason"].to_dict() == {
        "C": "in the sample sheet, not in the profiles",
        "X": "in the profiles, not in the sample sheet",
    }


def test_plan_no_common_sample_and_missing_file(tmp_path):
    prof = _table(tmp_path / "p.tsv", ["A"])
    with pytest.raises(ImportModeError, match="no sample id is in both"):
        plan_import([prof], ["Z"], fmt="generic", on_mismatch="exclude")
    with pytest.raises(ImportModeError, match="missing.tsv: profile file not found"):
        plan_import([tmp_path / "missing.tsv"], ["A"])


def test_name_map_renames_profile_columns(tmp_path):
    prof = _table(tmp_path / "p.tsv", ["ERR1", "ERR2", "ERR3"])
    names = tmp_path / "names.tsv"
    names.write_text("profile_name\tsample_id\nERR1\tS1\nERR2\tS2\nERR3\tS3\n")
    sheet = _sheet(tmp_path / "s.tsv", ["S1", "S2", "S3"])
    plan = run_import([prof], sheet, tmp_path / "out", ["species", "genus"], name_map=names)
    assert plan.samples == ["S1", "S2", "S3"] and not plan.has_counts
    ab = pd.read_csv(tmp_path / "out" / "abundance_species.tsv", sep="\t")
    assert list(ab.columns[2:]) == ["S1", "S2", "S3"]
    assert ab[["S1", "S2", "S3"]].sum().round(4).eq(100).all()
    assert not (tmp_path / "out" / "counts_species.tsv").exists()
    assert pd.read_csv(tmp_path / "out" / "excluded_samples.tsv", sep="\t").empty


def test_sheet_without_read_columns(tmp_path):
    sheet = _sheet(tmp_path / "s.tsv", ["S1", "S2"])
    with pytest.raises(SampleSheetError, match="required column"):
        read_sample_sheet(sheet)  # a read run needs assay and fq1
    df = read_sample_sheet(sheet, reads=False)
    assert list(df["assay"]) == ["imported", "imported"] and set(df["fq1"]) == {""}
    # the stages after profiling read either kind of sheet
    assert list(read_sample_sheet(sheet, check_files=False).index) == ["S1", "S2"]
    bad = _sheet(tmp_path / "b.tsv", ["S1", "S 2"])
    with pytest.raises(SampleSheetError, match=r"row 3 \(sample 'S 2'\): column 'sample_id'"):
        read_sample_sheet(bad, reads=False)


def test_report_flags_excluded_and_zero_hit_samples(tmp_path):
    from icibiome.taxonomy.import_mode import import_report_content

    prof = _table(tmp_path / "p.tsv", ["S1", "S2", "S3", "X"])
    df = pd.read_csv(prof, sep="\t", index_col=0)
    df["S3"] = 0.0  # an imported sample with nothing classified
    df.to_csv(prof, sep="\t")
    sheet = _sheet(tmp_path / "s.tsv", ["S1", "S2", "S3"])
    out = tmp_path / "out"
    run_import([prof], sheet, out, ["species"], on_mismatch="exclude")
    flags = import_report_content(
        out / "abundance_species.tsv",
        sheet,
        out / "import_manifest.tsv",
        out / "excluded_samples.tsv",
        *(tmp_path / f"{n}_mqc.tsv" for n in ("comp", "comp_resp", "files", "flags")),
    )
    assert flags["flag"].to_dict() == {
        "X": "left out: in the profiles, not in the sample sheet",
        "S3": "nothing classified at species (all-zero profile)",
    }
    assert "p.tsv\tmetaphlan_merged" in (tmp_path / "files_mqc.tsv").read_text()  # auto-detected


def test_plan_finds_bare_names_that_cannot_reach_the_ranks(tmp_path):
    # before: the plan passed and import_profiles died with a traceback naming 'lineages='
    prof = tmp_path / "bare.tsv"
    prof.write_text("taxon\tA\tB\nBlautia_obeum\t10\t20\nBlautia_wexlerae\t5\t6\n")
    with pytest.raises(ImportModeError) as err:
        plan_import([prof], ["A", "B"], fmt="generic", ranks=["species", "genus", "phylum"])
    msg = str(err.value)
    assert f"{prof}: no taxa at rank(s) genus, phylum of taxonomy.ranks" in msg
    assert "give import.lineages" in msg and "set taxonomy.ranks to ['species']" in msg
    assert "lineages=" not in msg
    plan = plan_import([prof], ["A", "B"], fmt="generic", ranks=["species"])
    assert plan.samples == ["A", "B"]


def test_report_flags_filled_cells(tmp_path):
    from icibiome.taxonomy.import_mode import import_report_content

    prof = tmp_path / "p.tsv"
    prof.write_text(f"taxon\tA\tB\n{LIN}a\t10\tNA\n{LIN}b\t30\t5\n")
    sheet = _sheet(tmp_path / "s.tsv", ["A", "B"])
    out = tmp_path / "out"
    run_import([prof], sheet, out, ["species"], fmt="generic", missing="zero")
    r = tmp_path / "r"
    r.mkdir()
    flags = import_report_content(
        out / "abundance_species.tsv", sheet, out / "import_manifest.tsv",
        out / "excluded_samples.tsv", r / "c.tsv", r / "cr.tsv", r / "f.tsv", r / "fl.tsv",
        filled_tsv=out / "filled_cells.tsv",
    )  # fmt: skip
    assert list(flags.index) == ["B"]
    assert flags.loc["B", "flag"].startswith("1 missing cell(s) read as 0 (import.missing: zero)")
    assert "p.tsv line 2" in flags.loc["B", "flag"]
    assert "missing cells read as 0" in (r / "fl.tsv").read_text()
    with pytest.raises(ImportModeError, match="1 missing value"):
        plan_import([prof], ["A", "B"], fmt="generic")


def test_malformed_files_are_user_errors_naming_the_file(tmp_path):
    # before: a KeyError / pandas ParserError traceback, or a message without the file
    prof = tmp_path / "S1.tsv"
    prof.write_text("lineage\trelative_abundance\nk__B|s__x\t5\n")  # no estimated_reads column
    with pytest.raises(ImportModeError) as err:
        plan_import([prof], ["S1"], fmt="icibiome_profile")
    assert f"import.profiles: {prof}: no column 'estimated_reads'" in str(err.value)
    mpa = tmp_path / "S1.sylphmpa"
    mpa.write_text("clade_name\trelative_abundance\tsequence_abundance\nk__B|s__x\tabc\t1\n")
    with pytest.raises(ImportModeError, match=r"S1\.sylphmpa: cannot be read as format 'sylphtax'"):
        plan_import([mpa], ["S1"], fmt="sylphtax")
    good = _table(tmp_path / "p.tsv", ["A", "B"])
    bad_map = tmp_path / "names.tsv"
    bad_map.write_text('a\n"b\tc\n')
    with pytest.raises(ImportModeError, match=r"import\.name_map: .*names\.tsv: not a readable"):
        plan_import([good], ["A", "B"], fmt="generic", name_map=bad_map)


def test_leaf_keep_plan_and_run(tmp_path):
    # import.leaf: keep: bare MAG ids need import.lineages (before any job), then the run
    # writes abundance_leaf.tsv (rank leaf added) with every MAG under its lineage
    prof = tmp_path / "mags.tsv"
    prof.write_text("taxon\tA\tB\nMAG1\t10\t20\nMAG2\t5\t6\n")
    with pytest.raises(ImportModeError) as err:
        plan_import([prof], ["A", "B"], fmt="generic", ranks=["species"], leaf="keep")
    assert "import.leaf: keep needs import.lineages" in str(err.value)
    lin = tmp_path / "lin.tsv"
    lin.write_text(f"clade\tlineage\nMAG1\t{LIN}a\nMAG2\t{LIN}a\n")
    sheet = _sheet(tmp_path / "s.tsv", ["A", "B"])
    out = tmp_path / "out"
    run_import([prof], sheet, out, ["species", "genus"], fmt="generic", lineages=lin, leaf="keep")
    leaf = pd.read_csv(out / "abundance_leaf.tsv", sep="\t")
    assert list(leaf["lineage"]) == [f"{LIN}a|t__MAG1", f"{LIN}a|t__MAG2"]
    sp = pd.read_csv(out / "abundance_species.tsv", sep="\t")
    assert list(sp["clade_name"]) == ["s__G_a"] and sp["A"].tolist() == [100.0]
    manifest = pd.read_csv(out / "import_manifest.tsv", sep="\t")
    assert manifest.loc[0, "naming"].startswith("lineages from lin.tsv")  # not "unknown"
    # the default sums the two MAGs into their species and says so in the manifest
    run_import([prof], sheet, tmp_path / "sum", ["species"], fmt="generic", lineages=lin)
    notes = pd.read_csv(tmp_path / "sum" / "import_manifest.tsv", sep="\t").loc[0, "notes"]
    assert "MAG1 + MAG2 -> s__G_a" in notes
    assert not (tmp_path / "sum" / "abundance_leaf.tsv").exists()


def test_leaf_keep_plan_needs_leaf_rows(tmp_path):
    prof = _table(tmp_path / "p.tsv", ["A", "B"])  # full lineages, no t__ rows
    with pytest.raises(ImportModeError) as err:
        plan_import([prof], ["A", "B"], ranks=["species"], leaf="keep")
    assert "import.leaf: keep:" in str(err.value) and "no leaf rows" in str(err.value)
    assert "or set import.leaf: species" in str(err.value)
