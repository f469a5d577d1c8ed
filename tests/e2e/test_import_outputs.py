"""Import mode end to end: existing profiles + a sheet without read columns through every stage.

Two cases: a generic taxa x samples TSV of read counts made here from the demo's planted ecology
(runs anywhere), and a subset of three real MetaPhlAn 4 cohort tables (relative abundances, no
counts) from ../shared/data/ici_mpa4_8cohorts (marked ``shared``; skipped when absent). Each
checks that the standard tables equal :func:`icibiome.taxonomy.importers.import_profiles`' own output and
that diversity, networks/guilds, TOPOSCORE, signatures and the report ran, with no read rule.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_snakemake

from icibiome.demo.genomes import TAXA
from icibiome.demo.make import plant_ecology
from icibiome.taxonomy.importers import import_profiles

SHARED = ROOT.parent / "shared" / "data" / "ici_mpa4_8cohorts"
RANKS = ["species", "genus", "family", "phylum"]
READ_RULES = ("fastp", "bowtie2", "sylph_profile", "kraken2_classify", "check_reads")

# small but complete: a rho network with lenient thresholds (guilds -> TOPOSCORE), one quick
# signature model; the same settings as the e2e basic case
STAGES = {
    "networks": {
        "activate": True,
        "method": "rho",
        "min_prevalence": 0.5,
        "permutations": 200,
        "alpha": 0.05,
        "min_abs_r": 0.3,
    },
    "guilds": {"min_module_size": 3},
    "toposcore": {"activate": True},
    "signatures": {
        "activate": True,
        "min_per_class": 2,
        "classifiers": ["lasso"],
        "within_repeats": 1,
    },
    "report": {"title": "icibiome import mode"},
}


def _generic_case(wd: Path, n_samples: int = 24, depth: int = 20_000) -> tuple[Path, Path]:
    """A generic TSV of read counts (lineage x sample) and a sheet without read columns."""
    rng = np.random.default_rng(11)
    tax = pd.DataFrame(
        [
            {
                "genome_id": f"G{i:02d}",
                "guild": t[6],
                "lineage": "|".join(
                    [
                        "k__Bacteria",
                        *(f"{p}__{v}" for p, v in zip("pcofg", t[:5], strict=True)),
                        f"s__{t[4]}_{t[5]}",
                    ]
                ),
            }
            for i, t in enumerate(TAXA)
        ]
    )
    frac, clinical = plant_ecology(rng, tax, n_samples)
    counts = np.vstack([rng.multinomial(depth, p) for p in frac.to_numpy()])
    table = pd.DataFrame(counts.T, index=tax["lineage"], columns=frac.index)
    table["X_extra"] = table.iloc[:, 0]  # profiled, not in the sheet: excluded
    data = wd / "data"
    data.mkdir(parents=True)
    table.rename_axis("taxon").to_csv(data / "counts.tsv", sep="\t")
    sheet = clinical.drop(columns=["guild_balance", "p_response"]).assign(timepoint="baseline")
    extra = sheet.iloc[[0]].assign(sample_id="C1_NOPROFILE", subject_id="S999")
    pd.concat([sheet, extra]).to_csv(data / "samples.tsv", sep="\t", index=False)
    return data / "counts.tsv", data / "samples.tsv"


def _write_config(wd: Path, profiles: list[str], samples: str, **import_cfg) -> None:
    cfg = {
        "samples": samples,
        "import": {"activate": True, "profiles": profiles, **import_cfg},
        **STAGES,
    }
    (wd / "config").mkdir(parents=True, exist_ok=True)
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def _check_run(wd: Path, profiler: str, expected: dict, counts: bool) -> None:
    tdir = wd / "results" / "taxonomy" / profiler
    for rank in RANKS:
        got = pd.read_csv(tdir / f"abundance_{rank}.tsv", sep="\t").set_index("lineage")
        # the same values; the written table is sorted by mean value
        want = expected[rank].set_index("lineage").loc[got.index, got.columns]
        pd.testing.assert_frame_equal(got, want, check_dtype=False, atol=1e-6)
        got = got.reset_index()
        sums = got.drop(columns=["clade_name", "lineage"]).sum()
        assert np.allclose(sums, 100, atol=1e-3), rank
        assert (tdir / f"counts_{rank}.tsv").exists() == counts
    html = (wd / "results/report/multiqc_report.html").read_text()
    # import-mode sections instead of read QC: the files, composition by sample and response
    assert "Imported profiles" in html and f"Taxonomic composition ({profiler}" in html
    assert "Read survival" not in html
    for path in (
        f"results/diversity/{profiler}/permanova.tsv",
        f"results/diversity/{profiler}/alpha.tsv",
        f"results/guilds/{profiler}/guild_scores.tsv",
        f"results/signatures/{profiler}/toposcore.tsv",
        f"results/signatures/{profiler}/meta_analysis.tsv",
        f"results/signatures/{profiler}/loco_auc.tsv",
    ):
        assert (wd / path).stat().st_size > 0, path
    alpha = pd.read_csv(wd / f"results/diversity/{profiler}/alpha.tsv", sep="\t")
    assert alpha["shannon"].notna().all()
    assert alpha["classified_reads"].notna().all() == counts
    # no read rule ran: no QC outputs, no read-rule logs
    assert not (wd / "results" / "qc").exists()
    logs = {p.name for p in (wd / "logs").iterdir()}
    assert not logs & set(READ_RULES), logs & set(READ_RULES)


@pytest.mark.slow
def test_import_generic_counts_table(tmp_path):
    """Generic counts TSV: tables equal the importer's, counts kept, mismatches listed."""
    wd = tmp_path / "generic"
    counts_tsv, sheet = _generic_case(wd)
    _write_config(wd, ["data/counts.tsv"], "data/samples.tsv", format="generic")
    # a mismatch stops the run before any job, naming the samples
    proc = run_snakemake(wd, "-n", check=False)
    assert proc.returncode != 0
    assert "C1_NOPROFILE" in proc.stderr + proc.stdout
    assert "X_extra" in proc.stderr + proc.stdout
    _write_config(
        wd, ["data/counts.tsv"], "data/samples.tsv", format="generic", on_mismatch="exclude"
    )
    run_snakemake(wd)
    expected = import_profiles(
        [counts_tsv],
        tmp_path / "direct",
        ranks=RANKS,
        fmt="generic",
        metadata=sheet,
        on_missing_metadata="drop",
    )
    _check_run(wd, "imported", expected, counts=True)
    excluded = pd.read_csv(wd / "results/taxonomy/imported/excluded_samples.tsv", sep="\t")
    assert set(excluded["sample_id"]) == {"C1_NOPROFILE", "X_extra"}
    flags = (wd / "results/report/custom/import_flags_mqc.tsv").read_text()
    assert "C1_NOPROFILE" in flags and "X_extra" in flags
    cnt = pd.read_csv(wd / "results/taxonomy/imported/counts_species.tsv", sep="\t")
    assert "X_extra" not in cnt.columns
    assert (cnt.drop(columns=["clade_name", "lineage"]).sum() == 20_000).all()


