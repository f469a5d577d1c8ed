"""Read simulation for :mod:`icibiome.demo.make`: ART Illumina reads, QC faults, shuffled gzipped FASTQ.

Private helper of :mod:`icibiome.demo.make`.

ART runs once per genome (and per host chromosome) for the total number of fragments that all
samples need from it; the reads, which ART draws independently, are then dealt out to the samples
in consecutive blocks. That is statistically the same as one ART run per sample and genome, and
26 processes instead of 26 x n_samples keep the demo fast.
"""

from __future__ import annotations

import gzip
import logging
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from icibiome.demo.genomes import ACGT, COMP_LUT, write_fasta

logger = logging.getLogger(__name__)

READ_LEN = 150
ADAPTER_R1 = b"AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"  # TruSeq read 1 adapter
ADAPTER_R2 = b"AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT"  # TruSeq read 2 adapter
P_READTHROUGH = 0.07  # fragments with an insert shorter than the read
P_LOWQUAL = 0.10  # fragments whose reads get a low-quality 3' tail
GZIP_LEVEL = 5  # level 6 costs 2.5x the CPU on these reads for 5 % smaller files

# NovaSeq-style 4-level quality binning (RTA3: Q2, Q12, Q23, Q37), applied to ART's HS25
# qualities: it keeps the demo's FASTQ small (qualities compress ~3x better) and is what current
# instruments write.
_QBIN = np.zeros(256, dtype=np.uint8)
for _v in range(33, 127):
    _q = _v - 33
    _QBIN[_v] = 33 + (2 if _q < 3 else 12 if _q < 15 else 23 if _q < 30 else 37)


@dataclass
class Reads:
    """A block of fragments: names (bytes, no ``@`` or ``/1``), and ``(n, 150)`` uint8 arrays."""

    names: np.ndarray
    seq1: np.ndarray
    qual1: np.ndarray
    seq2: np.ndarray
    qual2: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def take(self, idx) -> Reads:
        return Reads(
            self.names[idx], self.seq1[idx], self.qual1[idx], self.seq2[idx], self.qual2[idx]
        )

    @staticmethod
    def concat(parts: list[Reads]) -> Reads:
        return Reads(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Reads.__dataclass_fields__)
        )


