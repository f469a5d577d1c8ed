"""Per-sample cost at real depth (issue 16): ``python benchmarks/bench_per_sample.py [--pairs N]``.

Writes ``benchmarks/results/per_sample.tsv``: every per-sample rule of the demo configuration run
by Snakemake on one sample of ``--pairs`` read pairs (default 2 M), with its seconds (``s``) and
peak memory (``max_rss``) from the rule's own ``benchmark:`` file, next to ``pigz -dc`` of the same
two read files timed in the same run. Columns: step, kind (``python``: code this project writes
that reads the sample; ``tool``: an external program, run by a rule's shell or through the
library's wrapper), seconds, max_rss_mb, ratio_to_fastp, ratio_to_pigz, target_met (Python steps
only: seconds below fastp's and at most 2x pigz's) and note.

* Input: :func:`icibiome.demo.make.make_demo` (seed 1, 2 samples x 20,000 pairs, its host decoy,
  sylph, Kraken2 and function-panel databases) under a temporary directory; the first sample's
  pairs are then written again and again, each copy's records renamed (``<name>_c<copy>``), until
  ``--pairs`` pairs (gzip level 6, pigz): the composition (host share, taxa) is the demo's, the
  depth a real sample's. The copies are identical reads, so fastp's duplication figure is
  meaningless here (its time is not).
* Run: ``snakemake`` on the project's Snakefile in the temporary directory (a one-sample sheet,
  the demo configuration's per-sample stages: read check, fastp, bowtie2 host removal, read
  statistics, sylph, Kraken2 + Bracken-method profile, DIAMOND function panel), targets the
  per-sample outputs only; every rule is given both cores (``--set-threads``) so no two jobs
  overlap and each benchmark file is that job alone. One-off rules (the select/gate checkpoints,
  the Kraken2 k-mer distribution, ``diamond makedb``) are not per-sample and are left out.
* ``pigz -dc``: both files to ``/dev/null``, wall seconds and peak memory (``wait4``), best of 2.

The machine may be shared: the ratios within one run are what count. Nothing but the table lands
in the repository; the temporary directory is removed (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

SAMPLE = "C1_P01"

# per-sample rules of the demo configuration: rule -> (kind, note)
STEPS: dict[str, tuple[str, str]] = {
    "check_reads": ("python", "icibiome.reads.qc.check_reads: one dnaio pass over both raw files"),
    "fastp_paired": ("tool", "fastp, 2 threads"),
    "bowtie2_remove_host_paired": ("tool", "bowtie2 | samtools fastq, 2 threads"),
    "read_stats": (
        "python",
        "icibiome.reads.qc.read_stats: one dnaio pass over the non-host reads",
    ),
    "sylph_profile": (
        "tool",
        "pysylph (Rust) sketches and profiles the non-host reads, via icibiome.taxonomy.sylph",
    ),
    "kraken2_classify": ("tool", "kraken2, 2 threads"),
    "kraken2_profile": (
        "python",
        "icibiome.taxonomy.bracken.kraken_to_standard: Bracken method on the report (reads not read)",
    ),
    "diamond_blastx": ("tool", "diamond blastx --fast, both mates"),
}

COLUMNS = [
    "step",
    "kind",
    "seconds",
    "max_rss_mb",
    "ratio_to_fastp",
    "ratio_to_pigz",
    "target_met",
    "note",
]

CONFIG = """\
samples: {sheet}
on_bad_sample: stop
host_removal:
  bowtie2_index: data/db/host/host
taxonomy:
  profilers: [sylph, kraken2]
  kraken2:
    database: data/db/kraken2
    library: data/reference/genomes.fa
    library_taxonomy: data/reference/taxonomy.tsv
    genome_lengths: data/reference/taxonomy.tsv
    kmer_distribution_step: 5
  sylph:
    database: data/db/sylph/demo.syldb
    taxonomy: data/db/sylph/taxonomy.tsv
diversity:
  activate: false
function_panel:
  activate: true
  proteins: data/functions/panel.faa
  categories: data/functions/panel_categories.tsv
  threads: {cores}
