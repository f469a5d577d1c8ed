"""Import mode: existing taxonomic profiles (+ a metadata table) into the standard tables.

The pipeline can start from profiles made elsewhere instead of reads. Every supported format is
read into one internal shape (taxa x samples, indexed by a MetaPhlAn-style lineage) and then cut
to a rank exactly as the project's own profilers are (:mod:`icibiome.taxonomy.profiles`), giving the
standard table of :mod:`icibiome.io`: ``clade_name``, ``lineage``, one column per sample holding
**percent of classified at that rank**.

Formats (``fmt=``; ``"auto"`` detects them from the content, see :func:`detect_format`)
-------------------------------------------------------------------------------------
``metaphlan_merged``
    ``merge_metaphlan_tables.py`` output of MetaPhlAn 2/3/4, with or without the database header
    line (``#mpa_vOct22_CHOCOPhlAnSGB_202212``), with or without an ``NCBI_tax_id`` column,
    all-rank (``k__...|s__...|t__SGB...``) or species-only (``s__...`` rows, e.g.
    curatedMetagenomicData exports), relative abundance or estimated reads. Also any other
    merged table of prefixed lineages (Kraken2 ``combine_mpa.py``).
``sylphtax_merged``
    A merged sylph-tax table (GTDB lineages ``d__...;p__...;s__Genus species``, ``;`` or ``|``).
``metaphlan``
    One MetaPhlAn (2/3/4) single-sample output (``#clade_name  NCBI_tax_id  relative_abundance``,
    optionally with ``estimated_number_of_reads_from_the_clade``).
``sylphtax``
    One sylph-tax ``.sylphmpa`` file (``clade_name  relative_abundance  sequence_abundance``).
``sylph``
    Raw ``sylph profile`` output (``Sample_file  Genome_file  Taxonomic_abundance ...``); needs
    ``taxonomy=`` (genome -> lineage), as sylph itself knows no taxonomy.
``kraken_report``
    A Kraken2 report (6 or 8 columns) or a Bracken kraken-style ``--w`` report (counts).
``kraken_mpa``
    ``kraken2 --use-mpa-style`` output (two columns, no header; counts).
``bracken``
    Bracken's abundance table (``name  taxonomy_id  taxonomy_lvl  ...  new_est_reads``).
``biom``
    BIOM 1.0 (JSON) or 2.x (HDF5), with a ``taxonomy`` observation-metadata entry (Greengenes,
    SILVA ``D_0__`` or MetaPhlAn style) or lineages as observation ids.
``icibiome_profile`` / ``standard``
    The project's own per-sample profile or standard table (re-import of a previous run).
``generic``
    A taxa x samples TSV/CSV: first column taxon names (prefixed lineages, or bare names at
    ``taxon_rank``), other columns numeric samples.

Values are detected as relative abundance (percent or fractions) or counts (estimated reads,
all integer-valued and some sample totals above 100); ``values=`` overrides. Counts give a
``counts_<rank>`` table too (with an ``UNCLASSIFIED`` row); relative-only inputs give none.

MetaPhlAn 3 vs 4 naming is recorded (``naming`` in :class:`ImportedProfile` and the import
manifest): MetaPhlAn 4 has SGB-level ``t__SGB`` rows and SGB-based species names
(``s__GGB1387_SGB1895``), MetaPhlAn 3 neither. Names are kept as the source spells them, with
spaces turned into underscores (MetaPhlAn style, e.g. GTDB ``s__Alistipes_A onderdonkii`` ->
``s__Alistipes_A_onderdonkii``); ``d__`` domains become ``k__``. Translating between namings
(SGB <-> GTDB) is :mod:`icibiome.taxonomy.harmonise`'s job.
"""

from __future__ import annotations

import gzip
import io as _io
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX, RANKS
from icibiome.errors import UserError
from icibiome.io import UNCLASSIFIED, write_standard_table, write_tsv

logger = logging.getLogger(__name__)

FORMATS = (
    "metaphlan_merged",
    "sylphtax_merged",
    "metaphlan",
    "sylphtax",
    "sylph",
    "kraken_report",
    "kraken_mpa",
    "bracken",
    "biom",
    "icibiome_profile",
    "standard",
    "generic",
)
"""Formats :func:`read_profile` reads."""

DEFAULT_RANKS = ("species", "genus", "family", "phylum")

LEAF_RANK = "leaf"
"""The rank below species that ``leaf="keep"`` writes: MAGs, OGUs, MetaPhlAn SGBs (``t__``)."""
IMPORT_RANKS = (*RANKS, LEAF_RANK)
"""Ranks :func:`to_rank` cuts to: :data:`icibiome.RANKS` and :data:`LEAF_RANK`."""
LEAF_MODES = ("species", "keep")
"""``leaf=``: ``species`` reads leaf ids as today (a bare id is a species; ids with a lineage
map are summed into the species of their lineage, with a warning); ``keep`` keeps each leaf id as
a ``t__<id>`` row below its lineage (rank :data:`LEAF_RANK`), the higher ranks summing leaves."""

SAMPLE_PREFIXES = ("metaphlan4d_", "metaphlan4_", "metaphlan3_", "metaphlan_", "profiled_")
"""Column-name prefixes stripped from MetaPhlAn merged-table sample names (seen in the
omicsEye re-processing of the ICI melanoma cohorts)."""
SAMPLE_SUFFIXES = ("_profile", "_metaphlan_bugs_list", "_taxonomic_profile", ".metaphlan")

# columns of merged tables that are annotations, not samples
_NON_SAMPLE_COLUMNS = {"ncbi_tax_id", "clade_taxid", "taxid", "tax_id", "taxonomy_id", "count"}

_DEPTH = {p: i for i, p in enumerate(RANK_PREFIX.values())}
_DEPTH["t__"] = len(_DEPTH)
_SILVA = {f"D_{i}__": p for i, p in enumerate(RANK_PREFIX.values())}


def _prefix(rank: str) -> str:
    """Clade prefix of ``rank`` (``t__`` for :data:`LEAF_RANK`)."""
    return "t__" if rank == LEAF_RANK else RANK_PREFIX[rank]


class ImportError_(UserError):
    """An input profile or metadata table cannot be imported; the message names the file."""


ProfileImportError = ImportError_


