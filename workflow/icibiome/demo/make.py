"""The synthetic demo: a small ICI cohort with known truth, made with the real simulators and builders.

``python -m icibiome.demo --out DIR --seed S --samples N --pairs P [--threads T]`` writes

* ``reference/``: 24 synthetic genomes (110-150 kb) in a written taxonomy of 4 phyla, with related
  congeneric species (a shared ancestor, 4-7 % substitutions each, identical shared segments), so
  that k-mer classification is not trivial; a 16S-like locus in each genome (``16s.fa``); a host
  decoy genome (``host.fa``);
* ``reads/``: per sample, Illumina reads simulated with ART (``art_illumina``, HiSeq 2500 profile,
  qualities binned NovaSeq-style), 2x150 paired for most samples and single-end for about one in
  six, with host reads, adapter read-through (short inserts) and low-quality 3' tails, shuffled;
* ``samples.tsv``: the sample sheet (read paths relative to it);
* ``functions/``: a protein panel (``panel.faa``) and its categories (``panel_categories.tsv``:
  ``protein_id, category, taxon, lineage``) of synthetic genes planted in the genomes to match the
  guild roles (:mod:`icibiome.demo.functions`; truth in ``truth/function_*.tsv``);
* ``truth/``: the planted cell abundances (standard tables per rank), read-based species
  abundances, read origins per sample, guild membership, and per-sample latent guild balance,
  response and PFS;
* ``db/``: a bowtie2 index of the host, a sylph database (pysylph) with a genome -> lineage table,
  and a Kraken2 database built with ``kraken2-build`` from the written taxonomy;
* ``amplicon/`` (``--amplicon-pairs``, default 2,000; ``--amplicons-only`` adds it to an existing
  demo): 2x250 16S V4 amplicon pairs of the same samples with primers, MiSeq-like errors and PCR
  chimeras, their sheet (assay 16S), a SINTAX reference and the truth (:func:`add_amplicons`).

Everything is deterministic for a given seed and size (numpy ``default_rng``, ART ``-rs``, gzip
``mtime=0``, single-threaded ``kraken2-build``): the same arguments give byte-identical files.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANKS
from icibiome.demo.databases import build_bowtie2, build_kraken2, build_sylph
from icibiome.demo.fmt import DESIGN_COLUMNS, plant_arms
from icibiome.demo.functions import plant_function_genes, write_function_panel
from icibiome.demo.genomes import TAXA, make_genomes, make_host, write_fasta
from icibiome.demo.reads import simulate_pools, write_sample
from icibiome.io import write_standard_table, write_tsv

logger = logging.getLogger(__name__)

TRUTH_RANKS = ("species", "genus", "family", "phylum")
SHEET_COLUMNS = (
    "sample_id", "subject_id", "cohort", "timepoint", "assay", "fq1", "fq2", "response",
    "pfs_months", "pfs_event", "age", "sex", "antibiotics",
)  # fmt: skip
OUTPUTS = (
    "reference", "reads", "truth", "db", "amplicon", "functions", "samples.tsv", "README.md",
)  # fmt: skip

# the planted ecology (see plant_ecology)
GUILD_LOADING = 1.2  # a: log-abundance change per unit of guild balance z
COHORT_Z_MEAN = {"C1": 0.25, "C2": -0.25}
RESPONSE_SLOPE = 2.0  # b: P(response) = logistic(b z)
PFS_BASE_RATE = 0.08  # events per month at z = 0 (median PFS ~ 8.7 months)
PFS_HAZARD_RATIO = float(np.exp(-0.7))  # per unit of z


def cohorts_for(n_samples: int) -> np.ndarray:
    """Cohort labels: the first half of the samples is C1, the rest C2."""
    return np.where(np.arange(n_samples) < (n_samples + 1) // 2, "C1", "C2")


def single_end_samples(n_samples: int) -> np.ndarray:
    """Boolean mask of single-end samples: every sixth (index 5, 11, ...), at least one if n >= 3.

    With the cohorts in two halves, single-end samples fall in both cohorts.
    """
    single = np.arange(n_samples) % 6 == 5
    if not single.any() and n_samples >= 3:
        single[-1] = True
    return single


def plant_ecology(
    rng: np.random.Generator, tax: pd.DataFrame, n_samples: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw per-sample cell abundances and clinical outcomes from a latent guild balance.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness.
    tax : DataFrame
        Genomes with columns ``genome_id`` and ``guild`` (``foundation``, ``pathobiont``,
        ``none``).
    n_samples : int
        Number of samples (patients, one baseline sample each).

    Returns
    -------
    abundance : DataFrame
        Samples x genomes, relative cell abundance (rows sum to 1).
    clinical : DataFrame
        ``sample_id, subject_id, cohort, guild_balance, p_response, response, pfs_months,
        pfs_event, age, sex, antibiotics``.

    Notes
    -----
    The model follows the two competing guilds of Wu et al. (2024, Cell; a "foundation" guild of
    fibre fermenters / SCFA producers against a "pathobiont" guild) and their link to ICI
    response (Routy et al. 2018, Science; Gopalakrishnan et al. 2018, Science):

    * guild balance ``z_s ~ N(mu_cohort, 1)`` with ``mu = +0.25`` (C1) / ``-0.25`` (C2);
    * log cell abundance ``l_si = base_i + a z_s sign_i + e_si`` with ``a = 1.2``, ``sign = +1``
      for foundation, ``-1`` for pathobiont and ``0`` otherwise; ``base ~ N(0.5, 0.5)`` and
      ``e ~ N(0, 0.35)`` for guild members, ``base ~ N(0, 0.8)`` and ``e ~ N(0, 0.9)`` otherwise.
      Guild members therefore co-vary positively within and negatively across guilds in CLR
      space (at 24 samples, over seeds 1-100: mean within-guild CLR correlation 0.62, minimum
      0.32; mean between-guild -0.56, maximum -0.31);
    * cohort effect: three non-guild taxa are 1.5 log units higher in C2, one is 1.5 lower;
    * structural zeros: a taxon is absent from a sample with probability 0.2 (non-guild) or
      0.03 (guild member);
    * response ``R ~ Bernoulli(logistic(2 z))`` (AUC of z for response: mean 0.87 over seeds);
    * PFS ``~ Exponential(rate 0.08 exp(-0.7 z))`` months, censored at ``U(6, 30)`` months.
    """
    cohorts = cohorts_for(n_samples)
    z = rng.normal([COHORT_Z_MEAN[c] for c in cohorts], 1.0)
    n_g = len(tax)
    sign = tax["guild"].map({"foundation": 1.0, "pathobiont": -1.0, "none": 0.0}).to_numpy()
    in_guild = sign != 0
    base = np.where(in_guild, rng.normal(0.5, 0.5, n_g), rng.normal(0.0, 0.8, n_g))
    noise_sd = np.where(in_guild, 0.35, 0.9)
    logab = base + GUILD_LOADING * np.outer(z, sign) + rng.normal(0, 1, (n_samples, n_g)) * noise_sd
    others = np.flatnonzero(~in_guild)
    shifted = rng.choice(others, size=min(4, len(others)), replace=False)
    c2 = cohorts == "C2"
    for j, col in enumerate(shifted):
        logab[c2, col] += 1.5 if j < 3 else -1.5
    absent = rng.random((n_samples, n_g)) < np.where(in_guild, 0.03, 0.2)
    absent[absent.all(axis=1), 0] = False  # never an empty community
    ab = np.exp(logab) * ~absent
    ab /= ab.sum(axis=1, keepdims=True)
    width = max(2, len(str(n_samples)))
    ids = [f"{c}_P{i + 1:0{width}d}" for i, c in enumerate(cohorts)]
    abundance = pd.DataFrame(ab, index=pd.Index(ids, name="sample_id"), columns=tax["genome_id"])
    p_resp = 1 / (1 + np.exp(-RESPONSE_SLOPE * z))
    response = np.where(rng.random(n_samples) < p_resp, "R", "NR")
    t_event = rng.exponential(1 / (PFS_BASE_RATE * PFS_HAZARD_RATIO**z))
    t_censor = rng.uniform(6, 30, n_samples)
    clinical = pd.DataFrame(
        {
            "sample_id": ids,
            "subject_id": [f"S{i + 1:03d}" for i in range(n_samples)],
            "cohort": cohorts,
            "guild_balance": z.round(4),
            "p_response": p_resp.round(4),
            "response": response,
            "pfs_months": np.maximum(np.minimum(t_event, t_censor), 0.01).round(2),
            "pfs_event": (t_event <= t_censor).astype(int),
            "age": rng.integers(35, 86, n_samples),
            "sex": rng.choice(["F", "M"], n_samples),
            "antibiotics": np.where(rng.random(n_samples) < 0.15, "yes", "no"),
        }
    )
    return abundance, clinical


