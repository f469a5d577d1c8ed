"""MetaPhlAn 4: a tiny MetaPhlAn-format database from genomes, and its outputs as standard profiles.

MetaPhlAn (Blanco-Miguez et al., Nat Biotechnol 2023) maps reads with bowtie2 to clade-specific
marker genes and estimates each clade's relative abundance from the robust average coverage of its
markers. The real databases (``mpa_vJan21``/``vOct22``/``vJun23``/``vJan25``) are tens of GB and are
never fetched by the pipeline; :func:`build_tiny_db` writes a database in the same format from a few
genomes, so MetaPhlAn itself can be run end to end in tests and on the demo (tool-notes §8).

Database format (MetaPhlAn 4.2, ``utils/database_controller.py`` and ``metaphlan.py``)
---------------------------------------------------------------------------------------
``<index>.pkl``
    bz2-compressed pickle of ``{"taxonomy": {lineage_with_t__SGB: ("taxid|path|", genome_len)},
    "markers": {marker: {"clade": "t__SGB...", "ext": [], "len": L, "taxon": lineage}},
    "merged_taxon": {}}``.
``<index>.*.bt2l``
    bowtie2 ``--large-index`` of the marker sequences (MetaPhlAn checks for >= 6 such files).
``<index>.fna``
    The marker sequences. Their ids must contain ``SGB`` (MetaPhlAn keeps only reads on SGB/EUK
    markers) and no ``/``.
"""

from __future__ import annotations

import bz2
import logging
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX, RANKS
from icibiome.io import UNCLASSIFIED, atomic_path, write_tsv

logger = logging.getLogger(__name__)

_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _c in enumerate(b"ACGT"):
    _CODE[_c] = _i


_COMP = str.maketrans("ACGTN", "TGCAN")


def _kmers(seq: str, k: int) -> np.ndarray:
    """Distinct k-mers (k <= 31, 2-bit packed) of ``seq`` on both strands, ACGT-only, sorted."""
    both = np.concatenate([_forward_kmers(seq, k), _forward_kmers(seq.translate(_COMP)[::-1], k)])
    both = np.sort(both[both != np.iinfo(np.uint64).max])
    # sort + diff rather than np.unique: numpy 2's hash-based unique is ~100x slower here
    return both[np.concatenate([[True], both[1:] != both[:-1]])] if len(both) else both


def _shared_kmers(kmer_sets: list[np.ndarray]) -> np.ndarray:
    """Sorted k-mers present in more than one of the (deduplicated) sets."""
    allk = np.sort(np.concatenate(kmer_sets))
    return allk[1:][allk[1:] == allk[:-1]]


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    idx = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[idx] == values


def _read_fasta(path: str | os.PathLike) -> dict[str, str]:
    import pysam

    with pysam.FastxFile(str(path)) as fh:
        return {rec.name: rec.sequence.upper() for rec in fh}


