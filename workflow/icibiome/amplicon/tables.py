"""ASV tables: the project's standard rank tables, BIOM 1.0, and the per-sample read tracking."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANKS
from icibiome.amplicon.denoise import parse_filter_log, parse_merge_log
from icibiome.amplicon.primers import parse_cutadapt_json
from icibiome.amplicon.sintax import read_sintax, sintax_lineages
from icibiome.io import UNCLASSIFIED, atomic_path, write_standard_table
from icibiome.taxonomy.profiles import truncate_lineage, with_ids

logger = logging.getLogger(__name__)


TRACKING_COLUMNS = (
    "input",
    "primer_trimmed",
    "merged",
    "filtered",
    "denoised",
    "non_chimeric",
    "assigned",
)
"""Read-tracking steps, in pipeline order (a step a path does not have is NaN)."""


def read_asv_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read an ASV table (first column ASV id; vsearch ``#OTU ID`` tables work too)."""
    tab = pd.read_csv(path, sep="\t", index_col=0, dtype={0: str})
    tab.index = tab.index.astype(str)
    tab.index.name = "asv_id"
    return tab.astype(np.int64)


# --------------------------------------------------------------------------------------------
# standard tables, BIOM, tracking
# --------------------------------------------------------------------------------------------
def asv_table_to_standard(
    asv_table: str | os.PathLike,
    sintax_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
    ranks: Sequence[str] = RANKS[1:],
    cutoff: float = 0.8,
) -> dict[str, pd.DataFrame]:
    """ASV counts + SINTAX assignments -> ``abundance_<rank>.tsv`` and ``counts_<rank>.tsv``.

    Parameters
    ----------
    asv_table : path-like
        ASV x sample counts (:func:`vsearch_asv_table`, :func:`run_dada2`).
    sintax_tsv : path-like
        SINTAX ``--tabbedout`` output for the same ASVs (:func:`vsearch_sintax`).
    out_dir : path-like
        Where the standard tables go (see :mod:`icibiome.io`).
    ranks : sequence of str
        Ranks to write (any of :data:`icibiome.RANKS`).
    cutoff : float
        SINTAX confidence cut-off (0.8 as in Edgar's SINTAX paper for a low error rate on
        full-length references; 0.5-0.6 is common for short V4 reads).

    Returns
    -------
    dict
        ``rank -> abundance table`` as written.

    Notes
    -----
    Counts are reads (merged pairs) per ASV summed over the ASVs of each clade. Reads of ASVs
    not resolved at a rank (confidence below the cut-off, or no SINTAX hit) go to the
    ``UNCLASSIFIED`` row of ``counts_<rank>.tsv`` and are left out of the relative abundance
    (percent of classified), the same rule as :func:`icibiome.taxonomy.profiles.merge_profiles`.
    Relative abundance here is the relative abundance of 16S reads: no 16S copy-number
    correction is applied.
    """
    for r in ranks:
        if r not in RANKS:
            raise ValueError(f"unknown rank {r!r}; expected one of {RANKS}")
    tab = read_asv_table(asv_table)
    lineages = sintax_lineages(read_sintax(sintax_tsv), cutoff).reindex(tab.index)
    lineages = lineages.fillna(UNCLASSIFIED)
    out_dir = Path(out_dir)
    samples = list(tab.columns)
    result = {}
    for rank in ranks:
        clades = lineages.map(
            lambda x, r=rank: None if x == UNCLASSIFIED else truncate_lineage(x, r)
        )
        resolved = clades.notna().to_numpy()
        counts = tab[resolved].groupby(clades[resolved].to_numpy()).sum()
        counts = counts.reindex(columns=samples).astype(float)
        total = counts.sum(axis=0)
        abund = 100 * counts.div(total.where(total > 0, 1.0), axis=1)
        unc = tab[~resolved].sum(axis=0).astype(float)
        counts_u = pd.concat([counts, unc.to_frame(UNCLASSIFIED).T])
        a_df, c_df = with_ids(abund), with_ids(counts_u)
        write_standard_table(a_df, out_dir / f"abundance_{rank}.tsv")
        write_standard_table(c_df, out_dir / f"counts_{rank}.tsv")
        logger.info("%s: %d taxa over %d samples", rank, len(a_df), len(samples))
        result[rank] = a_df
    return result