def standard_table(fractions: pd.DataFrame, tax: pd.DataFrame, rank: str) -> pd.DataFrame:
    """Samples x genomes fractions -> a standard table (percent) at ``rank`` (see :mod:`icibiome.io`)."""
    lin = tax.set_index("genome_id")["lineage"]
    depth = RANKS.index(rank) + 1
    clade_lin = lin.str.split("|").str[:depth].str.join("|")
    t = (100 * fractions).T.groupby(clade_lin.reindex(fractions.columns)).sum()
    out = t.reset_index(names="lineage")
    out.insert(0, "clade_name", out["lineage"].str.split("|").str[-1])
    return out


def _sample_sheet(clinical: pd.DataFrame, single: np.ndarray) -> pd.DataFrame:
    sheet = clinical.copy()
    if "timepoint" not in sheet.columns:
        sheet["timepoint"] = "baseline"
    sheet["timepoint"] = sheet["timepoint"].fillna("baseline")
    sheet["assay"] = "shotgun"
    sid = sheet["sample_id"]
    sheet["fq1"] = np.where(single, "reads/" + sid + ".fastq.gz", "reads/" + sid + "_R1.fastq.gz")
    sheet["fq2"] = np.where(single, "", "reads/" + sid + "_R2.fastq.gz")
    design = [c for c in DESIGN_COLUMNS if c in sheet.columns]
    return sheet[[*SHEET_COLUMNS, *design]]