def build_tiny_db(
    genomes_fasta: str | os.PathLike,
    taxonomy_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
    index_name: str = "mpa_vTiny_CHOCOPhlAnSGB_000",
    markers_per_genome: int = 10,
    marker_len: int = 900,
    seed: int = 1,
    k: int = 31,
    threads: int = 1,
    max_shared: float = 0.05,
) -> dict:
    """Write a MetaPhlAn 4 database (pickle + marker FASTA + bowtie2 large index) from genomes.

    For each genome, ``markers_per_genome`` non-overlapping windows of ``marker_len`` bp are
    drawn (seeded) among the windows whose ``k``-mers are (almost) absent from every other genome
    (either strand; at most ``max_shared`` of them shared), i.e. species-specific "markers", as
    MetaPhlAn's markers are clade-specific genes.
    Each genome becomes one SGB ``t__SGB<taxid>`` under its species.

    Parameters
    ----------
    genomes_fasta : path-like
        One record per genome (id = ``genome_id``).
    taxonomy_tsv : path-like
        ``genome_id``, ``taxid``, ``kingdom`` .. ``species`` (the demo's
        ``reference/taxonomy.tsv``); ``length`` is taken from the sequence when absent.
    out_dir : path-like
        Database folder (MetaPhlAn ``--db_dir``).
    index_name : str
        MetaPhlAn ``--index``; files are ``<out_dir>/<index_name>.*``.
    markers_per_genome, marker_len : int
        Number and length of markers per genome (tool-notes §8 used 10 x 900 bp).
    seed : int
        Seed of the window choice.
    k : int
        k-mer size of the uniqueness check.
    threads : int
        ``bowtie2-build --threads``.
    max_shared : float
        Largest fraction of a marker's k-mers that may occur in another genome. When too few
        windows qualify, the least-shared windows are used (a warning is not needed: the
        marker is still the genome's most specific sequence).

    Returns
    -------
    dict
        The pickled database dict.

    Notes
    -----
    MetaPhlAn's real markers come from ChocoPhlAn pangenomes (core genes unique to a clade);
    this keeps the same contract (a marker's reads are evidence for exactly one SGB) on
    synthetic genomes.

    References
    ----------
    .. [1] Blanco-Miguez A, et al. Extending and improving metagenomic taxonomic profiling with
       uncharacterized species using MetaPhlAn 4. Nat Biotechnol 2023;41:1633-1644.
    """
    if shutil.which("bowtie2-build") is None:
        raise FileNotFoundError("bowtie2-build is not on PATH")
    if "/" in index_name:
        raise ValueError("index_name must not contain '/'")
    genomes = _read_fasta(genomes_fasta)
    tax = pd.read_csv(taxonomy_tsv, sep="\t", dtype={"genome_id": str})
    missing = [c for c in ("genome_id", "taxid", *RANKS) if c not in tax.columns]
    if missing:
        raise ValueError(f"{taxonomy_tsv}: missing column(s) {missing}")
    absent = sorted(set(tax["genome_id"]) - set(genomes))
    if absent:
        raise ValueError(f"{taxonomy_tsv}: genome(s) {absent[:5]} not in {genomes_fasta}")
    rng = np.random.default_rng(seed)
    shared_all = _shared_kmers([_kmers(genomes[g], k) for g in dict.fromkeys(tax["genome_id"])])
    # clade taxids: species from the table, higher clades numbered in lineage order
    clade_ids: dict[str, int] = {}
    next_id = 1
    db: dict = {"taxonomy": {}, "markers": {}, "merged_taxon": {}}
    fasta_lines = []
    for row in tax.to_dict("records"):
        g = row["genome_id"]
        seq = genomes[g]
        fwd = _forward_kmers(seq, k)
        shared = _member(fwd, shared_all) | (fwd == np.iinfo(np.uint64).max)
        # windows [i, i+marker_len) free of shared k-mers: prefix sums over k-mer starts
        csum = np.concatenate([[0], np.cumsum(shared)])
        n_win = len(seq) - marker_len + 1
        starts = np.arange(max(0, n_win))
        nk = marker_len - k + 1
        n_shared = csum[starts + nk] - csum[starts] if n_win > 0 else starts
        # congeneric genomes ~10 % apart still share ~4 % of their 31-mers by chance, so a
        # window may carry up to max_shared of them; fewer than needed -> the least shared
        ok = starts[n_shared <= max_shared * nk]
        if len(ok) < markers_per_genome * 20:
            ok = starts[np.argsort(n_shared, kind="stable")[: markers_per_genome * 20]]
        chosen: list[int] = []
        for s in rng.permutation(ok):
            if all(abs(int(s) - c) >= marker_len for c in chosen):
                chosen.append(int(s))
            if len(chosen) == markers_per_genome:
                break
        if len(chosen) < markers_per_genome:
            logger.warning(
                "%s: only %d unique %d bp window(s) for %d markers",
                g,
                len(chosen),
                marker_len,
                markers_per_genome,
            )
        if not chosen:
            continue
        names = [f"{RANK_PREFIX[r]}{str(row[r]).replace(' ', '_')}" for r in RANKS]
        sgb = f"t__SGB{int(row['taxid'])}"
        lineage = "|".join([*names, sgb])
        ids = []
        for depth, _ in enumerate(names):
            clade = "|".join(names[: depth + 1])
            if depth == len(names) - 1:
                ids.append(str(int(row["taxid"])))
                continue
            if clade not in clade_ids:
                clade_ids[clade] = next_id
                next_id += 1
            ids.append(str(clade_ids[clade]))
        length = int(row["length"]) if "length" in row and pd.notna(row["length"]) else len(seq)
        db["taxonomy"][lineage] = ("|".join(ids) + "|", length)
        for i, s in enumerate(sorted(chosen)):
            marker = f"SGB{int(row['taxid'])}__{g}__m{i}"
            db["markers"][marker] = {"clade": sgb, "ext": [], "len": marker_len, "taxon": lineage}
            fasta_lines.append(f">{marker}\n{seq[s : s + marker_len]}\n")
    if not db["markers"]:
        raise ValueError("no genome has a unique marker window; lower marker_len")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fna = out_dir / f"{index_name}.fna"
    with atomic_path(fna) as tmp:
        tmp.write_text("".join(fasta_lines))
    with atomic_path(out_dir / f"{index_name}.pkl") as tmp:
        with bz2.BZ2File(tmp, "w") as fh:
            pickle.dump(db, fh, protocol=2)
    subprocess.run(
        [
            "bowtie2-build",
            "--large-index",
            "--seed",
            str(seed),
            "--threads",
            str(threads),
            str(fna),
            str(out_dir / index_name),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    logger.info(
        "tiny MetaPhlAn DB %s: %d SGBs, %d markers",
        index_name,
        len(db["taxonomy"]),
        len(db["markers"]),
    )
    return db


def _forward_kmers(seq: str, k: int) -> np.ndarray:
    """Canonical-free forward k-mers of ``seq`` in position order; max uint64 where non-ACGT."""
    s = _CODE[np.frombuffer(seq.encode(), dtype=np.uint8)]
    n = len(s) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    a = s.astype(np.uint64) & np.uint64(3)
    vals = np.zeros(n, dtype=np.uint64)
    for j in range(k):
        vals = (vals << np.uint64(2)) | a[j : j + n]
    bad = np.convolve((s == 4).astype(np.int32), np.ones(k, dtype=np.int32), "valid") > 0
    vals[bad] = np.iinfo(np.uint64).max
    return vals


def run_metaphlan(
    reads: list[str | os.PathLike],
    db_dir: str | os.PathLike,
    index: str,
    out: str | os.PathLike,
    mapout: str | os.PathLike | None = None,
    threads: int = 1,
    sample_id: str | None = None,
    extra: tuple[str, ...] = ("-t", "rel_ab_w_read_stats"),
) -> Path:
    """Run the real ``metaphlan`` offline on a sample (used by tests and the demo benchmark).

    The pipeline's rule calls the ``metaphlan`` command itself; this helper exists so the tests
    run exactly that command. ``--offline`` and an explicit ``--index`` keep MetaPhlAn from
    trying to download a database (tool-notes §8).
    """
    import sys

    exe = shutil.which("metaphlan")
    if exe is None and (Path(sys.executable).parent / "metaphlan").exists():
        exe = str(Path(sys.executable).parent / "metaphlan")  # the venv's, not on PATH
    if exe is None:
        raise FileNotFoundError("metaphlan is not on PATH")
    env = dict(os.environ)
    env["PATH"] = str(Path(exe).parent) + os.pathsep + env.get("PATH", "")  # read_fastx.py
    cmd = [
        exe,
        ",".join(str(r) for r in reads),
        "--input_type",
        "fastq",
        "--db_dir",
        str(db_dir),
        "--index",
        index,
        "--offline",
        "--nproc",
        str(threads),
        *extra,
    ]
    if sample_id:
        cmd += ["--sample_id", sample_id]
    out = Path(out)
    with atomic_path(out) as tmp:
        # MetaPhlAn refuses to overwrite a mapping file: use a fresh one unless asked to keep it
        mo = Path(mapout) if mapout else tmp.with_suffix(".mapout.bz2")
        if mo.exists():
            mo.unlink()
        run = [*cmd, "--mapout", str(mo), "-o", str(tmp)]
        res = subprocess.run(run, capture_output=True, text=True, env=env)
        if not mapout and mo.exists():
            mo.unlink()
        if res.returncode != 0:
            raise RuntimeError(f"metaphlan failed (exit {res.returncode}): {res.stderr[-2000:]}")
    return out


def profile_metaphlan(
    sample: str,
    reads: list[str | os.PathLike],
    db_dir: str | os.PathLike,
    index: str,
    out_raw: str | os.PathLike,
    out_profile: str | os.PathLike,
    threads: int = 1,
) -> pd.DataFrame:
    """Profile one sample with MetaPhlAn 4 (rule metaphlan_profile): raw output + standard profile.

    Runs :func:`run_metaphlan` (offline, explicit ``--index``, ``-t rel_ab_w_read_stats`` so the
    output carries estimated reads) on the non-host reads (mates given as one comma-separated
    input, as MetaPhlAn maps reads unpaired) and converts the output with
    :func:`metaphlan_to_standard`. A sample where MetaPhlAn finds nothing gives a valid
    all-``UNCLASSIFIED`` profile.
    """
    run_metaphlan(reads, db_dir, index, out_raw, threads=threads, sample_id=sample)
    prof = metaphlan_to_standard(out_raw, out_profile)
    logger.info(
        "%s: MetaPhlAn %s, %d species", sample, index, int((prof["lineage"] != UNCLASSIFIED).sum())
    )
    return prof


def read_metaphlan_profile(path: str | os.PathLike) -> pd.DataFrame:
    """Parse one MetaPhlAn (3/4) single-sample output, run-independently.

    Returns
    -------
    DataFrame
        One row per output line: ``clade_name``, ``taxid``, ``relative_abundance``,
        ``estimated_reads`` (NaN without ``-t rel_ab_w_read_stats``), ``rank`` (``kingdom`` ..
        ``species``, ``sgb``, or ``unclassified``). ``attrs`` holds ``database``, ``sample_id``,
        ``reads_processed`` (NaN when MetaPhlAn did not print it).
    """
    path = Path(path)
    attrs = {"database": "", "sample_id": "", "reads_processed": float("nan")}
    header = None
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            s = line.lstrip("#").strip()
            if (s.startswith("mpa_") or "CHOCOPhlAn" in s) and " " not in s:
                attrs["database"] = s
            elif s.startswith("SampleID"):
                parts = s.split("\t")
                attrs["sample_id"] = parts[1].strip() if len(parts) > 1 else ""
            elif s.startswith("clade_name"):
                header = s.split("\t")
            elif s.endswith("reads processed"):
                attrs["reads_processed"] = float(s.split()[0])
            continue
        rows.append(line.split("\t"))
    if header is None:
        raise ValueError(f"{path}: not a MetaPhlAn output (no '#clade_name' header line)")
    width = len(header)
    df = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], columns=header)
    taxcol = next((c for c in ("NCBI_tax_id", "clade_taxid") if c in df.columns), None)
    out = pd.DataFrame(
        {
            "clade_name": df["clade_name"].astype(str),
            "taxid": df[taxcol].astype(str) if taxcol else "",
            "relative_abundance": pd.to_numeric(df["relative_abundance"], errors="raise")
            if len(df)
            else pd.Series(dtype=float),
        }
    )
    est = "estimated_number_of_reads_from_the_clade"
    out["estimated_reads"] = (
        pd.to_numeric(df[est], errors="coerce") if est in df.columns else float("nan")
    )
    prefix_rank = {v: k for k, v in RANK_PREFIX.items()} | {"t__": "sgb"}
    out["rank"] = [
        "unclassified" if c == UNCLASSIFIED else prefix_rank.get(c.split("|")[-1][:3], "other")
        for c in out["clade_name"]
    ]
    out.attrs.update(attrs)
    return out


