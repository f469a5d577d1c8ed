"""Synthetic 16S amplicon reads for the demo samples, with their truth.

:func:`simulate_amplicons` takes the shotgun demo's 16S-like loci (``reference/16s.fa`` of
:func:`icibiome.demo.make.make_demo`, one per genome, all with the same 515F/806R primer sites) and
its true species abundances, and simulates MiSeq-like 2x250 amplicon pairs of the V4 region
with ``art_illumina`` in amplicon mode (Huang et al. 2012, Bioinformatics 28:593), MSv1 error
profile (tool-notes §4, §F9). Each read starts with its primer (the PCR product is sequenced
from both ends), so primer removal is part of the test. A small fraction of reads are PCR
chimeras of two community members, which chimera removal must discard.

Layout written into ``out_dir``::

    reads/<sample>_R1.fastq.gz, reads/<sample>_R2.fastq.gz
    samples.tsv                       sample sheet (assay 16S; clinical columns copied
                                      from the shotgun sheet when given)
    reference/sintax.fa               SINTAX reference of the full-length loci (all genomes)
    truth/asvs.fa                     the true ASVs: the insert between the primers, named by
                                      genome (genomes with identical inserts share one ASV,
                                      named ``G01+G02``)
    truth/asv_counts.tsv              pairs simulated per true ASV and sample (chimeras as
                                      ``CHIMERA_<n>`` rows, ``is_chimera`` column)
    truth/amplicon_abundance_<rank>.tsv   the expected composition as standard tables (percent
                                      of non-chimeric pairs; one 16S copy per genome)
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANKS
from icibiome.amplicon.sequences import PRIMERS_V4, extract_amplicon, read_fasta
from icibiome.amplicon.sintax import sintax_reference_from_taxonomy
from icibiome.io import atomic_path, read_standard_table, write_standard_table, write_tsv

logger = logging.getLogger(__name__)

ART_PROFILES = {"MSv1": 250, "MSv3": 250, "HS25": 150, "MS": 250}
"""ART built-in profiles usable here and their maximum read length."""


def _run_art(amplicon: str, name: str, n_pairs: int, read_length: int, profile: str, seed: int, d):
    """Simulate ``n_pairs`` pairs from one amplicon; return (R1 records, R2 records)."""
    d = Path(d)
    fa = d / f"{name}.fa"
    fa.write_text(f">{name}\n{amplicon}\n")
    prefix = d / f"{name}_"
    cmd = ["art_illumina", "-ss", profile, "-amp", "-p", "-na", "-i", str(fa), "-l"]
    cmd += [str(read_length), "-f", str(n_pairs), "-o", str(prefix), "-rs", str(seed), "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"art_illumina failed for {name}: {proc.stderr[-2000:]}")
    out = []
    for mate in (1, 2):
        lines = Path(f"{prefix}{mate}.fq").read_text().splitlines()
        recs = [(lines[i + 1], lines[i + 3]) for i in range(0, len(lines) - 3, 4)]
        out.append(recs)
    if len(out[0]) != n_pairs or len(out[1]) != n_pairs:
        raise RuntimeError(f"art_illumina made {len(out[0])} pairs for {name}, {n_pairs} asked")
    return out


def _chimeras(
    rng: np.random.Generator,
    inserts: dict[str, str],
    weights: np.ndarray,
    n_types: int,
    primers: tuple[str, str],
    amplicons: dict[str, str],
) -> list[tuple[str, str, str]]:
    """Up to ``n_types`` two-parent chimeras (parents drawn by abundance): (A, B, amplicon)."""
    ids = list(inserts)
    out = []
    for _ in range(n_types * 4):
        if len(out) == n_types or np.count_nonzero(weights) < 2:
            break
        a, b = rng.choice(len(ids), size=2, replace=False, p=weights)
        ia, ib = inserts[ids[a]], inserts[ids[b]]
        bp = int(rng.integers(int(0.3 * len(ia)), int(0.7 * len(ia))))
        chim = ia[:bp] + ib[bp:]
        if chim in (ia, ib) or chim in inserts.values() or any(chim == c[2] for c in out):
            continue
        fwd = amplicons[ids[a]][: len(amplicons[ids[a]]) - len(ia) - len(primers[1])]
        rev = amplicons[ids[b]][len(amplicons[ids[b]]) - len(primers[1]) :]
        out.append((ids[a], ids[b], chim, fwd + chim + rev))
    return [(a, b, amp) for a, b, _, amp in out]


def simulate_amplicons(
    reference_16s_fa: str | os.PathLike,
    truth_species_tsv: str | os.PathLike,
    samples: Sequence[str] | None,
    out_dir: str | os.PathLike,
    primers: tuple[str, str] = PRIMERS_V4,
    reads_per_sample: int = 5000,
    seed: int = 1,
    *,
    taxonomy_tsv: str | os.PathLike | None = None,
    sample_sheet: str | os.PathLike | None = None,
    read_length: int = 250,
    profile: str = "MSv1",
    chimera_fraction: float = 0.03,
    chimeras_per_sample: int = 2,
    threads: int = 1,
) -> Path:
    """Simulate paired 16S amplicon reads (V4, 2x250, MiSeq-like errors) for the demo samples.

    Parameters
    ----------
    reference_16s_fa : path-like
        One 16S-like locus per genome, FASTA id = genome id (the demo's ``reference/16s.fa``).
    truth_species_tsv : path-like
        True species abundances as a standard table (the demo's
        ``truth/abundance_species.tsv``), in percent of cells.
    samples : sequence of str or None
        Samples to simulate (columns of the truth table); ``None`` = all.
    out_dir : path-like
        Output folder (layout in the module docstring).
    primers : (str, str)
        Forward and reverse primer (IUPAC allowed); the sequenced product runs from the forward
        primer site to the reverse primer site inclusive.
    reads_per_sample : int
        Read pairs per sample (chimeras included).
    seed : int
        Seed of every draw (numpy and ART's ``-rs``).
    taxonomy_tsv : path-like, optional
        ``genome_id`` + rank columns; default ``taxonomy.tsv`` beside the loci.
    sample_sheet : path-like, optional
        Shotgun sample sheet whose clinical columns are copied into ``samples.tsv``.
    read_length : int
        Read length; at most the profile's (250 for MSv1). With 2x250 on the ~290 bp V4 product
        the mates overlap by ~200 bp after primer removal.
    profile : str
        ART built-in quality profile (MSv1: realistic MiSeq errors that denoisers must correct).
    chimera_fraction : float
        Expected fraction of pairs that are PCR chimeras.
    chimeras_per_sample : int
        Distinct chimeras per sample (each of two parents drawn by abundance, one breakpoint at
        30-70 % of the insert).
    threads : int
        Parallel ART processes.

    Returns
    -------
    Path
        ``out_dir``.

    Notes
    -----
    Pairs per genome are multinomial with probabilities equal to the true cell abundances: one
    16S copy per genome, no PCR bias, so the expected amplicon composition equals the species
    composition. ART simulates each distinct amplicon once with all its pairs (pooled over
    samples, like the shotgun demo), and the pairs are dealt out to samples in consecutive
    blocks, then shuffled within the sample. The same arguments give byte-identical files
    (gzip without time stamps).
    """
    if profile not in ART_PROFILES:
        raise ValueError(f"unknown ART profile {profile!r}; expected one of {list(ART_PROFILES)}")
    if not 50 <= read_length <= ART_PROFILES[profile]:
        raise ValueError(f"read_length must be 50-{ART_PROFILES[profile]} for {profile}")
    if reads_per_sample < 1:
        raise ValueError("reads_per_sample must be positive")
    if shutil.which("art_illumina") is None:
        raise RuntimeError("art_illumina not found (Debian package art-nextgen-simulation-tools)")
    out = Path(out_dir)
    ref = Path(reference_16s_fa)
    taxonomy_tsv = Path(taxonomy_tsv) if taxonomy_tsv is not None else ref.parent / "taxonomy.tsv"
    tax = pd.read_csv(taxonomy_tsv, sep="\t", dtype=str).set_index("genome_id")
    loci = read_fasta(ref)
    truth = read_standard_table(truth_species_tsv)
    samples = list(truth.columns.drop("lineage")) if samples is None else list(samples)
    missing = [s for s in samples if s not in truth.columns]
    if missing:
        raise ValueError(f"samples not in the truth table: {missing}")

    amplicons, inserts = {}, {}
    for gid, seq in loci.items():
        amp = extract_amplicon(seq, *primers, keep_primers=True)
        ins = extract_amplicon(seq, *primers)
        if amp is None or ins is None:
            raise ValueError(f"{gid}: primer sites not found in its 16S locus")
        amplicons[gid], inserts[gid] = amp, ins
    genomes = list(loci)
    species = ("s__" + tax.loc[genomes, "species"]).to_numpy()
    frac = truth.reindex(species)[samples].fillna(0.0).to_numpy().T / 100.0  # samples x genomes
    frac = frac / np.where(frac.sum(axis=1, keepdims=True) > 0, frac.sum(axis=1, keepdims=True), 1)

    rng = np.random.default_rng(seed)
    sources: dict[str, str] = dict(amplicons)  # source name -> amplicon
    counts = pd.DataFrame(0, index=samples, columns=genomes, dtype=np.int64)
    chim_rows = []
    for i, s in enumerate(samples):
        n_chim = int(rng.binomial(reads_per_sample, chimera_fraction))
        chims = _chimeras(rng, inserts, frac[i], chimeras_per_sample, primers, amplicons)
        if not chims:
            n_chim = 0
        counts.loc[s] = rng.multinomial(reads_per_sample - n_chim, frac[i])
        split = rng.multinomial(n_chim, [1 / len(chims)] * len(chims)) if chims else []
        for (a, b, amp), n in zip(chims, split, strict=False):
            name = f"CHIMERA_{len(chim_rows) + 1}"
            sources[name] = amp
            chim_rows.append({"name": name, "sample": s, "parent_a": a, "parent_b": b, "n": int(n)})
    for row in chim_rows:
        counts[row["name"]] = 0
        counts.loc[row["sample"], row["name"]] = row["n"]
    totals = counts.sum(axis=0)

    with tempfile.TemporaryDirectory(prefix=".amplicon_sim.", dir=_mkdir(out)) as d:
        names = [n for n in counts.columns if totals[n] > 0]
        art_seed = {n: seed * 1000 + k for k, n in enumerate(counts.columns)}

        def art(name):
            return name, _run_art(
                sources[name], name, int(totals[name]), read_length, profile, art_seed[name], d
            )

        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            pools = dict(pool.map(art, names))
        offsets = counts.cumsum(axis=0) - counts
        sheet_rows = []
        for i, s in enumerate(samples):
            r1, r2 = [], []
            for n in names:
                lo, k = int(offsets.at[s, n]), int(counts.at[s, n])
                r1 += pools[n][0][lo : lo + k]
                r2 += pools[n][1][lo : lo + k]
            order = np.random.default_rng([seed, i]).permutation(len(r1))
            for mate, recs in ((1, r1), (2, r2)):
                _write_fastq_gz(
                    out / "reads" / f"{s}_R{mate}.fastq.gz", s, mate, [recs[j] for j in order]
                )
            sheet_rows.append(
                {
                    "sample_id": s,
                    "assay": "16S",
                    "fq1": f"reads/{s}_R1.fastq.gz",
                    "fq2": f"reads/{s}_R2.fastq.gz",
                }
            )

    _write_truth(out, counts, genomes, inserts, tax, chim_rows, sources, primers)
    sintax_reference_from_taxonomy(ref, taxonomy_tsv, out / "reference" / "sintax.fa")
    sheet = pd.DataFrame(sheet_rows)
    if sample_sheet is not None:
        clin = pd.read_csv(sample_sheet, sep="\t", dtype=str).set_index("sample_id")
        extra = [c for c in clin.columns if c not in ("assay", "fq1", "fq2")]
        sheet = sheet.join(clin[extra], on="sample_id")
    write_tsv(sheet, out / "samples.tsv")
    logger.info(
        "amplicons: %d samples x %d pairs, %d genomes, %d chimeras in %s",
        len(samples),
        reads_per_sample,
        len(genomes),
        len(chim_rows),
        out,
    )
    return out


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _write_fastq_gz(path: Path, sample: str, mate: int, recs: list[tuple[str, str]]) -> None:
    text = "".join(
        f"@{sample}.{k + 1} {mate}:N:0:1\n{seq}\n+\n{qual}\n" for k, (seq, qual) in enumerate(recs)
    )
    with atomic_path(path) as tmp:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        ):
            gz.write(text.encode())


def _write_truth(out, counts, genomes, inserts, tax, chim_rows, sources, primers) -> None:
    truth = out / "truth"
    # true ASVs: distinct inserts; genomes sharing an insert share the ASV
    by_seq: dict[str, list[str]] = {}
    for g in genomes:
        by_seq.setdefault(inserts[g], []).append(g)
    asv_name = {g: "+".join(gs) for gs in by_seq.values() for g in gs}
    records = {"+".join(gs): seq for seq, gs in by_seq.items()}
    chim_inserts = {}
    for row in chim_rows:
        amp = sources[row["name"]]
        chim_inserts[row["name"]] = extract_amplicon(amp, *primers) or amp
    with atomic_path(truth / "asvs.fa") as tmp:
        tmp.write_text("".join(f">{k}\n{v}\n" for k, v in {**records, **chim_inserts}.items()))
    asv_counts = counts[genomes].T.groupby(lambda g: asv_name[g], sort=False).sum()
    chim = counts[[r["name"] for r in chim_rows]].T
    table = pd.concat([asv_counts, chim])
    table.insert(0, "is_chimera", [False] * len(asv_counts) + [True] * len(chim))
    table.insert(1, "sequence", [records.get(k, chim_inserts.get(k)) for k in table.index])
    write_tsv(table.rename_axis("asv_id"), truth / "asv_counts.tsv", index=True)
    # expected composition (non-chimeric pairs) as standard tables
    micro = counts[genomes]
    frac = micro.div(micro.sum(axis=1).replace(0, 1), axis=0)
    lin = tax.loc[genomes, "lineage"]
    for rank in RANKS[1:]:
        depth = RANKS.index(rank) + 1
        clade_lin = lin.str.split("|").str[:depth].str.join("|")
        t = (100 * frac).T.groupby(clade_lin.to_numpy()).sum()
        t = t.reset_index(names="lineage")
        t.insert(0, "clade_name", t["lineage"].str.split("|").str[-1])
        write_standard_table(t, truth / f"amplicon_abundance_{rank}.tsv")


def evaluate_asvs(
    asv_fasta: str | os.PathLike,
    asv_table: str | os.PathLike,
    truth_dir: str | os.PathLike,
) -> pd.DataFrame:
    """Compare denoised ASVs with the simulated truth, per sample, by exact sequence.

    Parameters
    ----------
    asv_fasta, asv_table : path-like
        The pipeline's ASVs and ASV x sample counts.
    truth_dir : path-like
        ``truth/`` of :func:`simulate_amplicons`.

    Returns
    -------
    DataFrame
        Index ``sample``; columns ``true_asvs`` (non-chimeric true ASVs with at least one pair
        in the sample), ``recovered`` (of those, seen with the exact sequence), ``recall``,
        ``spurious_asvs`` (observed ASVs matching no true non-chimeric ASV, chimeras included),
        ``chimeric_asvs`` (observed ASVs equal to a simulated chimera), ``spurious_percent``
        (percent of the sample's ASV reads on spurious ASVs) and ``bray_curtis`` between the
        observed and true ASV compositions (non-chimeric truth, all observed ASVs).

    Notes
    -----
    Exact-sequence matching is the usual benchmark for denoisers on mock communities
    (Callahan et al. 2016; Edgar 2016 UNOISE2 paper): an ASV one base off the truth counts as
    spurious, and the true ASV as missed.
    """
    from icibiome.amplicon.tables import read_asv_table
    from icibiome.taxonomy.profiles import bray_curtis

    truth_dir = Path(truth_dir)
    seqs = read_fasta(asv_fasta)
    tab = read_asv_table(asv_table)
    tc = pd.read_csv(truth_dir / "asv_counts.tsv", sep="\t", index_col=0)
    true_seq = tc.loc[~tc["is_chimera"], "sequence"]
    chim_seq = set(tc.loc[tc["is_chimera"], "sequence"])
    by_seq = {s: k for k, s in true_seq.items()}
    label = pd.Series({a: by_seq.get(seqs.get(a, ""), None) for a in tab.index}, dtype=object)
    is_chim = pd.Series({a: seqs.get(a, "") in chim_seq for a in tab.index})
    rows = {}
    for s in tab.columns:
        truth = tc.loc[~tc["is_chimera"], s].astype(float)
        obs = tab[s].astype(float)
        present = set(truth.index[truth > 0])
        seen = set(label[(obs > 0) & label.notna()])
        spurious = (obs > 0) & label.isna()
        obs_named = obs.groupby(label.fillna(pd.Series(obs.index, index=obs.index))).sum()
        tot = obs.sum()
        rows[s] = {
            "true_asvs": len(present),
            "recovered": len(present & seen),
            "recall": len(present & seen) / len(present) if present else np.nan,
            "spurious_asvs": int(spurious.sum()),
            "chimeric_asvs": int(((obs > 0) & is_chim).sum()),
            "spurious_percent": 100 * obs[spurious].sum() / tot if tot > 0 else np.nan,
            "bray_curtis": bray_curtis(100 * truth / truth.sum(), 100 * obs_named / tot)
            if tot > 0
            else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("sample")