def _write_truth(
    stage: Path,
    tax: pd.DataFrame,
    abundance: pd.DataFrame,
    clinical: pd.DataFrame,
    counts: pd.DataFrame,
    read_truth: list[dict],
    single: np.ndarray,
    host_frac: np.ndarray,
) -> None:
    """Write ``truth/`` and the sample sheet."""
    truth = stage / "truth"
    for rank in TRUTH_RANKS:
        write_standard_table(standard_table(abundance, tax, rank), truth / f"abundance_{rank}.tsv")
    micro = counts[list(tax["genome_id"])]
    read_frac = micro.div(micro.sum(axis=1).replace(0, 1), axis=0)
    write_standard_table(
        standard_table(read_frac, tax, "species"), truth / "read_abundance_species.tsv"
    )
    write_tsv(pd.DataFrame(read_truth), truth / "reads.tsv")
    roles = {
        "foundation": "fibre fermenter / SCFA producer; log-abundance rises with z",
        "pathobiont": "pathobiont; log-abundance falls with z",
        "none": "independent of z",
    }
    guilds = pd.DataFrame(
        {
            "clade_name": "s__" + tax["species"],
            "genome_id": tax["genome_id"],
            "guild": tax["guild"],
            "role": tax["guild"].map(roles),
        }
    )
    write_tsv(guilds, truth / "guilds.tsv")
    layout = np.where(single, "single", "paired")
    write_tsv(
        clinical.assign(layout=layout, host_fraction=host_frac.round(4)), truth / "samples.tsv"
    )
    write_tsv(_sample_sheet(clinical, single), stage / "samples.tsv")