@dataclass(eq=False)
class ImportedProfile:
    """A profile read from one file, before it is cut to a rank.

    Attributes
    ----------
    relative : DataFrame or None
        Taxa x samples relative values (any scale), index = normalised lineage.
    counts : DataFrame or None
        Taxa x samples fragment counts, index = normalised lineage.
    hierarchical : bool
        True when the rows hold every rank cumulatively (MetaPhlAn, sylph-tax, Kraken mpa):
        a rank's values are then the rows ending at that rank. False for leaf tables, whose
        rows are summed up to the rank.
    unclassified : Series or None
        Fragments not assigned to any taxon, per sample (counts inputs only).
    fmt, naming, database : str
        Detected format, naming scheme (``metaphlan3``, ``metaphlan4``, ``gtdb``, ``ncbi``,
        ``unknown``) and database version line when the file states one.
    source : str
        The file path.
    """

    relative: pd.DataFrame | None
    counts: pd.DataFrame | None
    hierarchical: bool
    fmt: str
    source: str
    unclassified: pd.Series | None = None
    naming: str = "unknown"
    database: str = ""
    notes: list[str] = field(default_factory=list)
    filled: pd.DataFrame | None = None
    """Missing cells read as 0 (``missing='zero'``): file, line, taxon, sample, value."""

    @property
    def samples(self) -> list[str]:
        df = self.relative if self.relative is not None else self.counts
        return [str(c) for c in df.columns]


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def read_profile(
    path: str | os.PathLike,
    fmt: str = "auto",
    rank: str = "species",
    *,
    values: str = "auto",
    lineages: Mapping[str, str] | str | os.PathLike | None = None,
    taxonomy: Mapping[str, str] | str | os.PathLike | None = None,
    taxon_rank: str = "species",
    strip_affixes: bool = True,
    counts: bool = False,
    missing: str = "error",
    leaf: str = "species",
) -> pd.DataFrame:
    """Read one profile file of any supported format as a standard table at ``rank``.

    Parameters
    ----------
    path : path-like
        The profile (see the module docstring for the formats).
    fmt : str
        One of :data:`FORMATS`, or ``"auto"``.
    rank : str
        ``species``, ``genus``, ``family``, ``phylum`` (or any of :data:`icibiome.RANKS`), or
        ``leaf`` (:data:`LEAF_RANK`: MetaPhlAn ``t__`` rows, or leaf ids kept by ``leaf="keep"``).
    values : {"auto", "relative", "counts"}
        What the numbers are; ``auto`` infers it (see :func:`infer_values`).
    lineages : mapping or path, optional
        ``clade -> full lineage`` for tables whose rows are bare clades (species-only MetaPhlAn
        tables, Bracken, generic tables), needed to reach higher ranks. A path is read with
        :func:`read_lineage_map`.
    taxonomy : mapping or path, optional
        ``genome -> lineage`` for raw sylph output.
    taxon_rank : str
        Rank of bare (unprefixed) taxon names in ``generic`` tables.
    strip_affixes : bool
        Strip :data:`SAMPLE_PREFIXES` / :data:`SAMPLE_SUFFIXES` from MetaPhlAn sample names.
    counts : bool
        Return the counts table (with an ``UNCLASSIFIED`` row) instead of the abundance table;
        raises when the input holds no counts.
    leaf : {"species", "keep"}
        Bare leaf ids (MAGs, OGUs) given a lineage by ``lineages``: summed into the species of
        their lineage (``species``, with a warning), or kept as ``t__<id>`` rows below it
        (``keep``); see :data:`LEAF_MODES`.

    Returns
    -------
    DataFrame
        Columns ``clade_name``, ``lineage``, then one column per sample; abundance columns sum
        to 100 (or 0 for a sample with nothing classified at ``rank``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "merged.tsv"
    >>> _ = p.write_text("#mpa_v30_CHOCOPhlAn_201901\\nclade_name\\tA\\n"
    ...                  "k__Bacteria\\t100\\nk__Bacteria|p__Fi\\t100\\n"
    ...                  "k__Bacteria|p__Fi|c__C|o__O|f__F|g__G|s__G_x\\t60\\n"
    ...                  "k__Bacteria|p__Fi|c__C|o__O|f__F|g__G|s__G_y\\t20\\n")
    >>> read_profile(p)[["clade_name", "A"]].to_dict("list")
    {'clade_name': ['s__G_x', 's__G_y'], 'A': [75.0, 25.0]}
    """
    prof = load_profile(
        path,
        fmt=fmt,
        values=values,
        lineages=lineages,
        taxonomy=taxonomy,
        taxon_rank=taxon_rank,
        strip_affixes=strip_affixes,
        missing=missing,
        leaf=leaf,
    )
    abund, cnt = to_rank(prof, rank)
    if counts:
        if cnt is None:
            raise ImportError_(f"{path}: holds relative abundances only, no counts")
        return cnt
    return abund


def load_profile(
    path: str | os.PathLike,
    fmt: str = "auto",
    *,
    values: str = "auto",
    lineages: Mapping[str, str] | str | os.PathLike | None = None,
    taxonomy: Mapping[str, str] | str | os.PathLike | None = None,
    taxon_rank: str = "species",
    strip_affixes: bool = True,
    missing: str = "error",
    leaf: str = "species",
) -> ImportedProfile:
    """Read one file into an :class:`ImportedProfile` (all ranks; see :func:`read_profile`).

    ``missing``: empty / ``NA`` / ``nan`` cells are an error naming line, taxon and sample
    (``"error"``), or read as 0 and listed in the profile's ``filled`` table (``"zero"``).
    Negative values and a taxon on two rows are always errors.
    """
    path = Path(path)
    if not path.exists():
        raise ImportError_(f"{path}: profile file not found")
    if values not in ("auto", "relative", "counts"):
        raise ValueError(f"values must be auto, relative or counts, not {values!r}")
    if fmt == "auto":
        fmt = detect_format(path)
        logger.info("%s: detected format %s", path, fmt)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if taxon_rank not in RANKS:
        raise ValueError(f"taxon_rank must be one of {RANKS}")
    reader = _READERS[fmt]
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, not {missing!r}")
    if leaf not in LEAF_MODES:
        raise ValueError(f"leaf must be one of {LEAF_MODES}, not {leaf!r}")
    kwargs = {"values": values, "strip_affixes": strip_affixes, "taxon_rank": taxon_rank}
    kwargs["missing"] = missing
    if fmt == "sylph":
        kwargs["taxonomy"] = _as_map(taxonomy, "taxonomy") if taxonomy is not None else None
    prof = reader(path, **kwargs)
    if lineages is not None:
        before = prof.naming
        applied = _apply_lineage_map(prof, _as_map(lineages, "lineages"), leaf=leaf)
        if before == "unknown" and applied:  # the names came from the map: say so
            found = _naming(_base(prof).index)
            source = Path(lineages).name if not isinstance(lineages, Mapping) else "a mapping"
            prof.naming = f"lineages from {source}" + (f" ({found})" if found != "unknown" else "")
    _check_values(prof)
    _check_samples(prof)
    return prof


