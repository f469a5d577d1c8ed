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

import io as _io
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX, RANKS
from icibiome.io import UNCLASSIFIED, write_standard_table, write_tsv
from icibiome.taxonomy.import_formats import (
    FORMATS,
    MISSING,
    READERS,
    SAMPLE_PREFIXES,
    SAMPLE_SUFFIXES,
    detect_format,
    read_text_file,
)
from icibiome.taxonomy.import_model import (
    IMPORT_RANKS,
    LEAF_MODES,
    LEAF_RANK,
    ImportedProfile,
    ImportError_,
    ProfileImportError,
    apply_lineage_map,
    bare_name,
    base_table,
    borrow_lineages,
    check_leaf,
    infer_values,
    naming_of,
    normalise_lineage,
    note_without_leaf,
    outer_join,
    to_rank,
    with_lineage_ids,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_RANKS",
    "FORMATS",
    "IMPORT_RANKS",
    "ImportError_",
    "ImportedProfile",
    "LEAF_MODES",
    "LEAF_RANK",
    "MISSING",
    "ProfileImportError",
    "SAMPLE_PREFIXES",
    "SAMPLE_SUFFIXES",
    "check_leaf",
    "detect_format",
    "import_profiles",
    "infer_values",
    "join_metadata",
    "lineage_map_from_profile",
    "load_profile",
    "read_lineage_map",
    "read_metadata",
    "read_profile",
    "to_rank",
]


DEFAULT_RANKS = ("species", "genus", "family", "phylum")


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
    reader = READERS[fmt]
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
        applied = apply_lineage_map(prof, _as_map(lineages, "lineages"), leaf=leaf)
        if before == "unknown" and applied:  # the names came from the map: say so
            found = naming_of(base_table(prof).index)
            source = Path(lineages).name if not isinstance(lineages, Mapping) else "a mapping"
            prof.naming = f"lineages from {source}" + (f" ({found})" if found != "unknown" else "")
    _check_values(prof)
    _check_samples(prof)
    return prof


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
        borrow_lineages(profs)
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
                note_without_leaf(prof)
            a, c = to_rank(prof, rank)
            parts_a.append(a.set_index(["clade_name", "lineage"]))
            if have_counts:
                parts_c.append(c.set_index(["clade_name", "lineage"]))
        abund = outer_join(parts_a).reindex(columns=keep)
        abund = with_lineage_ids(abund.droplevel("clade_name"))
        write_standard_table(abund, out_dir / f"abundance_{rank}.tsv")
        result[rank] = abund
        if have_counts:
            cnt = outer_join(parts_c).reindex(columns=keep).droplevel("clade_name")
            unc = cnt.loc[[UNCLASSIFIED]] if UNCLASSIFIED in cnt.index else None
            cnt = with_lineage_ids(cnt.drop(index=UNCLASSIFIED, errors="ignore"))
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
    text = read_text_file(path)
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
        lin = normalise_lineage(v.strip())
        out[k] = lin
        out[bare_name(k)] = lin
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
        out.setdefault(bare_name(last), lin)
    return out


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
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