def metaphlan_to_standard(
    profile: str | os.PathLike, out_profile: str | os.PathLike
) -> pd.DataFrame:
    """One MetaPhlAn output -> the project's per-sample profile (:mod:`icibiome.taxonomy.profiles`).

    The species rows (``s__``, not ``t__``) are the profile: ``relative_abundance`` is
    MetaPhlAn's (cell) relative abundance, renormalised over the species; ``estimated_reads``
    is MetaPhlAn's ``estimated_number_of_reads_from_the_clade`` when the output has it (run
    with ``-t rel_ab_w_read_stats``), else the relative abundance times the reads processed
    (when printed), else 0. The unclassified reads are ``reads processed`` minus the
    classified estimate (or the ``UNCLASSIFIED`` row's estimate). An output with no species
    (MetaPhlAn found nothing) gives a valid, all-``UNCLASSIFIED`` profile.
    """
    from icibiome.taxonomy.profiles import write_sample_profile

    df = read_metaphlan_profile(profile)
    total = df.attrs["reads_processed"]
    sp = df[df["rank"] == "species"].copy()
    if sp["estimated_reads"].isna().any():
        if np.isfinite(total):
            sp["estimated_reads"] = sp["relative_abundance"] / 100.0 * total
        else:
            logger.warning("%s: no read statistics; estimated_reads set to 0", profile)
            sp["estimated_reads"] = 0.0
    unc_row = df[df["rank"] == "unclassified"]
    if np.isfinite(total):
        unclassified = max(0.0, total - float(sp["estimated_reads"].sum()))
    elif len(unc_row) and np.isfinite(unc_row["estimated_reads"].iloc[0]):
        unclassified = float(unc_row["estimated_reads"].iloc[0])
    else:
        unclassified = 0.0
    if sp.empty:
        logger.warning("%s: MetaPhlAn found no species; the profile is all UNCLASSIFIED", profile)
    prof = pd.DataFrame(
        {
            "lineage": sp["clade_name"].to_numpy(),
            "relative_abundance": sp["relative_abundance"].to_numpy(dtype=float),
            "estimated_reads": sp["estimated_reads"].to_numpy(dtype=float),
        }
    )
    return write_sample_profile(prof, unclassified, out_profile)


def write_metaphlan_lineages(db_pkl: str | os.PathLike, out: str | os.PathLike) -> pd.DataFrame:
    """``clade -> lineage`` table of a MetaPhlAn database pickle (for name harmonisation)."""
    with bz2.BZ2File(db_pkl) as fh:
        db = pickle.load(fh)  # noqa: S301 - the project's own / MetaPhlAn's database file
    rows = []
    for lin in db["taxonomy"]:
        parts = lin.split("|")
        sp = "|".join(p for p in parts if not p.startswith("t__"))
        sgb = next((p[3:] for p in parts if p.startswith("t__")), "")
        rows.append({"clade_name": sp.split("|")[-1], "sgb": sgb, "lineage": sp})
    table = pd.DataFrame(rows)
    write_tsv(table, out)
    return table