@pytest.mark.slow
@pytest.mark.shared
def test_import_metaphlan4_three_cohorts(tmp_path):
    """Real MetaPhlAn 4 tables of three cohorts (16 samples each): relative abundances only."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not available: {SHARED}")
    labels = pd.read_csv(SHARED / "labels_harmonised.tsv", sep="\t", dtype=str)
    wd = tmp_path / "mpa4"
    data = wd / "data"
    data.mkdir(parents=True)
    profiles, rows = [], []
    for table in ("Lee_merged_table.txt", "Frankel_merged_table.txt", "Mat_merged_table.txt"):
        sub = labels[labels["table_file"] == table]
        # 8 responders and 8 non-responders per cohort (ORR as recommended in SOURCE.md)
        sub = pd.concat([sub[sub["ORR_recommended"] == v].head(8) for v in ("yes", "no")])
        df = pd.read_csv(SHARED / table, sep="\t", comment="#", dtype=str)
        df[["clade_name", *sub["column_name"]]].to_csv(data / table, sep="\t", index=False)
        profiles.append(str(data / table))
        # the importer strips the "metaphlan_" column prefix: ids are the run accessions
        rows += [
            {
                "sample_id": r["run_accession"],
                "subject_id": r["run_accession"],
                "cohort": r["study"],
                "timepoint": "baseline",
                "response": "R" if r["ORR_recommended"] == "yes" else "NR",
            }
            for _, r in sub.iterrows()
        ]
    pd.DataFrame(rows).to_csv(data / "samples.tsv", sep="\t", index=False)
    _write_config(wd, [f"data/{Path(p).name}" for p in profiles], "data/samples.tsv")
    run_snakemake(wd)
    expected = import_profiles(
        profiles, tmp_path / "direct", ranks=RANKS, metadata=data / "samples.tsv"
    )
    _check_run(wd, "imported", expected, counts=False)
    manifest = pd.read_csv(wd / "results/taxonomy/imported/import_manifest.tsv", sep="\t")
    assert set(manifest["naming"]) == {"metaphlan4"}
    assert manifest["samples"].sum() == 48
