"""Read-pass speed (issue 16): ``python benchmarks/bench_reads.py [--pairs N] [--repeats R]``.

Writes ``benchmarks/results/read_pass.tsv`` with columns step, wall_s and cpu_s (best of
``--repeats``; the slow fastp and old-parser steps once) and their ratios to ``pigz -dc`` and to
fastp, for one paired sample of ``--pairs`` read pairs (default 2 M). CPU seconds (the process
and its children, user + system) are the fairer figure on a shared machine, where wall time
depends on the other users' load:

* ``pigz -dc`` of both files (the decompression floor, output to /dev/null);
* ``fastp`` with 2 threads (the tool the pipeline runs on the same reads anyway);
* ``old_check_reads``: the pure-Python line parser that :func:`icibiome.reads.qc.check_reads` and
  :func:`icibiome.reads.qc.read_stats` used before (kept here as a reference copy: one
  :func:`icibiome.reads.qc.count_fastq` per file, so two Python passes per sample per step);
* ``check_reads``: the one dnaio pass of today's :func:`icibiome.reads.qc.scan_reads` (structure,
  IUPAC, counts and mate names); ``read_stats`` runs the same pass on the non-host reads.

Input: 150 bp synthetic pairs (uniform ACGT, Illumina-like qualities, ``/1`` ``/2`` names), a
block of 50,000 pairs repeated, gzip level 6 with pigz, written to a temporary directory that is
removed afterwards (nothing lands in the repository but the table). The machine may be shared:
the ratios within one run are what count.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from icibiome.reads.qc import count_fastq, scan_reads  # noqa: E402

BLOCK = 50_000
LEN = 150


def _block(rng: np.random.Generator, mate: int, seqs: np.ndarray, quals: np.ndarray) -> bytes:
    lines = []
    for i in range(BLOCK):
        lines.append(b"@read%d/%d\n%s\n+\n%s\n" % (i, mate, seqs[i].tobytes(), quals[i].tobytes()))
    return b"".join(lines)


def make_sample(out: Path, pairs: int, seed: int = 1) -> tuple[Path, Path]:
    """Two gzipped FASTQ files of ``pairs`` pairs (a repeated random block) under ``out``."""
    rng = np.random.default_rng(seed)
    paths = []
    for mate in (1, 2):
        seqs = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, (BLOCK, LEN))]
        quals = (rng.integers(25, 41, (BLOCK, LEN)) + 33).astype(np.uint8)
        block = _block(rng, mate, seqs, quals)
        path = out / f"S_R{mate}.fastq.gz"
        with open(path, "wb") as fh:
            proc = subprocess.Popen(
                ["pigz", "-p", "2", "-6", "-c"], stdin=subprocess.PIPE, stdout=fh
            )
            full, rest = divmod(pairs, BLOCK)
            for _ in range(full):
                proc.stdin.write(block)
            proc.stdin.write(block[: block.index(b"@read%d/" % rest)] if rest else b"")
            proc.stdin.close()
            if proc.wait():
                raise RuntimeError("pigz failed")
        paths.append(path)
    return paths[0], paths[1]


def old_check_reads(fq1, fq2) -> int:
    """The reference: the pre-dnaio check, one line-by-line Python pass per file."""
    n1 = count_fastq(fq1)
    n2 = count_fastq(fq2)
    assert n1 == n2
    return n1


def _cpu() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _time(fn, repeats: int) -> tuple[float, float]:
    """Best wall seconds and best CPU seconds over ``repeats`` runs."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        c0, t0 = _cpu(), time.perf_counter()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, _cpu() - c0)
    return wall, cpu


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "read_pass.tsv"))
    ap.add_argument("--skip-old", action="store_true", help="do not time the old parser")
    args = ap.parse_args(argv)
    for tool in ("pigz", "fastp"):
        if shutil.which(tool) is None:
            sys.exit(f"bench_reads: {tool} is not installed (make setup)")
    tmp = Path(tempfile.mkdtemp(prefix="bench_reads."))
    try:
        t0 = time.perf_counter()
        fq1, fq2 = make_sample(tmp, args.pairs)
        print(
            f"input: {args.pairs} pairs, {fq1.stat().st_size + fq2.stat().st_size} bytes gz,"
            f" made in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )

        def pigz():
            for f in (fq1, fq2):
                subprocess.run(["pigz", "-dc", str(f)], stdout=subprocess.DEVNULL, check=True)

        def fastp():
            subprocess.run(
                [
                    "fastp",
                    "--in1",
                    str(fq1),
                    "--in2",
                    str(fq2),
                    "--out1",
                    str(tmp / "o1.fq.gz"),
                    "--out2",
                    str(tmp / "o2.fq.gz"),
                    "--json",
                    str(tmp / "f.json"),
                    "--html",
                    str(tmp / "f.html"),
                    "--thread",
                    "2",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )

        def new():
            assert scan_reads(fq1, fq2) == args.pairs

        steps = [("pigz_dc", pigz), ("fastp_2_threads", fastp), ("check_reads", new)]
        if not args.skip_old:
            steps.append(("old_check_reads", lambda: old_check_reads(fq1, fq2)))
        rows = []
        for name, fn in steps:
            once = name.startswith(("old", "fastp"))  # the slow steps: timed once
            wall, cpu = _time(fn, 1 if once else args.repeats)
            rows.append((name, wall, cpu))
            print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
        floor = {r[0]: r for r in rows}["pigz_dc"]
        fp = {r[0]: r for r in rows}["fastp_2_threads"]
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w") as fh:
            fh.write(
                f"# pairs={args.pairs} read_length={LEN} cpus={os.cpu_count()}"
                f" load1={os.getloadavg()[0]:.2f}\n"
            )
            fh.write(
                "step\twall_s\tcpu_s\twall_ratio_to_pigz\tcpu_ratio_to_pigz"
                "\twall_ratio_to_fastp\tcpu_ratio_to_fastp\n"
            )
            for name, wall, cpu in rows:
                fh.write(
                    f"{name}\t{wall:.2f}\t{cpu:.2f}\t{wall / floor[1]:.2f}\t{cpu / floor[2]:.2f}"
                    f"\t{wall / fp[1]:.2f}\t{cpu / fp[2]:.2f}\n"
                )
        print(out.read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
