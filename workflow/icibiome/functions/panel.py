"""Function panels: DIAMOND blastx hits of reads on a protein panel -> RPKM per category and guild.

A *panel* is a protein FASTA plus a TSV mapping each protein to a function category (and
optionally to the taxon it comes from). Reads (host-removed, QC'd) are searched with DIAMOND
blastx (Buchfink et al. 2021, Nat Methods 18:366); this module

- parses DIAMOND's tabular output (``--outfmt 6 qseqid sseqid pident length evalue bitscore qlen
  slen``, each line prefixed by the mate number by the rule) and keeps the best hit per read
  (:func:`read_hits`, :func:`best_hits`);
- counts reads per protein and normalises them to reads per kilobase per million
  (:func:`category_rpkm`): per protein ``RPK = reads / (3 * protein length in aa / 1000)``,
  summed per category, divided by the sample's QC'd non-host reads in millions. This is the
  RPKM of ShortBRED (Kaminski et al. 2015, PLoS Comput Biol 11:e1004557) and HUMAnN's
  gene-family RPK (Beghini et al. 2021, eLife 10:e65088) normalised per million sequenced
  reads instead of per million mapped RPK (CPM), so samples with few panel hits are not
  inflated;
- maps hits back to the panel's taxa and aggregates them by guild (``guilds.tsv`` of
  :mod:`icibiome.ecology.guilds`) into a guild x category table (:func:`guild_functions`);
- writes the MultiQC custom content: a per-sample heatmap of log10(RPKM + 1) per category and
  the guild x category table (:func:`run_function_panel`, :func:`run_function_guilds`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from icibiome.io import atomic_path, read_fasta, write_tsv

logger = logging.getLogger(__name__)

HIT_COLUMNS = ("mate", "qseqid", "sseqid", "pident", "length", "evalue", "bitscore", "qlen", "slen")
"""Columns of a sample's hit file: the mate number (1, 2; 1 for single-end) then DIAMOND's."""
NOT_IN_GUILDS = "not_in_profile"
"""Guild of panel taxa (or proteins without a taxon) absent from the guild table."""


def read_hits(path: str | os.PathLike) -> pd.DataFrame:
    """Read a sample's hit file (:data:`HIT_COLUMNS`, tab-separated, no header; may be empty).

    Examples
    --------
    >>> import io
    >>> read_hits(io.StringIO("1\\tr1\\tP1\\t98.0\\t49\\t1e-30\\t99.8\\t150\\t257\\n")).shape
    (1, 9)
    """
    try:
        df = pd.read_csv(
            path,
            sep="\t",
            header=None,
            names=list(HIT_COLUMNS),
            dtype={"qseqid": str, "sseqid": str},
        )
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=list(HIT_COLUMNS))
    return df


def best_hits(hits: pd.DataFrame) -> pd.DataFrame:
    """The best hit of each read (``mate``, ``qseqid``): highest bit score, then lowest e-value.

    Remaining ties keep the first line (DIAMOND's order). Mates of a pair share ``qseqid`` in
    host-removed FASTQ files, so a read is the pair (mate, qseqid) and each mate counts once.

    Examples
    --------
    >>> h = pd.DataFrame({"mate": [1, 1, 2], "qseqid": ["r", "r", "r"], "sseqid": ["A", "B", "A"],
    ...                   "evalue": [1e-9, 1e-20, 1e-9], "bitscore": [50.0, 60.0, 50.0]})
    >>> best_hits(h)[["mate", "sseqid"]].values.tolist()
    [[1, 'B'], [2, 'A']]
    """
    if hits.empty:
        return hits.copy()
    order = hits.sort_values(["bitscore", "evalue"], ascending=[False, True], kind="stable")
    best = order.drop_duplicates(["mate", "qseqid"], keep="first")
    return best.sort_values(["mate", "qseqid"], kind="stable").reset_index(drop=True)


def read_fasta_lengths(path: str | os.PathLike) -> pd.Series:
    """``protein_id -> length`` (residues, a final ``*`` stop not counted) of a FASTA file; the
    id is the header's first word (:func:`icibiome.io.read_fasta`)."""
    lengths = {name.split()[0]: len(seq.rstrip("*")) for name, seq in read_fasta(path).items()}
    return pd.Series(lengths, name="length_aa", dtype=int)


def read_panel(categories_tsv: str | os.PathLike, faa: str | os.PathLike) -> pd.DataFrame:
    """The panel: index ``protein_id``; ``category``, ``taxon``, ``lineage`` and ``length_aa``.

    ``categories_tsv`` needs ``protein_id`` and ``category``; ``taxon`` (a clade name such as
    ``s__Escherichia_coli``) and ``lineage`` (``k__...|...|s__...``) are optional and map hits back
    to taxa. Proteins of the TSV missing from the FASTA, or the reverse, are an error.
    """
    df = pd.read_csv(categories_tsv, sep="\t", dtype=str, comment="#").fillna("")
    missing = {"protein_id", "category"} - set(df.columns)
    if missing:
        raise ValueError(
            f"{categories_tsv}: needs columns protein_id, category (missing {sorted(missing)})"
        )
    for c in ("taxon", "lineage"):
        if c not in df.columns:
            df[c] = ""
    if df["protein_id"].duplicated().any():
        dup = df.loc[df["protein_id"].duplicated(), "protein_id"].iloc[0]
        raise ValueError(f"{categories_tsv}: protein {dup!r} listed twice")
    lengths = read_fasta_lengths(faa)
    no_seq = sorted(set(df["protein_id"]) - set(lengths.index))
    no_cat = sorted(set(lengths.index) - set(df["protein_id"]))
    if no_seq or no_cat:
        raise ValueError(
            f"panel {faa} and {categories_tsv} disagree: proteins without sequence {no_seq[:5]}, "
            f"without category {no_cat[:5]}"
        )
    df = df.set_index("protein_id")
    df["length_aa"] = lengths.reindex(df.index).astype(int)
    return df[["category", "taxon", "lineage", "length_aa"]]


def protein_counts(best: pd.DataFrame, panel: pd.DataFrame) -> pd.Series:
    """Reads per panel protein (every protein, zeros included) from :func:`best_hits`."""
    unknown = set(best["sseqid"]) - set(panel.index) if len(best) else set()
    if unknown:
        raise ValueError(f"hits on proteins not in the panel: {sorted(unknown)[:5]}")
    return best["sseqid"].value_counts().reindex(panel.index, fill_value=0).astype(int)


def rpkm(counts: pd.DataFrame, panel: pd.DataFrame, reads: pd.Series) -> pd.DataFrame:
    """Proteins x samples read counts -> proteins x samples RPKM.

    ``RPKM = count / (3 * length_aa / 1000) / (reads / 1e6)`` with ``reads`` the sample's QC'd
    non-host reads (ShortBRED; see the module docstring). A sample with no reads gives 0.

    Examples
    --------
    >>> panel = pd.DataFrame({"length_aa": [1000, 500]}, index=["A", "B"])
    >>> c = pd.DataFrame({"s": [30, 3]}, index=["A", "B"])
    >>> rpkm(c, panel, pd.Series({"s": 2_000_000})).round(3)["s"].tolist()
    [5.0, 1.0]
    """
    kb = 3 * panel["length_aa"].reindex(counts.index).astype(float) / 1000
    per_million = reads.reindex(counts.columns).astype(float) / 1e6
    out = counts.astype(float).div(kb, axis=0).div(per_million.replace(0, np.nan), axis=1)
    return out.fillna(0.0)


def category_rpkm(protein_rpkm: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """Categories x samples: the sum of the RPKM of each category's proteins (panel order)."""
    cats = pd.unique(panel["category"])
    return protein_rpkm.groupby(panel["category"].reindex(protein_rpkm.index)).sum().reindex(cats)


def taxon_guilds(panel: pd.DataFrame, guilds: pd.DataFrame) -> pd.Series:
    """``protein_id -> guild`` through the protein's taxon.

    ``guilds`` is ``guilds.tsv`` of :mod:`icibiome.ecology.guilds` (``clade_name``, ``guild``; the network
    rank may be any). A protein's candidates are the clades of its ``lineage`` (most specific
    first) or else its ``taxon``; the first candidate in the guild table gives the guild, so a
    species-level panel maps onto a genus-level guild table when the lineage is given. Proteins
    without a match get :data:`NOT_IN_GUILDS`.

    Examples
    --------
    >>> panel = pd.DataFrame({"taxon": ["s__A_x", "s__B_y", ""],
    ...     "lineage": ["k__K|g__A|s__A_x", "", ""]}, index=["P1", "P2", "P3"])
    >>> g = pd.DataFrame({"clade_name": ["g__A", "s__B_y"], "guild": ["foundation", "pathobiont"]})
    >>> taxon_guilds(panel, g).tolist()
    ['foundation', 'pathobiont', 'not_in_profile']
    """
    lookup = dict(zip(guilds["clade_name"].astype(str), guilds["guild"].astype(str), strict=True))

    def one(taxon: str, lineage: str) -> str:
        cands = [c for c in reversed(lineage.split("|")) if c] if lineage else []
        cands += [taxon] if taxon else []
        return next((lookup[c] for c in cands if c in lookup), NOT_IN_GUILDS)

    return pd.Series(
        [one(t, lin) for t, lin in zip(panel["taxon"], panel["lineage"], strict=True)],
        index=panel.index,
        name="guild",
    )


def guild_functions(
    protein_rpkm: pd.DataFrame, panel: pd.DataFrame, guilds: pd.DataFrame
) -> pd.DataFrame:
    """Guild x category table from per-protein RPKM mapped to guilds through the panel's taxa.

    Returns one row per (category, guild) with any RPKM: ``category, guild, n_proteins`` (panel
    proteins of the category in the guild), ``n_taxa``, ``mean_rpkm`` (mean over samples of the
    guild's summed RPKM of the category), ``share`` (fraction of the category's total RPKM over
    all samples that falls in the guild; sums to 1 per category with hits) and ``prevalence``
    (fraction of samples where the guild has a hit of the category).

    Examples
    --------
    >>> panel = pd.DataFrame({"category": ["but", "but", "lps"], "taxon": ["s__a", "s__b", "s__c"],
    ...     "lineage": ["", "", ""], "length_aa": [100, 100, 100]}, index=["P1", "P2", "P3"])
    >>> g = pd.DataFrame({"clade_name": ["s__a", "s__b", "s__c"],
    ...                   "guild": ["foundation", "pathobiont", "pathobiont"]})
    >>> r = pd.DataFrame({"s1": [3.0, 1.0, 2.0], "s2": [1.0, 0.0, 0.0]}, index=["P1", "P2", "P3"])
    >>> t = guild_functions(r, panel, g)
    >>> t[["category", "guild", "share"]].values.tolist()
    [['but', 'foundation', 0.8], ['but', 'pathobiont', 0.2], ['lps', 'pathobiont', 1.0]]
    """
    guild = taxon_guilds(panel, guilds).reindex(protein_rpkm.index)
    cat = panel["category"].reindex(protein_rpkm.index)
    taxon = panel["taxon"].reindex(protein_rpkm.index)
    key = [cat.rename("category"), guild.rename("guild")]
    summed = protein_rpkm.groupby(key, sort=False).sum()
    total = protein_rpkm.groupby(cat.rename("category"), sort=False).sum().sum(axis=1)
    out = pd.DataFrame(
        {
            "n_proteins": cat.groupby(key, sort=False).size(),
            "n_taxa": taxon.groupby(key, sort=False).nunique(),
            "mean_rpkm": summed.mean(axis=1),
            "share": summed.sum(axis=1)
            / total.reindex(summed.index.get_level_values(0)).to_numpy(),
            "prevalence": (summed > 0).mean(axis=1),
        }
    ).reset_index()
    out = out[out["mean_rpkm"] > 0]
    out = out.sort_values(["category", "share"], ascending=[True, False], kind="stable")
    return out.reset_index(drop=True)


def nonhost_reads(stats_jsons: list[str | os.PathLike]) -> pd.Series:
    """``sample_id -> QC'd non-host reads`` from the per-sample ``results/qc/stats`` JSON files."""
    out = {}
    for p in stats_jsons:
        d = json.loads(Path(p).read_text())
        out[str(d["sample_id"])] = int(d["non_host"])
    return pd.Series(out, dtype=int)


def heatmap_mqc(cat_rpkm: pd.DataFrame, path: str | os.PathLike) -> Path:
    """MultiQC custom-content heatmap: samples (rows) x categories, log10(RPKM + 1)."""
    values = np.log10(cat_rpkm.T.astype(float) + 1)
    samples = [str(s) for s in values.index]
    cats = [str(c) for c in values.columns]
    section = {
        "id": "icibiome_function_panel",
        "section_name": "Function panel",
        "description": (
            "Reads per kilobase per million (RPKM; reads per protein kilobase, summed per "
            "category, per million QC'd non-host reads, as in ShortBRED) of each function "
            "category of the DIAMOND blastx panel, shown as log10(RPKM + 1). Tables: "
            "results/functions/panel/."
        ),
        "plot_type": "heatmap",
        "xcats": cats,
        "ycats": samples,
        "pconfig": {
            "id": "icibiome_function_panel_heatmap",
            "title": "icibiome: function panel, log10(RPKM + 1)",
            "xlab": "Category",
            "ylab": "Sample",
            "square": False,
        },
        "data": [[round(float(v), 4) for v in row] for row in values.to_numpy()],
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(section, sort_keys=False, width=1000))
    return path


def run_function_panel(
    hits: list[str | os.PathLike],
    samples: list[str],
    stats: list[str | os.PathLike],
    categories_tsv: str | os.PathLike,
    faa: str | os.PathLike,
    out_dir: str | os.PathLike,
) -> dict[str, Path]:
    """Per-sample hit files -> the panel tables and the report heatmap in ``out_dir``.

    Parameters
    ----------
    hits : list of path-like
        One hit file per sample (:func:`read_hits`), in the order of ``samples``.
    samples : list of str
        Sample ids.
    stats : list of path-like
        The samples' ``results/qc/stats/<sample>.json`` (``non_host`` reads: the denominator).
    categories_tsv, faa : path-like
        The panel (:func:`read_panel`).
    out_dir : path-like
        Written: ``protein_counts.tsv`` (proteins x samples, best-hit reads),
        ``protein_rpkm.tsv``, ``category_rpkm.tsv`` (categories x samples),
        ``taxon_rpkm.tsv`` (``taxon, category`` x samples, the panel's taxa), ``features.tsv``
        (``sample_id`` and ``fn_<category>`` = log10(RPKM + 1), for the signatures stage) and
        ``function_panel_mqc.yaml`` (heatmap).

    Returns
    -------
    dict
        Output name -> path.
    """
    if len(hits) != len(samples):
        raise ValueError(f"{len(hits)} hit files for {len(samples)} samples")
    panel = read_panel(categories_tsv, faa)
    counts = pd.DataFrame(
        {
            s: protein_counts(best_hits(read_hits(h)), panel)
            for s, h in zip(samples, hits, strict=True)
        },
        index=panel.index,
    )
    reads = nonhost_reads(stats)
    missing = sorted(set(samples) - set(reads.index))
    if missing:
        raise ValueError(f"no read statistics for samples {missing[:5]}")
    prot = rpkm(counts, panel, reads)
    cat = category_rpkm(prot, panel)
    tax = prot.groupby([panel["taxon"].replace("", "unknown"), panel["category"]], sort=False).sum()
    out = Path(out_dir)
    paths = {
        name: out / f"{name}.tsv"
        for name in ("protein_counts", "protein_rpkm", "category_rpkm", "taxon_rpkm", "features")
    }
    write_tsv(counts, paths["protein_counts"], index=True, index_label="protein_id")
    write_tsv(
        prot, paths["protein_rpkm"], index=True, index_label="protein_id", float_format="%.6g"
    )
    write_tsv(cat, paths["category_rpkm"], index=True, index_label="category", float_format="%.6g")
    write_tsv(tax, paths["taxon_rpkm"], index=True, float_format="%.6g")
    feats = np.log10(cat.T + 1).add_prefix("fn_")
    write_tsv(feats, paths["features"], index=True, index_label="sample_id", float_format="%.6g")
    paths["heatmap"] = heatmap_mqc(cat, out / "function_panel_mqc.yaml")
    logger.info(
        "function panel: %d proteins, %d categories, %d samples, %d best-hit reads",
        len(panel), len(cat), len(samples), int(counts.to_numpy().sum()),
    )  # fmt: skip
    return paths


def run_function_guilds(
    protein_rpkm_tsv: str | os.PathLike,
    categories_tsv: str | os.PathLike,
    faa: str | os.PathLike,
    guilds_tsv: str | os.PathLike,
    out: str | os.PathLike,
    mqc: str | os.PathLike,
) -> pd.DataFrame:
    """Write the guild x category table (:func:`guild_functions`) and its MultiQC table section."""
    panel = read_panel(categories_tsv, faa)
    prot = pd.read_csv(protein_rpkm_tsv, sep="\t", index_col="protein_id")
    guilds = pd.read_csv(guilds_tsv, sep="\t", dtype={"clade_name": str, "guild": str})
    table = guild_functions(prot, panel, guilds)
    write_tsv(table, out, float_format="%.6g")
    header = {
        "id": "icibiome_function_guilds",
        "section_name": "Function per guild",
        "description": (
            "Function panel hits mapped to the panel's taxa and those taxa to the network guilds "
            "(results/guilds/): per category, the share of all its RPKM that falls in each guild, "
            "the guild's mean RPKM over samples and the fraction of samples with a hit. "
            f"'{NOT_IN_GUILDS}': panel taxa not in the guild table."
        ),
        "plot_type": "table",
        "pconfig": {"id": "icibiome_function_guilds_table", "title": "Function per guild"},
    }
    lines = yaml.safe_dump(header, sort_keys=False, width=1000).splitlines()
    shown = table.assign(row=table["category"] + " / " + table["guild"]).set_index("row")
    with atomic_path(mqc) as tmp, open(tmp, "w") as fh:
        fh.writelines(f"# {line}\n" for line in lines)
        shown[["category", "guild", "share", "mean_rpkm", "prevalence", "n_taxa"]].to_csv(
            fh, sep="\t", index_label="category / guild", float_format="%.4g"
        )
    logger.info("function per guild: %d category x guild rows -> %s", len(table), out)
    return table
