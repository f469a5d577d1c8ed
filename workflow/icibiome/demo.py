"""The synthetic demo: a small ICI cohort with known truth, made with the real simulators and builders.

``python -m icibiome.demo --out DIR --seed S --samples N --pairs P`` writes

* ``reference/``: 24 synthetic genomes (120-150 kb) in a written taxonomy of 4 phyla, with related
  congeneric species (a shared ancestor, ~10% divergence, identical shared segments) so that k-mer
  classification is not trivial; a 16S-like locus in each genome (``16s.fa``); a host decoy genome;
* ``reads/``: per sample, Illumina reads simulated with ART (``art_illumina``, HiSeq 2500 profile),
  2x150 paired for most samples and single-end for every sixth, with host reads, adapter read-through
  (short inserts) and low-quality 3' tails, so QC and host removal have real work;
* ``samples.tsv``: the sample sheet (paths relative to it);
* ``truth/``: the planted cell abundances (standard tables per rank), read-based abundances, read
  origins per sample, guild membership, and per-sample latent guild balance, response and PFS;
* ``db/``: a bowtie2 index of the host, a sylph database (pysylph) with a genome -> lineage table,
  and a Kraken2 database built with ``kraken2-build`` from the written taxonomy.

The planted ecology follows Wu et al. (Cell 2024): a *foundation* guild of fibre/SCFA degraders and
a *pathobiont* guild whose members co-vary positively within and negatively across guilds through a
latent per-sample balance z; response and progression-free survival depend on z. Everything is
deterministic for a given seed (numpy ``default_rng``, ART ``-rs``, gzip ``mtime=0``).
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX, RANKS
from icibiome.io import write_standard_table, write_tsv

logger = logging.getLogger(__name__)

ADAPTER_R1 = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"
ADAPTER_R2 = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT"
PRIMER_F = "GTGCCAGCAGCCGCGGTAA"  # 515F (degenerate bases resolved)
PRIMER_R_RC = "ATTAGATACCCTGGTAGTCC"  # reverse complement of 806R GGACTACCAGGGTATCTAAT

# phylum, class, order, family, genus, species epithet, guild, GC
TAXA = [
    (
        "Bacillota",
        "Clostridia",
        "Eubacteriales",
        "Oscillospiraceae",
        "Faecalisynthus",
        "prausnitzii",
        "foundation",
        0.47,
    ),
    (
        "Bacillota",
        "Clostridia",
        "Eubacteriales",
        "Oscillospiraceae",
        "Faecalisynthus",
        "duncanii",
        "none",
        0.47,
    ),
    (
        "Bacillota",
        "Clostridia",
        "Eubacteriales",
        "Lachnospiraceae",
        "Roseburisynth",
        "intestinalis",
        "foundation",
        0.42,
    ),
    (
        "Bacillota",
        "Clostridia",
        "Eubacteriales",
        "Lachnospiraceae",
        "Roseburisynth",
        "hominis",
        "foundation",
        0.42,
    ),
    (
        "Bacillota",
        "Clostridia",
        "Eubacteriales",
        "Lachnospiraceae",
        "Roseburisynth",
        "inulinivorans",
        "none",
        0.42,
    ),
    (
        "Bacillota",
        "Clostridia",
        "Eubacteriales",
        "Lachnospiraceae",
        "Butyrisynth",
        "fibrisolvens",
        "foundation",
        0.40,
    ),
    (
        "Bacillota",
        "Clostridia",
        "Eubacteriales",
        "Lachnospiraceae",
        "Enterosynth",
        "bolteae",
        "pathobiont",
        0.49,
    ),
    (
        "Bacillota",
        "Clostridia",
        "Eubacteriales",
        "Lachnospiraceae",
        "Enterosynth",
        "clostridioformis",
        "pathobiont",
        0.49,
    ),
    (
        "Bacillota",
        "Clostridia",
        "Eubacteriales",
        "Lachnospiraceae",
        "Hungasynth",
        "hathewayi",
        "pathobiont",
        0.51,
    ),
    (
        "Bacillota",
        "Erysipelotrichia",
        "Erysipelotrichales",
        "Erysipelotrichaceae",
        "Erysisynth",
        "ramosum",
        "none",
        0.32,
    ),
    (
        "Bacillota",
        "Negativicutes",
        "Veillonellales",
        "Veillonellaceae",
        "Veillosynth",
        "atypica",
        "pathobiont",
        0.39,
    ),
    (
        "Bacillota",
        "Bacilli",
        "Lactobacillales",
        "Streptococcaceae",
        "Streptosynth",
        "salivarius",
        "none",
        0.40,
    ),
    (
        "Bacteroidota",
        "Bacteroidia",
        "Bacteroidales",
        "Bacteroidaceae",
        "Bacterosynth",
        "uniformis",
        "foundation",
        0.46,
    ),
    (
        "Bacteroidota",
        "Bacteroidia",
        "Bacteroidales",
        "Bacteroidaceae",
        "Bacterosynth",
        "ovatus",
        "none",
        0.46,
    ),
    (
        "Bacteroidota",
        "Bacteroidia",
        "Bacteroidales",
        "Bacteroidaceae",
        "Bacterosynth",
        "fragilis",
        "none",
        0.46,
    ),
    (
        "Bacteroidota",
        "Bacteroidia",
        "Bacteroidales",
        "Bacteroidaceae",
        "Phocaesynth",
        "vulgatus",
        "none",
        0.42,
    ),
    (
        "Bacteroidota",
        "Bacteroidia",
        "Bacteroidales",
        "Prevotellaceae",
        "Prevosynth",
        "copri",
        "none",
        0.45,
    ),
    (
        "Bacteroidota",
        "Bacteroidia",
        "Bacteroidales",
        "Rikenellaceae",
        "Alistisynth",
        "putredinis",
        "none",
        0.53,
    ),
    (
        "Pseudomonadota",
        "Gammaproteobacteria",
        "Enterobacterales",
        "Enterobacteriaceae",
        "Eschesynth",
        "coli",
        "pathobiont",
        0.51,
    ),
    (
        "Pseudomonadota",
        "Gammaproteobacteria",
        "Enterobacterales",
        "Enterobacteriaceae",
        "Klebsisynth",
        "pneumoniae",
        "none",
        0.57,
    ),
    (
        "Pseudomonadota",
        "Betaproteobacteria",
        "Burkholderiales",
        "Sutterellaceae",
        "Suttesynth",
        "wadsworthensis",
        "none",
        0.53,
    ),
    (
        "Verrucomicrobiota",
        "Verrucomicrobiia",
        "Verrucomicrobiales",
        "Akkermansiaceae",
        "Akkersynth",
        "muciniphila",
        "none",
        0.55,
    ),
    (
        "Actinomycetota",
        "Actinomycetes",
        "Bifidobacteriales",
        "Bifidobacteriaceae",
        "Bifidosynth",
        "longum",
        "none",
        0.60,
    ),
    (
        "Actinomycetota",
        "Actinomycetes",
        "Bifidobacteriales",
        "Bifidobacteriaceae",
        "Bifidosynth",
        "adolescentis",
        "none",
        0.60,
    ),
]

_COMP = str.maketrans("ACGTN", "TGCAN")


def revcomp(seq: str) -> str:
    """Reverse complement of a DNA string (ACGTN)."""
    return seq.translate(_COMP)[::-1]


def _random_seq(rng: np.random.Generator, n: int, gc: float) -> np.ndarray:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), size=n, p=p)


def _mutate(
    rng: np.random.Generator, seq: np.ndarray, rate: float, keep: np.ndarray | None = None
) -> np.ndarray:
    out = seq.copy()
    hit = rng.random(len(seq)) < rate
    if keep is not None:
        hit &= ~keep
    alphabet = np.frombuffer(b"ACGT", dtype=np.uint8)
    shift = rng.integers(1, 4, size=int(hit.sum()))
    idx = np.searchsorted(alphabet, out[hit])
    out[hit] = alphabet[(idx + shift) % 4]
    return out


def make_genomes(rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """The reference genomes, their taxonomy, and one 16S-like locus per genome."""
    rows, genomes, loci = [], {}, {}
    ancestors: dict[str, np.ndarray] = {}
    shared: dict[str, np.ndarray] = {}
    v16_genus: dict[str, np.ndarray] = {}
    conserved = _random_seq(rng, 1500, 0.52)
    for i, (phy, cls, order, fam, genus, epithet, guild, gc) in enumerate(TAXA, start=1):
        gid = f"G{i:02d}"
        if genus not in ancestors:
            ancestors[genus] = _random_seq(rng, int(rng.integers(120_000, 150_000)), gc)
            n = len(ancestors[genus])
            keep = np.zeros(n, dtype=bool)  # segments kept identical between congeneric species
            for start in rng.integers(0, n - 3000, size=6):
                keep[start : start + 3000] = True
            shared[genus] = keep
            v16_genus[genus] = _mutate(rng, conserved, 0.12)
        seq = _mutate(rng, ancestors[genus], 0.10, keep=shared[genus])
        locus = _mutate(rng, v16_genus[genus], 0.03).tobytes().decode()
        # conserved primer sites at fixed places of the locus (amplicon 515F..806R ~ 290 bp)
        locus = locus[:500] + PRIMER_F + locus[519:770] + PRIMER_R_RC + locus[790:]
        seq_s = seq.tobytes().decode()
        seq_s = seq_s[:10_000] + locus + seq_s[11_500:]
        genomes[gid] = seq_s
        loci[gid] = locus
        species = f"{genus}_{epithet}"
        lineage = "|".join(
            f"{RANK_PREFIX[r]}{v}"
            for r, v in zip(RANKS, ("Bacteria", phy, cls, order, fam, genus, species), strict=True)
        )
        rows.append(
            {
                "genome_id": gid,
                "taxid": 1000 + i,
                "kingdom": "Bacteria",
                "phylum": phy,
                "class": cls,
                "order": order,
                "family": fam,
                "genus": genus,
                "species": species,
                "lineage": lineage,
                "length": len(seq_s),
                "guild": guild,
            }
        )
    return pd.DataFrame(rows), genomes, loci


def plant_ecology(
    rng: np.random.Generator, tax: pd.DataFrame, n_samples: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cell abundances (samples x genomes, fractions) and per-sample clinical truth."""
    cohorts = np.array(["C1", "C2"])[np.arange(n_samples) % 2]
    z = rng.normal(np.where(cohorts == "C1", 0.0, -0.3), 1.0)
    n_g = len(tax)
    base = rng.normal(0.0, 0.8, n_g)
    sign = tax["guild"].map({"foundation": 1.0, "pathobiont": -1.0, "none": 0.0}).to_numpy()
    noise_sd = np.where(sign == 0, 0.9, 0.35)
    logab = base + np.outer(z, 1.2 * sign) + rng.normal(0, 1, (n_samples, n_g)) * noise_sd
    # cohort effect: three non-guild taxa are more abundant in cohort C2
    shifted = tax.index[(tax["guild"] == "none")][:3]
    logab[np.ix_(cohorts == "C2", shifted)] += 1.5
    # structural zeros: non-guild taxa absent in some samples (guild members rarely)
    p_absent = np.where(sign == 0, 0.2, 0.03)
    absent = rng.random((n_samples, n_g)) < p_absent
    ab = np.exp(logab) * ~absent
    ab /= ab.sum(axis=1, keepdims=True)
    ids = [f"{c}_P{i + 1:02d}" for i, c in enumerate(cohorts)]
    abundance = pd.DataFrame(ab, index=ids, columns=tax["genome_id"])
    p_resp = 1 / (1 + np.exp(-2.0 * z))
    response = np.where(rng.random(n_samples) < p_resp, "R", "NR")
    t_event = rng.exponential(1 / (0.08 * np.exp(-0.7 * z)))
    t_censor = rng.uniform(6, 30, n_samples)
    clinical = pd.DataFrame(
        {
            "sample_id": ids,
            "subject_id": [f"S{i + 1:03d}" for i in range(n_samples)],
            "cohort": cohorts,
            "guild_balance": z.round(4),
            "response": response,
            "pfs_months": np.minimum(t_event, t_censor).round(2),
            "pfs_event": (t_event <= t_censor).astype(int),
            "age": rng.integers(35, 85, n_samples),
            "sex": rng.choice(["F", "M"], n_samples),
            "antibiotics": np.where(rng.random(n_samples) < 0.15, "yes", "no"),
        }
    )
    return abundance, clinical


