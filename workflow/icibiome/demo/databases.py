"""Database builds for :mod:`icibiome.demo.make`: bowtie2 host index, sylph database, Kraken2 database.

Private helper of :mod:`icibiome.demo.make`. Every build is deterministic for a given input and seed.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from icibiome import RANKS
from icibiome.demo.genomes import write_fasta
from icibiome.io import write_tsv

logger = logging.getLogger(__name__)

SYLPH_C = 25  # dense sketches (sylph's default is 200): the genomes are only ~130 kb
SYLPH_K = 31


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def build_bowtie2(host_fa: Path, prefix: Path, seed: int, threads: int) -> None:
    """``bowtie2-build --seed S --threads T --ftabchars 8 host.fa prefix``.

    ``--ftabchars 8`` (default 10) shrinks the lookup table from 4 MB to 256 kB per strand,
    which matters for a 300 kb decoy and not for speed.
    """
    prefix.parent.mkdir(parents=True, exist_ok=True)
    _run(
        ["bowtie2-build", "--quiet", "--seed", str(seed), "--threads", str(threads),
         "--ftabchars", "8", str(host_fa), str(prefix)]
    )  # fmt: skip


def build_sylph(genomes: dict[str, str], tax: pd.DataFrame, out_dir: Path) -> None:
    """A pysylph database of the genomes, ``params.json`` and a genome -> lineage table."""
    import pysylph

    out_dir.mkdir(parents=True, exist_ok=True)
    sketcher = pysylph.Sketcher(c=SYLPH_C, k=SYLPH_K)
    db = pysylph.Database([sketcher.sketch_genome(g, [s]) for g, s in genomes.items()])
    db.dump(str(out_dir / "demo.syldb"))
    write_tsv(tax[["genome_id", "lineage"]], out_dir / "taxonomy.tsv")
    (out_dir / "params.json").write_text(
        json.dumps({"c": SYLPH_C, "k": SYLPH_K, "min_ani_suggested": 95}) + "\n"
    )


def kraken2_taxonomy(tax: pd.DataFrame) -> tuple[list[tuple[int, int, str]], list[tuple[int, str]]]:
    """NCBI-style ``nodes`` (taxid, parent, rank) and ``names`` (taxid, name) for the genomes.

    Root 1 > Bacteria 2 (superkingdom) > phylum ... genus (taxids from 100) > species (the
    ``taxid`` column of ``tax``).
    """
    nodes, names = [(1, 1, "no rank"), (2, 1, "superkingdom")], [(1, "root"), (2, "Bacteria")]
    seen: dict[tuple[str, str], int] = {}
    for row in tax.to_dict("records"):
        parent = 2
        for rank in RANKS[1:-1]:
            key = (rank, row[rank])
            if key not in seen:
                seen[key] = 100 + len(seen)
                nodes.append((seen[key], parent, rank))
                names.append((seen[key], row[rank]))
            parent = seen[key]
        nodes.append((int(row["taxid"]), parent, "species"))
        names.append((int(row["taxid"]), row["species"].replace("_", " ")))
    return nodes, names


def _zero_opts_padding(opts: Path) -> None:
    """Zero the struct padding of Kraken2's ``opts.k2d``.

    kraken2 2.1.x writes ``IndexOptions`` with ``fwrite(&opts, sizeof(opts))``; the padding after
    the ``bool dna_db`` field (bytes 33-39) and at the end (60-63) is uninitialised memory, so the
    file differs between identical builds. Zeroing it changes no field.
    """
    raw = bytearray(opts.read_bytes())
    if len(raw) != 64:
        logger.warning("%s: unexpected size %d; padding left as written", opts, len(raw))
        return
    raw[33:40] = bytes(7)
    raw[60:64] = bytes(4)
    opts.write_bytes(bytes(raw))


def build_kraken2(genomes: dict[str, str], tax: pd.DataFrame, db: Path, scratch: Path) -> None:
    """A Kraken2 database from the genomes and the written taxonomy, with ``kraken2-build``.

    Notes
    -----
    Headers ``>G01|kraken:taxid|N`` carry the taxid, so no accession map is needed; default
    k-mer/minimizer settings (k=35, l=31); ``--no-masking`` (the genomes have no low-complexity
    sequence). Built with one thread: kraken2-build 2.1.2 is deterministic then, and on a busy
    2-core machine it was 10x faster than with two. ``taxonomy/`` (nodes.dmp, names.dmp) and
    ``seqid2taxid.map`` are kept; the library copy of the genomes is removed.
    """
    (db / "taxonomy").mkdir(parents=True, exist_ok=True)
    nodes, names = kraken2_taxonomy(tax)
    with open(db / "taxonomy" / "nodes.dmp", "w") as fh:
        fh.writelines(f"{t}\t|\t{p}\t|\t{r}\t|\t\t|\n" for t, p, r in nodes)
    with open(db / "taxonomy" / "names.dmp", "w") as fh:
        fh.writelines(f"{t}\t|\t{n}\t|\t\t|\tscientific name\t|\n" for t, n in names)
    lib = scratch / "kraken2_library.fa"
    taxid = dict(zip(tax["genome_id"], tax["taxid"], strict=True))
    write_fasta(lib, {f"{g}|kraken:taxid|{taxid[g]}": s for g, s in genomes.items()})
    _run(["kraken2-build", "--add-to-library", str(lib), "--db", str(db), "--no-masking"])
    _run(["kraken2-build", "--build", "--db", str(db), "--threads", "1"])
    lib.unlink()
    shutil.rmtree(db / "library", ignore_errors=True)
    (db / "taxonomy" / "prelim_map.txt").unlink(missing_ok=True)
    _zero_opts_padding(db / "opts.k2d")