def _parse_art_fastq(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    n = len(lines) // 4
    names = np.array([h[1:].rsplit(b"/", 1)[0] for h in lines[0::4]], dtype=object)
    seq = np.frombuffer(b"".join(lines[1::4]), dtype=np.uint8)
    qual = np.frombuffer(b"".join(lines[3::4]), dtype=np.uint8)
    if seq.size != n * READ_LEN or qual.size != n * READ_LEN:
        raise RuntimeError(f"{path}: ART reads are not all {READ_LEN} bp")
    return names, seq.reshape(n, READ_LEN).copy(), _QBIN[qual.reshape(n, READ_LEN)]


def art_pairs(fasta: Path, n_pairs: int, prefix: Path, seed: int) -> Reads:
    """Simulate ``n_pairs`` 2x150 read pairs from the single-record ``fasta`` with ART.

    Notes
    -----
    ``art_illumina -ss HS25 -l 150 -p -m 300 -s 30 -c N -rs SEED -na`` (Huang et al. 2012,
    Bioinformatics 28:593): HiSeq 2500 error profile, 300 +- 30 bp fragments. Qualities are then
    binned (:data:`_QBIN`).
    """
    cmd = [
        "art_illumina", "-ss", "HS25", "-i", str(fasta), "-l", str(READ_LEN), "-p", "-m", "300",
        "-s", "30", "-c", str(n_pairs), "-rs", str(seed), "-na", "-q", "-o", str(prefix),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"art_illumina failed ({proc.returncode}): {proc.stderr[-2000:]}")
    f1, f2 = Path(f"{prefix}1.fq"), Path(f"{prefix}2.fq")
    names, s1, q1 = _parse_art_fastq(f1)
    _, s2, q2 = _parse_art_fastq(f2)
    f1.unlink()
    f2.unlink()
    if len(names) != n_pairs:
        raise RuntimeError(f"art_illumina made {len(names)} pairs from {fasta}, not {n_pairs}")
    return Reads(names, s1, q1, s2, q2)


def simulate_pools(
    sequences: dict[str, str], n_pairs: dict[str, int], scratch: Path, seed: int, threads: int
) -> dict[str, Reads]:
    """One ART run per sequence (``n_pairs[name]`` pairs), ``threads`` runs at a time."""
    todo = [(k, name) for k, name in enumerate(sequences) if n_pairs.get(name, 0) > 0]

    def run(job):
        k, name = job
        fa = scratch / f"{name}.fa"
        write_fasta(fa, {name: sequences[name]})
        reads = art_pairs(fa, n_pairs[name], scratch / f"{name}_", seed * 1000 + k)
        fa.unlink()
        return name, reads

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return dict(pool.map(run, todo))


def _readthrough(rng: np.random.Generator, r: Reads, rows: np.ndarray, paired: bool) -> None:
    """Make fragments ``rows`` inserts of 60-140 bp: the reads run on into the adapter."""
    ins = rng.integers(60, 141, size=len(rows))
    junk = rng.choice(ACGT, size=(len(rows), 2, READ_LEN))
    a1 = np.frombuffer(ADAPTER_R1, dtype=np.uint8)
    a2 = np.frombuffer(ADAPTER_R2, dtype=np.uint8)
    for j, (row, n) in enumerate(zip(rows, ins, strict=True)):
        insert = r.seq1[row, :n].copy()
        r.seq1[row] = np.concatenate([insert, a1, junk[j, 0]])[:READ_LEN]
        if paired:
            r.seq2[row] = np.concatenate([COMP_LUT[insert[::-1]], a2, junk[j, 1]])[:READ_LEN]


def _degrade_tails(rng: np.random.Generator, seq: np.ndarray, qual: np.ndarray, rows: np.ndarray):
    """Low-quality 3' tails: Q2-10 over the last 20-50 bases, 30 % of those bases randomised."""
    t = rng.integers(20, 51, size=len(rows))
    tail = np.arange(READ_LEN)[None, :] >= (READ_LEN - t)[:, None]
    q = qual[rows]
    q[tail] = 33 + rng.integers(2, 11, size=int(tail.sum()))
    qual[rows] = q
    s = seq[rows]
    flip = tail & (rng.random(tail.shape) < 0.3)
    s[flip] = rng.choice(ACGT, size=int(flip.sum()))
    seq[rows] = s


def _fastq(names: np.ndarray, seq: np.ndarray, qual: np.ndarray, suffix: bytes) -> bytes:
    s = np.ascontiguousarray(seq).view(f"S{READ_LEN}").ravel()
    q = np.ascontiguousarray(qual).view(f"S{READ_LEN}").ravel()
    return b"".join(
        b"@%s%s\n%s\n+\n%s\n" % (n, suffix, a, b) for n, a, b in zip(names, s, q, strict=True)
    )


def _write_gz(path: Path, data: bytes) -> None:
    # gzip.compress with mtime=0 writes a fixed header: byte-identical output for the same data
    path.write_bytes(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))


def write_sample(
    sample: str,
    paired: bool,
    blocks: list[Reads],
    out_dir: Path,
    rng: np.random.Generator,
) -> dict:
    """Pool a sample's reads, add QC faults, shuffle, and write gzipped FASTQ.

    Returns the sample's read-origin truth: fragments from microbes and host, and fragments with
    adapter read-through or low-quality tails. Single-end samples use read 1 of each pair.
    """
    r = Reads.concat(blocks).take(rng.permutation(sum(len(b) for b in blocks)))
    n = len(r)
    rt = np.flatnonzero(rng.random(n) < P_READTHROUGH)
    _readthrough(rng, r, rt, paired)
    lq = np.flatnonzero(rng.random(n) < P_LOWQUAL)
    _degrade_tails(rng, r.seq1, r.qual1, lq)
    if paired:
        _degrade_tails(rng, r.seq2, r.qual2, lq)
        _write_gz(out_dir / f"{sample}_R1.fastq.gz", _fastq(r.names, r.seq1, r.qual1, b"/1"))
        _write_gz(out_dir / f"{sample}_R2.fastq.gz", _fastq(r.names, r.seq2, r.qual2, b"/2"))
    else:
        _write_gz(out_dir / f"{sample}.fastq.gz", _fastq(r.names, r.seq1, r.qual1, b""))
    n_host = int(sum(1 for x in r.names if x.startswith(b"HOST_")))
    return {
        "sample_id": sample,
        "layout": "paired" if paired else "single",
        "microbial_reads": n - n_host,
        "host_reads": n_host,
        "adapter_readthrough_reads": len(rt),
        "lowqual_tail_reads": len(lq),
    }
