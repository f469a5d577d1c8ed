"""The shape every imported profile is read into, and its lineage handling.

:class:`ImportedProfile` holds one file's taxa x samples values indexed by a MetaPhlAn-style
lineage; the functions here normalise lineages, apply ``clade -> lineage`` maps and cut a profile
to a rank (:func:`to_rank`). The readers are in :mod:`icibiome.taxonomy.import_formats`, the entry
points (:func:`~icibiome.taxonomy.importers.read_profile`,
:func:`~icibiome.taxonomy.importers.import_profiles`) in :mod:`icibiome.taxonomy.importers`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX, RANKS
from icibiome.errors import UserError
from icibiome.io import UNCLASSIFIED

logger = logging.getLogger(__name__)


LEAF_RANK = "leaf"
"""The rank below species that ``leaf="keep"`` writes: MAGs, OGUs, MetaPhlAn SGBs (``t__``)."""
IMPORT_RANKS = (*RANKS, LEAF_RANK)
"""Ranks :func:`to_rank` cuts to: :data:`icibiome.RANKS` and :data:`LEAF_RANK`."""
LEAF_MODES = ("species", "keep")
"""``leaf=``: ``species`` reads leaf ids as today (a bare id is a species; ids with a lineage
map are summed into the species of their lineage, with a warning); ``keep`` keeps each leaf id as
a ``t__<id>`` row below its lineage (rank :data:`LEAF_RANK`), the higher ranks summing leaves."""


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
# lineage handling
# --------------------------------------------------------------------------------------------
def normalise_lineage(name: str, taxon_rank: str = "species") -> str:
    """``|``-joined MetaPhlAn-style lineage: ``d__`` -> ``k__``, spaces -> ``_``, no empties.

    Examples
    --------
    >>> normalise_lineage("d__Bacteria;p__Bacillota_A;s__Alistipes_A onderdonkii")
    'k__Bacteria|p__Bacillota_A|s__Alistipes_A_onderdonkii'
    >>> normalise_lineage("Bacteroides_uniformis")
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


def greengenes_to_lineage(parts: list[str]) -> str:
    """Greengenes/SILVA taxonomy list -> lineage; GG species epithets get their genus."""
    parts = [p.strip() for p in parts if p.strip() and not re.fullmatch(r"[a-z]__", p.strip())]
    lin = normalise_lineage("|".join(parts)).split("|")
    genus = next((p[3:] for p in lin if p.startswith("g__")), None)
    if genus and lin[-1].startswith("s__"):
        epithet = lin[-1][3:]
        if "_" not in epithet and not epithet.startswith(genus):
            lin[-1] = f"s__{genus}_{epithet}"
    return "|".join(lin)


def _last_prefix(lineage: str) -> str:
    return lineage.split("|")[-1][:3]


def bare_name(name: str) -> str:
    """A taxon name without its rank prefix (``s__``), spaces as ``_``."""
    name = name.strip().replace(" ", "_")
    return name[3:] if re.match(r"^[a-z]__", name) else name


def naming_of(index: Iterable[str]) -> str:
    """Naming scheme of a set of lineages: ``metaphlan4`` (SGBs), ``gtdb`` or ``unknown``."""
    idx = list(index)
    if any("|t__SGB" in x or re.search(r"s__\S*SGB\d+", x) for x in idx):
        return "metaphlan4"
    if any(re.search(r"(p__Bacillota|p__Bacteroidota|_[A-Z]$|_[A-Z]_)", x) for x in idx):
        return "gtdb"
    return "unknown"


def is_hierarchical(index: Iterable[str]) -> bool:
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
    base = base_table(prof)
    present = base.index[(base > 0).any(axis=1).to_numpy()]
    if prof.hierarchical:
        parents = {x.rsplit("|", 1)[0] for x in base.index if _last_prefix(x) == "t__"}
        return [x for x in present if _last_prefix(x) == "s__" and x not in parents]
    return [x for x in present if "|t__" not in x and not x.startswith("t__")]