"""


def read_benchmark(path: str | os.PathLike) -> tuple[float, float]:
    """Seconds (``s``) and peak memory in MB (``max_rss``) of one Snakemake benchmark file.

    A rule run once has one row; more rows (``repeat``) give the fastest. A ``max_rss`` of
    ``NA`` (a job too short for Snakemake to sample) is kept as NaN.
    """
    table = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
    for col in ("s", "max_rss"):
        if col not in table.columns:
            raise ValueError(f"{path}: no column {col!r} (not a Snakemake benchmark file)")
    row = table.loc[table["s"].idxmin()]
    return float(row["s"]), float(row["max_rss"])


def build_table(
    bench_files: dict[str, str | os.PathLike],
    pigz: tuple[float, float],
    steps: dict[str, tuple[str, str]] = STEPS,
) -> pd.DataFrame:
    """The per-sample table: one row for ``pigz -dc`` then one per rule, in ``steps`` order.

    Parameters
    ----------
    bench_files : dict
        Rule name -> its benchmark file; every rule of ``steps`` must have one, and fastp's
        (``fastp_paired``) is the reference.
    pigz : (float, float)
        Seconds and peak memory (MB) of ``pigz -dc`` of the same reads.
    steps : dict
        Rule name -> (kind, note); kind ``python`` rows get ``target_met``.
    """
    missing = [s for s in steps if s not in bench_files]
    if missing:
        raise ValueError(f"no benchmark file for {', '.join(missing)}")
    rows = [("pigz_dc", "tool", pigz[0], pigz[1], "pigz -dc of R1 and R2 to /dev/null")]
    for step, (kind, note) in steps.items():
        seconds, rss = read_benchmark(bench_files[step])
        rows.append((step, kind, seconds, rss, note))
    table = pd.DataFrame(rows, columns=["step", "kind", "seconds", "max_rss_mb", "note"])
    fastp = table.loc[table["step"] == "fastp_paired", "seconds"].iloc[0]
    table["ratio_to_fastp"] = table["seconds"] / fastp
    table["ratio_to_pigz"] = table["seconds"] / pigz[0]
    met = (table["ratio_to_fastp"] < 1) & (table["ratio_to_pigz"] <= 2)
    table["target_met"] = met.where(table["kind"] == "python").map(
        {True: "yes", False: "no"}, na_action="ignore"
    )
    table["target_met"] = table["target_met"].fillna("")
    for i in table.index[table["target_met"] == "no"]:
        table.loc[i, "note"] += (
            f"; MISSES the target (fastp x{table.loc[i, 'ratio_to_fastp']:.2f},"
            f" pigz x{table.loc[i, 'ratio_to_pigz']:.2f})"
        )
    return table[COLUMNS]


def write_table(table: pd.DataFrame, out: str | os.PathLike, header: str) -> None:
    """Write ``table`` as TSV with ``header`` as ``#`` comment lines on top."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as fh:
        for line in header.splitlines():
            fh.write(f"# {line}\n")
        table.to_csv(fh, sep="\t", index=False, float_format="%.2f")


def _renamed(record, copy: int):
    """``record`` named ``<id>_c<copy>`` (before a ``/1``/``/2`` mate suffix and any comment)."""
    import dnaio

    ident, sep, comment = record.name.partition(" ")
    base, slash, mate = ident.rpartition("/")
    if not slash or mate not in ("1", "2"):
        base, slash, mate = ident, "", ""
    name = f"{base}_c{copy}{slash}{mate}{sep}{comment}"
    return dnaio.SequenceRecord(name, record.sequence, record.qualities)


def replicate_sample(fq1, fq2, out: Path, pairs: int) -> tuple[Path, Path]:
    """Write ``pairs`` pairs made of renamed copies of the pairs in ``fq1``/``fq2`` into ``out``."""
    import dnaio

    with dnaio.open(fq1, file2=fq2) as reader:
        block = list(reader)
    if not block:
        raise ValueError(f"{fq1}: no reads to replicate")
    paths = (out / f"{SAMPLE}_R1.fastq.gz", out / f"{SAMPLE}_R2.fastq.gz")
    written = 0
    copy = 0
    with dnaio.open(paths[0], file2=paths[1], mode="w", compression_level=6) as writer:
        while written < pairs:
            for r1, r2 in block[: pairs - written]:
                writer.write(_renamed(r1, copy), _renamed(r2, copy))
            written += min(len(block), pairs - written)
            copy += 1
    return paths


