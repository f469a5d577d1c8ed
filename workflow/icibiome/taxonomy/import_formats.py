"""Readers of the foreign profile formats, and their detection (:func:`detect_format`).

Each reader turns one file into an :class:`~icibiome.taxonomy.import_model.ImportedProfile`
(:data:`READERS`, by format); the formats are described in :mod:`icibiome.taxonomy.importers`.
Cells are checked as they are read: non-numeric, negative and (by default) missing values are
errors naming the file, line, taxon and sample.
"""

from __future__ import annotations

import gzip
import io as _io
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX
from icibiome.io import UNCLASSIFIED
from icibiome.taxonomy.import_model import (
    ImportedProfile,
    ImportError_,
    classified_total,
    greengenes_to_lineage,
    infer_values,
    is_hierarchical,
    naming_of,
    normalise_lineage,
)

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
"""Formats :func:`~icibiome.taxonomy.importers.read_profile` reads."""


SAMPLE_PREFIXES = ("metaphlan4d_", "metaphlan4_", "metaphlan3_", "metaphlan_", "profiled_")
"""Column-name prefixes stripped from MetaPhlAn merged-table sample names (seen in the
omicsEye re-processing of the ICI melanoma cohorts)."""
SAMPLE_SUFFIXES = ("_profile", "_metaphlan_bugs_list", "_taxonomic_profile", ".metaphlan")

# columns of merged tables that are annotations, not samples
_NON_SAMPLE_COLUMNS = {"ncbi_tax_id", "clade_taxid", "taxid", "tax_id", "taxonomy_id", "count"}


MISSING = ("error", "zero")
"""What to do with empty / ``NA`` / ``nan`` cells of a profile table: stop naming them, or read
them as 0 (listed in :attr:`ImportedProfile.filled` and the report)."""

_MISSING_TOKENS = {"", "na", "nan", "n/a", "null", "none"}


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
    text = read_text_file(path, limit=200_000)
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
    text = read_text_file(path)
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
    lines = read_text_file(path).splitlines()
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
            classified = classified_total(prof.counts, True).iloc[0]
            prof.unclassified = pd.Series({sample: max(0.0, total_reads - classified)})
    if values == "counts" and prof.counts is None:
        raise ImportError_(f"{path}: values='counts' but the file has no estimated read counts")
    return prof


def _read_sylphtax(path: Path, strip_affixes: bool, **_):
    lines = read_text_file(path).splitlines()
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
        lin.append(normalise_lineage(hit))
    df["lineage"] = lin
    rel = df.pivot_table(
        index="lineage", columns="sample", values="Taxonomic_abundance", aggfunc="sum"
    ).fillna(0.0)
    rel.columns = [str(c) for c in rel.columns]
    rel.columns.name = None
    rel.index.name = None
    return ImportedProfile(rel, None, False, "sylph", str(path), naming=naming_of(rel.index))


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
    top = classified_total(counts, True).iloc[0] if len(counts) else 0.0
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
        names.append(greengenes_to_lineage([str(t) for t in tax]))
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
    lin = [normalise_lineage(x) for x in body["lineage"]]
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
        naming=naming_of(rel.index),
    )


def _read_standard(path: Path, **_):
    df = pd.read_csv(path, sep="\t", dtype={"clade_name": str, "lineage": str})
    samples = [c for c in df.columns if c not in ("clade_name", "lineage")]
    unc = df["lineage"] == UNCLASSIFIED
    mat = df.loc[~unc, samples].astype(float)
    mat.index = [normalise_lineage(x) for x in df.loc[~unc, "lineage"]]
    is_counts = bool(unc.any())
    if is_counts:
        unclassified = df.loc[unc, samples].astype(float).sum(axis=0)
        return ImportedProfile(None, mat, False, "standard", str(path), unclassified=unclassified)
    return ImportedProfile(mat, None, False, "standard", str(path), naming=naming_of(mat.index))


READERS = {
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
"""Format -> reader: ``reader(path, **options) -> ImportedProfile``."""


def _from_lineage_rows(
    path, names, mat, values, taxon_rank, fmt, database, notes, lines=None, sum_duplicates=False
):
    """Build an ImportedProfile from taxon names + a numeric matrix (rows aligned).

    A taxon on two rows is an error naming both lines (summing them silently could double a
    taxon pasted twice), unless ``sum_duplicates`` (BIOM: many OTUs/ASVs share one lineage).
    """
    lin = [normalise_lineage(n, taxon_rank) for n in names]
    if not sum_duplicates:
        _check_duplicate_taxa(path, names, lin, lines)
    mat = mat.copy()
    mat.index = lin
    unc_rows = mat.index == UNCLASSIFIED
    unclassified_vals = mat[unc_rows].sum(axis=0) if unc_rows.any() else None
    mat = mat[~unc_rows]
    mat = mat.groupby(level=0, sort=False).sum()
    mat.index.name = None
    hier = is_hierarchical(mat.index)
    kind = values if values != "auto" else infer_values(mat, hier)
    naming = naming_of(mat.index)
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


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def read_text_file(path: Path, limit: int | None = None) -> str:
    """A text file (gzip by extension) as a string, its first ``limit`` characters when given."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", errors="replace") as fh:
        return fh.read(limit) if limit else fh.read()


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