def write_biom(
    asv_table: str | os.PathLike,
    out: str | os.PathLike,
    sintax_tsv: str | os.PathLike | None = None,
    cutoff: float = 0.8,
    table_id: str = "icibiome ASV table",
    date: str | None = None,
) -> dict:
    """Write the ASV table as BIOM 1.0 (JSON, sparse), with taxonomy as observation metadata.

    Parameters
    ----------
    asv_table : path-like
        ASV x sample counts.
    out : path-like
        ``.biom`` JSON file.
    sintax_tsv : path-like, optional
        SINTAX output; when given, each row's metadata holds ``{"taxonomy": ["k__...",
        "p__...", ...]}`` (the confident ranks, QIIME style).
    cutoff : float
        SINTAX confidence cut-off for the taxonomy.
    table_id : str
        The table's ``id``.
    date : str, optional
        ISO timestamp for ``date``; default ``SOURCE_DATE_EPOCH`` when set, else the Unix
        epoch, so the file is reproducible byte for byte.

    Returns
    -------
    dict
        The BIOM document.

    Notes
    -----
    Follows the BIOM 1.0 specification (McDonald et al. 2012, GigaScience 1:7;
    http://biom-format.org/documentation/format_versions/biom-1.0.html): ``matrix_type``
    ``sparse`` with ``[row, column, value]`` triples, ``matrix_element_type`` ``int``.
    """
    tab = read_asv_table(asv_table)
    if sintax_tsv is not None:
        lin = sintax_lineages(read_sintax(sintax_tsv), cutoff).reindex(tab.index)
        meta = [{"taxonomy": [] if pd.isna(x) or x == UNCLASSIFIED else x.split("|")} for x in lin]
    else:
        meta = [None] * len(tab)
    if date is None:
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
        date = _dt.datetime.fromtimestamp(epoch, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    m = tab.to_numpy()
    r, c = np.nonzero(m)
    doc = {
        "id": table_id,
        "format": "Biological Observation Matrix 1.0.0",
        "format_url": "http://biom-format.org/documentation/format_versions/biom-1.0.html",
        "type": "OTU table",
        "generated_by": "icibiome",
        "date": date,
        "rows": [{"id": a, "metadata": md} for a, md in zip(tab.index, meta, strict=True)],
        "columns": [{"id": s, "metadata": None} for s in tab.columns],
        "matrix_type": "sparse",
        "matrix_element_type": "int",
        "shape": [int(m.shape[0]), int(m.shape[1])],
        "data": [[int(i), int(j), int(m[i, j])] for i, j in zip(r, c, strict=True)],
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def read_biom(path: str | os.PathLike) -> pd.DataFrame:
    """Read a BIOM 1.0 JSON table (sparse or dense) into an observation x sample DataFrame."""
    doc = json.loads(Path(path).read_text())
    rows = [r["id"] for r in doc["rows"]]
    cols = [c["id"] for c in doc["columns"]]
    if doc["matrix_type"] == "sparse":
        m = np.zeros(doc["shape"], dtype=np.int64)
        for i, j, v in doc["data"]:
            m[i, j] = v
    else:
        m = np.asarray(doc["data"], dtype=np.int64).reshape(doc["shape"])
    return pd.DataFrame(m, index=pd.Index(rows, name="asv_id"), columns=cols)


def read_tracking(
    samples: Sequence[str],
    asv_table: str | os.PathLike,
    sintax_tsv: str | os.PathLike | None = None,
    *,
    cutadapt_jsons: Sequence[str | os.PathLike] = (),
    merge_logs: Sequence[str | os.PathLike] = (),
    filter_logs: Sequence[str | os.PathLike] = (),
    dada2_tracking: str | os.PathLike | None = None,
    cutoff: float = 0.8,
    assigned_rank: str = "genus",
) -> pd.DataFrame:
    """Reads surviving each step, per sample, from the step logs.

    Parameters
    ----------
    samples : sequence of str
        Sample IDs; the per-sample log lists below are in this order (empty when the step was
        not run).
    asv_table : path-like
        Final ASV table; its column sums are the ``non_chimeric`` reads.
    sintax_tsv : path-like, optional
        SINTAX output; ``assigned`` counts the reads of ASVs resolved at ``assigned_rank``.
    cutadapt_jsons, merge_logs, filter_logs : sequence of path-like
        cutadapt JSON reports, ``vsearch --fastq_mergepairs`` logs and ``--fastq_filter`` logs.
    dada2_tracking : path-like, optional
        The ``tracking.tsv`` of :func:`run_dada2` (columns ``sample, input, filtered, denoised,
        merged, non_chimeric``); it supplies the DADA2 steps.
    cutoff : float
        SINTAX confidence cut-off.
    assigned_rank : str
        Rank at which an ASV counts as assigned.

    Returns
    -------
    DataFrame
        Index ``sample``; columns :data:`TRACKING_COLUMNS` (read pairs or reads; NaN for steps
        the path does not have: ``merged`` for single-end, ``denoised`` for vsearch, whose
        UNOISE3 step works on uniques).
    """
    samples = list(samples)
    t = pd.DataFrame(np.nan, index=pd.Index(samples, name="sample"), columns=TRACKING_COLUMNS)
    for col, files in (
        ("cutadapt", cutadapt_jsons),
        ("merge", merge_logs),
        ("filter", filter_logs),
    ):
        if files and len(files) != len(samples):
            raise ValueError(f"{len(files)} {col} logs for {len(samples)} samples")
    for s, f in zip(samples, cutadapt_jsons, strict=False):
        c = parse_cutadapt_json(f)
        t.loc[s, ["input", "primer_trimmed"]] = [c["input"], c["written"]]
    for s, f in zip(samples, merge_logs, strict=False):
        c = parse_merge_log(f)
        t.loc[s, "merged"] = c["merged"]
        if not cutadapt_jsons:
            t.loc[s, "input"] = c["pairs"]
    for s, f in zip(samples, filter_logs, strict=False):
        c = parse_filter_log(f)
        t.loc[s, "filtered"] = c["kept"]
        if not cutadapt_jsons and not merge_logs:
            t.loc[s, "input"] = c["input"]
    if dada2_tracking is not None:
        d = pd.read_csv(dada2_tracking, sep="\t", dtype={"sample": str}).set_index("sample")
        d = d.reindex(samples)
        for col in ("filtered", "denoised", "merged"):
            t[col] = d[col].astype(float)
        if not cutadapt_jsons:
            t["input"] = d["input"].astype(float)
    tab = read_asv_table(asv_table).reindex(columns=samples, fill_value=0)
    t["non_chimeric"] = tab.sum(axis=0).astype(float)
    if sintax_tsv is not None:
        lin = sintax_lineages(read_sintax(sintax_tsv), cutoff).reindex(tab.index)
        ok = lin.map(
            lambda x: isinstance(x, str) and truncate_lineage(x, assigned_rank) is not None
        )
        t["assigned"] = tab[ok.to_numpy()].sum(axis=0).astype(float)
    return t


def write_tracking_mqc(tracking: pd.DataFrame, out: str | os.PathLike) -> None:
    """Write the read-tracking table as MultiQC custom content (``*_mqc.tsv``, a table).

    Counts per step plus the percentage of the input that reaches the ASV table
    (``non_chimeric``), as in the DADA2 tutorial's tracking table.
    """
    t = tracking.copy()
    inp = t["input"].where(t["input"] > 0)
    t["percent_in_asvs"] = (100 * t["non_chimeric"] / inp).round(2)
    header = (
        "# id: 'amplicon_read_tracking'\n"
        "# section_name: '16S read tracking'\n"
        "# description: 'Reads (pairs) per sample surviving each amplicon step: input, primer "
        "trimmed (cutadapt), merged, quality filtered, denoised (DADA2 only), non-chimeric "
        "(counted in the ASV table) and assigned by SINTAX. Empty where a step does not "
        "apply.'\n"
        "# plot_type: 'table'\n"
    )
    with atomic_path(out) as tmp:
        with open(tmp, "w") as fh:
            fh.write(header)
            t.reset_index().to_csv(fh, sep="\t", index=False, float_format="%.6g")
