"""HUMAnN 3.9 for real on the DEMO databases of ../shared/data/humann_demo_db.

The demo reads HUMAnN ships (B. dorei / B. vulgatus) do not match these databases (SGB1871
B. ovatus, SGB2091 Corynebacterium, SGB2301 Alistipes) and the demo reads of the database's own
release are absent from the snapshot, so the reads are planted: error-free 100 bp reads from every
gene of SGB1871 and SGB2301 that MetaCyc's reaction map knows (so MinPath can reconstruct
pathways), at a known depth per gene, plus random reads that map nowhere. The truth is then known
exactly: which UniRef90 families, stratified to which SGB, at how many reads per kilobase.

``expected/demo_genefamilies.tsv`` of the shared folder is HUMAnN's own test fixture (its values
are not from these reads), so the run is compared with it in format and internal consistency
(header, row kinds, stratified rows summing to the community rows), and with the planted truth
in values: tolerances are stated in each test.

One HUMAnN run (~55-70 s, 3.9 GB RSS) for the module, through Snakemake: the pipeline with
``humann.activate: true`` on one paired sample of planted reads (read checks, fastp, rule
``humann`` with the mates concatenated, rule ``humann_merge``); then
:func:`icibiome.functions.humann.merge_humann` once more on that sample and a copy with other depths. The
staged databases are made by :func:`icibiome.functions.humann.stage_v3_database` (HUMAnN 3.9 does not take
the SGB demo layout as is).
"""

import bz2
import gzip
import os
import random
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr

from icibiome.functions.humann import (
    check_table,
    merge_humann,
    read_humann_table,
    sgb_taxa,
    split_stratified,
    stage_v3_database,
)
from icibiome.io import read_fasta

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "humann_demo_db"
READ_LEN = 100
FRAGMENT = 250  # mates: R1 = first 100 bp, R2 = reverse complement of the last 100 bp
N_RANDOM = 400
DEPTH = {"SGB1871": 2.0, "SGB2301": 1.0}  # planted depth (x) per SGB
# SGB -> g__Genus.s__species, from the MetaPhlAn profile that comes with the databases
TAXA = sgb_taxa(SHARED / "expected" / "demo_metaphlan_bugs_list.tsv") if SHARED.is_dir() else {}

pytestmark = [
    pytest.mark.shared,
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} absent (../shared/data not mounted)"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("humann", "glpsol", "diamond", "bowtie2", "fastp")),
        reason="humann, glpsol, diamond, bowtie2 or fastp not installed (tools/setup.sh installs them)",
    ),
]


def _reaction_unirefs() -> set[str]:
    import humann

    path = Path(humann.__file__).parent / "data/pathways/metacyc_reactions_level4ec_only.uniref.bz2"
    ids = set()
    with bz2.open(path, "rt") as fh:
        for line in fh:
            ids.update(x for x in line.rstrip("\n").split("\t")[2:] if x.startswith("UniRef90"))
    return ids


