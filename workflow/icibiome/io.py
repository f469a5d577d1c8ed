"""Reading and writing the project's standard tables, atomically.

The standard taxonomic table
----------------------------
Every profiler (sylph, Kraken2 + re-estimation, MetaPhlAn, 16S ASVs, imported profiles) ends in
the same two files per rank, so downstream stages never care where a profile came from:

``abundance_<rank>.tsv``
    Tab-separated, one row per taxon. Columns: ``clade_name`` (the clade at that rank with its
    MetaPhlAn prefix, e.g. ``s__Alphagenus_primus``), ``lineage`` (the full ``|``-joined lineage,
    ``k__Bacteria|p__...|s__...``), then one column per sample holding the relative abundance in
    **percent of classified** at that rank. Each sample column sums to 100, or to 0 for a sample
    with nothing classified (a zero-hit sample is a valid, all-zero column).
``counts_<rank>.tsv``
    The same layout holding estimated read counts (reads or read pairs, as the profiler counts
    them), plus one ``UNCLASSIFIED`` row (lineage ``UNCLASSIFIED``) with the reads not assigned
    at that rank.

Analyses take a samples x taxa matrix: :func:`read_abundance` gives that.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

UNCLASSIFIED = "UNCLASSIFIED"
ID_COLUMNS = ("clade_name", "lineage")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A job that fails half-way therefore never leaves a half-written output behind.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "x.txt").read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files: give them the usual umask-based mode
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_tsv(df: pd.DataFrame, path: str | os.PathLike, index: bool = False, **kwargs) -> None:
    """Write ``df`` as TSV atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index, **kwargs)


def write_standard_table(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a standard table (``clade_name``, ``lineage``, sample columns), sorted by mean value.

    Parameters
    ----------
    table : DataFrame
        Must have the columns ``clade_name`` and ``lineage``; every other column is a sample.
    path : path-like
        Destination; written atomically.
    """
    missing = [c for c in ID_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"standard table lacks column(s) {missing}")
    samples = [c for c in table.columns if c not in ID_COLUMNS]
    out = table[list(ID_COLUMNS) + samples].copy()
    is_unc = out["clade_name"] == UNCLASSIFIED
    body = out[~is_unc]
    order = body[samples].mean(axis=1).sort_values(ascending=False, kind="stable").index
    out = pd.concat([body.loc[order], out[is_unc]])
    write_tsv(out, path, float_format="%.8g")


def read_standard_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a standard table; index = ``clade_name``, first column ``lineage``, then samples."""
    df = pd.read_csv(path, sep="\t", dtype={"clade_name": str, "lineage": str})
    missing = [c for c in ID_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a standard table, missing column(s) {missing}")
    df = df.set_index("clade_name")
    samples = [c for c in df.columns if c != "lineage"]
    df[samples] = df[samples].astype(float)
    return df


def read_abundance(path: str | os.PathLike, drop_unclassified: bool = True) -> pd.DataFrame:
    """Read a standard table as a samples x taxa float matrix (columns = ``clade_name``)."""
    df = read_standard_table(path)
    if drop_unclassified:
        df = df.drop(index=UNCLASSIFIED, errors="ignore")
    return df.drop(columns="lineage").T.rename_axis(index="sample_id", columns="clade_name")


def read_lineages(path: str | os.PathLike) -> pd.Series:
    """Return the ``clade_name -> lineage`` mapping of a standard table."""
    return read_standard_table(path)["lineage"]


# --------------------------------------------------------------------------------------------
# files: one gzip rule, one digest, one FASTA reader


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether a file is gzip-compressed, by its content (magic bytes ``1f 8b``), not its name.

    >>> import gzip, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.txt").write_text("x"); (d / "b.gz").write_bytes(gzip.compress(b"x")) > 0
    True
    >>> is_gzip(d / "a.txt"), is_gzip(d / "b.gz")
    (False, True)
    """
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (:func:`hashlib.file_digest`).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_fasta(path: str | os.PathLike) -> dict[str, str]:
    """Sequences of a FASTA file (plain or gzip, by content) by header line without ``>``.

    Parsed by dnaio (cutadapt's C parser); a later record with the same header replaces an
    earlier one, as a dict does.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
    >>> _ = p.write_text(">a first\\nAC\\nGT\\n>b\\nTT\\n")
    >>> read_fasta(p)
    {'a first': 'ACGT', 'b': 'TT'}
    """
    import dnaio

    with dnaio.open(path, fileformat="fasta", mode="r") as reader:
        return {rec.name: rec.sequence for rec in reader}