def classified_total(mat: pd.DataFrame, hierarchical: bool) -> pd.Series:
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
    totals = classified_total(mat, hierarchical).to_numpy(dtype=float)
    if integral and totals.size and totals.max() > 100.5:
        return "counts"
    return "relative"


def apply_lineage_map(
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
    before = base_table(prof)
    single = [x for x in before.index if "|" not in x]
    if not single:
        return False
    new = []
    unmapped = []
    for x in before.index:
        if "|" in x:
            new.append(x)
            continue
        lin = lmap.get(x) or lmap.get(bare_name(x))
        if lin is None:
            unmapped.append(x)
        if leaf == "keep":
            leaf_id = "t__" + bare_name(x)
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
            f"{' + '.join(map(bare_name, v))} -> {k.split('|')[-1]}" for k, v in merged[:3].items()
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
            f" (e.g. {', '.join(map(bare_name, unmapped[:3]))}); they {where}"
        )
        logger.warning("%s: %s", prof.source, msg)
        prof.notes.append(msg)
    prof.hierarchical = False
    prof.notes.append(f"lineages from map for {len(single) - len(unmapped)} clade(s)")
    return True


def borrow_lineages(profs: list[ImportedProfile]) -> None:
    """Give bare-clade profiles (species-only tables) the lineages found in the other inputs."""
    bare = [p for p in profs if base_table(p).index.map(lambda x: "|" not in x).all()]
    full = [p for p in profs if p not in bare]
    if not bare or not full:
        return
    lmap: dict[str, str] = {}
    for p in full:
        for lin in base_table(p).index:
            last = lin.split("|")[-1]
            if "|" in lin and not last.startswith("t__"):
                lmap.setdefault(last, lin)
    for p in bare:
        logger.info("%s: lineages borrowed from the other imported tables", p.source)
        apply_lineage_map(p, lmap)
        p.notes.append("lineages borrowed from the other imported files")
        if p.naming == "unknown":
            p.naming = "lineages from the other imported files"


def base_table(prof: ImportedProfile) -> pd.DataFrame:
    """The profile's values: relative ones when it has them, else its counts."""
    return prof.relative if prof.relative is not None else prof.counts


def with_lineage_ids(mat: pd.DataFrame) -> pd.DataFrame:
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


def outer_join(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Tables side by side on the union of their taxa, absent taxa 0."""
    out = pd.concat(parts, axis=1, join="outer", sort=False)
    return out.fillna(0.0)


# --------------------------------------------------------------------------------------------
# cutting to a rank
# --------------------------------------------------------------------------------------------
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
    abund = with_lineage_ids(abund)
    cnt = None
    if prof.counts is not None:
        c_at = _values_at_rank(prof.counts, rank, prof.hierarchical).reindex(
            columns=prof.counts.columns
        )
        total = classified_total(prof.counts, prof.hierarchical)
        if prof.unclassified is not None:
            total = total + prof.unclassified.reindex(total.index).fillna(0.0)
        unc = (total - c_at.sum(axis=0)).clip(lower=0.0)
        cnt = with_lineage_ids(c_at.round(0))
        unc_row = pd.DataFrame(
            [[UNCLASSIFIED, UNCLASSIFIED, *unc.round(0).tolist()]], columns=cnt.columns
        )
        cnt = pd.concat([cnt, unc_row], ignore_index=True)
    return abund, cnt


def check_leaf(profs: Sequence[ImportedProfile], leaf: str, lineages: bool) -> list[str]:
    """Problems of ``leaf="keep"`` (one message per file): tables of bare ids, no ``lineages``.

    Without a lineage map a bare id would be read as a species of its own name (what ``keep``
    is there to avoid), so it is an error before any job.
    """
    if leaf != "keep" or lineages:
        return []
    return [
        f"{p.source}: import.leaf: keep needs import.lineages (leaf id -> lineage) for its "
        f"bare ids (e.g. {bare_name(next(x for x in base_table(p).index if '|' not in x))})"
        for p in profs
        if len(base_table(p)) and all("|" not in x for x in base_table(p).index)
    ]


def note_without_leaf(prof: ImportedProfile) -> None:
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
