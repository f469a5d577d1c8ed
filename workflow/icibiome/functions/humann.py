"""Functional profiling with HUMAnN 3: per-sample runs, merged and normalised tables, report heatmap.

HUMAnN (Beghini et al. 2021, eLife 10:e65088; https://github.com/biobakery/humann) maps a
sample's reads to the pangenomes of the species present (bowtie2 against ChocoPhlAn), aligns the
rest in translated mode (DIAMOND against UniRef90), and reconstructs MetaCyc pathways with MinPath.
This module

- builds and runs the ``humann`` command of one sample (:func:`humann_command`,
  :func:`run_humann`): paired reads are concatenated into one file, as the HUMAnN manual advises
  (mates are profiled as independent reads), and the run's temporary folder is removed;
- merges the per-sample tables with the HUMAnN utilities (``humann_join_tables``,
  ``humann_renorm_table``, ``humann_split_stratified_table``) and checks the normalisation
  (:func:`merge_humann`);
- writes a MultiQC heatmap of the most abundant pathways per sample (:func:`pathway_heatmap_mqc`).

Table naming in ``results/functions/humann/`` (``<kind>`` = genefamilies | pathabundance):
``<kind>_rpk.tsv`` / ``pathcoverage.tsv`` (joined raw HUMAnN output), ``<kind>_cpm.tsv`` and
``<kind>_relab.tsv`` (copies per million / relative abundance, normalised by the community total
including UNMAPPED and UNINTEGRATED, HUMAnN's default), and for every table the
``_unstratified.tsv`` (community totals) and ``_stratified.tsv`` (per-taxon ``feature|taxon``
rows) splits. Sample columns are the sample ids.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from icibiome.errors import UserError
from icibiome.io import atomic_path, is_gzip, read_fasta

logger = logging.getLogger(__name__)

KINDS = ("genefamilies", "pathabundance", "pathcoverage")
NORMALISED = ("genefamilies", "pathabundance")  # coverage is a 0-1 likelihood: never renormalised
UNITS = {"cpm": 1e6, "relab": 1.0}
SPECIAL = ("UNMAPPED", "UNINTEGRATED", "UNGROUPED")
_SUFFIXES = ("_Abundance-RPKs", "_Abundance-CPM", "_Abundance-RELAB", "_Abundance", "_Coverage")


class HumannError(UserError):
    """A HUMAnN run or utility failed, or its output is not what HUMAnN writes."""

    user_error = True


def humann_command(
    reads: str | os.PathLike,
    out_dir: str | os.PathLike,
    sample: str,
    nucleotide_db: str | os.PathLike,
    protein_db: str | os.PathLike,
    threads: int = 1,
    taxonomic_profile: str | os.PathLike | None = None,
    memory_use: str = "minimum",
    extra: Sequence[str] = (),
    humann_log: str | os.PathLike | None = None,
) -> list[str]:
    """The ``humann`` command line of one sample.

    Parameters
    ----------
    reads
        One FASTQ/FASTA file (gzip allowed) with all reads of the sample.
    out_dir
        HUMAnN's ``--output`` folder.
    sample
        ``--output-basename``: outputs are ``<sample>_genefamilies.tsv`` etc.
    nucleotide_db, protein_db
        ChocoPhlAn folder and UniRef DIAMOND folder.
    threads
        ``--threads``.
    taxonomic_profile
        A MetaPhlAn profile of the sample: HUMAnN then uses it to choose the pangenomes
        (``--taxonomic-profile``) instead of running MetaPhlAn; without it every pangenome of the
        nucleotide database is searched (``--bypass-prescreen``).
    memory_use
        ``--memory-use`` (``minimum`` or ``maximum``).
    extra
        Further options passed verbatim.
    humann_log
        ``--o-log`` path (HUMAnN's own detailed log).

    Returns
    -------
    list of str

    Examples
    --------
    >>> cmd = humann_command("s1.fq.gz", "out", "s1", "nuc", "prot", threads=2)
    >>> "--bypass-prescreen" in cmd, cmd[cmd.index("--threads") + 1]
    (True, '2')
    >>> "--taxonomic-profile" in humann_command("s1.fq.gz", "o", "s1", "n", "p",
    ...                                           taxonomic_profile="s1_mpa.tsv")
    True
    """
    cmd = [
        "humann",
        "--input",
        str(reads),
        "--output",
        str(out_dir),
        "--output-basename",
        sample,
        "--nucleotide-database",
        str(nucleotide_db),
        "--protein-database",
        str(protein_db),
        "--threads",
        str(int(threads)),
        "--memory-use",
        memory_use,
        "--remove-temp-output",
    ]
    if taxonomic_profile:
        cmd += ["--taxonomic-profile", str(taxonomic_profile)]
    else:
        cmd += ["--bypass-prescreen"]
    if humann_log:
        cmd += ["--o-log", str(humann_log)]
    return cmd + [str(x) for x in extra]


def concatenate_reads(reads: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Concatenate read files (all gzip, or all plain) into one file, byte for byte.

    Concatenated gzip members form a valid gzip file, so nothing is decompressed.
    """
    reads = [Path(r) for r in reads]
    if not reads:
        raise HumannError("no read files given")
    gz = {is_gzip(r) for r in reads}
    if len(gz) > 1:
        raise HumannError(f"mixed gzip and plain read files: {[str(r) for r in reads]}")
    with atomic_path(out) as tmp, open(tmp, "wb") as dst:
        for r in reads:
            with open(r, "rb") as src:
                shutil.copyfileobj(src, dst, length=1 << 20)
    return Path(out)


def run_humann(
    reads: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    sample: str,
    nucleotide_db: str | os.PathLike,
    protein_db: str | os.PathLike,
    threads: int = 1,
    taxonomic_profile: str | os.PathLike | None = None,
    memory_use: str = "minimum",
    extra: Sequence[str] = (),
    humann_log: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Run HUMAnN on one sample's reads; ``out_dir/<sample>_<kind>.tsv`` for the three kinds.

    HUMAnN works in a temporary folder beside ``out_dir`` (removed afterwards, also on failure);
    the three tables are moved into ``out_dir`` only when all exist and parse, so a failed run
    leaves no output behind.

    Returns
    -------
    dict
        kind -> path of the table.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{sample}.humann.", dir=out_dir.parent))
    try:
        ext = ".fastq.gz" if is_gzip(Path(reads[0])) else ".fastq"
        if len(reads) == 1:
            joined = Path(reads[0]).resolve()
        else:
            joined = concatenate_reads(reads, work / f"{sample}{ext}")
        cmd = humann_command(
            joined,
            work / "out",
            sample,
            nucleotide_db,
            protein_db,
            threads=threads,
            taxonomic_profile=taxonomic_profile,
            memory_use=memory_use,
            extra=extra,
            humann_log=humann_log,
        )
        logger.info("running: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        logger.info("humann stdout:\n%s", proc.stdout)
        if proc.returncode != 0:
            raise HumannError(
                f"humann failed for {sample} (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        produced = {k: work / "out" / f"{sample}_{k}.tsv" for k in KINDS}
        for kind, path in produced.items():
            if not path.is_file():
                raise HumannError(f"humann wrote no {kind} table for {sample}: {path.name}")
            read_humann_table(path)  # raises on a malformed table
        out_dir.mkdir(parents=True, exist_ok=True)
        final = {}
        for kind, path in produced.items():
            final[kind] = out_dir / path.name
            os.replace(path, final[kind])
        logger.info("HUMAnN tables of %s in %s", sample, out_dir)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_humann_table(path: str | os.PathLike, rename_samples: bool = True) -> pd.DataFrame:
    """Read a HUMAnN TSV (first column ``# Gene Family`` / ``# Pathway``) into features x samples.

    With ``rename_samples`` the HUMAnN column suffixes (``_Abundance-RPKs``, ``_Abundance``,
    ``_Coverage``, ...) are removed so columns are the sample ids.

    Examples
    --------
    >>> import io
    >>> t = read_humann_table(io.StringIO("# Pathway\\ts1_Abundance\\nUNMAPPED\\t2.5\\nP1\\t1\\n"))
    >>> t.index.name, list(t.columns), float(t.loc["UNMAPPED", "s1"])
    ('# Pathway', ['s1'], 2.5)
    """
    df = pd.read_csv(path, sep="\t", index_col=0, dtype={0: str})
    name = df.index.name or ""
    if not name.startswith("#"):
        raise HumannError(f"{path}: not a HUMAnN table (first header is {name!r})")
    df = df.apply(pd.to_numeric, errors="raise")
    if rename_samples:
        df.columns = [_sample_name(c) for c in df.columns]
    return df


def _sample_name(column: str) -> str:
    for suffix in _SUFFIXES:
        if column.endswith(suffix):
            return column[: -len(suffix)]
    return column


def split_stratified(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a HUMAnN table into community (``feature``) and per-taxon (``feature|taxon``) rows."""
    strat = df.index.str.contains("|", regex=False)
    return df[~strat], df[strat]


def check_table(
    df: pd.DataFrame, units: str | None, tol: float = 1e-3, additive: bool = True
) -> list[str]:
    """Problems of a merged HUMAnN table (empty list when it is consistent).

    - every stratified ``feature|taxon`` row belongs to a community row;
    - with ``additive`` (gene families) the taxon rows of a feature add up to no more than the
      community row, per sample (the community value is the total over taxa, ``unclassified``
      included). Pathway abundance and coverage are not additive over taxa: HUMAnN computes the
      community pathway from the pooled reactions;
    - with ``units`` (``cpm`` or ``relab``) the community rows of each sample sum to 1e6 or 1
      (relative tolerance ``tol``), or to 0 for a sample with no reads mapped at all.

    Examples
    --------
    >>> t = pd.DataFrame({"s": [0.5, 0.5, 0.3, 0.2]},
    ...                  index=["UNMAPPED", "F1", "F1|g__A.s__B", "F1|unclassified"])
    >>> check_table(t, "relab")
    []
    >>> check_table(t * 2, "relab")
    ['s: community rows sum to 2 instead of 1']
    """
    problems = []
    community, per_taxon = split_stratified(df)
    features = per_taxon.index.str.split("|", n=1).str[0]
    missing = sorted(set(features) - set(community.index))
    if missing:
        problems.append(f"stratified rows without a community row: {missing[:5]}")
    if additive:
        sums = per_taxon.groupby(features).sum()
        common = sums.index.intersection(community.index)
        excess = sums.loc[common] - community.loc[common]
        scale = community.loc[common].abs().clip(lower=1e-12)
        bad = (excess > tol * scale + 1e-9).any(axis=1)
        if bad.any():
            problems.append(f"taxon rows exceed the community row: {list(bad[bad].index[:5])}")
    if units:
        target = UNITS[units]
        for sample, total in community.sum().items():
            if total != 0 and abs(total - target) > tol * target:
                problems.append(
                    f"{sample}: community rows sum to {total:.6g} instead of {target:g}"
                )
    return problems


def _run_tool(cmd: list[str]) -> None:
    logger.info("running: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HumannError(
            f"{cmd[0]} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )


def _write_humann_table(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", float_format="%.10g")


def merge_humann(
    tables: dict[str, Sequence[str | os.PathLike]],
    out_dir: str | os.PathLike,
    top_n: int = 25,
) -> dict[str, Path]:
    """Join the per-sample HUMAnN tables, normalise them and split them by stratification.

    Uses the HUMAnN utilities: ``humann_join_tables`` (all samples of one kind),
    ``humann_renorm_table --units cpm|relab`` (community mode, special features kept) for gene
    families and pathway abundance, and ``humann_split_stratified_table`` for every table. Every
    written table passes :func:`check_table`; the files are written atomically. Then the pathway
    heatmap for MultiQC is written (:func:`pathway_heatmap_mqc`).

    Parameters
    ----------
    tables
        kind (``genefamilies``, ``pathabundance``, ``pathcoverage``) -> per-sample HUMAnN tables,
        named ``<sample>_<kind>.tsv``.
    out_dir
        Output folder (see the module docstring for the file names).
    top_n
        Pathways in the heatmap.

    Returns
    -------
    dict
        Output name (file stem) -> path.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    work = Path(tempfile.mkdtemp(prefix=".humann_merge.", dir=out_dir))
    try:
        for kind in KINDS:
            files = [Path(f) for f in tables[kind]]
            if not files:
                raise HumannError(f"no {kind} tables to merge")
            src = work / kind
            src.mkdir()
            for f in files:
                os.symlink(f.resolve(), src / f.name)
            joined = work / f"{kind}_joined.tsv"
            _run_tool(
                ["humann_join_tables", "-i", str(src), "-o", str(joined), "--file_name", kind]
            )
            raw = read_humann_table(joined)
            # humann_join_tables names a lone sample's column after its file
            raw.columns = [
                c[: -len(f"_{kind}")] if c.endswith(f"_{kind}") else c for c in raw.columns
            ]
            expected = sorted(f.name[: -len(f"_{kind}.tsv")] for f in files)
            if sorted(raw.columns) != expected:
                raise HumannError(f"{kind}: joined samples {sorted(raw.columns)} != {expected}")
            raw = raw[expected]
            base = f"{kind}_rpk" if kind in NORMALISED else kind
            variants = {base: (raw, None)}
            raw_path = work / f"{base}.tsv"
            _write_humann_table(raw, raw_path)
            if kind in NORMALISED:
                for units in UNITS:
                    norm_path = work / f"{kind}_{units}.tsv"
                    _run_tool(
                        [
                            "humann_renorm_table",
                            "-i",
                            str(raw_path),
                            "-o",
                            str(norm_path),
                            "--units",
                            units,
                            "--mode",
                            "community",
                            "--special",
                            "y",
                        ]
                    )
                    variants[f"{kind}_{units}"] = (read_humann_table(norm_path), units)
            for name, (df, units) in variants.items():
                problems = check_table(df, units, additive=kind == "genefamilies")
                if problems:
                    raise HumannError(f"{name}: " + "; ".join(problems))
                full = work / f"{name}.tsv"
                _write_humann_table(df, full)
                split_dir = work / f"split_{name}"
                _run_tool(["humann_split_stratified_table", "-i", str(full), "-o", str(split_dir)])
                parts = {
                    name: full,
                    f"{name}_unstratified": split_dir / f"{name}_unstratified.tsv",
                    f"{name}_stratified": split_dir / f"{name}_stratified.tsv",
                }
                for stem, path in parts.items():
                    df_part = read_humann_table(path)
                    _write_humann_table(df_part, out_dir / f"{stem}.tsv")
                    written[stem] = out_dir / f"{stem}.tsv"
                logger.info("%s: %d rows x %d samples", name, len(df), df.shape[1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    heatmap = pathway_heatmap_mqc(
        written["pathabundance_relab_unstratified"], out_dir / "humann_pathways_mqc.yaml", top_n
    )
    written["heatmap"] = heatmap
    return written


def pathway_heatmap_mqc(
    unstratified_relab: str | os.PathLike, out: str | os.PathLike, top_n: int = 25
) -> Path:
    """MultiQC custom-content heatmap: the ``top_n`` pathways (mean relative abundance) per sample.

    UNMAPPED and UNINTEGRATED are left out; values are percentages of the community total
    (``pathabundance_relab_unstratified``), so the colours compare pathways across samples. With
    no pathway detected the section is a note (``plot_type: html``) instead.
    """
    df = read_humann_table(unstratified_relab)
    df = df.drop(index=[s for s in SPECIAL if s in df.index])
    top = df.mean(axis=1).sort_values(ascending=False)
    top = top[top > 0].index[:top_n]
    values = df.loc[top] * 100
    samples = [str(c) for c in values.columns]
    rows = [_short_pathway(p) for p in top]
    section = {
        "id": "icibiome_humann_pathways",
        "section_name": "HUMAnN pathways",
        "description": (
            f"The {len(rows)} MetaCyc pathways with the highest mean abundance (HUMAnN 3, "
            "community totals), as a percentage of each sample's total pathway abundance "
            "including unmapped and unintegrated reads. Tables: results/functions/humann/."
            + ("" if rows else " No pathway was detected in any sample.")
        ),
        "plot_type": "heatmap",
        "xcats": samples,
        "ycats": rows,
        "pconfig": {
            "id": "icibiome_humann_pathways_heatmap",
            "title": "icibiome: HUMAnN pathway abundance (% of sample)",
            "xlab": "Sample",
            "ylab": "Pathway",
            "square": False,
        },
        "data": [
            [round(float(values.iloc[i, j]), 6) for j in range(len(samples))]
            for i in range(len(rows))
        ],
    }
    if not rows:  # MultiQC cannot draw an empty heatmap: a note instead
        for key in ("xcats", "ycats", "pconfig"):
            section.pop(key)
        section["plot_type"] = "html"
        section["data"] = "<p>HUMAnN detected no MetaCyc pathway in any sample.</p>"
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(yaml.safe_dump(section, sort_keys=False, width=1000))
    logger.info("pathway heatmap (%d pathways x %d samples): %s", len(rows), len(samples), out)
    return out


def _short_pathway(name: str, width: int = 80) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."


def sgb_taxa(metaphlan_profile: str | os.PathLike) -> dict[str, str]:
    """SGB -> ``g__Genus.s__species`` from the ``|t__SGB…`` rows of a MetaPhlAn 4 profile.

    Examples
    --------
    >>> import io
    >>> sgb_taxa(io.StringIO("#x\\nk__B|g__Bacteroides|s__Bacteroides_ovatus|t__SGB1871\\t2\\n"))
    {'SGB1871': 'g__Bacteroides.s__Bacteroides_ovatus'}
    """
    fh = open(metaphlan_profile) if isinstance(metaphlan_profile, (str, os.PathLike)) else None
    lines = (fh or metaphlan_profile).read().splitlines()
    if fh:
        fh.close()
    taxa = {}
    for line in lines:
        clade = line.split("\t")[0]
        ranks = {r[:3]: r for r in clade.split("|")}
        if not line.startswith("#") and {"g__", "s__", "t__"} <= set(ranks):
            taxa[ranks["t__"][3:]] = f"{ranks['g__']}.{ranks['s__']}"
    return taxa


def stage_v3_database(
    nucleotide_db: str | os.PathLike,
    protein_db: str | os.PathLike,
    dest: str | os.PathLike,
    taxa: dict[str, str] | None = None,
) -> tuple[Path, Path]:
    """Stage HUMAnN 4-style SGB demo databases in the layout HUMAnN 3.9 accepts.

    HUMAnN 3.9 refuses a ChocoPhlAn folder whose file names lack ``v201901_v31`` or do not start
    like ``g__X.s__Y``, and a protein folder whose names lack ``201901b``; and it takes the taxon
    of a gene from the second ``|`` field of the header, which must read ``g__Genus.s__species``
    (else the hit counts as an unclassified gene of length 0 and is dropped). The SGB pangenome
    files (``SGB1871_pangenome90.fna.gz``, headers ``SGB1871|SGB1871|UniRef90|UniRef50|length``)
    are therefore rewritten as ``<taxon>.centroids.v201901_v31.ffn.gz`` with headers
    ``SGB1871|<taxon>|UniRef90|UniRef50|length``, where ``<taxon>`` comes from ``taxa``
    (see :func:`sgb_taxa`) or is ``g__SGB1871.s__SGB1871``. The protein database is linked under
    an accepted name. Files already in HUMAnN 3 layout are linked unchanged. Used by the tests on
    ``../shared/data/humann_demo_db``; real runs use HUMAnN 3.9's own databases.

    Returns
    -------
    (Path, Path)
        The staged nucleotide and protein folders.
    """
    taxa = taxa or {}
    dest = Path(dest)
    nuc, prot = dest / "chocophlan", dest / "uniref"
    nuc.mkdir(parents=True, exist_ok=True)
    prot.mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(nucleotide_db).iterdir()):
        if "v201901_v31" in f.name:
            if not (nuc / f.name).exists():
                os.symlink(f.resolve(), nuc / f.name)
            continue
        sgb = f.name.split("_pangenome")[0].split(".")[0]
        taxon = taxa.get(sgb, f"g__{sgb}.s__{sgb}")
        out = nuc / f"{taxon}.centroids.v201901_v31.ffn.gz"
        if out.exists():
            continue
        with atomic_path(out) as tmp, gzip.open(tmp, "wt") as dst:
            for header, seq in read_fasta(f).items():
                fields = header.split("|")
                fields[1] = taxon
                dst.write(">" + "|".join(fields) + "\n" + seq + "\n")
    for f in sorted(Path(protein_db).iterdir()):
        name = f.name if "201901b" in f.name else f"{f.stem}.v201901b{f.suffix}"
        if not (prot / name).exists():
            os.symlink(f.resolve(), prot / name)
    logger.info("staged HUMAnN 3 databases in %s", dest)
    return nuc, prot