def _write_fasta(path: Path, records: dict[str, str]) -> None:
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), 80):
                fh.write(seq[i : i + 80] + "\n")


def _art(fasta: Path, n: int, prefix: Path, paired: bool, seed: int) -> list[Path]:
    if n <= 0:
        return []
    cmd = [
        "art_illumina",
        "-ss",
        "HS25",
        "-i",
        str(fasta),
        "-l",
        "150",
        "-c",
        str(n),
        "-o",
        str(prefix),
        "-rs",
        str(seed),
        "-na",
        "-q",
    ]
    if paired:
        cmd += ["-p", "-m", "300", "-s", "30"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [Path(f"{prefix}1.fq"), Path(f"{prefix}2.fq")] if paired else [Path(f"{prefix}.fq")]


def _read_fq(path: Path) -> list[list[str]]:
    with open(path) as fh:
        lines = fh.read().splitlines()
    return [lines[i : i + 4] for i in range(0, len(lines), 4)]


def _degrade_tail(rng: np.random.Generator, rec: list[str]) -> None:
    seq, qual = list(rec[1]), list(rec[3])
    t = int(rng.integers(20, 51))
    for j in range(len(seq) - t, len(seq)):
        q = int(rng.integers(2, 11))
        qual[j] = chr(33 + q)
        if rng.random() < 0.3:
            seq[j] = "ACGT"[int(rng.integers(4))]
    rec[1], rec[3] = "".join(seq), "".join(qual)


def _readthrough(rng: np.random.Generator, r1: list[str], r2: list[str] | None) -> None:
    """Make the fragment an insert of 60-140 bp: reads run on into the adapter."""
    ins = int(rng.integers(60, 141))
    frag = r1[1][:ins]
    tail = 150 - ins - len(ADAPTER_R1)
    r1[1] = (frag + ADAPTER_R1 + "".join(rng.choice(list("ACGT"), max(tail, 0))))[:150]
    if r2 is not None:
        tail2 = 150 - ins - len(ADAPTER_R2)
        r2[1] = (revcomp(frag) + ADAPTER_R2 + "".join(rng.choice(list("ACGT"), max(tail2, 0))))[
            :150
        ]


def _write_gz(path: Path, records: list[list[str]]) -> None:
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz,
    ):
        gz.write(("\n".join("\n".join(r) for r in records) + "\n").encode())