def _readme(seed: int, n_samples: int, pairs: int, n_genomes: int, n_single: int) -> str:
    return (
        "# icibiome synthetic demo\n\n"
        "A synthetic immune-checkpoint-inhibitor cohort with known truth, made by "
        f"`python -m icibiome.demo --out DIR --seed {seed} --samples {n_samples} --pairs {pairs}` "
        f"(workflow/icibiome/demo/make.py): {n_genomes} synthetic genomes (100-150 kb, 4 phyla, related "
        "congeneric species, a 16S-like locus each) in a written taxonomy (reference/), a 300 kb "
        f"host decoy, and {n_samples} baseline samples in 2 cohorts of {pairs} fragments each, "
        f"simulated with ART (HS25 profile, 2x150 bp; single-end for {n_single} samples; "
        "qualities binned NovaSeq-style) with 5-30 % host reads, adapter read-through and "
        "low-quality 3' tails (reads/, samples.tsv). Abundances follow two planted competing "
        "guilds (foundation vs pathobiont) driven by a latent guild balance that also drives "
        "response and PFS; the planted cell abundances, read-based abundances, read origins, "
        "guild membership and clinical truth are in truth/. db/ holds a bowtie2 host index, a "
        "sylph database (pysylph) and a Kraken2 database (kraken2-build). functions/ holds a "
        "protein panel of synthetic genes planted in the genomes to match the guild roles "
        "(butyrate and carbohydrate genes in the foundation guild, LPS and virulence genes in the "
        "pathobionts). The same arguments "
        "give byte-identical files.\n"
    )


def _install(stage: Path, out: Path) -> None:
    """Move the finished demo from ``stage`` into ``out``, replacing earlier demo outputs."""
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for name in OUTPUTS:
        if name != "samples.tsv" and (stage / name).exists():  # amplicon/ is optional
            os.replace(stage / name, out / name)
    os.replace(
        stage / "samples.tsv", out / "samples.tsv"
    )  # last: its presence marks a complete demo


