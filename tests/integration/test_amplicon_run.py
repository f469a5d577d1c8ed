"""The 16S amplicon path for real on the synthetic demo amplicons, checked against their truth.

A tiny shotgun demo (:func:`icibiome.demo.make.make_demo`, 8 genomes, 4 samples) gives the 16S-like
loci and true abundances; :func:`icibiome.demo.amplicon.simulate_amplicons` makes 2x250 MiSeq
(ART MSv1) V4 pairs with primers and chimeras; the real cutadapt, vsearch and (when installed)
DADA2 then run through :func:`icibiome.amplicon.stage.run_amplicon`. Thresholds are set from
measured values with a margin (measured on seed 3: vsearch recall 1.0 in every sample, no
spurious ASV, ASV Bray-Curtis <= 0.014; DADA2 recall 0.63-1.0, ASV Bray-Curtis <= 0.034).
"""

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from icibiome.amplicon.dada2 import dada2_available
from icibiome.amplicon.denoise import vsearch_filter
from icibiome.amplicon.runner import AmpliconToolError
from icibiome.amplicon.sequences import PRIMERS_V4, primer_regex, read_fasta
from icibiome.amplicon.stage import run_amplicon
from icibiome.amplicon.tables import TRACKING_COLUMNS, read_asv_table, read_biom
from icibiome.demo.amplicon import evaluate_asvs, simulate_amplicons
from icibiome.io import read_abundance
from icibiome.taxonomy.profiles import bray_curtis

pytestmark = [
    pytest.mark.skipif(shutil.which("vsearch") is None, reason="vsearch not installed"),
    pytest.mark.skipif(shutil.which("cutadapt") is None, reason="cutadapt not installed"),
    pytest.mark.skipif(shutil.which("art_illumina") is None, reason="art_illumina not installed"),
]
PAIRS = 3000
SEED = 3


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from icibiome.demo.make import make_demo

    root = tmp_path_factory.mktemp("amp")
    demo = make_demo(
        root / "demo", seed=SEED, n_samples=4, pairs_per_sample=50, n_genomes=8, databases=False
    )
    amp = simulate_amplicons(
        demo / "reference" / "16s.fa",
        demo / "truth" / "abundance_species.tsv",
        None,
        root / "amp",
        reads_per_sample=PAIRS,
        seed=SEED,
        sample_sheet=demo / "samples.tsv",
        threads=2,
    )
    sheet = pd.read_csv(amp / "samples.tsv", sep="\t")
    return {"root": root, "demo": demo, "amp": amp, "sheet": sheet}


def _run(sim, denoiser, out, n=4, **kw):
    sheet, amp = sim["sheet"].iloc[:n], sim["amp"]
    return run_amplicon(
        list(sheet["sample_id"]),
        [amp / f for f in sheet["fq1"]],
        out,
        amp / "reference" / "sintax.fa",
        fq2=[amp / f for f in sheet["fq2"]],
        primers=PRIMERS_V4,
        denoiser=denoiser,
        threads=2,
        **kw,
    )


@pytest.fixture(scope="module")
def vsearch_run(sim):
    out = sim["root"] / "run_vsearch"
    tracking = _run(sim, "vsearch", out, abskew=4.0)
    return out, tracking


def _species_bc(out, truth_dir):
    obs = read_abundance(out / "tables" / "abundance_species.tsv")
    tru = read_abundance(truth_dir / "amplicon_abundance_species.tsv")
    return pd.Series({s: bray_curtis(obs.loc[s], tru.loc[s]) for s in obs.index})


def _monotone(tracking, columns=TRACKING_COLUMNS):
    steps = tracking[list(columns)].dropna(axis=1, how="all")
    return bool((steps.diff(axis=1).iloc[:, 1:].fillna(0) <= 0).all().all())


