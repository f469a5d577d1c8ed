"""Kraken2 reports in the library: NCBI taxonomy of the database, report parsing, rank-code fix.

Kraken2 (Wood, Lu & Langmead, Genome Biol 2019) assigns each read to the lowest common
ancestor (LCA) of the taxa whose database k-mers (minimizers) it contains. Reads from species
with close relatives in the database therefore often stop at genus or above; Bracken's
re-estimation of the species, and the per-sample profile, are in :mod:`icibiome.taxonomy.bracken`.

Kraken2 2.1.2 leaves the rank-code column empty for some ranks (tool-notes §F1, kraken2 issues
759/796/888); :func:`read_report` and :func:`fix_report_rank_codes` restore it from the
database's ``nodes.dmp``, so MultiQC's kraken module recognises the fixed report.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.errors import UserError
from icibiome.io import atomic_path

logger = logging.getLogger(__name__)


RANK_CODE = {
    "superkingdom": "D",
    "domain": "D",
    "realm": "D",
    "kingdom": "K",
    "phylum": "P",
    "class": "C",
    "order": "O",
    "family": "F",
    "genus": "G",
    "species": "S",
}
"""NCBI rank -> Kraken2 report rank letter (as in kraken2's ``reports.cc``)."""

CODE_PREFIX = {"D": "k__", "P": "p__", "C": "c__", "O": "o__", "F": "f__", "G": "g__", "S": "s__"}
"""Kraken2 rank letter -> MetaPhlAn-style clade prefix used by the standard tables.

Kraken's ``D`` (superkingdom/domain: Bacteria, Archaea) is MetaPhlAn's ``k__``; NCBI's
``kingdom`` (``K``, e.g. Metazoa, Fungi) is skipped in lineages, as MetaPhlAn does.
"""

REPORT_COLUMNS = ["percent", "clade_reads", "direct_reads", "rank_code", "taxid", "name"]
MINIMIZER_COLUMNS = [
    "percent",
    "clade_reads",
    "direct_reads",
    "minimizers",
    "distinct_minimizers",
    "rank_code",
    "taxid",
    "name",
]


class KrakenReportError(UserError):
    """A file is not a Kraken2 report, or is inconsistent with the database."""


# --------------------------------------------------------------------------------------------
# taxonomy (nodes.dmp / names.dmp)
# --------------------------------------------------------------------------------------------
def read_nodes(path: str | os.PathLike) -> tuple[dict[int, int], dict[int, str]]:
    """Read NCBI ``nodes.dmp``: ``(parent, rank)`` dicts keyed by taxid."""
    parent: dict[int, int] = {}
    rank: dict[int, str] = {}
    with open(path) as fh:
        for line in fh:
            f = line.split("\t|\t")
            if len(f) < 3:
                continue
            t = int(f[0])
            parent[t] = int(f[1])
            rank[t] = f[2].strip()
    return parent, rank


def read_taxo_k2d(path: str | os.PathLike) -> tuple[dict[int, int], dict[int, str], dict[int, str]]:
    """Read a Kraken2 database's own taxonomy (``taxo.k2d``): ``(parent, rank, name)`` dicts.

    ``kraken2-build --clean`` deletes ``taxonomy/nodes.dmp``, but ``taxo.k2d`` keeps the tree.
    Its layout (kraken2 ``taxonomy.cc``, ``Taxonomy::WriteToDisk``): the magic ``K2TAXDAT``,
    three little-endian uint64 (node count, name-data and rank-data lengths), the node array
    (7 uint64 per node: parent, first child, child count, name offset, rank offset, external
    taxid, godparent; node 0 is unused, node 1 is root), then the NUL-separated names and ranks.
    """
    data = Path(path).read_bytes()
    if data[:8] != b"K2TAXDAT":
        raise KrakenReportError(f"{path}: not a Kraken2 taxo.k2d file")
    n, name_len, rank_len = np.frombuffer(data, dtype="<u8", count=3, offset=8)
    n, name_len, rank_len = int(n), int(name_len), int(rank_len)
    nodes = np.frombuffer(data, dtype="<u8", count=7 * n, offset=32).reshape(n, 7)
    names_buf = data[32 + 56 * n : 32 + 56 * n + name_len]
    ranks_buf = data[32 + 56 * n + name_len : 32 + 56 * n + name_len + rank_len]

    def cstr(buf: bytes, off: int) -> str:
        end = buf.find(b"\0", off)
        return buf[off : end if end >= 0 else len(buf)].decode(errors="replace")

    ext = nodes[:, 5].astype(np.int64)
    parent, rank, name = {}, {}, {}
    for i in range(1, n):
        t = int(ext[i])
        parent[t] = int(ext[int(nodes[i, 0])]) if i > 1 else 1
        rank[t] = cstr(ranks_buf, int(nodes[i, 4]))
        name[t] = cstr(names_buf, int(nodes[i, 3]))
    return parent, rank, name


def load_taxonomy_tree(nodes: str | os.PathLike) -> tuple[dict[int, int], dict[int, str]]:
    """``(parent, rank)`` from ``nodes.dmp``, a ``taxo.k2d``, or a Kraken2 database folder."""
    p = Path(nodes)
    if p.is_dir():
        if (p / "taxonomy" / "nodes.dmp").exists():
            return read_nodes(p / "taxonomy" / "nodes.dmp")
        if (p / "taxo.k2d").exists():
            parent, rank, _ = read_taxo_k2d(p / "taxo.k2d")
            return parent, rank
        raise FileNotFoundError(f"{p}: no taxonomy/nodes.dmp or taxo.k2d")
    if p.name.endswith(".k2d"):
        parent, rank, _ = read_taxo_k2d(p)
        return parent, rank
    return read_nodes(p)


def read_names(path: str | os.PathLike) -> dict[int, str]:
    """Read the scientific names of NCBI ``names.dmp``: ``taxid -> name``."""
    names: dict[int, str] = {}
    with open(path) as fh:
        for line in fh:
            f = [x.strip().rstrip("|").strip() for x in line.split("\t|\t")]
            if len(f) >= 4 and f[3] == "scientific name":
                names[int(f[0])] = f[1]
    return names


def rank_code(taxid: int, parent: dict[int, int], rank: dict[int, str]) -> str:
    """Kraken2's report rank code of ``taxid`` (``U``, ``R``, ``D``, ``P``, ... with depth digits).

    A taxon at a named rank gets its letter; a taxon at an unnamed rank ("no rank", "strain",
    ...) gets the letter of its nearest named ancestor followed by its distance to it (``S1``,
    ``G2``), as kraken2's ``reports.cc`` does. Root is ``R`` and its unnamed children ``R1``...

    Examples
    --------
    >>> parent = {1: 1, 2: 1, 500: 2, 1001: 500, 9001: 1001}
    >>> rank = {1: "no rank", 2: "superkingdom", 500: "genus", 1001: "species", 9001: "strain"}
    >>> [rank_code(t, parent, rank) for t in (0, 1, 2, 500, 1001, 9001)]
    ['U', 'R', 'D', 'G', 'S', 'S1']
    """
    if taxid == 0:
        return "U"
    depth = 0
    t = taxid
    seen = 0
    while True:
        if t == 1:
            return "R" + (str(depth) if depth else "")
        code = RANK_CODE.get(rank.get(t, ""))
        if code is not None:
            return code + (str(depth) if depth else "")
        if t not in parent:
            raise KrakenReportError(f"taxid {taxid}: ancestor {t} is not in nodes.dmp")
        t = parent[t]
        depth += 1
        seen += 1
        if seen > 1000:
            raise KrakenReportError(f"taxid {taxid}: cycle in nodes.dmp")


# --------------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------------
def read_report(path: str | os.PathLike, nodes: str | os.PathLike | None = None) -> pd.DataFrame:
    """Parse a Kraken2 (or Bracken-rewritten) report, run-independently.

    Parameters
    ----------
    path : path-like
        Report written by ``kraken2 --report`` (6 columns) or ``--report-minimizer-data``
        (8 columns), or Bracken's kraken-style ``--w`` report. ``--report-zero-counts`` is fine.
    nodes : path-like, optional
        The database folder, its ``taxo.k2d`` or its ``taxonomy/nodes.dmp``. When given, the rank code of every line is
        recomputed from it (the kraken2 2.1.2 empty-rank-code bug, tool-notes §F1); without it,
        empty codes are inferred from the report's own indentation tree where possible (a line
        whose parent is root gets ``R1``-style codes only if it has no code), so pass ``nodes``
        whenever you have the database.

    Returns
    -------
    DataFrame
        One row per report line, in file order, with columns ``percent``, ``clade_reads``,
        ``direct_reads``, (``minimizers``, ``distinct_minimizers``), ``rank_code``, ``taxid``,
        ``name`` (stripped), ``depth`` (indentation level), ``parent_taxid`` (from the
        indentation; -1 for top-level lines), ``lineage`` (MetaPhlAn-style ``k__...|...``
        built from the ancestors at the seven standard ranks; ``""`` for unclassified/root).
    """
    path = Path(path)
    rows = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            f = line.split("\t")
            if len(f) not in (6, 8):
                raise KrakenReportError(
                    f"{path}: line {lineno} has {len(f)} tab-separated fields; a Kraken2 report "
                    "has 6 (or 8 with --report-minimizer-data)"
                )
            rows.append(f)
    if not rows:
        # an empty report (kraken2 on an empty input): zero-hit sample
        return pd.DataFrame(columns=REPORT_COLUMNS + ["depth", "parent_taxid", "lineage"]).astype(
            {"clade_reads": int, "direct_reads": int, "taxid": int}
        )
    ncol = len(rows[0])
    if any(len(r) != ncol for r in rows):
        raise KrakenReportError(f"{path}: lines have different numbers of fields")
    cols = REPORT_COLUMNS if ncol == 6 else MINIMIZER_COLUMNS
    df = pd.DataFrame(rows, columns=cols)
    try:
        df["percent"] = df["percent"].astype(float)
        for c in ("clade_reads", "direct_reads", "taxid") + (
            ("minimizers", "distinct_minimizers") if ncol == 8 else ()
        ):
            df[c] = df[c].astype(np.int64)
    except ValueError as err:
        raise KrakenReportError(f"{path}: not a Kraken2 report ({err})") from err
    raw_names = df["name"]
    df["depth"] = (raw_names.str.len() - raw_names.str.lstrip(" ").str.len()) // 2
    df["name"] = raw_names.str.strip()
    df["rank_code"] = df["rank_code"].str.strip()
    # parents from the indentation tree
    stack: list[tuple[int, int]] = []
    parents = []
    for depth, taxid in zip(df["depth"], df["taxid"], strict=True):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents.append(stack[-1][1] if stack else -1)
        stack.append((depth, taxid))
    df["parent_taxid"] = parents
    if nodes is not None:
        parent, rank = load_taxonomy_tree(nodes)
        df["rank_code"] = [rank_code(int(t), parent, rank) for t in df["taxid"]]
    else:
        _infer_missing_codes(df)
    df["lineage"] = _lineages(df)
    return df


def _infer_missing_codes(df: pd.DataFrame) -> None:
    """Fill empty rank codes from the indentation tree (best effort, without nodes.dmp)."""
    by_taxid = dict(zip(df["taxid"], range(len(df)), strict=True))
    codes = df["rank_code"].tolist()
    for i, (code, taxid, par) in enumerate(
        zip(df["rank_code"], df["taxid"], df["parent_taxid"], strict=True)
    ):
        if code:
            continue
        if taxid == 0:
            codes[i] = "U"
        elif taxid == 1:
            codes[i] = "R"
        else:
            # an unnamed code cannot be recovered; mark it as a child of its parent's rank
            pc = codes[by_taxid[par]] if par in by_taxid else "R"
            letter = re.match(r"[A-Z]", pc or "R").group(0)
            depth = int(pc[1:]) + 1 if pc[1:].isdigit() else 1
            codes[i] = f"{letter}{depth}"
            logger.warning(
                "taxid %s has no rank code and no nodes.dmp was given; coded %s", taxid, codes[i]
            )
    df["rank_code"] = codes


def _lineages(df: pd.DataFrame) -> list[str]:
    """MetaPhlAn-style lineage of every report line from its ancestors' exact rank codes."""
    out = []
    stack: list[tuple[int, str]] = []  # (depth, clade or "")
    for depth, code, name in zip(df["depth"], df["rank_code"], df["name"], strict=True):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        clade = CODE_PREFIX[code] + name.replace(" ", "_") if code in CODE_PREFIX else ""
        stack.append((depth, clade))
        out.append("|".join(c for _, c in stack if c))
    return out


def fix_report_rank_codes(
    report: str | os.PathLike, nodes: str | os.PathLike, out: str | os.PathLike
) -> int:
    """Rewrite a Kraken2 report with the rank codes recomputed from ``nodes.dmp`` (§F1).

    Only the rank-code column changes; every other byte of each line is kept, so the fixed
    report is what MultiQC's kraken module and Bracken-style parsers expect.

    Returns
    -------
    int
        Number of lines whose code changed.
    """
    parent, rank = load_taxonomy_tree(nodes)
    changed = 0
    lines_out = []
    with open(report) as fh:
        for line in fh:
            body = line.rstrip("\n")
            f = body.split("\t")
            if len(f) in (6, 8):
                new = rank_code(int(f[-2]), parent, rank)
                if f[-3] != new:
                    changed += 1
                    f[-3] = new
                body = "\t".join(f)
            lines_out.append(body + "\n")
    with atomic_path(out) as tmp:
        tmp.write_text("".join(lines_out))
    logger.info("%s: %d rank code(s) fixed", report, changed)
    return changed


def report_totals(report: pd.DataFrame) -> tuple[int, int]:
    """``(classified, unclassified)`` fragments of a parsed report."""
    unc = int(report.loc[report["taxid"] == 0, "clade_reads"].sum())
    top = report[(report["parent_taxid"] == -1) & (report["taxid"] != 0)]
    return int(top["clade_reads"].sum()), unc