def simulate_sample(
    sample: str,
    paired: bool,
    genome_reads: dict[str, int],
    host_reads: int,
    fasta_dir: Path,
    out_dir: Path,
    seed: int,
    scratch: Path,
) -> dict:
    """Simulate one sample's reads with ART, add QC faults, shuffle, write gzipped FASTQ."""
    rng = np.random.default_rng(seed)
    frags: list[tuple[list[str], list[str] | None]] = []
    counts = dict(genome_reads)
    counts["HOST_chr1"] = host_reads // 2
    counts["HOST_chr2"] = host_reads - host_reads // 2
    for k, (name, n) in enumerate(sorted(counts.items())):
        files = _art(
            fasta_dir / f"{name}.fa", n, scratch / f"{sample}_{name}_", paired, seed * 1000 + k
        )
        if not files:
            continue
        r1s = _read_fq(files[0])
        r2s = _read_fq(files[1]) if paired else [None] * len(r1s)
        frags.extend(zip(r1s, r2s, strict=True))
        for f in files:
            f.unlink()
    order = rng.permutation(len(frags))
    frags = [frags[i] for i in order]
    n_rt = n_lq = 0
    for r1, r2 in frags:
        if rng.random() < 0.07:
            _readthrough(rng, r1, r2)
            n_rt += 1
        if rng.random() < 0.10:
            _degrade_tail(rng, r1)
            n_lq += 1
        if r2 is not None and rng.random() < 0.10:
            _degrade_tail(rng, r2)
    if paired:
        _write_gz(out_dir / f"{sample}_R1.fastq.gz", [f[0] for f in frags])
        _write_gz(out_dir / f"{sample}_R2.fastq.gz", [f[1] for f in frags])
    else:
        _write_gz(out_dir / f"{sample}.fastq.gz", [f[0] for f in frags])
    return {
        "sample_id": sample,
        "layout": "paired" if paired else "single",
        "microbial_reads": sum(genome_reads.values()),
        "host_reads": host_reads,
        "adapter_readthrough_reads": n_rt,
        "lowqual_tail_reads": n_lq,
    }