def make_demo(
    out: str | os.PathLike,
    seed: int = 1,
    n_samples: int = 24,
    pairs_per_sample: int = 20000,
    threads: int = 2,
    *,
    n_genomes: int = len(TAXA),
    databases: bool = True,
    amplicon_pairs: int = 0,
    fmt_recipients: int = 0,
    longitudinal_subjects: int = 0,
) -> Path:
    """Write the synthetic demo (reads, reference, truth, databases) into ``out``.

    Parameters
    ----------
    out : path-like
        Output folder (created; earlier demo outputs in it are replaced).
    seed : int
        Seed of every random draw (numpy, ART, bowtie2-build).
    n_samples : int
        Number of samples, at least 2 (two cohorts).
    pairs_per_sample : int
        Fragments per sample (read pairs, or reads for single-end samples), host included.
    threads : int
        Parallel ART processes, sample writers and bowtie2-build threads.
    n_genomes : int
        Community size (4-24); smaller communities keep both guilds (for fast tests).
    databases : bool
        Build ``db/`` (bowtie2, sylph, Kraken2); off only for tests that do not need it.
    amplicon_pairs : int
        Also write 16S amplicon reads of the same samples with this many pairs each into
        ``amplicon/`` (:func:`add_amplicons`); 0 = none (the default here, so tests that need
        no 16S reads pay nothing; the command line writes 2,000 pairs per sample by default).
    fmt_recipients, longitudinal_subjects : int
        Optional arms with known truth (:mod:`icibiome.demo.fmt`): an FMT trial (2 donors,
        recipients sampled at days 0/14/42 with a planted engraftment share) and patients
        sampled at days 0/30/60 with a planted guild shift in responders; the sheet then has the
        design columns ``role``, ``donor_id``, ``days``, ``treatment``. 0 = none (default: the
        baseline arm alone, byte-identical to a demo made without them).

    Returns
    -------
    Path
        ``out``.

    Notes
    -----
    The demo is assembled in a hidden folder beside ``out`` and moved in when complete, with
    ``samples.tsv`` last, so an interrupted run never leaves a demo that looks finished. The
    ecology is described in :func:`plant_ecology`, genomes in
    :func:`icibiome.demo.genomes.make_genomes`, reads in :mod:`icibiome.demo.reads`. Read
    counts per genome are multinomial with probabilities proportional to cell abundance x genome
    length; the host fraction of each sample is uniform in 5-30 %.
    """
    t0 = time.perf_counter()
    out = Path(out)
    if n_samples < 2:
        raise ValueError("the demo needs at least 2 samples (two cohorts)")
    if pairs_per_sample < 10:
        raise ValueError("pairs_per_sample must be at least 10")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        for sub in ("reference", "reads", "truth", "db", ".scratch"):
            (stage / sub).mkdir(parents=True)
        scratch = stage / ".scratch"
        rng = np.random.default_rng(seed)
        tax, genomes, loci = make_genomes(rng, n_genomes)
        # function genes from their own generator: every other draw of the demo is unchanged
        genomes, genes, proteins = plant_function_genes(seed, tax, genomes)
        host = make_host(rng)
        write_fasta(stage / "reference" / "genomes.fa", genomes)
        write_fasta(stage / "reference" / "host.fa", host)
        write_fasta(stage / "reference" / "16s.fa", loci)
        write_tsv(tax.drop(columns=["guild", "gc"]), stage / "reference" / "taxonomy.tsv")
        abundance, clinical = plant_ecology(rng, tax, n_samples)
        arms = None
        if fmt_recipients or longitudinal_subjects:
            ab2, cl2, eng_truth, lon_truth = plant_arms(
                seed, tax, fmt_recipients, longitudinal_subjects
            )
            clinical = clinical.assign(role="patient", donor_id="", days=0, treatment="anti-PD-1")
            abundance = pd.concat([abundance, ab2])
            clinical = pd.concat([clinical, cl2], ignore_index=True)
            arms = (eng_truth, lon_truth)
        n_baseline, n_samples = n_samples, len(abundance)
        single = single_end_samples(n_samples)

        # fragments per sample and source: microbes ~ abundance x length, host 5-30 %
        host_frac = rng.uniform(0.05, 0.30, n_samples)
        n_host = np.rint(pairs_per_sample * host_frac).astype(int)
        w = abundance.to_numpy() * tax["length"].to_numpy()
        w /= w.sum(axis=1, keepdims=True)
        micro = np.stack(
            [rng.multinomial(pairs_per_sample - h, p) for h, p in zip(n_host, w, strict=True)]
        )
        hosts = np.stack([rng.multinomial(h, [0.5] * len(host)) for h in n_host])
        counts = pd.DataFrame(
            np.hstack([micro, hosts]), index=abundance.index, columns=[*genomes, *host]
        )
        t1 = time.perf_counter()
        pools = simulate_pools({**genomes, **host}, counts.sum().to_dict(), scratch, seed, threads)
        t2 = time.perf_counter()
        logger.info(
            "ART: %d fragments from %d sequences in %.1f s",
            counts.to_numpy().sum(),
            len(pools),
            t2 - t1,
        )

        # deal each pool out to the samples in consecutive blocks
        offsets = counts.cumsum(axis=0) - counts

        def one(i: int) -> dict:
            s = counts.index[i]
            blocks = [
                pools[src].take(slice(offsets.at[s, src], offsets.at[s, src] + counts.at[s, src]))
                for src in counts.columns
                if counts.at[s, src] > 0
            ]
            sample_rng = np.random.default_rng([seed, i])
            return write_sample(s, not single[i], blocks, stage / "reads", sample_rng)

        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            read_truth = list(pool.map(one, range(n_samples)))
        pools.clear()
        t3 = time.perf_counter()
        logger.info("reads: %d samples written in %.1f s", n_samples, t3 - t2)

        if databases:
            build_bowtie2(
                stage / "reference" / "host.fa", stage / "db" / "host" / "host", seed, threads
            )
            build_sylph(genomes, tax, stage / "db" / "sylph")
            build_kraken2(genomes, tax, stage / "db" / "kraken2", scratch)
            logger.info("databases built in %.1f s", time.perf_counter() - t3)
        shutil.rmtree(scratch)

        _write_truth(stage, tax, abundance, clinical, counts, read_truth, single, host_frac)
        if arms is not None:
            write_tsv(arms[0], stage / "truth" / "engraftment.tsv")
            write_tsv(arms[1], stage / "truth" / "longitudinal.tsv")
        write_function_panel(genes, proteins, stage)
        if amplicon_pairs:
            add_amplicons(stage, amplicon_pairs, seed, threads)
        (stage / "README.md").write_text(
            _readme(seed, n_baseline, pairs_per_sample, len(genomes), int(single.sum()))
        )
        _install(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    logger.info("demo written to %s in %.1f s", out, time.perf_counter() - t0)
    return out


def add_amplicons(
    demo: str | os.PathLike, pairs: int = 2000, seed: int = 1, threads: int = 2
) -> Path:
    """Write 16S amplicon reads of a demo's samples into ``<demo>/amplicon/``.

    :func:`icibiome.demo.amplicon.simulate_amplicons` on the demo's 16S-like loci and true
    species abundances (2x250 MiSeq-like V4 pairs with primers and a few PCR chimeras):
    ``amplicon/samples.tsv`` (assay 16S, the clinical columns of the shotgun sheet),
    ``amplicon/reads/``, the SINTAX reference ``amplicon/reference/sintax.fa`` and the truth
    ``amplicon/truth/``. The same arguments give byte-identical files.
    """
    from icibiome.demo.amplicon import simulate_amplicons

    demo = Path(demo)
    return simulate_amplicons(
        demo / "reference" / "16s.fa",
        demo / "truth" / "abundance_species.tsv",
        None,
        demo / "amplicon",
        reads_per_sample=pairs,
        seed=seed,
        sample_sheet=demo / "samples.tsv",
        threads=threads,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m icibiome.demo --out DIR [--seed S] [--samples N] [--pairs P]``."""
    ap = argparse.ArgumentParser(
        prog="python -m icibiome.demo",
        description="Make the icibiome synthetic demo (reads, databases, ground truth).",
    )
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--samples", type=int, default=24, help="number of samples (default 24)")
    ap.add_argument(
        "--pairs", type=int, default=20000, help="fragments (pairs or single reads) per sample"
    )
    ap.add_argument("--threads", type=int, default=2, help="parallel processes (default 2)")
    ap.add_argument("--genomes", type=int, default=len(TAXA), help=f"community size, 4-{len(TAXA)}")
    ap.add_argument("--no-databases", action="store_true", help="skip the db/ builds")
    ap.add_argument(
        "--amplicon-pairs", type=int, default=2000,
        help="16S amplicon pairs per sample written into amplicon/ (0 = none; default 2000)",
    )  # fmt: skip
    ap.add_argument(
        "--fmt-recipients",
        type=int,
        default=0,
        help="add an FMT arm with this many recipients (2 donors; default 0)",
    )
    ap.add_argument(
        "--longitudinal-subjects",
        type=int,
        default=0,
        help="add a longitudinal arm with this many patients x 3 visits (default 0)",
    )
    ap.add_argument(
        "--amplicons-only", action="store_true",
        help="only add amplicon/ to the existing demo in --out (same seed)",
    )  # fmt: skip
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    if a.amplicons_only:
        add_amplicons(a.out, a.amplicon_pairs, a.seed, a.threads)
        print(f"demo: 16S amplicons added to {a.out} in {time.perf_counter() - t0:.0f} s")
        return 0
    make_demo(
        a.out, a.seed, a.samples, a.pairs, a.threads, n_genomes=a.genomes,
        databases=not a.no_databases, amplicon_pairs=a.amplicon_pairs,
        fmt_recipients=a.fmt_recipients, longitudinal_subjects=a.longitudinal_subjects,
    )  # fmt: skip
    print(
        f"demo: {a.samples} samples x {a.pairs} fragments written to {a.out} "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
