"""Import mode of the pipeline: existing profiles + the sample sheet instead of reads.

With ``import: activate: true`` the pipeline reads no FASTQ: the profile files named in
``import.profiles`` (any format :mod:`icibiome.taxonomy.importers` reads) are matched to the sample sheet
(which then serves as the metadata table and needs no ``assay``/``fq1``/``fq2`` columns) and
written as the standard tables of one profiler (``import.profiler``, default ``imported``),
exactly as :func:`icibiome.taxonomy.profiles.merge_profiles` writes them for the read-based profilers. The
downstream stages (diversity, networks and guilds, TOPOSCORE, signatures, report) read those
tables and never learn where they came from.

Two steps, both run by the pipeline:

* :func:`plan_import` at workflow start (rules/common.smk), before any job: the files exist and
  parse, the sample ids of the profiles and of the sheet agree (or the mismatch is listed and
  excluded, ``import.on_mismatch: exclude``), and whether the profiles hold read counts (so that
  ``counts_<rank>.tsv`` is declared as an output only when it will exist);
* :func:`run_import` in rule ``import_profiles``: the standard tables, the import manifest and
  the list of excluded samples.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from icibiome.errors import UserError
from icibiome.io import write_tsv
from icibiome.taxonomy.import_model import (
    LEAF_RANK,
    ImportError_,
    borrow_lineages,
    check_leaf,
    to_rank,
)
from icibiome.taxonomy.importers import import_profiles, load_profile

logger = logging.getLogger(__name__)

ON_MISMATCH = ("error", "exclude")


class ImportModeError(UserError):
    """Import mode cannot start; ``problems`` lists each problem (file, sample) as a message."""

    user_error = True  # reported without a traceback (icibiome.logging.log_to_file)

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"import mode has {len(problems)} problem(s):\n{lines}")


@dataclass
class ImportPlan:
    """What rule ``import_profiles`` will write, known before any job runs.

    Attributes
    ----------
    samples : list of str
        Sample ids in both the sheet and the profiles (sheet order): the imported samples.
    not_profiled : list of str
        Sheet samples with no profile column.
    not_in_sheet : list of str
        Profile columns (after ``name_map``) with no sheet row.
    has_counts : bool
        Every profile file holds read counts, so ``counts_<rank>.tsv`` tables are written.
    files : list of str
        The profile files.
    """

    samples: list[str]
    not_profiled: list[str] = field(default_factory=list)
    not_in_sheet: list[str] = field(default_factory=list)
    has_counts: bool = False
    files: list[str] = field(default_factory=list)

    def excluded(self) -> pd.DataFrame:
        """One row per excluded sample: ``sample_id``, ``reason``."""
        rows = [{"sample_id": s, "reason": "in the sample sheet, not in the profiles"}
                for s in self.not_profiled]  # fmt: skip
        rows += [{"sample_id": s, "reason": "in the profiles, not in the sample sheet"}
                 for s in self.not_in_sheet]  # fmt: skip
        return pd.DataFrame(rows, columns=["sample_id", "reason"])


def with_leaf(ranks: Sequence[str], leaf: str) -> list[str]:
    """``ranks`` with :data:`~icibiome.taxonomy.import_model.LEAF_RANK` added when ``leaf`` is ``keep``.

    >>> with_leaf(["species", "genus"], "keep")
    ['species', 'genus', 'leaf']
    """
    ranks = list(ranks)
    if leaf == "keep" and LEAF_RANK not in ranks:
        ranks.append(LEAF_RANK)
    return ranks


def read_name_map(path: str | os.PathLike) -> dict[str, str]:
    """Read a ``profile column -> sample_id`` map (TSV/CSV with a header, first two columns).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "names.tsv"
    >>> _ = p.write_text("profile_name\\tsample_id\\nERR1\\tC1_P01\\n")
    >>> read_name_map(p)
    {'ERR1': 'C1_P01'}
    """
    path = Path(path)
    if not path.is_file():
        raise ImportModeError([f"import.name_map: {path}: file not found"])
    try:
        df = pd.read_csv(path, sep=None, engine="python", dtype=str, comment="#").fillna("")
    except (ValueError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ImportModeError([f"import.name_map: {path}: not a readable table: {exc}"]) from None
    if df.shape[1] < 2:
        raise ImportModeError([f"import.name_map: {path}: needs two columns (profile name, id)"])
    keys, values = df.iloc[:, 0].str.strip(), df.iloc[:, 1].str.strip()
    dup = sorted(set(keys[keys.duplicated()]))
    if dup:
        raise ImportModeError([f"import.name_map: {path}: profile name(s) listed twice: {dup}"])
    return dict(zip(keys, values, strict=True))


def _load(
    paths: Sequence[str | os.PathLike],
    fmt: str,
    values: str,
    name_map: Mapping[str, str] | None,
    lineages: str | os.PathLike | None,
    taxonomy: str | os.PathLike | None,
    ranks: Sequence[str] = (),
    missing: str = "error",
    leaf: str = "species",
) -> tuple[list[str], bool, list[str]]:
    """Sample ids (renamed), whether all files hold counts, and the problems found.

    Each file is also cut to every rank of ``ranks`` (as rule import_profiles will), so a table
    of bare names that cannot reach a rank is found here, naming the config keys.
    """
    problems: list[str] = []
    ids: list[str] = []
    counts = True
    profs = []
    if not paths:
        return [], False, ["import.profiles: no profile files given"]
    for p in paths:
        try:
            prof = load_profile(
                p,
                fmt=fmt,
                values=values,
                lineages=lineages,
                taxonomy=taxonomy,
                missing=missing,
                leaf=leaf,
            )
        except ImportError_ as exc:  # names the file
            problems.append(f"import.profiles: {exc}")
            continue
        except (ValueError, OSError, KeyError, IndexError) as exc:
            # a reader's parse failure on a malformed file (pandas, float(), a missing column)
            what = f"missing column {exc}" if isinstance(exc, KeyError) else str(exc)
            problems.append(
                f"import.profiles: {p}: cannot be read as format {fmt!r}: {what} "
                f"({type(exc).__name__}; see import.format)"
            )
            continue
        profs.append(prof)
        counts &= prof.counts is not None
        for s in prof.samples:
            ids.append((name_map or {}).get(s, s))
    problems += [f"import.profiles: {p}" for p in check_leaf(profs, leaf, lineages is not None)]
    if lineages is None:
        borrow_lineages(profs)  # as import_profiles does
    for prof in profs:
        reached, failed = [], []
        for rank in ranks:
            try:
                to_rank(prof, rank)
                reached.append(rank)
            except ImportError_ as exc:
                if rank == LEAF_RANK:
                    problems.append(f"import.leaf: keep: {exc}; or set import.leaf: species")
                else:
                    failed.append(rank)
        if failed:
            problems.append(
                f"import.profiles: {prof.source}: no taxa at rank(s) {', '.join(failed)} of "
                "taxonomy.ranks (its rows are bare names without a lineage): give "
                "import.lineages (a clade -> lineage table) or set taxonomy.ranks to "
                f"{reached or '[the rank of the names]'}"
            )
    dup = sorted({s for s in ids if ids.count(s) > 1})
    if dup:
        problems.append(f"import.profiles: sample id(s) occur more than once: {dup[:10]}")
    return ids, counts, problems


def plan_import(
    paths: Sequence[str | os.PathLike],
    sheet_ids: Sequence[str],
    *,
    fmt: str = "auto",
    values: str = "auto",
    name_map: str | os.PathLike | None = None,
    lineages: str | os.PathLike | None = None,
    taxonomy: str | os.PathLike | None = None,
    on_mismatch: str = "error",
    ranks: Sequence[str] = (),
    missing: str = "error",
    leaf: str = "species",
) -> ImportPlan:
    """Check the profiles against the sample sheet before any job runs.

    Parameters
    ----------
    paths : sequence of path-like
        Profile files (``import.profiles``).
    sheet_ids : sequence of str
        The sample sheet's ``sample_id`` values.
    fmt, values, lineages, taxonomy
        As in :func:`icibiome.taxonomy.importers.read_profile`.
    name_map : path-like, optional
        ``profile column -> sample_id`` table (:func:`read_name_map`); unmapped names are kept.
    on_mismatch : {"error", "exclude"}
        Samples in the sheet without a profile, or profiled samples without a sheet row: stop
        with an error listing them (default), or leave them out (listed in
        ``excluded_samples.tsv`` and the log).
    ranks : sequence of str
        ``taxonomy.ranks``: every file must reach each of them (a table of bare names needs
        ``import.lineages``).
    missing : {"error", "zero"}
        ``import.missing``: empty/NA cells stop the run naming them, or are read as 0.
    leaf : {"species", "keep"}
        ``import.leaf``: leaf ids (MAGs, OGUs) with a lineage map summed into their species, or
        kept as rank ``leaf`` (``t__<id>`` rows; needs ``import.lineages`` for bare ids).

    Raises
    ------
    ImportModeError
        Every problem at once: unreadable files, duplicated ids, mismatches (with ``error``),
        no sample left.
    """
    if on_mismatch not in ON_MISMATCH:
        raise ValueError(f"on_mismatch must be one of {ON_MISMATCH}")
    ranks = with_leaf(ranks, leaf)
    nmap = read_name_map(name_map) if name_map else None
    ids, has_counts, problems = _load(
        paths, fmt, values, nmap, lineages, taxonomy, ranks=ranks, missing=missing, leaf=leaf
    )
    if problems:
        raise ImportModeError(problems)
    profiled = set(ids)
    sheet = list(sheet_ids)
    plan = ImportPlan(
        samples=[s for s in sheet if s in profiled],
        not_profiled=[s for s in sheet if s not in profiled],
        not_in_sheet=[s for s in ids if s not in set(sheet)],
        has_counts=has_counts,
        files=[str(p) for p in paths],
    )
    if on_mismatch == "error":
        if plan.not_profiled:
            problems.append(
                f"{len(plan.not_profiled)} sample(s) of the sample sheet have no profile: "
                f"{_shown(plan.not_profiled)} (import.on_mismatch: exclude leaves them out)"
            )
        if plan.not_in_sheet:
            problems.append(
                f"{len(plan.not_in_sheet)} profiled sample(s) have no row in the sample sheet: "
                f"{_shown(plan.not_in_sheet)} (add them, map names with import.name_map, or "
                "set import.on_mismatch: exclude)"
            )
    if not plan.samples:
        problems.append(
            "no sample id is in both the sample sheet and the profiles (profile columns e.g. "
            f"{_shown(ids, 3)}; sheet e.g. {_shown(sheet, 3)}; see import.name_map)"
        )
    if problems:
        raise ImportModeError(problems)
    if plan.not_profiled or plan.not_in_sheet:
        logger.warning(
            "import: excluded %d sheet sample(s) without a profile %s and %d profiled sample(s) "
            "without a sheet row %s",
            len(plan.not_profiled),
            _shown(plan.not_profiled),
            len(plan.not_in_sheet),
            _shown(plan.not_in_sheet),
        )
    return plan


def run_import(
    paths: Sequence[str | os.PathLike],
    samples_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
    ranks: Sequence[str],
    *,
    fmt: str = "auto",
    values: str = "auto",
    name_map: str | os.PathLike | None = None,
    lineages: str | os.PathLike | None = None,
    taxonomy: str | os.PathLike | None = None,
    on_mismatch: str = "error",
    missing: str = "error",
    leaf: str = "species",
) -> ImportPlan:
    """Write the standard tables of the imported profiles for the sheet's samples.

    Writes into ``out_dir``: ``abundance_<rank>.tsv`` (percent of classified at the rank, as
    :func:`icibiome.taxonomy.profiles.merge_profiles`), ``counts_<rank>.tsv`` when every file holds read
    counts, ``import_manifest.tsv`` (file, format, naming, database), ``samples.tsv`` (sample ->
    source file + sheet columns), ``filled_cells.tsv`` (missing cells read as 0 with
    ``missing='zero'``; header only otherwise) and ``excluded_samples.tsv`` (sample, reason; header only when
    nothing was excluded). Parameters as in :func:`plan_import`.
    """
    from icibiome.samplesheet import read_sample_sheet

    # the sheet as the driver read it (a '#' inside a cell is data, not a comment)
    sheet = read_sample_sheet(samples_tsv, check_files=False, reads=False)
    plan = plan_import(
        paths,
        list(sheet.index),
        fmt=fmt,
        values=values,
        name_map=name_map,
        lineages=lineages,
        taxonomy=taxonomy,
        on_mismatch=on_mismatch,
        ranks=ranks,
        missing=missing,
        leaf=leaf,
    )
    rename = read_name_map(name_map) if name_map else None
    import_profiles(
        list(paths),
        out_dir,
        ranks=with_leaf(ranks, leaf),
        fmt=fmt,
        metadata=samples_tsv,
        id_column="sample_id",
        on_missing_metadata="drop",  # plan_import has already stopped on them when asked to
        values=values,
        lineages=lineages,
        taxonomy=taxonomy,
        rename=rename,
        missing=missing,
        leaf=leaf,
    )
    write_tsv(plan.excluded(), Path(out_dir) / "excluded_samples.tsv")
    logger.info("import: %d sample(s) from %d file(s)", len(plan.samples), len(plan.files))
    return plan


def import_report_content(
    abundance_tsv: str | os.PathLike,
    samples_tsv: str | os.PathLike,
    manifest_tsv: str | os.PathLike,
    excluded_tsv: str | os.PathLike,
    out_composition: str | os.PathLike,
    out_composition_response: str | os.PathLike,
    out_files: str | os.PathLike,
    out_flags: str | os.PathLike,
    top_n: int = 12,
    rank: str = "species",
    profiler: str = "imported",
    filled_tsv: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The report sections of an import-mode run (it has no read QC or read tracking).

    Writes MultiQC custom content: the composition per sample and per response group (as for
    the read-based profilers, :func:`icibiome.report.build.composition_mqc` and
    :func:`icibiome.report.sections.composition_by_response_mqc`), the imported files (format,
    naming, database, values, samples) and a warning table of flagged samples: left out
    (sheet/profile mismatch), with nothing classified (an all-zero profile, zero-hit), or with
    missing cells read as 0 (``import.missing: zero``; ``filled_tsv``, naming the taxa). The
    flag table is dropped from the report when empty. Returns the flagged samples.
    """
    from icibiome.io import read_standard_table
    from icibiome.mqc import write_table
    from icibiome.report.build import composition_mqc
    from icibiome.report.sections import composition_by_response_mqc

    composition_mqc(abundance_tsv, out_composition, top_n=top_n, rank=rank, profiler=profiler)
    composition_by_response_mqc(
        abundance_tsv, samples_tsv, out_composition_response, top_n=top_n, rank=rank,
        profiler=profiler,
    )  # fmt: skip
    files = pd.read_csv(manifest_tsv, sep="\t", dtype=str, keep_default_na=False)
    files["file"] = [Path(f).name for f in files["file"]]
    write_table(
        files.set_index("file"),
        {
            "id": "icibiome_import_files",
            "section_name": "Imported profiles",
            "description": (
                f"Import mode: the standard tables of profiler '{profiler}' come from these "
                "files (no reads were processed; results/taxonomy/"
                f"{profiler}/import_manifest.tsv)."
            ),
            "plot_type": "table",
        },
        out_files,
        index_label="File",
    )
    tab = read_standard_table(abundance_tsv).drop(columns="lineage")
    zero = [str(c) for c in tab.columns if tab[c].sum() <= 0]
    excluded = pd.read_csv(excluded_tsv, sep="\t", dtype=str, keep_default_na=False)
    filled = (
        pd.read_csv(filled_tsv, sep="\t", dtype=str, keep_default_na=False)
        if filled_tsv
        else pd.DataFrame(columns=["file", "line", "taxon", "sample", "value"])
    )
    fill_flags = [
        (
            sample,
            f"{len(g)} missing cell(s) read as 0 (import.missing: zero): "
            + ", ".join(
                f"{Path(f).name} line {ln} ({t})"
                for f, ln, t in list(zip(g["file"], g["line"], g["taxon"], strict=True))[:5]
            )
            + (" ..." if len(g) > 5 else ""),
        )
        for sample, g in filled.groupby("sample", sort=False)
    ]
    flags = pd.DataFrame(
        {
            "sample_id": [*excluded["sample_id"], *zero, *(s for s, _ in fill_flags)],
            "flag": ["left out: " + r for r in excluded["reason"]]
            + [f"nothing classified at {rank} (all-zero profile)"] * len(zero)
            + [f for _, f in fill_flags],
        }
    )
    # one row per sample (a sample may be all-zero and have filled cells)
    flags = flags.groupby("sample_id", sort=False)["flag"].agg("; ".join).to_frame()
    write_table(
        flags,
        {
            "id": "icibiome_import_flags",
            "section_name": "Imported samples flagged",
            "description": (
                f"Warning: {len(excluded)} sample(s) left out (import.on_mismatch: exclude), "
                f"{len(zero)} with nothing classified at {rank} (no composition; left out of "
                f"beta diversity and networks) and {len(fill_flags)} with missing cells read "
                f"as 0 (import.missing: zero; results/taxonomy/{profiler}/filled_cells.tsv)."
            ),
            "plot_type": "table",
        },
        out_flags,
        index_label="Sample",
    )
    return flags


def _shown(items: Sequence[str], n: int = 10) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (" ..." if len(items) > n else "")