def _revcomp(s: str) -> str:
    return s[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def _write_fastq(reads: list[tuple[str, str]], path: Path) -> None:
    with gzip.open(path, "wt") as fh:
        for name, seq in reads:
            fh.write(f"@{name}\n{seq}\n+\n{'I' * len(seq)}\n")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Planted read pairs and the truth per gene family (mates profiled as single reads)."""
    rng = random.Random(7)
    reactions = _reaction_unirefs()
    pairs, truth = [], []
    for sgb, depth in DEPTH.items():
        genes = read_fasta(SHARED / "chocophlan_DEMO" / f"{sgb}_pangenome90.fna.gz")
        for header, seq in genes.items():
            uniref90, length = header.split("|")[2], len(seq)
            if uniref90 not in reactions or length < FRAGMENT:
                continue
            n = max(1, round(depth * length / READ_LEN / 2))  # fragments: 2 reads each
            for i in range(n):
                start = rng.randrange(0, length - FRAGMENT + 1)
                frag = seq[start : start + FRAGMENT]
                if i % 2:
                    frag = _revcomp(frag)
                pairs.append((frag[:READ_LEN], _revcomp(frag[-READ_LEN:])))
            # HUMAnN 3: RPK = reads / ((gene length - read length + 1) / 1000)
            truth.append(
                {
                    "family": uniref90,
                    "taxon": TAXA[sgb],
                    "reads": 2 * n,
                    "rpk": 2 * n / ((length - READ_LEN + 1) / 1000),
                }
            )
    for _ in range(N_RANDOM // 2):
        pairs.append(tuple("".join(rng.choice("ACGT") for _ in range(READ_LEN)) for _ in "12"))
    rng.shuffle(pairs)
    d = tmp_path_factory.mktemp("humann_reads")
    files = [d / "planted_R1.fastq.gz", d / "planted_R2.fastq.gz"]
    _write_fastq([(f"frag{i}/1", p[0]) for i, p in enumerate(pairs)], files[0])
    _write_fastq([(f"frag{i}/2", p[1]) for i, p in enumerate(pairs)], files[1])
    return files, pd.DataFrame(truth), 2 * len(pairs)


@pytest.fixture(scope="module")
def humann_run(planted, tmp_path_factory):
    """The pipeline with humann.activate on the planted sample; targets: the merged tables."""
    files, truth, n_reads = planted
    wd = tmp_path_factory.mktemp("humann_pipeline")
    nuc, prot = stage_v3_database(
        SHARED / "chocophlan_DEMO", SHARED / "uniref_DEMO", wd / "db", taxa=TAXA
    )
    (wd / "samples.tsv").write_text(
        "sample_id\tsubject_id\tcohort\ttimepoint\tassay\tfq1\tfq2\n"
        f"planted\tS1\tC1\tbaseline\tshotgun\t{files[0]}\t{files[1]}\n"
    )
    # no taxonomy job runs for these targets, but the sylph database paths must exist
    # (a complete one-genome .syldb: the database is checked for truncation before any job)
    (wd / "unused.syldb").write_bytes(
        struct.pack("<QQB", 1, 0, 0) + struct.pack("<2Q", 0, 0) + struct.pack("<4Q", 200, 31, 1, 30)
    )
    config = {
        "samples": "samples.tsv",
        "host_removal": {"activate": False},
        "taxonomy": {
            "profilers": ["sylph"],
            "sylph": {"database": "unused.syldb", "taxonomy": "unused.syldb"},
        },
        "diversity": {"activate": False},
        "humann": {
            "activate": True,
            "nucleotide_database": str(nuc),
            "protein_database": str(prot),
            "threads": 2,
        },
    }
    (wd / "config").mkdir()
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    targets = [
        "results/functions/humann/pathabundance_relab_unstratified.tsv",
        "results/functions/humann/humann_pathways_mqc.yaml",
    ]
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
         "--directory", str(wd), "--cores", "2", *targets],
        capture_output=True, text=True, timeout=1200,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )  # fmt: skip
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-6000:]
    print(f"pipeline (read checks, fastp, HUMAnN, merge): {seconds:.0f} s on {n_reads} reads")
    sample_dir = wd / "results" / "functions" / "humann" / "planted"
    out = {
        k: sample_dir / f"planted_{k}.tsv"
        for k in ("genefamilies", "pathabundance", "pathcoverage")
    }
    return out, truth, seconds, wd


def test_outputs_exist_and_temp_folder_is_removed(humann_run):
    out, _, seconds, wd = humann_run
    assert all(p.is_file() and p.stat().st_size > 0 for p in out.values())
    humann_dir = wd / "results" / "functions" / "humann"
    leftovers = [p.name for p in humann_dir.rglob(".*")] + list(humann_dir.rglob("*_temp"))
    assert leftovers == [], f"temporary HUMAnN files left behind: {leftovers}"
    assert "--bypass-prescreen" in (wd / "logs" / "humann" / "planted.log").read_text()
    assert "humann" in (wd / "logs" / "humann" / "planted.humann.log").read_text().lower()
    assert seconds < 600
    # the merge rule's tables: one sample, CPM and relab sum to their totals
    cpm = read_humann_table(humann_dir / "genefamilies_cpm_unstratified.tsv")
    assert list(cpm.columns) == ["planted"]
    assert abs(cpm["planted"].sum() - 1e6) < 1
    relab = read_humann_table(humann_dir / "pathabundance_relab_unstratified.tsv")
    assert abs(relab["planted"].sum() - 1) < 1e-6
    heat = yaml.safe_load((humann_dir / "humann_pathways_mqc.yaml").read_text())
    assert heat["plot_type"] == "heatmap" and heat["xcats"] == ["planted"]
    assert len(heat["ycats"]) >= 1


def test_format_matches_the_shared_expected_genefamilies(humann_run):
    out, _, _, _ = humann_run
    ours_raw = out["genefamilies"].read_text().splitlines()
    exp_raw = (SHARED / "expected" / "demo_genefamilies.tsv").read_text().splitlines()
    # same header layout: '# Gene Family<TAB><sample>_Abundance-RPKs', UNMAPPED first
    assert ours_raw[0].split("\t")[0] == exp_raw[0].split("\t")[0] == "# Gene Family"
    assert ours_raw[0].split("\t")[1] == "planted_Abundance-RPKs"
    assert exp_raw[0].split("\t")[1].endswith("_Abundance-RPKs")
    assert ours_raw[1].startswith("UNMAPPED\t") and exp_raw[1].startswith("UNMAPPED\t")
    # rows: UNMAPPED, then families (UniRef90; this database also has UniClust90 clusters for
    # genes without a UniRef90), each optionally '|taxon'
    exp_ids = [r.split("\t")[0] for r in exp_raw[1:]]
    assert all(i == "UNMAPPED" or i.startswith("UniRef90_") for i in exp_ids)
    ours_ids = [r.split("\t")[0] for r in ours_raw[1:]]
    assert all(i == "UNMAPPED" or i.startswith(("UniRef90_", "UniClust90_")) for i in ours_ids)
    assert sum(i.startswith("UniRef90_") for i in ours_ids) > 0.5 * len(ours_ids)
    ours = read_humann_table(out["genefamilies"])
    expected = read_humann_table(SHARED / "expected" / "demo_genefamilies.tsv")
    # internal consistency, as in the expected table: taxon rows add up to the community row
    assert check_table(expected, None, tol=1e-6) == []
    assert check_table(ours, None, tol=1e-6) == []
    for table in (ours, expected):
        community, per_taxon = split_stratified(table)
        feats = per_taxon.index.str.split("|").str[0]
        sums = per_taxon.groupby(feats).sum()
        np.testing.assert_allclose(sums.iloc[:, 0], community.loc[sums.index].iloc[:, 0], rtol=1e-6)


def test_planted_gene_families_are_recovered_with_their_taxon_and_abundance(humann_run):
    out, truth, _, _ = humann_run
    gf = read_humann_table(out["genefamilies"])["planted"]
    community, per_taxon = split_stratified(gf.to_frame())
    found = community.iloc[:, 0].drop("UNMAPPED")
    planted = set(truth["family"])
    recall = len(planted & set(found.index)) / len(planted)
    off_target = found[~found.index.isin(planted)].sum() / found.sum()
    strat = per_taxon.iloc[:, 0]
    taxon_ok = np.mean([f"{r.family}|{r.taxon}" in strat.index for r in truth.itertuples()])
    merged = truth.groupby("family")["rpk"].sum()
    obs = found.reindex(merged.index).fillna(0)
    rel_err = ((obs - merged).abs() / merged).median()
    rho = spearmanr(obs, merged).statistic
    print(
        f"planted families {len(planted)}, recall {recall:.3f}, off-target RPK share "
        f"{off_target:.4f}, right taxon {taxon_ok:.3f}, median |RPK error| {rel_err:.3f}, "
        f"Spearman {rho:.3f}"
    )
    assert recall >= 0.95  # tolerance: at most 5% of planted families missed
    assert taxon_ok >= 0.95  # and stratified to the SGB the reads came from
    assert off_target <= 0.05  # at most 5% of the mapped RPK on families never planted
    assert rel_err <= 0.15  # median relative RPK error (random read placement, multi-mapping)
    assert rho >= 0.7


def test_unmapped_reads_are_the_random_ones(humann_run):
    out, truth, _, _ = humann_run
    unmapped = read_humann_table(out["genefamilies"]).loc["UNMAPPED", "planted"]
    planted_reads = truth["reads"].sum()
    print(f"UNMAPPED {unmapped:.1f} (random reads {N_RANDOM}, planted reads {planted_reads})")
    # every random read is unmapped; of the planted reads only those on genes that HUMAnN drops
    # for < 50% subject coverage (low-depth short genes) may be: tolerance 5% of them
    assert N_RANDOM <= unmapped <= N_RANDOM + 0.05 * planted_reads


def test_pathways_are_reconstructed(humann_run):
    out, _, _, _ = humann_run
    pa = read_humann_table(out["pathabundance"])
    pc = read_humann_table(out["pathcoverage"])
    community, _ = split_stratified(pa)
    pathways = community.drop(index=["UNMAPPED", "UNINTEGRATED"], errors="ignore")
    pathways = pathways[pathways["planted"] > 0]
    print(f"pathways with abundance > 0: {len(pathways)}")
    assert len(pathways) >= 1
    assert ((pc.values >= 0) & (pc.values <= 1)).all()


def test_merge_normalises_splits_and_writes_the_heatmap(humann_run):
    out, _, _, wd = humann_run
    d = wd / "extra"
    # a second sample: the same tables with abundances halved (coverage unchanged)
    second = d / "half"
    second.mkdir(parents=True, exist_ok=True)
    tables = {}
    for kind, path in out.items():
        df = pd.read_csv(path, sep="\t", index_col=0)
        if kind != "pathcoverage":
            df = df / 2
        df.columns = [c.replace("planted", "half") for c in df.columns]
        df.to_csv(second / f"half_{kind}.tsv", sep="\t")
        tables[kind] = [path, second / f"half_{kind}.tsv"]
    merged_dir = d / "merged"
    written = merge_humann(tables, merged_dir, top_n=10)
    for stem in ("genefamilies_cpm", "genefamilies_relab", "pathabundance_cpm", "pathcoverage"):
        for split in ("", "_unstratified", "_stratified"):
            assert (merged_dir / f"{stem}{split}.tsv").is_file(), stem + split
    cpm = read_humann_table(merged_dir / "genefamilies_cpm_unstratified.tsv")
    assert list(cpm.columns) == ["half", "planted"]
    np.testing.assert_allclose(cpm.sum(), 1e6, rtol=1e-4)
    # normalisation removes the factor 2 between the samples
    np.testing.assert_allclose(cpm["half"], cpm["planted"], rtol=1e-4, atol=1e-3)
    relab = read_humann_table(merged_dir / "pathabundance_relab.tsv")
    assert check_table(relab, "relab", additive=False) == []  # pathways are not additive
    strat = read_humann_table(merged_dir / "genefamilies_cpm_stratified.tsv")
    assert strat.index.str.contains("|", regex=False).all()
    heat = yaml.safe_load(written["heatmap"].read_text())
    assert heat["plot_type"] == "heatmap" and heat["xcats"] == ["half", "planted"]
    assert 1 <= len(heat["ycats"]) <= 10
    assert len(heat["data"]) == len(heat["ycats"])
    assert not [p.name for p in merged_dir.iterdir() if p.name.startswith(".")]
