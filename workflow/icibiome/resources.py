"""Job memory from the size of the databases a job loads.

Snakemake's ``input.size_mb`` is the sum of the input *entries*: a database folder (Kraken2, the
MetaPhlAn ``db_dir``, the HUMAnN ChocoPhlAn / UniRef folders) counts as the size of the folder entry
(~0 MB), and a job's reads count as if they were held in memory. The rules therefore ask for memory
from the database's own files (:func:`db_size_mb`), each tool's memory model being
``base_mb + factor x size`` (:func:`db_mem_mb`), doubled on each retry.

Memory models (the factors in ``rules/*.smk``)
----------------------------------------------
Kraken2
    ``kraken2`` reads ``hash.k2d`` (and the small ``opts.k2d`` / ``taxo.k2d``) whole into memory:
    1.1 x the ``*.k2d`` files + 1 GB. Files a custom build leaves in the folder (``library/``,
    ``taxonomy/``) are not loaded and not counted.
bowtie2 (host removal, MetaPhlAn)
    The index (``<prefix>.*.bt2`` / ``.bt2l``) is loaded whole: 1.2 x the index + 1 GB.
sylph
    The ``.syldb`` is loaded whole (pysylph ``Database.load``): 1.3 x its size + 1 GB.
HUMAnN
    Nucleotide search uses a bowtie2 index of the selected ChocoPhlAn pangenomes and the
    translated search DIAMOND over UniRef in blocks, so memory grows with the databases but less
    than their size: 0.25 x (ChocoPhlAn + UniRef files) + 6 GB (6 GB: the measured peak RSS with
    the bundled DEMO databases is 3.9 GB).
DIAMOND (function panel)
    The panel is small; DIAMOND's working memory is dominated by its block size:
    2 x the protein FASTA + 2 GB.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import os
from collections.abc import Iterable
from pathlib import Path

MB = 1_000_000
"""Bytes per MB, as Snakemake's ``size_mb`` and SLURM's ``--mem`` (in MB) count them."""


def _files(path: Path, patterns: Iterable[str] | None) -> list[Path]:
    pats = list(patterns) if patterns else None
    if path.is_file():
        return [path]
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        if pats:
            files = [
                p
                for p in files
                if any(fnmatch.fnmatch(p.relative_to(path).as_posix(), pat) for pat in pats)
            ]
        return files
    # an index prefix (bowtie2 "db/host/host"): the files beside it starting with the prefix
    parent = path.parent
    if parent.is_dir():
        files = [p for p in parent.iterdir() if p.is_file() and p.name.startswith(path.name + ".")]
        if pats:
            files = [p for p in files if any(fnmatch.fnmatch(p.name, pat) for pat in pats)]
        return files
    return []


def db_size_mb(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    patterns: Iterable[str] | None = None,
) -> float:
    """Total size in MB of the files of one or more databases.

    Parameters
    ----------
    paths : path-like or iterable of path-like
        A database file, a folder (every regular file under it, recursively, symlinks followed)
        or an index prefix (``db/host/host``: the files ``db/host/host.*``). Missing paths count 0
        (the run's database check reports them; a dry run needs no databases).
    patterns : iterable of str, optional
        Only files matching one of these glob patterns (relative POSIX path inside a folder, file
        name for a prefix), e.g. ``["*.k2d"]`` for the part of a Kraken2 folder that is loaded.

    Returns
    -------
    float
        Apparent size (``st_size``) in MB (10^6 bytes), as Snakemake's ``size_mb``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "hash.k2d").write_bytes(b"x" * 3_000_000)
    >>> _ = (d / "library.fna").write_bytes(b"x" * 1_000_000)
    >>> db_size_mb(d), db_size_mb(d, ["*.k2d"]), db_size_mb(d / "absent")
    (4.0, 3.0, 0.0)
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    pats = tuple(patterns) if patterns else None
    seen: set[str] = set()
    total = 0
    for p in paths:
        if p in ("", None):
            continue
        for real, size in _sizes(str(Path(p).absolute()), pats):
            if real in seen:  # the same file reached twice (a folder and a file in it, a link)
                continue
            seen.add(real)
            total += size
    return total / MB


@functools.lru_cache(maxsize=256)
def _sizes(path: str, patterns: tuple[str, ...] | None) -> tuple[tuple[str, int], ...]:
    """(resolved file, size) of a database, remembered for the process: a resources lambda is
    called for every job, and a database does not change during a run (a folder of 10^4 files
    on a network file system is not walked once per sample)."""
    return tuple((str(f.resolve()), f.stat().st_size) for f in _files(Path(path), patterns))


def db_mem_mb(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    factor: float,
    base_mb: int,
    attempt: int = 1,
    patterns: Iterable[str] | None = None,
) -> int:
    """Memory in MB for a job that loads a database: ``(base_mb + factor x size) x 2^(attempt-1)``.

    Parameters
    ----------
    paths, patterns
        The database files, as :func:`db_size_mb`.
    factor : float
        Memory per MB of database (the tool's memory model, see the module docstring).
    base_mb : int
        Fixed part: the program itself, the reads in flight, the output.
    attempt : int
        Snakemake's ``attempt`` (1 on the first try): memory doubles on each retry, so a job
        killed for memory asks for more.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with open(d / "hash.k2d", "wb") as fh:
    ...     _ = fh.truncate(16_000_000_000)  # sparse: 16 GB apparent, no disk used
    >>> db_mem_mb(d, 1.1, 1000), db_mem_mb(d, 1.1, 1000, attempt=2)
    (18600, 37200)
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if factor < 0 or base_mb < 0:
        raise ValueError("factor and base_mb must be >= 0")
    mem = base_mb + math.ceil(factor * db_size_mb(paths, patterns) - 1e-9)
    return int(mem * 2 ** (attempt - 1))