def time_pigz(files, repeats: int = 2) -> tuple[float, float]:
    """Best wall seconds and its peak memory (MB) of ``pigz -dc`` of ``files`` to /dev/null.

    Measured by GNU ``time`` (``%e %M``), so the memory is pigz's own, not this Python process's
    (which a fork would carry into the child's ``ru_maxrss``).
    """
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "pigz", "-dc", *map(str, files)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
        wall, rss_kb = proc.stderr.strip().splitlines()[-1].split()
        if float(wall) < best[0]:
            best = (float(wall), int(rss_kb) / 1024)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=2_000_000)
    ap.add_argument("--demo-pairs", type=int, default=20_000, help="pairs per demo sample")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "per_sample.tsv"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    if not Path("/usr/bin/time").exists():
        sys.exit("bench_per_sample: GNU time (/usr/bin/time) is not installed")
    for tool in ("pigz", "fastp", "bowtie2", "samtools", "kraken2", "diamond", "art_illumina"):
        if shutil.which(tool) is None:
            sys.exit(f"bench_per_sample: {tool} is not installed (make setup)")
    from icibiome.demo.make import make_demo

    tmp = Path(tempfile.mkdtemp(prefix="bench_per_sample."))
    try:
        t0 = time.perf_counter()
        demo = make_demo(tmp / "data", seed=1, n_samples=2, pairs_per_sample=args.demo_pairs)
        sheet = pd.read_csv(demo / "samples.tsv", sep="\t", dtype=str)
        row = sheet[sheet["sample_id"] == SAMPLE].copy()
        reads = tmp / "reads"
        reads.mkdir()
        fq1, fq2 = replicate_sample(
            demo / row["fq1"].iloc[0], demo / row["fq2"].iloc[0], reads, args.pairs
        )
        row["fq1"], row["fq2"] = str(fq1), str(fq2)
        row.to_csv(tmp / "samples.tsv", sep="\t", index=False)
        (tmp / "config").mkdir()
        (tmp / "config" / "config.yaml").write_text(
            CONFIG.format(sheet="samples.tsv", cores=args.cores)
        )
        made = time.perf_counter() - t0
        size = fq1.stat().st_size + fq2.stat().st_size
        print(f"input: {args.pairs} pairs, {size} bytes gz, made in {made:.1f} s", flush=True)

        pigz = time_pigz([fq1, fq2])
        print(f"pigz -dc: {pigz[0]:.2f} s, {pigz[1]:.1f} MB", flush=True)
        targets = [
            f"results/qc/stats/{SAMPLE}.json",
            f"results/taxonomy/sylph/profiles/{SAMPLE}.tsv",
            f"results/taxonomy/kraken2/profiles/{SAMPLE}.tsv",
            f"results/functions/panel/hits/{SAMPLE}.tsv",
        ]
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(tmp),
            "--cores",
            str(args.cores),
            "--set-threads",
            *(f"{rule}={args.cores}" for rule in STEPS),
            "--",
            *targets,
        ]
        env = dict(
            os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        )
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        run_s = time.perf_counter() - t0
        if proc.returncode:
            sys.exit(f"bench_per_sample: snakemake failed:\n{proc.stderr[-5000:]}")
        print(f"snakemake: {run_s:.1f} s", flush=True)
        bench = {rule: tmp / "benchmarks" / rule / f"{SAMPLE}.tsv" for rule in STEPS}
        table = build_table(bench, pigz)
        header = (
            f"pairs={args.pairs} read_length=150 cpus={os.cpu_count()}"
            f" cores={args.cores} load1={os.getloadavg()[0]:.2f} snakemake_wall_s={run_s:.0f}\n"
            f"input: demo sample {SAMPLE} (icibiome.demo seed 1, {args.demo_pairs} pairs) copied"
            f" with fresh read names (<name>_c<copy>) to {args.pairs} pairs, gzip -6\n"
            "seconds, max_rss_mb: the rule's Snakemake benchmark file (s, max_rss); pigz_dc timed"
            " in the same run\n"
            "target (issue 16): a python step costs less than fastp (ratio_to_fastp < 1) and"
            " at most 2x pigz -dc (ratio_to_pigz <= 2)"
        )
        write_table(table, args.out, header)
        print(Path(args.out).read_text())
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
