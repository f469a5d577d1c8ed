"""Sequences of the 16S path: IUPAC primers, in-silico PCR, FASTA/FASTQ reading and writing."""

from __future__ import annotations

import gzip
import logging
import os
import re
from collections.abc import Mapping

from icibiome.io import atomic_path

logger = logging.getLogger(__name__)


PRIMERS_V4 = ("GTGYCAGCMGCCGCGGTAA", "GGACTACNVGGGTWTCTAAT")
"""515F (Parada et al. 2016) and 806R (Apprill et al. 2015), the EMP V4 primer pair."""


IUPAC = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "U": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}
_COMPLEMENT = str.maketrans("ACGTURYSWKMBDHVNacgturyswkmbdhvn", "TGCAAYRSWMKVHDBNtgcaayrswmkvhdbn")


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA sequence, IUPAC codes included.

    Examples
    --------
    >>> reverse_complement("GTGYCAGCMGCCGCGGTAA")
    'TTACCGCGGCKGCTGRCAC'
    """
    return seq.translate(_COMPLEMENT)[::-1]


def primer_regex(primer: str) -> re.Pattern:
    """Compile a degenerate (IUPAC) primer into an exact-match regular expression.

    Examples
    --------
    >>> bool(primer_regex("GTGYCAG").fullmatch("GTGTCAG"))
    True
    """
    return re.compile("".join(f"[{IUPAC[b]}]" for b in primer.upper()))


def extract_amplicon(
    seq: str, forward: str, reverse: str, keep_primers: bool = False
) -> str | None:
    """The region of ``seq`` amplified by a primer pair, or ``None`` when a primer site is missing.

    Parameters
    ----------
    seq : str
        Template (5'->3', the strand the forward primer matches).
    forward, reverse : str
        Primers 5'->3' as ordered (``reverse`` binds the other strand), IUPAC codes allowed.
    keep_primers : bool
        Return the PCR product with the primer sites (what is sequenced) instead of the insert.

    Notes
    -----
    Exact IUPAC matching (as an in-silico PCR without mismatches); the first forward site and
    the first reverse site downstream of it delimit the product.

    Examples
    --------
    >>> extract_amplicon("CCACGTTTTTTGGAACC", "ACG", "TCC")
    'TTTTTT'
    >>> extract_amplicon("CCACGTTTTTTGGAACC", "ACG", "TCC", keep_primers=True)
    'ACGTTTTTTGGA'
    """
    s = seq.upper()
    f = primer_regex(forward).search(s)
    if f is None:
        return None
    r = primer_regex(reverse_complement(reverse)).search(s, f.end())
    if r is None:
        return None
    return s[f.start() : r.end()] if keep_primers else s[f.end() : r.start()]


def read_fasta(path: str | os.PathLike) -> dict[str, str]:
    """Read a (optionally gzipped) FASTA file into ``id -> sequence`` (id = header up to a space)."""
    records: dict[str, str] = {}
    name, parts = None, []
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if line.startswith(">"):
                if name is not None:
                    records[name] = "".join(parts)
                name, parts = line[1:].split(" ", 1)[0], []
            elif line:
                parts.append(line.strip())
    if name is not None:
        records[name] = "".join(parts)
    return records


def write_fasta(records: Mapping[str, str], path: str | os.PathLike) -> None:
    """Write ``id -> sequence`` records as FASTA (one line per sequence), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.writelines(f">{k}\n{v}\n" for k, v in records.items())


def count_fastx(path: str | os.PathLike) -> int:
    """Number of records in a FASTA or FASTQ file (gzip allowed)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        first = fh.read(1)
        if not first:
            return 0
        fh.seek(0)
        if first == ">":
            return sum(1 for line in fh if line.startswith(">"))
        return sum(1 for _ in fh) // 4