# ---- the simulation itself ---------------------------------------------------------------
def test_simulated_reads_have_primers_truth_and_sheet(sim):
    amp, sheet = sim["amp"], sim["sheet"]
    assert list(sheet.columns[:4]) == ["sample_id", "assay", "fq1", "fq2"]
    assert (sheet["assay"] == "16S").all() and "response" in sheet.columns
    fwd = primer_regex(PRIMERS_V4[0])
    for f in sheet["fq1"]:
        with gzip.open(amp / f, "rt") as fh:
            seqs = fh.read().splitlines()[1::4]
        assert len(seqs) == PAIRS
        assert all(len(s) == 250 for s in seqs)
        # ART MSv1 errors can hit the primer; most reads still start with an exact primer
        assert np.mean([bool(fwd.match(s)) for s in seqs]) > 0.8
    tc = pd.read_csv(amp / "truth" / "asv_counts.tsv", sep="\t", index_col=0)
    samples = list(sheet["sample_id"])
    assert_array_equal(tc[samples].sum().to_numpy(), [PAIRS] * 4)
    chim = tc[tc["is_chimera"]]
    assert 0 < chim[samples].to_numpy().sum() < 0.1 * PAIRS * 4
    truth_seqs = read_fasta(amp / "truth" / "asvs.fa")
    assert set(truth_seqs) == set(tc.index)
    assert all(len(s) == 253 for k, s in truth_seqs.items() if not k.startswith("CHIMERA"))
    # the amplicon truth follows the shotgun truth (multinomial sampling of 3000 pairs)
    amp_t = read_abundance(amp / "truth" / "amplicon_abundance_species.tsv")
    shot_t = read_abundance(sim["demo"] / "truth" / "abundance_species.tsv")
    for s in samples:
        assert bray_curtis(amp_t.loc[s], shot_t.loc[s]) < 0.05
    assert (amp / "reference" / "sintax.fa").read_text().count(">") == 8


def test_simulation_is_deterministic(sim, tmp_path):
    demo = sim["demo"]
    args = (demo / "reference" / "16s.fa", demo / "truth" / "abundance_species.tsv")
    again = simulate_amplicons(*args, ["C1_P01"], tmp_path / "a", reads_per_sample=400, seed=5)
    same = simulate_amplicons(*args, ["C1_P01"], tmp_path / "b", reads_per_sample=400, seed=5)
    other = simulate_amplicons(*args, ["C1_P01"], tmp_path / "c", reads_per_sample=400, seed=6)
    for rel in ("reads/C1_P01_R1.fastq.gz", "reads/C1_P01_R2.fastq.gz", "truth/asv_counts.tsv"):
        assert (again / rel).read_bytes() == (same / rel).read_bytes()
    assert (again / "reads/C1_P01_R1.fastq.gz").read_bytes() != (
        other / "reads/C1_P01_R1.fastq.gz"
    ).read_bytes()
    with pytest.raises(ValueError, match="not in the truth table"):
        simulate_amplicons(*args, ["nope"], tmp_path / "d", reads_per_sample=10)


# ---- vsearch path ------------------------------------------------------------------------
def test_vsearch_asvs_match_truth(sim, vsearch_run):
    out, tracking = vsearch_run
    ev = evaluate_asvs(out / "asvs.fa", out / "asv_table.tsv", sim["amp"] / "truth")
    # measured: recall 1.0 everywhere, 0 spurious, Bray-Curtis <= 0.014
    assert ev["recall"].min() >= 0.85 and ev["recall"].mean() >= 0.95
    assert ev["spurious_percent"].max() < 1.0
    assert ev["bray_curtis"].max() < 0.05
    assert _species_bc(out, sim["amp"] / "truth").max() < 0.05


def test_vsearch_read_tracking(vsearch_run):
    out, tracking = vsearch_run
    assert list(tracking.columns) == list(TRACKING_COLUMNS)
    assert (tracking["input"] == PAIRS).all()
    assert tracking["denoised"].isna().all()  # vsearch denoises uniques, not reads
    assert _monotone(tracking)
    # measured: 95-97 % of pairs end in the ASV table
    assert (tracking["non_chimeric"] / tracking["input"]).min() > 0.9
    written = pd.read_csv(out / "tracking.tsv", sep="\t", index_col=0)
    pd.testing.assert_frame_equal(written, tracking, check_dtype=False, check_names=False)
    mqc = (out / "read_tracking_mqc.tsv").read_text()
    assert mqc.startswith("# id: 'amplicon_read_tracking'")