def _standard(abund: pd.DataFrame, tax: pd.DataFrame, rank: str) -> pd.DataFrame:
    """Samples x genomes fractions -> standard table (percent) at ``rank``."""
    lin = tax.set_index("genome_id")["lineage"]
    depth = RANKS.index(rank) + 1
    clade_lin = lin.str.split("|").str[:depth].str.join("|")
    t = (100 * abund).T.groupby(clade_lin).sum()
    out = t.reset_index(names="lineage")
    out.insert(0, "clade_name", out["lineage"].str.split("|").str[-1])
    return out


def build_databases(
    out: Path, tax: pd.DataFrame, genomes: dict[str, str], threads: int, seed: int
) -> None:
    """bowtie2 host index, sylph database + lineage table, Kraken2 database."""
    import pysylph

    db = out / "db"
    (db / "host").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "bowtie2-build",
            "--quiet",
            "--seed",
            str(seed),
            "--threads",
            str(threads),
            str(out / "reference" / "host.fa"),
            str(db / "host" / "host"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (db / "sylph").mkdir(parents=True, exist_ok=True)
    sketcher = pysylph.Sketcher(c=25, k=31)  # dense sketches: the genomes are small
    sdb = pysylph.Database([sketcher.sketch_genome(g, [s]) for g, s in genomes.items()])
    sdb.dump(str(db / "sylph" / "demo.syldb"))
    tax[["genome_id", "lineage"]].to_csv(db / "sylph" / "taxonomy.tsv", sep="\t", index=False)
    (db / "sylph" / "params.json").write_text('{"c": 25, "k": 31, "min_ani_suggested": 95}\n')
    k2 = db / "kraken2"
    (k2 / "taxonomy").mkdir(parents=True, exist_ok=True)
    nodes, names, seen = (
        [("1", "1", "no rank"), ("2", "1", "superkingdom")],
        [("1", "root"), ("2", "Bacteria")],
        {},
    )
    next_id = 100
    for row in tax.to_dict("records"):
        parent = "2"
        for rank in RANKS[1:-1]:
            key = (rank, row[rank])
            if key not in seen:
                seen[key] = str(next_id)
                nodes.append((str(next_id), parent, rank))
                names.append((str(next_id), key[1]))
                next_id += 1
            parent = seen[key]
        nodes.append((str(row["taxid"]), parent, "species"))
        names.append((str(row["taxid"]), row["species"].replace("_", " ")))
    with open(k2 / "taxonomy" / "nodes.dmp", "w") as fh:
        fh.writelines(f"{t}\t|\t{p}\t|\t{r}\t|\t\t|\n" for t, p, r in nodes)
    with open(k2 / "taxonomy" / "names.dmp", "w") as fh:
        fh.writelines(f"{t}\t|\t{n}\t|\t\t|\tscientific name\t|\n" for t, n in names)
    lib = out / "reference" / "kraken2_library.fa"
    _write_fasta(
        lib,
        {f"{r.genome_id}|kraken:taxid|{r.taxid}": genomes[r.genome_id] for r in tax.itertuples()},
    )
    env = dict(os.environ)
    subprocess.run(
        ["kraken2-build", "--add-to-library", str(lib), "--db", str(k2), "--no-masking"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    subprocess.run(
        ["kraken2-build", "--build", "--db", str(k2), "--threads", str(threads)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    subprocess.run(
        ["kraken2-build", "--clean", "--db", str(k2)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lib.unlink()


def make_demo(
    out: str | os.PathLike,
    seed: int = 1,
    n_samples: int = 24,
    pairs_per_sample: int = 20000,
    threads: int = 2,
) -> Path:
    """Write the synthetic demo into ``out`` (see the module docstring). Returns ``out``."""
    t0 = time.time()
    out = Path(out)
    if n_samples < 2:
        raise ValueError("the demo needs at least 2 samples (two cohorts)")
    for sub in ("reference", "reads", "truth", "db"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    rng = np.random.default_rng(seed)
    tax, genomes, loci = make_genomes(rng)
    host = {f"HOST_chr{i}": _random_seq(rng, 150_000, 0.41).tobytes().decode() for i in (1, 2)}
    _write_fasta(out / "reference" / "genomes.fa", genomes)
    _write_fasta(out / "reference" / "host.fa", host)
    _write_fasta(out / "reference" / "16s.fa", loci)
    tax.drop(columns="guild").to_csv(out / "reference" / "taxonomy.tsv", sep="\t", index=False)
    abundance, clinical = plant_ecology(rng, tax, n_samples)

    lengths = tax.set_index("genome_id")["length"]
    layouts = ["single" if i % 6 == 5 else "paired" for i in range(n_samples)]
    host_frac = rng.uniform(0.05, 0.30, n_samples)
    jobs = []
    for i, s in enumerate(abundance.index):
        n_host = int(round(pairs_per_sample * host_frac[i]))
        w = abundance.loc[s] * lengths
        reads = rng.multinomial(pairs_per_sample - n_host, (w / w.sum()).to_numpy())
        jobs.append(
            (
                s,
                layouts[i] == "paired",
                dict(zip(abundance.columns, reads.tolist(), strict=True)),
                n_host,
                seed * 100 + i,
            )
        )
    with tempfile.TemporaryDirectory(prefix="icibiome_demo_") as tmp:
        tmp = Path(tmp)
        for name, seq in {**genomes, **host}.items():
            _write_fasta(tmp / f"{name}.fa", {name: seq})
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            read_truth = list(
                pool.map(
                    lambda j: simulate_sample(
                        j[0], j[1], j[2], j[3], tmp, out / "reads", j[4], tmp
                    ),
                    jobs,
                )
            )
        build_databases(out, tax, genomes, threads, seed)

    # sample sheet
    sheet = clinical.drop(columns=["guild_balance"]).copy()
    sheet.insert(3, "timepoint", "baseline")
    sheet.insert(4, "assay", "shotgun")
    sheet.insert(
        5,
        "fq1",
        [
            f"reads/{s}_R1.fastq.gz" if lay == "paired" else f"reads/{s}.fastq.gz"
            for s, lay in zip(sheet["sample_id"], layouts, strict=True)
        ],
    )
    sheet.insert(
        6,
        "fq2",
        [
            f"reads/{s}_R2.fastq.gz" if lay == "paired" else ""
            for s, lay in zip(sheet["sample_id"], layouts, strict=True)
        ],
    )
    cols = [
        "sample_id",
        "subject_id",
        "cohort",
        "timepoint",
        "assay",
        "fq1",
        "fq2",
        "response",
        "pfs_months",
        "pfs_event",
        "age",
        "sex",
        "antibiotics",
    ]
    write_tsv(sheet[cols], out / "samples.tsv")

    # truth
    for rank in ("species", "genus", "family", "phylum"):
        write_standard_table(
            _standard(abundance, tax, rank), out / "truth" / f"abundance_{rank}.tsv"
        )
    rt = pd.DataFrame(read_truth).set_index("sample_id")
    counts = pd.DataFrame([j[2] for j in jobs], index=abundance.index)
    write_standard_table(
        _standard(counts.div(counts.sum(axis=1), axis=0), tax, "species"),
        out / "truth" / "read_abundance_species.tsv",
    )
    write_tsv(rt.reset_index(), out / "truth" / "reads.tsv")
    guilds = tax.assign(clade_name="s__" + tax["species"])[["clade_name", "genome_id", "guild"]]
    guilds["role"] = guilds["guild"].map(
        {
            "foundation": "fibre/SCFA degrader; up with guild balance z",
            "pathobiont": "pathobiont; down with z",
            "none": "independent",
        }
    )
    write_tsv(guilds, out / "truth" / "guilds.tsv")
    write_tsv(clinical, out / "truth" / "samples.tsv")
    (out / "README.md").write_text(
        f"# icibiome synthetic demo\n\nMade by `python -m icibiome.demo --seed {seed} --samples {n_samples} "
        f"--pairs {pairs_per_sample}`: {len(genomes)} synthetic genomes in a written taxonomy, a host decoy, "
        f"{n_samples} samples in 2 cohorts with two planted competing guilds (truth/guilds.tsv) and responder "
        "labels drawn from the guild balance (truth/samples.tsv). Reads simulated with ART (HS25), with "
        "host reads, adapter read-through and low-quality tails (truth/reads.tsv). Databases in db/ were "
        "built with bowtie2-build, pysylph and kraken2-build. See workflow/icibiome/demo.py.\n"
    )
    logger.info("demo written to %s in %.1f s", out, time.time() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Make the icibiome synthetic demo (reads, databases, truth)."
    )
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument(
        "--pairs", type=int, default=20000, help="fragments (pairs or single reads) per sample"
    )
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.time()
    make_demo(a.out, a.seed, a.samples, a.pairs, a.threads)
    print(
        f"demo: {a.samples} samples x {a.pairs} fragments written to {a.out} in {time.time() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