def to_rank(prof: ImportedProfile, rank: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Cut an :class:`ImportedProfile` to ``rank``: ``(abundance table, counts table or None)``.

    Hierarchical inputs take the rows that end at ``rank``; leaf inputs are summed up to it,
    rows that do not reach it counting as unclassified at that rank (as in
    :func:`icibiome.taxonomy.profiles.merge_profiles`). Abundance is renormalised to percent of the
    taxa resolved at ``rank``.
    """
    if rank not in IMPORT_RANKS:
        raise ValueError(f"unknown rank {rank!r}; expected one of {IMPORT_RANKS}")
    base = prof.relative if prof.relative is not None else prof.counts
    rel_at = _values_at_rank(base, rank, prof.hierarchical)
    if rel_at.empty and len(base):
        deepest = sorted({_last_prefix(x) for x in base.index}, key=lambda p: _DEPTH.get(p, -1))
        if rank == LEAF_RANK:
            raise ImportError_(
                f"{prof.source}: no leaf rows (t__: MetaPhlAn SGBs, or leaf ids kept by "
                f"import.leaf: keep with import.lineages); row lineages end at {deepest}"
            )
        raise ImportError_(
            f"{prof.source}: no taxa at rank {rank} (row lineages end at {deepest}); "
            "a table of bare clades needs a clade -> lineage map to reach higher ranks "
            "(config key import.lineages in the pipeline, lineages= in the library)"
        )
    tot = rel_at.sum(axis=0)
    abund = rel_at.div(tot.where(tot > 0, 1.0), axis=1) * 100.0
    abund = _with_ids(abund)
    cnt = None
    if prof.counts is not None:
        c_at = _values_at_rank(prof.counts, rank, prof.hierarchical).reindex(
            columns=prof.counts.columns
        )
        total = _total(prof.counts, prof.hierarchical)
        if prof.unclassified is not None:
            total = total + prof.unclassified.reindex(total.index).fillna(0.0)
        unc = (total - c_at.sum(axis=0)).clip(lower=0.0)
        cnt = _with_ids(c_at.round(0))
        unc_row = pd.DataFrame(
            [[UNCLASSIFIED, UNCLASSIFIED, *unc.round(0).tolist()]], columns=cnt.columns
        )
        cnt = pd.concat([cnt, unc_row], ignore_index=True)
    return abund, cnt


def import_profiles(
    paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    ranks: Sequence[str] = DEFAULT_RANKS,
    fmt: str | Sequence[str] = "auto",
    *,
    metadata: str | os.PathLike | None = None,
    id_column: str = "sample_id",
    on_missing_metadata: str = "error",
    values: str = "auto",
    lineages: Mapping[str, str] | str | os.PathLike | None = None,
    taxonomy: Mapping[str, str] | str | os.PathLike | None = None,
    taxon_rank: str = "species",
    strip_affixes: bool = True,
    rename: Mapping[str, str] | None = None,
    missing: str = "error",
    leaf: str = "species",
) -> dict[str, pd.DataFrame]:
    """Import several profile files (one cohort table or one file per sample) into standard tables.

    Writes ``abundance_<rank>.tsv`` (and ``counts_<rank>.tsv`` when every input holds counts)
    for each rank, ``import_manifest.tsv`` (file, format, naming, database, samples) and
    ``samples.tsv`` (sample -> source file, joined to ``metadata`` when given).

    Parameters
    ----------
    paths : sequence of path-like
        Input files; a sample id may occur in only one of them.
    out_dir : path-like
        Output folder.
    ranks : sequence of str
        Ranks to write.
    fmt : str or sequence of str
        Format of every file (or one per file); ``"auto"`` detects.
    metadata : path-like, optional
        Sample metadata table (TSV/CSV); see :func:`join_metadata`.
    id_column : str
        Metadata column holding the sample ids (matched to the profile column names).
    on_missing_metadata : {"error", "drop", "keep"}
        What to do with profiled samples absent from the metadata: stop with an error naming
        them (default), drop them from the tables, or keep them with empty metadata.
    values, lineages, taxonomy, taxon_rank, strip_affixes
        As in :func:`read_profile`.
    rename : mapping, optional
        ``profile column -> sample id`` (after affix stripping); names not in it are kept.
    leaf : {"species", "keep"}
        As in :func:`read_profile`; ``keep`` needs ``lineages`` for files of bare ids. Rank
        ``leaf`` in ``ranks`` writes ``abundance_leaf.tsv``; taxa without a leaf row are named in
        the manifest's notes (and a warning).

    Returns
    -------
    dict
        ``rank -> abundance table`` and ``"samples" -> sample table``.
    """
    if isinstance(fmt, str):
        fmts = [fmt] * len(paths)
    else:
        fmts = list(fmt)
        if len(fmts) != len(paths):
            raise ValueError("fmt must be one string or one per path")
    if not paths:
        raise ImportError_("no profile files given")
    lin_map = _as_map(lineages, "lineages") if lineages is not None else None
    tax_map = _as_map(taxonomy, "taxonomy") if taxonomy is not None else None
    profs = [
        load_profile(
            p,
            fmt=f,
            values=values,
            lineages=lin_map,
            taxonomy=tax_map,
            taxon_rank=taxon_rank,
            strip_affixes=strip_affixes,
            missing=missing,
            leaf=leaf,
        )
        for p, f in zip(paths, fmts, strict=True)
    ]
    problems = check_leaf(profs, leaf, lineages is not None)
    if problems:
        raise ImportError_("; ".join(problems))
    if lin_map is None:
        _borrow_lineages(profs)
    elif not isinstance(lineages, Mapping):  # name the lineage file in the manifest
        for p in profs:
            p.naming = p.naming.replace("from a mapping", f"from {Path(lineages).name}")
    if rename:
        for prof in profs:
            _rename_samples(prof, rename)
    owner: dict[str, str] = {}
    for prof in profs:
        for s in prof.samples:
            if s in owner:
                raise ImportError_(
                    f"sample {s!r} occurs in both {owner[s]} and {prof.source}; "
                    "sample ids must be unique across the imported files"
                )
            owner[s] = prof.source
    samples = pd.DataFrame({"sample_id": list(owner), "source_file": list(owner.values())})
    if metadata is not None:
        meta = read_metadata(metadata, id_column=id_column)
        samples = join_metadata(
            samples.set_index("sample_id"), meta, on_missing=on_missing_metadata, meta_path=metadata
        ).reset_index(names="sample_id")
    keep = list(samples["sample_id"])
    out_dir = Path(out_dir)
    have_counts = all(p.counts is not None for p in profs)
    result: dict[str, pd.DataFrame] = {}
    for rank in ranks:
        parts_a, parts_c = [], []
        for prof in profs:
            if rank == LEAF_RANK:
                _note_without_leaf(prof)
            a, c = to_rank(prof, rank)
            parts_a.append(a.set_index(["clade_name", "lineage"]))
            if have_counts:
                parts_c.append(c.set_index(["clade_name", "lineage"]))
        abund = _outer_join(parts_a).reindex(columns=keep)
        abund = _with_ids(abund.droplevel("clade_name"))
        write_standard_table(abund, out_dir / f"abundance_{rank}.tsv")
        result[rank] = abund
        if have_counts:
            cnt = _outer_join(parts_c).reindex(columns=keep).droplevel("clade_name")
            unc = cnt.loc[[UNCLASSIFIED]] if UNCLASSIFIED in cnt.index else None
            cnt = _with_ids(cnt.drop(index=UNCLASSIFIED, errors="ignore"))
            if unc is not None:
                row = pd.DataFrame(
                    [[UNCLASSIFIED, UNCLASSIFIED, *unc.iloc[0].tolist()]], columns=cnt.columns
                )
                cnt = pd.concat([cnt, row], ignore_index=True)
            write_standard_table(cnt, out_dir / f"counts_{rank}.tsv")
        logger.info("import %s: %d taxa over %d samples", rank, len(abund), len(keep))
    manifest = pd.DataFrame(
        [
            {
                "file": p.source,
                "format": p.fmt,
                "naming": p.naming,
                "database": p.database,
                "values": "counts" if p.counts is not None else "relative",
                "samples": len(p.samples),
                "notes": "; ".join(p.notes),
            }
            for p in profs
        ]
    )
    write_tsv(manifest, out_dir / "import_manifest.tsv")
    filled = [p.filled for p in profs if p.filled is not None and len(p.filled)]
    filled_tab = (
        pd.concat(filled, ignore_index=True)
        if filled
        else pd.DataFrame(columns=["file", "line", "taxon", "sample", "value"])
    )
    if rename:
        filled_tab["sample"] = [rename.get(s, s) for s in filled_tab["sample"]]
    write_tsv(filled_tab, out_dir / "filled_cells.tsv")
    write_tsv(samples, out_dir / "samples.tsv")
    result["samples"] = samples
    return result


def check_leaf(profs: Sequence[ImportedProfile], leaf: str, lineages: bool) -> list[str]:
    """Problems of ``leaf="keep"`` (one message per file): tables of bare ids, no ``lineages``.

    Without a lineage map a bare id would be read as a species of its own name (what ``keep``
    is there to avoid), so it is an error before any job.
    """
    if leaf != "keep" or lineages:
        return []
    return [
        f"{p.source}: import.leaf: keep needs import.lineages (leaf id -> lineage) for its "
        f"bare ids (e.g. {_bare(next(x for x in _base(p).index if '|' not in x))})"
        for p in profs
        if len(_base(p)) and all("|" not in x for x in _base(p).index)
    ]


def _note_without_leaf(prof: ImportedProfile) -> None:
    """Name (warning + manifest note) the taxa the leaf table leaves out, once per profile."""
    missing = _without_leaf(prof)
    if not missing or any(n.startswith("no leaf row") for n in prof.notes):
        return
    msg = (
        f"no leaf row (t__) for {len(missing)} taxa, left out of abundance_leaf (its percent is"
        f" of the leaf-resolved abundance): {', '.join(x.split('|')[-1] for x in missing[:5])}"
        + (" ..." if len(missing) > 5 else "")
    )
    logger.warning("%s: %s", prof.source, msg)
    prof.notes.append(msg)


# --------------------------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------------------------
def read_metadata(path: str | os.PathLike, id_column: str = "sample_id") -> pd.DataFrame:
    """Read a sample metadata table (TSV, or CSV by extension/content), indexed by ``id_column``.

    Raises
    ------
    ImportError_
        With the file, column and row (1-based line number in the file) of the problem: file
        missing, id column absent, an empty id, a duplicated id.
    """
    path = Path(path)
    if not path.exists():
        raise ImportError_(f"{path}: metadata file not found")
    text = _read_text(path)
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and lines[skip].startswith("#"):
        skip += 1
    if skip >= len(lines):
        raise ImportError_(f"{path}: metadata file is empty")
    header = lines[skip]
    sep = "," if (path.suffix.lower() == ".csv" or header.count(",") > header.count("\t")) else "\t"
    df = pd.read_csv(
        _io.StringIO("\n".join(lines[skip:])), sep=sep, dtype=str, keep_default_na=False
    )
    df.columns = [str(c).strip() for c in df.columns]
    if id_column not in df.columns:
        raise ImportError_(
            f"{path}: metadata has no column {id_column!r} (columns: {', '.join(df.columns)})"
        )
    ids = df[id_column].str.strip()
    first_line = skip + 2  # 1-based line of the first data row
    empty = np.flatnonzero(ids.eq("").to_numpy())
    if len(empty):
        rows = ", ".join(str(first_line + i) for i in empty[:10])
        raise ImportError_(f"{path}: column {id_column!r} is empty on line(s) {rows}")
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        where = [str(first_line + i) for i in np.flatnonzero(ids.eq(first).to_numpy())]
        raise ImportError_(
            f"{path}: {id_column} {first!r} occurs on lines {', '.join(where)} "
            f"({dup.nunique()} duplicated id(s) in all)"
        )
    df[id_column] = ids
    return df.set_index(id_column)


def join_metadata(
    samples: pd.DataFrame | Sequence[str],
    metadata: pd.DataFrame,
    on_missing: str = "error",
    meta_path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Join metadata onto profiled samples (index = sample id, in profile order).

    Parameters
    ----------
    samples : DataFrame indexed by sample id (e.g. with a ``source_file`` column), or ids
    metadata : DataFrame
        From :func:`read_metadata`.
    on_missing : {"error", "drop", "keep"}
        Profiled samples without a metadata row: error naming them (and their source file when
        known), drop them, or keep them with empty metadata.
    meta_path : path-like, optional
        Named in messages.

    Metadata rows with no profile are logged (not an error: metadata tables often cover more
    samples than were sequenced).
    """
    if on_missing not in ("error", "drop", "keep"):
        raise ValueError("on_missing must be error, drop or keep")
    if not isinstance(samples, pd.DataFrame):
        samples = pd.DataFrame(index=pd.Index(list(samples), name="sample_id"))
    where = f"{meta_path}: " if meta_path else "metadata: "
    missing = [s for s in samples.index if s not in metadata.index]
    if missing:
        if on_missing == "error":
            shown = []
            for s in missing[:10]:
                src = samples.loc[s, "source_file"] if "source_file" in samples.columns else None
                shown.append(f"{s} (from {src})" if src else str(s))
            raise ImportError_(
                f"{where}no row for {len(missing)} profiled sample(s): {', '.join(shown)}"
                + (" ..." if len(missing) > 10 else "")
                + f" (id column {metadata.index.name!r}; use on_missing='drop' to leave them out)"
            )
        if on_missing == "drop":
            logger.warning("%sdropping %d sample(s) without metadata", where, len(missing))
            samples = samples.drop(index=missing)
    extra = metadata.index.difference(samples.index)
    if len(extra):
        logger.info("%s%d metadata row(s) have no profile", where, len(extra))
    clash = [c for c in metadata.columns if c in samples.columns]
    meta = metadata.rename(columns={c: f"{c}_metadata" for c in clash})
    out = samples.join(meta, how="left")
    out.index.name = "sample_id"
    return out


# --------------------------------------------------------------------------------------------
# lineage maps
# --------------------------------------------------------------------------------------------
def read_lineage_map(path: str | os.PathLike) -> dict[str, str]:
    """Read a ``clade -> lineage`` map.

    Accepted layouts: two columns ``clade  lineage``; a table with a ``lineage`` column and a
    ``genome_id``/``species``/``clade_name`` column (e.g. a demo ``taxonomy.tsv``); or a table of
    rank columns ``kingdom .. species`` (e.g. a species -> lineage taxonomy export). Keys are
    stored with and without their ``s__`` prefix.
    """
    path = Path(path)
    if not path.exists():
        raise ImportError_(f"{path}: lineage map not found")
    try:
        fmt = detect_format(path)
    except ImportError_:
        fmt = "generic"
    if fmt in ("metaphlan_merged", "sylphtax_merged", "metaphlan", "sylphtax", "kraken_report"):
        return lineage_map_from_profile(path, fmt=fmt)
    df = pd.read_csv(path, sep=None, engine="python", dtype=str, comment="#").fillna("")
    cols = [c.strip() for c in df.columns]
    df.columns = cols
    lower = {c.lower(): c for c in cols}
    out: dict[str, str] = {}
    if "lineage" in lower:
        key = next(
            (lower[k] for k in ("clade_name", "species", "genome_id", "clade") if k in lower),
            cols[0],
        )
        pairs = zip(df[key], df[lower["lineage"]], strict=True)
    elif all(r in lower for r in ("species", "genus")):
        present = [r for r in RANKS if r in lower]
        lin = []
        for _, row in df.iterrows():
            parts = []
            for r in present:
                v = row[lower[r]].strip()
                if v:
                    parts.append(v if v.startswith(RANK_PREFIX[r]) else RANK_PREFIX[r] + v)
            lin.append("|".join(parts))
        pairs = zip(df[lower["species"]], lin, strict=True)
    elif len(cols) == 2:
        pairs = zip(df[cols[0]], df[cols[1]], strict=True)
    else:
        raise ImportError_(
            f"{path}: cannot read a lineage map (need clade+lineage columns or kingdom..species)"
        )
    for k, v in pairs:
        k = k.strip()
        if not k or not v.strip():
            continue
        lin = _normalise_lineage(v.strip())
        out[k] = lin
        out[_bare(k)] = lin
    return out


def lineage_map_from_profile(path: str | os.PathLike, fmt: str = "auto") -> dict[str, str]:
    """``clade -> lineage`` for every clade of a profile with full lineages.

    Lets a species-only table (e.g. ``Gop_merged_abundance_table_species.txt``) borrow lineages
    from an all-rank table made with the same database. Strain/SGB (``t__``) rows are skipped.
    """
    prof = load_profile(path, fmt=fmt)
    df = prof.relative if prof.relative is not None else prof.counts
    out: dict[str, str] = {}
    for lin in df.index:
        last = lin.split("|")[-1]
        if "|" not in lin or last.startswith("t__"):
            continue
        out.setdefault(last, lin)
        out.setdefault(_bare(last), lin)
    return out


# --------------------------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------------------------
def detect_format(path: str | os.PathLike) -> str:
    """Guess the format of a profile file from its first lines (see :data:`FORMATS`).

    Raises
    ------
    ImportError_
        When nothing matches; the message names the file and shows its first line.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x89HDF"):
        return "biom"
    text = _read_text(path, limit=200_000)
    stripped = text.lstrip()
    if stripped.startswith("{") and "Biological Observation Matrix" in text[:5000]:
        return "biom"
    if path.suffix.lower() == ".biom":
        return "biom"
    lines = [ln for ln in text.splitlines() if ln.strip()][:200]
    if not lines:
        raise ImportError_(f"{path}: empty file; cannot detect its format")
    comments = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    if any(ln.startswith("#clade_name") for ln in comments):
        return "metaphlan"
    if body and body[0].startswith("Sample_file\tGenome_file"):
        return "sylph"
    if body and body[0].startswith("name\ttaxonomy_id\ttaxonomy_lvl"):
        return "bracken"
    if body and body[0].startswith("clade_name\trelative_abundance\tsequence_abundance"):
        return "sylphtax"
    if body and body[0].split("\t")[:3] == ["lineage", "relative_abundance", "estimated_reads"]:
        return "icibiome_profile"
    if body and body[0].split("\t")[:2] == ["clade_name", "lineage"]:
        return "standard"
    if body and _looks_like_kraken_report(body[:50]):
        return "kraken_report"
    if body and all(_looks_like_mpa_line(ln) for ln in body[:50]):
        return "kraken_mpa"
    if len(body) >= 2:
        sep = "," if body[0].count(",") > body[0].count("\t") else "\t"
        names = [ln.split(sep)[0].strip().strip('"') for ln in body[1:50]]
        pref = [n for n in names if re.match(r"^(k|d|p|c|o|f|g|s|t)__", n) or n == UNCLASSIFIED]
        if len(pref) == len(names):
            if any(n.startswith("d__") for n in names) and not any("|t__SGB" in n for n in names):
                return "sylphtax_merged"
            return "metaphlan_merged"
        return "generic"
    first = lines[0][:120]
    raise ImportError_(f"{path}: cannot detect the profile format (first line: {first!r})")


def _looks_like_kraken_report(lines: list[str]) -> bool:
    for ln in lines:
        f = ln.split("\t")
        if len(f) not in (6, 8):
            return False
        try:
            float(f[0])
            int(f[1])
            int(f[2])
            int(f[-2])
        except ValueError:
            return False
    return True


def _looks_like_mpa_line(ln: str) -> bool:
    f = ln.split("\t")
    if len(f) != 2 or not re.match(r"^(d|k|p|c|o|f|g|s)__", f[0]):
        return False
    try:
        float(f[1])
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------------
def _read_merged(
    path: Path, values: str, strip_affixes: bool, taxon_rank: str, missing: str = "error", **_
):
    """MetaPhlAn / sylph-tax / combine_mpa merged tables (and generic lineage tables)."""
    text = _read_text(path)
    lines = text.splitlines()
    database = ""
    skip = 0
    while skip < len(lines) and (lines[skip].startswith("#") and not _is_header(lines, skip)):
        if lines[skip].startswith("#mpa_") or (
            "CHOCOPhlAn" in lines[skip] and " " not in lines[skip].strip()
        ):
            database = lines[skip].lstrip("#").strip()
        skip += 1
    body = "\n".join(lines[skip:]).lstrip("#")
    sep = "," if lines[skip].count(",") > lines[skip].count("\t") else "\t"
    df = pd.read_csv(_io.StringIO(body), sep=sep, dtype=str, keep_default_na=False)
    # the line of each data row as an editor shows it (pandas skips blank lines)
    line_of = [skip + 2 + i for i, ln in enumerate(lines[skip + 1 :]) if ln.strip()]
    df.index = (
        line_of[: len(df)] if len(line_of) >= len(df) else range(skip + 2, skip + 2 + len(df))
    )
    first = df.columns[0]
    df = df.rename(columns={first: "_taxon"})
    drop = [c for c in df.columns[1:] if str(c).strip().lower() in _NON_SAMPLE_COLUMNS]
    notes = [f"dropped non-sample column(s) {drop}"] if drop else []
    df = df.drop(columns=drop)
    nameless = df["_taxon"].str.strip() == ""
    valued = df.loc[nameless].drop(columns="_taxon").apply(lambda c: c.str.strip() != "")
    if valued.to_numpy().any():
        where = ", ".join(str(i) for i in valued.index[valued.any(axis=1)][:10])
        raise ImportError_(f"{path}: line(s) {where}: values without a taxon name")
    df = df[~nameless]
    names = df["_taxon"].str.strip().str.strip('"').tolist()
    mat, filled = _numeric(df.drop(columns="_taxon"), path, taxa=names, missing=missing)
    if strip_affixes:
        mat.columns = _strip_sample_affixes(list(mat.columns), path)
    prof = _from_lineage_rows(
        path, names, mat, values, taxon_rank, fmt=None, database=database, notes=notes,
        lines=list(df.index),
    )  # fmt: skip
    if len(filled):
        prof.filled = filled
        prof.notes.append(f"{len(filled)} missing cell(s) read as 0 (missing='zero')")
    return prof


def _is_header(lines: list[str], i: int) -> bool:
    """A ``#``-line that is the column header (e.g. ``#Classification`` of combine_mpa)."""
    return lines[i].startswith("#") and "\t" in lines[i] and not lines[i].startswith("#mpa_")


def _read_generic(
    path: Path, values: str, strip_affixes: bool, taxon_rank: str, missing: str = "error", **_
):
    return _read_merged(path, values, strip_affixes=False, taxon_rank=taxon_rank, missing=missing)


def _read_metaphlan_single(
    path: Path, values: str, strip_affixes: bool, missing: str = "error", **_
):
    lines = _read_text(path).splitlines()
    sample = None
    database = ""
    header = None
    total_reads = None
    data = []
    for ln in lines:
        if not ln.strip():
            continue
        if ln.startswith("#"):
            s = ln.lstrip("#").strip()
            if (s.startswith("mpa_") or "CHOCOPhlAn" in s) and " " not in s:
                database = s
            elif s.startswith("SampleID"):
                parts = s.split("\t")
                sample = parts[1].strip() if len(parts) > 1 else None
            elif s.startswith("clade_name"):
                header = s.split("\t")
            elif s.endswith("reads processed"):
                total_reads = float(s.split()[0])
            continue
        data.append(ln.split("\t"))
    if header is None:
        header = ["clade_name", "relative_abundance"] if data and len(data[0]) == 2 else None
    if header is None:
        raise ImportError_(f"{path}: MetaPhlAn output without a '#clade_name' header line")
    if sample in (None, "", "Metaphlan_Analysis", "Metaphlan2_Analysis"):
        sample = _stem(path)
        if strip_affixes:
            sample = _strip_sample_affixes([sample], path)[0]
    width = len(header)
    df = pd.DataFrame([r + [""] * (width - len(r)) for r in data], columns=header)
    names = df["clade_name"].tolist()
    rel = pd.to_numeric(df["relative_abundance"], errors="coerce")
    if rel.isna().any():
        bad = df.loc[rel.isna(), "clade_name"].iloc[0]
        raise ImportError_(f"{path}: non-numeric relative_abundance for {bad!r}")
    est_col = "estimated_number_of_reads_from_the_clade"
    cnt = None
    if est_col in df:
        cnt = pd.to_numeric(df[est_col], errors="coerce")
        if cnt.isna().any() and missing == "error":
            bad = df.loc[cnt.isna(), "clade_name"].tolist()
            raise ImportError_(
                f"{path}: column {est_col!r}: {len(bad)} missing or non-numeric value(s), taxa "
                f"{bad[:5]}; fill them in, or read them as 0 with import.missing: zero"
            )
        cnt = cnt.fillna(0.0)
    rel_m = pd.DataFrame({sample: rel.to_numpy()})
    prof = _from_lineage_rows(path, names, rel_m, "relative", "species", "metaphlan", database, [])
    if cnt is not None and values != "relative":
        cnt_m = pd.DataFrame({sample: cnt.to_numpy()})
        cprof = _from_lineage_rows(
            path, names, cnt_m, "counts", "species", "metaphlan", database, []
        )
        prof.counts = cprof.counts
        if total_reads is not None:
            classified = _total(prof.counts, True).iloc[0]
            prof.unclassified = pd.Series({sample: max(0.0, total_reads - classified)})
    if values == "counts" and prof.counts is None:
        raise ImportError_(f"{path}: values='counts' but the file has no estimated read counts")
    return prof


def _read_sylphtax(path: Path, strip_affixes: bool, **_):
    lines = _read_text(path).splitlines()
    sample = None
    rows = []
    for ln in lines:
        if ln.startswith("#"):
            s = ln.lstrip("#").strip()
            if s.startswith("SampleID"):
                parts = re.split(r"\s+", s, maxsplit=1)
                sample = parts[1].strip() if len(parts) > 1 else None
            continue
        if ln.startswith("clade_name") or not ln.strip():
            continue
        f = ln.split("\t")
        rows.append((f[0], float(f[1])))
    sample = Path(sample).name if sample else _stem(path)
    for suf in (".fastq.gz", ".fq.gz", ".fastq", ".fq", ".sylsp", "_R1", ".R1", ".sylphmpa"):
        sample = sample.removesuffix(suf)
    mat = pd.DataFrame({sample: [v for _, v in rows]})
    return _from_lineage_rows(
        path, [n for n, _ in rows], mat, "relative", "species", "sylphtax", "", []
    )


def _read_sylph(path: Path, taxonomy: Mapping[str, str] | None = None, **_):
    if taxonomy is None:
        raise ImportError_(
            f"{path}: raw sylph profile output has no taxonomy; pass taxonomy= "
            "(a genome -> lineage TSV, e.g. the sylph-tax metadata of the database)"
        )
    df = pd.read_csv(path, sep="\t", dtype={"Sample_file": str, "Genome_file": str})
    for c in ("Sample_file", "Genome_file", "Taxonomic_abundance"):
        if c not in df.columns:
            raise ImportError_(f"{path}: sylph profile lacks column {c!r}")
    df["sample"] = df["Sample_file"].map(_sample_from_reads_path)
    lin = []
    for g in df["Genome_file"]:
        keys = (g, Path(g).name, _genome_key(g))
        hit = next((taxonomy[k] for k in keys if k in taxonomy), None)
        if hit is None:
            raise ImportError_(f"{path}: genome {g!r} is not in the taxonomy map")
        lin.append(_normalise_lineage(hit))
    df["lineage"] = lin
    rel = df.pivot_table(
        index="lineage", columns="sample", values="Taxonomic_abundance", aggfunc="sum"
    ).fillna(0.0)
    rel.columns = [str(c) for c in rel.columns]
    rel.columns.name = None
    rel.index.name = None
    return ImportedProfile(rel, None, False, "sylph", str(path), naming=_naming(rel.index))


def _read_kraken_report(path: Path, **_):
    from icibiome.taxonomy.kraken import read_report, report_totals

    rep = read_report(path)
    sample = _stem(path)
    for suf in (".k2report", ".kreport", ".kraken2", ".kraken", "_report", ".report", ".bracken"):
        sample = sample.removesuffix(suf)
    keep = rep[rep["lineage"] != ""]
    # clade reads are cumulative: each standard-rank line holds its subtree (hierarchical). Lines
    # at non-standard ranks (S1, G2...) repeat their standard-rank parent's lineage; keep only
    # lines whose own code is a standard rank.
    exact = keep[keep["rank_code"].isin(["D", "P", "C", "O", "F", "G", "S"])]
    s = exact.groupby("lineage", sort=False)["clade_reads"].sum()
    counts = pd.DataFrame({sample: s.astype(float)})
    counts.index.name = None
    classified, unc = report_totals(rep)
    top = _total(counts, True).iloc[0] if len(counts) else 0.0
    unclassified = pd.Series({sample: float(unc + max(0.0, classified - top))})
    return ImportedProfile(
        None,
        counts,
        True,
        "kraken_report",
        str(path),
        unclassified=unclassified,
        naming="ncbi",
    )


def _read_kraken_mpa(path: Path, **_):
    df = pd.read_csv(path, sep="\t", header=None, names=["taxon", "reads"], dtype={"taxon": str})
    sample = _stem(path)
    for suf in (".mpa", "_mpa", ".k2report", ".kreport", ".report"):
        sample = sample.removesuffix(suf)
    mat = pd.DataFrame({sample: df["reads"].astype(float).to_numpy()})
    prof = _from_lineage_rows(
        path, df["taxon"].tolist(), mat, "counts", "species", "kraken_mpa", "", []
    )
    prof.naming = "ncbi"
    return prof


def _read_bracken(path: Path, **_):
    df = pd.read_csv(path, sep="\t")
    need = ("name", "taxonomy_lvl", "new_est_reads")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ImportError_(f"{path}: Bracken table lacks column(s) {missing}")
    levels = set(df["taxonomy_lvl"].astype(str))
    code_rank = {"S": "species", "G": "genus", "F": "family", "O": "order", "C": "class"}
    code_rank |= {"P": "phylum", "D": "kingdom"}
    if len(levels) != 1 or next(iter(levels)) not in code_rank:
        raise ImportError_(f"{path}: Bracken table mixes or has unknown levels {sorted(levels)}")
    prefix = RANK_PREFIX[code_rank[next(iter(levels))]]
    sample = _stem(path)
    for suf in (".bracken", "_bracken", ".species", "_species", ".S"):
        sample = sample.removesuffix(suf)
    names = [prefix + str(n).strip().replace(" ", "_") for n in df["name"]]
    _no_missing(path, df, "new_est_reads", "name")
    counts = pd.DataFrame({sample: df["new_est_reads"].astype(float).to_numpy()}, index=names)
    counts = counts.groupby(level=0, sort=False).sum()
    counts.index.name = None
    return ImportedProfile(None, counts, False, "bracken", str(path), naming="ncbi")


def _read_biom(path: Path, values: str, **_):
    try:
        import biom  # biom-format, a scikit-bio dependency
    except ImportError as err:  # pragma: no cover - present with scikit-bio
        raise ImportError_(f"{path}: reading BIOM needs the biom-format package") from err
    try:
        table = biom.load_table(str(path))
    except Exception as err:  # biom raises many types on malformed input
        raise ImportError_(f"{path}: not a readable BIOM table ({err})") from err
    ids = [str(i) for i in table.ids(axis="observation")]
    md = table.metadata(axis="observation")
    names = []
    for i, oid in enumerate(ids):
        tax = None
        if md is not None and md[i] is not None:
            m = {str(k).lower(): v for k, v in md[i].items()}
            tax = m.get("taxonomy") or m.get("lineage")
        if tax is None:
            names.append(oid)
            continue
        if isinstance(tax, str):
            tax = re.split(r"[;|]", tax)
        names.append(_greengenes_to_lineage([str(t) for t in tax]))
    mat = pd.DataFrame(
        table.matrix_data.toarray(), columns=[str(s) for s in table.ids(axis="sample")]
    )
    return _from_lineage_rows(
        path, names, mat, values, "species", "biom", "", [], sum_duplicates=True
    )


def _read_icibiome_profile(path: Path, **_):
    df = pd.read_csv(path, sep="\t", dtype={"lineage": str})
    sample = _stem(path)
    unc = df["lineage"] == UNCLASSIFIED
    body = df[~unc]
    for col in ("relative_abundance", "estimated_reads"):
        _no_missing(path, body, col, "lineage")
    lin = [_normalise_lineage(x) for x in body["lineage"]]
    rel = pd.DataFrame({sample: body["relative_abundance"].astype(float).to_numpy()}, index=lin)
    cnt = pd.DataFrame({sample: body["estimated_reads"].astype(float).to_numpy()}, index=lin)
    rel = rel.groupby(level=0, sort=False).sum()
    cnt = cnt.groupby(level=0, sort=False).sum()
    rel.index.name = cnt.index.name = None
    unclassified = pd.Series({sample: float(df.loc[unc, "estimated_reads"].sum())})
    return ImportedProfile(
        rel,
        cnt,
        False,
        "icibiome_profile",
        str(path),
        unclassified=unclassified,
        naming=_naming(rel.index),
    )


def _read_standard(path: Path, **_):
    df = pd.read_csv(path, sep="\t", dtype={"clade_name": str, "lineage": str})
    samples = [c for c in df.columns if c not in ("clade_name", "lineage")]
    unc = df["lineage"] == UNCLASSIFIED
    mat = df.loc[~unc, samples].astype(float)
    mat.index = [_normalise_lineage(x) for x in df.loc[~unc, "lineage"]]
    is_counts = bool(unc.any())
    if is_counts:
        unclassified = df.loc[unc, samples].astype(float).sum(axis=0)
        return ImportedProfile(None, mat, False, "standard", str(path), unclassified=unclassified)
    return ImportedProfile(mat, None, False, "standard", str(path), naming=_naming(mat.index))


_READERS = {
    "metaphlan_merged": _read_merged,
    "sylphtax_merged": _read_merged,
    "generic": _read_generic,
    "metaphlan": _read_metaphlan_single,
    "sylphtax": _read_sylphtax,
    "sylph": _read_sylph,
    "kraken_report": _read_kraken_report,
    "kraken_mpa": _read_kraken_mpa,
    "bracken": _read_bracken,
    "biom": _read_biom,
    "icibiome_profile": _read_icibiome_profile,
    "standard": _read_standard,
}


# --------------------------------------------------------------------------------------------
# lineage handling
# --------------------------------------------------------------------------------------------
def _normalise_lineage(name: str, taxon_rank: str = "species") -> str:
    """``|``-joined MetaPhlAn-style lineage: ``d__`` -> ``k__``, spaces -> ``_``, no empties.

    Examples
    --------
    >>> _normalise_lineage("d__Bacteria;p__Bacillota_A;s__Alistipes_A onderdonkii")
    'k__Bacteria|p__Bacillota_A|s__Alistipes_A_onderdonkii'
    >>> _normalise_lineage("Bacteroides_uniformis")
    's__Bacteroides_uniformis'
    """
    name = name.strip()
    if name == UNCLASSIFIED or name.lower() in ("unclassified", "unassigned"):
        return UNCLASSIFIED
    sep = "|" if "|" in name else (";" if ";" in name else None)
    parts = [p.strip() for p in name.split(sep)] if sep else [name]
    parts = [p for p in parts if p and not re.fullmatch(r"[a-z]__", p)]
    has_d = any(p.startswith("d__") for p in parts)
    out = []
    for p in parts:
        if has_d and p.startswith("k__"):
            continue  # NCBI kingdom under a domain (Kraken mpa): MetaPhlAn has no such rank
        if p.startswith("d__"):
            p = "k__" + p[3:]
        for silva, pref in _SILVA.items():
            if p.startswith(silva):
                p = pref + p[len(silva) :]
        out.append(p.replace(" ", "_"))
    if len(out) == 1 and not re.match(r"^[a-z]__", out[0]):
        out[0] = RANK_PREFIX[taxon_rank] + out[0]
    return "|".join(out)


def _greengenes_to_lineage(parts: list[str]) -> str:
    """Greengenes/SILVA taxonomy list -> lineage; GG species epithets get their genus."""
    parts = [p.strip() for p in parts if p.strip() and not re.fullmatch(r"[a-z]__", p.strip())]
    lin = _normalise_lineage("|".join(parts)).split("|")
    genus = next((p[3:] for p in lin if p.startswith("g__")), None)
    if genus and lin[-1].startswith("s__"):
        epithet = lin[-1][3:]
        if "_" not in epithet and not epithet.startswith(genus):
            lin[-1] = f"s__{genus}_{epithet}"
    return "|".join(lin)


def _last_prefix(lineage: str) -> str:
    return lineage.split("|")[-1][:3]


def _bare(name: str) -> str:
    name = name.strip().replace(" ", "_")
    return name[3:] if re.match(r"^[a-z]__", name) else name


def _naming(index: Iterable[str]) -> str:
    idx = list(index)
    if any("|t__SGB" in x or re.search(r"s__\S*SGB\d+", x) for x in idx):
        return "metaphlan4"
    if any(re.search(r"(p__Bacillota|p__Bacteroidota|_[A-Z]$|_[A-Z]_)", x) for x in idx):
        return "gtdb"
    return "unknown"


def _from_lineage_rows(
    path, names, mat, values, taxon_rank, fmt, database, notes, lines=None, sum_duplicates=False
):
    """Build an ImportedProfile from taxon names + a numeric matrix (rows aligned).

    A taxon on two rows is an error naming both lines (summing them silently could double a
    taxon pasted twice), unless ``sum_duplicates`` (BIOM: many OTUs/ASVs share one lineage).
    """
    lin = [_normalise_lineage(n, taxon_rank) for n in names]
    if not sum_duplicates:
        _check_duplicate_taxa(path, names, lin, lines)
    mat = mat.copy()
    mat.index = lin
    unc_rows = mat.index == UNCLASSIFIED
    unclassified_vals = mat[unc_rows].sum(axis=0) if unc_rows.any() else None
    mat = mat[~unc_rows]
    mat = mat.groupby(level=0, sort=False).sum()
    mat.index.name = None
    hier = _is_hierarchical(mat.index)
    kind = values if values != "auto" else infer_values(mat, hier)
    naming = _naming(mat.index)
    if fmt is None:
        fmt = "sylphtax_merged" if any(x.startswith("d__") for x in names[:50]) else None
        fmt = fmt or ("metaphlan_merged" if any("__" in x for x in names[:50]) else "generic")
    if fmt.startswith("metaphlan"):
        naming = "metaphlan4" if (naming == "metaphlan4" or "SGB" in database) else "metaphlan3"
    elif fmt.startswith("sylphtax"):
        naming = "gtdb"
    if kind == "counts":
        unc = unclassified_vals if unclassified_vals is not None else None
        return ImportedProfile(None, mat, hier, fmt, str(path), unc, naming, database, notes)
    return ImportedProfile(mat, None, hier, fmt, str(path), None, naming, database, notes)


def _is_hierarchical(index: Iterable[str]) -> bool:
    """True when the multi-level rows' parent lineages are rows too (cumulative tables)."""
    idx = set(index)
    deep = [x for x in idx if "|" in x]
    if not deep:
        # single-level rows: hierarchical when they are all at one rank (e.g. species-only)
        return len({_last_prefix(x) for x in idx}) <= 1

    # Real MetaPhlAn 4 merged tables lack a few parent rows (57 of ~4,000 in Baruch_merged_table:
    # unnamed GGB/FGB clades), so a majority, not all, decides. Partial all-rank tables (kingdom +
    # species rows only) count too: an ancestor at any level is enough.
    def has_ancestor(x: str) -> bool:
        parts = x.split("|")
        return any("|".join(parts[:i]) in idx for i in range(1, len(parts)))

    with_parent = sum(has_ancestor(x) for x in deep)
    return with_parent > 0.5 * len(deep)


def _values_at_rank(mat: pd.DataFrame, rank: str, hierarchical: bool) -> pd.DataFrame:
    prefix = _prefix(rank)
    if mat.empty:
        return mat.copy()
    if hierarchical:
        sel = [x for x in mat.index if x.split("|")[-1].startswith(prefix)]
        if sel:
            return mat.loc[sel].groupby(level=0, sort=False).sum()
        # a partial all-rank table without rows at this rank: sum its leaf rows up to it
        idx = list(mat.index)
        inner = {"|".join(x.split("|")[:i]) for x in idx for i in range(1, x.count("|") + 1)}
        mat = mat.loc[[x for x in idx if x not in inner]]
    cut = []
    for x in mat.index:
        parts = x.split("|")
        hit = next((i for i, p in enumerate(parts) if p.startswith(prefix)), None)
        cut.append("|".join(parts[: hit + 1]) if hit is not None else None)
    cut_s = pd.Series(cut, index=mat.index)
    ok = cut_s.notna().to_numpy()
    out = mat[ok].groupby(cut_s[ok].to_numpy(), sort=False).sum()
    out.index.name = None
    return out


def _without_leaf(prof: ImportedProfile) -> list[str]:
    """Taxa with abundance but no leaf (``t__``) row: what the leaf table cannot hold.

    Hierarchical tables: species rows with no ``t__`` row below them; leaf tables: rows whose
    lineage has no ``t__`` element.
    """
    base = _base(prof)
    present = base.index[(base > 0).any(axis=1).to_numpy()]
    if prof.hierarchical:
        parents = {x.rsplit("|", 1)[0] for x in base.index if _last_prefix(x) == "t__"}
        return [x for x in present if _last_prefix(x) == "s__" and x not in parents]
    return [x for x in present if "|t__" not in x and not x.startswith("t__")]


def _total(mat: pd.DataFrame, hierarchical: bool) -> pd.Series:
    """Classified total per sample: top-level rows of a hierarchical table, all rows otherwise."""
    if not hierarchical:
        return mat.sum(axis=0)
    depth = pd.Series([x.count("|") for x in mat.index], index=mat.index)
    if depth.empty:
        return mat.sum(axis=0)
    return mat[(depth == depth.min()).to_numpy()].sum(axis=0)


def infer_values(mat: pd.DataFrame, hierarchical: bool = False) -> str:
    """``"counts"`` when every value is integral and some sample total exceeds 100.5, else
    ``"relative"`` (percent or fractions: both are renormalised per rank anyway)."""
    if mat.empty:
        return "relative"
    arr = mat.to_numpy(dtype=float)
    integral = bool(np.all(np.abs(arr - np.round(arr)) < 1e-9))
    totals = _total(mat, hierarchical).to_numpy(dtype=float)
    if integral and totals.size and totals.max() > 100.5:
        return "counts"
    return "relative"


def _apply_lineage_map(
    prof: ImportedProfile, lmap: Mapping[str, str], leaf: str = "species"
) -> bool:
    """Replace single-clade rows by their full lineage (the table then becomes a leaf table).

    Changes ``prof`` in place; returns whether it had single-clade rows to map. With
    ``leaf="species"`` rows mapped to one lineage are summed (a warning and a manifest note name
    them); with ``leaf="keep"`` each row becomes ``<lineage>|t__<id>`` (kept apart; a lineage
    that already ends at ``t__`` is used as it is). Rows not in the map are named in a warning
    and a manifest note: they count as unresolved above their own rank (with ``keep``: they
    are ``t__<id>`` rows of the leaf table only).
    """
    before = _base(prof)
    single = [x for x in before.index if "|" not in x]
    if not single:
        return False
    new = []
    unmapped = []
    for x in before.index:
        if "|" in x:
            new.append(x)
            continue
        lin = lmap.get(x) or lmap.get(_bare(x))
        if lin is None:
            unmapped.append(x)
        if leaf == "keep":
            leaf_id = "t__" + _bare(x)
            if lin is None:
                lin = leaf_id
            elif _last_prefix(lin) != "t__":
                lin = f"{lin}|{leaf_id}"
        new.append(lin or x)
    merged = pd.Series(before.index, index=new).groupby(level=0, sort=False).agg(list)
    merged = merged[merged.map(len) > 1]

    def remap(df):
        if df is None:
            return None
        out = df.copy()
        out.index = new
        out = out.groupby(level=0, sort=False).sum()
        out.index.name = None
        return out

    prof.relative = remap(prof.relative)
    prof.counts = remap(prof.counts)
    if len(merged):
        eg = "; ".join(
            f"{' + '.join(map(_bare, v))} -> {k.split('|')[-1]}" for k, v in merged[:3].items()
        )
        msg = (
            f"{sum(map(len, merged))} row(s) summed into {len(merged)} taxa by the lineage map"
            f" (e.g. {eg}); import.leaf: keep keeps them apart"
        )
        logger.warning("%s: %s", prof.source, msg)
        prof.notes.append(msg)
    if unmapped:
        where = "are leaf rows only" if leaf == "keep" else "count as unresolved above their rank"
        msg = (
            f"{len(unmapped)} of {len(single)} clade(s) not in the lineage map"
            f" (e.g. {', '.join(map(_bare, unmapped[:3]))}); they {where}"
        )
        logger.warning("%s: %s", prof.source, msg)
        prof.notes.append(msg)
    prof.hierarchical = False
    prof.notes.append(f"lineages from map for {len(single) - len(unmapped)} clade(s)")
    return True


def _borrow_lineages(profs: list[ImportedProfile]) -> None:
    """Give bare-clade profiles (species-only tables) the lineages found in the other inputs."""
    bare = [p for p in profs if _base(p).index.map(lambda x: "|" not in x).all()]
    full = [p for p in profs if p not in bare]
    if not bare or not full:
        return
    lmap: dict[str, str] = {}
    for p in full:
        for lin in _base(p).index:
            last = lin.split("|")[-1]
            if "|" in lin and not last.startswith("t__"):
                lmap.setdefault(last, lin)
    for p in bare:
        logger.info("%s: lineages borrowed from the other imported tables", p.source)
        _apply_lineage_map(p, lmap)
        p.notes.append("lineages borrowed from the other imported files")
        if p.naming == "unknown":
            p.naming = "lineages from the other imported files"


def _base(prof: ImportedProfile) -> pd.DataFrame:
    return prof.relative if prof.relative is not None else prof.counts


def _with_ids(mat: pd.DataFrame) -> pd.DataFrame:
    """Add ``clade_name`` (last lineage element, parent-qualified when ambiguous) and ``lineage``."""
    lineage = pd.Series(mat.index.astype(str), index=mat.index)
    clade = lineage.str.split("|").str[-1]
    dup = clade.duplicated(keep=False)
    if dup.any():
        clade[dup] = lineage[dup].str.split("|").str[-2:].str.join(";")
    out = mat.copy()
    out.insert(0, "lineage", lineage.to_numpy())
    out.insert(0, "clade_name", clade.to_numpy())
    return out.reset_index(drop=True)


def _outer_join(parts: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(parts, axis=1, join="outer", sort=False)
    return out.fillna(0.0)


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def _read_text(path: Path, limit: int | None = None) -> str:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", errors="replace") as fh:
        return fh.read(limit) if limit else fh.read()


MISSING = ("error", "zero")
"""What to do with empty / ``NA`` / ``nan`` cells of a profile table: stop naming them, or read
them as 0 (listed in :attr:`ImportedProfile.filled` and the report)."""

_MISSING_TOKENS = {"", "na", "nan", "n/a", "null", "none"}


def _cells(mask: pd.DataFrame, df: pd.DataFrame, taxa, n: int = 5) -> tuple[list[str], int]:
    """``line L (taxon T): column 'S': 'v'`` for the first ``n`` True cells of ``mask``."""
    rows, cols = np.nonzero(mask.to_numpy())
    shown = []
    for r, c in list(zip(rows, cols, strict=True))[:n]:
        taxon = f" (taxon {taxa[r]!r})" if taxa is not None else ""
        shown.append(f"line {df.index[r]}{taxon}: column {df.columns[c]!r}: {df.iat[r, c]!r}")
    return shown, len(rows)


def _numeric(
    df: pd.DataFrame, path: Path, taxa: Sequence[str] | None = None, missing: str = "error"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells as floats, and the table of missing cells read as 0 (``missing='zero'``).

    ``df``'s index holds the line numbers. Non-numeric and negative cells are errors; empty,
    ``NA`` and ``nan`` cells are an error (default) or read as 0 and listed.
    """
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, not {missing!r}")
    cells = df.apply(lambda c: c.str.strip())
    is_missing = cells.apply(lambda c: c.str.lower().isin(_MISSING_TOKENS))
    out = cells.mask(is_missing).apply(lambda c: pd.to_numeric(c, errors="coerce"))
    bad = out.isna() & ~is_missing
    if bad.to_numpy().any():
        shown, n = _cells(bad, df, taxa)
        raise ImportError_(f"{path}: {n} value(s) are not numeric: {'; '.join(shown)}")
    filled = pd.DataFrame(columns=["file", "line", "taxon", "sample", "value"])
    if is_missing.to_numpy().any():
        shown, n = _cells(is_missing, df, taxa)
        if missing == "error":
            raise ImportError_(
                f"{path}: {n} missing value(s) (empty, NA or nan): {'; '.join(shown)}"
                + (" ..." if n > len(shown) else "")
                + "; fill them in, or read them as 0 with import.missing: zero (the filled "
                "cells are then listed in the report)"
            )
        rows, cols = np.nonzero(is_missing.to_numpy())
        filled = pd.DataFrame(
            {
                "file": str(path),
                "line": [int(df.index[r]) for r in rows],
                "taxon": [taxa[r] if taxa is not None else "" for r in rows],
                "sample": [str(df.columns[c]).strip() for c in cols],
                "value": [df.iat[r, c] for r, c in zip(rows, cols, strict=True)],
            }
        )
        logger.warning("%s: %d missing value(s) read as 0 (missing='zero')", path, n)
        out = out.fillna(0.0)
    neg = (out < 0).to_numpy()
    if neg.any():
        shown, n = _cells(out < 0, df, taxa)
        raise ImportError_(
            f"{path}: {n} negative value(s) (abundances and counts are >= 0): {'; '.join(shown)}"
        )
    out.columns = [str(c).strip() for c in out.columns]
    return out.astype(float), filled


def _no_missing(path, df: pd.DataFrame, col: str, name_col: str) -> None:
    """An empty cell of a per-sample table is an error (a later groupby-sum would read it as 0)."""
    if col not in df.columns:
        raise ImportError_(f"{path}: no column {col!r}")
    miss = df[col].isna() | df[col].astype(str).str.strip().str.lower().isin(_MISSING_TOKENS)
    if miss.any():
        lines = [int(i) + 2 for i in np.flatnonzero(miss.to_numpy())[:5]]
        taxa = df.loc[miss, name_col].astype(str).tolist()[:5]
        raise ImportError_(
            f"{path}: {int(miss.sum())} missing value(s) in column {col!r}: line(s) {lines} "
            f"(taxa {taxa})"
        )


def _check_duplicate_taxa(path, names, lineages, lines=None) -> None:
    """A taxon (after normalisation) on two or more rows is an error naming the rows."""
    seen: dict[str, list[int]] = {}
    for i, lin in enumerate(lineages):
        if lin != UNCLASSIFIED:
            seen.setdefault(lin, []).append(i)
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    if not dups:
        return
    shown = []
    for _lin, idx in list(dups.items())[:5]:
        where = [str(lines[i]) if lines is not None else f"data row {i + 1}" for i in idx]
        spelled = sorted({names[i] for i in idx})
        shown.append(f"taxon {spelled[0]!r} on lines {', '.join(where)}" + (
            f" (spelled {spelled})" if len(spelled) > 1 else ""))  # fmt: skip
    raise ImportError_(
        f"{path}: {len(dups)} taxon/taxa occur on more than one row (not summed: remove the "
        f"duplicates): {'; '.join(shown)}"
    )


def _check_values(prof: ImportedProfile) -> None:
    """Every format: no negative or missing value reaches the standard tables."""
    for what, df in (("relative", prof.relative), ("counts", prof.counts)):
        if df is None or df.empty:
            continue
        arr = df.to_numpy(dtype=float)
        for test, label in ((np.isnan(arr), "missing (NaN)"), (arr < 0, "negative")):
            if test.any():
                rows, cols = np.nonzero(test)
                shown = [f"taxon {df.index[r]!r}: sample {df.columns[c]!r}: {arr[r, c]:g}"
                         for r, c in list(zip(rows, cols, strict=True))[:5]]  # fmt: skip
                raise ImportError_(
                    f"{prof.source}: {len(rows)} {label} {what} value(s): {'; '.join(shown)}"
                )


def _strip_sample_affixes(names: list[str], path: Path) -> list[str]:
    out = []
    for n in names:
        for p in SAMPLE_PREFIXES:
            if n.startswith(p) and len(n) > len(p):
                n = n[len(p) :]
                break
        for s in SAMPLE_SUFFIXES:
            if n.endswith(s) and len(n) > len(s):
                n = n[: -len(s)]
                break
        out.append(n)
    if len(set(out)) != len(out):
        logger.warning("%s: stripping sample-name affixes would merge columns; kept as is", path)
        return names
    return out


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".gz", ".txt", ".tsv", ".tab", ".csv"):
        name = name.removesuffix(ext)
    return name


def _sample_from_reads_path(p: str) -> str:
    name = Path(str(p)).name
    for suf in (".gz", ".fastq", ".fq", ".fasta", ".fa", ".sylsp"):
        name = name.removesuffix(suf)
    for suf in ("_R1", ".R1", "_1", "_R1_001"):
        name = name.removesuffix(suf)
    return name


def _genome_key(g: str) -> str:
    name = Path(g).name
    for suf in (".gz", ".fna", ".fasta", ".fa", "_genomic"):
        name = name.removesuffix(suf)
    return name


def _as_map(obj, what: str) -> Mapping[str, str]:
    if isinstance(obj, Mapping):
        return obj
    return read_lineage_map(obj)


def _rename_samples(prof: ImportedProfile, rename: Mapping[str, str]) -> None:
    """Rename the sample columns of ``prof`` in place (names not in ``rename`` are kept)."""
    for attr in ("relative", "counts"):
        df = getattr(prof, attr)
        if df is not None:
            df.columns = [rename.get(str(c), str(c)) for c in df.columns]
    if prof.unclassified is not None:
        prof.unclassified.index = [rename.get(str(c), str(c)) for c in prof.unclassified.index]
    _check_samples(prof)


def _check_samples(prof: ImportedProfile) -> None:
    s = prof.samples
    if not s:
        raise ImportError_(f"{prof.source}: no sample columns")
    dup = sorted({x for x in s if s.count(x) > 1})
    if dup:
        raise ImportError_(f"{prof.source}: duplicated sample column(s) {dup}")