def test_outputs_biom_fasta_tables(vsearch_run):
    out, _ = vsearch_run
    tab = read_asv_table(out / "asv_table.tsv")
    pd.testing.assert_frame_equal(read_biom(out / "asv_table.biom"), tab)
    assert list(read_fasta(out / "asvs.fa")) == list(tab.index)
    assert (tab.sum(axis=1).diff().dropna() <= 0).all()  # ASV1.. by decreasing abundance
    for rank in ("phylum", "genus", "species"):
        a = read_abundance(out / "tables" / f"abundance_{rank}.tsv")
        np.testing.assert_allclose(a.sum(axis=1), 100.0)


def test_single_end_path(sim, tmp_path):
    """R1 only (as the Schirmer sample1): no merging, reads truncated to one length."""
    sheet, amp = sim["sheet"], sim["amp"]
    tr = run_amplicon(
        list(sheet["sample_id"][:2]),
        [amp / f for f in sheet["fq1"][:2]],
        tmp_path / "se",
        amp / "reference" / "sintax.fa",
        trunc_len=200,
        min_len=200,
        abskew=4.0,
        threads=2,
    )
    assert tr["merged"].isna().all() and _monotone(tr)
    seqs = read_fasta(tmp_path / "se" / "asvs.fa")
    assert {len(s) for s in seqs.values()} == {200}
    truth = read_fasta(amp / "truth" / "asvs.fa")
    prefixes = {s[:200] for k, s in truth.items() if not k.startswith("CHIMERA")}
    tab = read_asv_table(tmp_path / "se" / "asv_table.tsv")
    on_truth = tab.loc[[a for a, s in seqs.items() if s in prefixes]].sum() / tab.sum()
    assert on_truth.min() > 0.97  # measured 1.0


def test_tool_error_carries_log(tmp_path):
    with pytest.raises(AmpliconToolError, match="vsearch exited"):
        vsearch_filter(tmp_path / "missing.fq", tmp_path / "o.fa", "S1", log=tmp_path / "f.log")
    assert not (tmp_path / "o.fa").exists()  # atomic: nothing half-written
    assert "missing.fq" in (tmp_path / "f.log").read_text()


def test_cutadapt_reports_in_multiqc(vsearch_run, tmp_path):
    out, _ = vsearch_run
    mq = Path(sys.executable).with_name("multiqc")
    if not mq.exists():
        pytest.skip(f"multiqc not found: {mq}")
    inp = tmp_path / "in"
    inp.mkdir()
    for j in (out / "trimmed").glob("*.cutadapt.json"):
        shutil.copy(j, inp / j.name)
    shutil.copy(out / "read_tracking_mqc.tsv", inp)
    res = subprocess.run(
        [str(mq), str(inp), "-o", str(tmp_path / "mqc"), "--no-ansi", "-q", "-f"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    data = tmp_path / "mqc" / "multiqc_data"
    cut = pd.read_csv(data / "multiqc_cutadapt.txt", sep="\t", index_col=0)
    assert len(cut) == 4  # one per sample, named from the input read files
    assert set(cut["r_processed"] if "r_processed" in cut else cut["pairs_processed"]) == {PAIRS}
    assert (data / "multiqc_amplicon_read_tracking.txt").exists()


# ---- DADA2 path --------------------------------------------------------------------------
def test_dada2_asvs_match_truth(sim):
    ok, why = dada2_available()
    if not ok:
        pytest.skip(why)
    out = sim["root"] / "run_dada2"
    tracking = _run(sim, "dada2", out, n=2, dada2_trunc_len=(200, 150))  # 2 samples: time
    ev = evaluate_asvs(out / "asvs.fa", out / "asv_table.tsv", sim["amp"] / "truth")
    # measured: recall 0.63-1.0 (DADA2 drops the rarest ASVs of a sample at ~1500 pairs),
    # at most 1 spurious ASV (a chimera, < 2 % of reads), ASV Bray-Curtis <= 0.034
    assert ev["recall"].mean() >= 0.7
    assert ev["spurious_percent"].max() < 5.0
    assert ev["bray_curtis"].max() < 0.08
    assert _species_bc(out, sim["amp"] / "truth").max() < 0.08
    assert tracking["denoised"].notna().all() and _monotone(
        tracking, [c for c in TRACKING_COLUMNS if c != "merged"]
    )
    assert (tracking["merged"] <= tracking["denoised"]).all()
    assert (tracking["non_chimeric"] / tracking["input"]).min() > 0.3  # measured ~0.5
