"""Name harmonisation: apply signatures and tables defined in one taxonomy naming to another.

Profilers name the same organism differently: MetaPhlAn 4 species (``s__Bacteroides_uniformis``,
``s__GGB1387_SGB1895``) and SGBs (``t__SGB1836``), GTDB r207/r220 species as sylph-tax or GTDB-Tk
write them (``s__Phocaeicola vulgatus``), NCBI names from Kraken2. A *name map* is a table with one
column per naming and one row per organism (e.g. the TOPOSCORE ``sig1.txt``:
``species_Jan21  SGB_Jan21  GTDB_r207  GTDB_r220``). With it a signature written in one naming can
be scored on profiles made in another, and a whole standard table can be renamed.

Names are compared after :func:`normalise_name` (rank prefix removed, spaces and underscores
equal), so ``s__Actinomyces graevenitzii`` (GTDB) and ``Actinomyces_graevenitzii`` (MetaPhlAn)
match. A name may map to several names in another naming (GTDB splits or merges species, and one
GTDB species can cover several SGBs); signatures keep every target, tables either sum
(many-to-one) or refuse an ambiguous one-to-many rename unless told how to split.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from icibiome.errors import UserError
from icibiome.io import UNCLASSIFIED

logger = logging.getLogger(__name__)


class HarmoniseError(UserError):
    """A name map cannot be read or applied; the message names the file/naming."""


def normalise_name(name: str) -> str:
    """Comparable form of a taxon name: no rank prefix, no lineage, ``_`` for spaces.

    Examples
    --------
    >>> normalise_name("s__Actinomyces graevenitzii")
    'Actinomyces_graevenitzii'
    >>> normalise_name("k__Bacteria|p__Firmicutes|s__GGB1387_SGB1895")
    'GGB1387_SGB1895'
    >>> normalise_name("t__SGB17130")
    'SGB17130'
    """
    name = str(name).strip().strip('"')
    name = re.split(r"[|;]", name)[-1].strip()
    name = re.sub(r"^[a-z]__", "", name)
    return re.sub(r"\s+", "_", name)


class NameMap:
    """A table of equivalent names, one column per naming.

    Parameters
    ----------
    table : DataFrame
        One column per naming (e.g. ``species_Jan21``, ``SGB_Jan21``, ``GTDB_r207``,
        ``GTDB_r220``); cells may hold several names separated by ``,`` or ``;``.
    source : str
        Where the map came from (for messages).
    """

    def __init__(self, table: pd.DataFrame, source: str = "name map"):
        if table.shape[1] < 2:
            raise HarmoniseError(f"{source}: a name map needs at least two naming columns")
        self.table = table.fillna("").astype(str)
        self.source = source
        self.namings = [str(c) for c in table.columns]

    @classmethod
    def from_file(cls, path: str | os.PathLike, namings: Iterable[str] | None = None) -> NameMap:
        """Read a name map (TSV or CSV with a header naming each column)."""
        path = Path(path)
        if not path.exists():
            raise HarmoniseError(f"{path}: name map not found")
        df = pd.read_csv(path, sep=None, engine="python", dtype=str, comment="#")
        df.columns = [c.strip() for c in df.columns]
        if namings is not None:
            namings = list(namings)
            missing = [n for n in namings if n not in df.columns]
            if missing:
                raise HarmoniseError(
                    f"{path}: no column(s) {missing}; the namings are {list(df.columns)}"
                )
            df = df[namings]
        return cls(df, source=str(path))

    def _check(self, naming: str) -> None:
        if naming not in self.namings:
            raise HarmoniseError(
                f"{self.source}: unknown naming {naming!r}; choose one of {self.namings}"
            )

    def pairs(self, source: str, target: str) -> dict[str, list[str]]:
        """``normalised source name -> target names`` (as written in the map, deduplicated)."""
        self._check(source)
        self._check(target)
        out: dict[str, list[str]] = {}
        for a, b in zip(self.table[source], self.table[target], strict=True):
            for x in _split(a):
                for y in _split(b):
                    lst = out.setdefault(normalise_name(x), [])
                    if y not in lst:
                        lst.append(y)
        return out

    def detect_naming(self, names: Iterable[str]) -> tuple[str, float]:
        """The naming column that matches most of ``names``, and the matched fraction."""
        norm = {normalise_name(n) for n in names if n != UNCLASSIFIED}
        if not norm:
            raise HarmoniseError("no names to detect a naming from")
        best, frac = self.namings[0], -1.0
        for col in self.namings:
            col_names = {normalise_name(x) for cell in self.table[col] for x in _split(cell)}
            f = len(norm & col_names) / len(norm)
            if f > frac:
                best, frac = col, f
        return best, frac

    def translate(
        self, names: Iterable[str], target: str, source: str = "auto"
    ) -> dict[str, list[str]]:
        """Map each name to its equivalents in ``target`` naming (empty list when unmapped).

        Used for signatures: a species of the signature is present in a profile when any of its
        target names is.
        """
        names = list(names)
        if source == "auto":
            source, frac = self.detect_naming(names)
            logger.info("names detected as %s (%.0f%% in the map)", source, 100 * frac)
        pairs = self.pairs(source, target)
        out = {n: list(pairs.get(normalise_name(n), [])) for n in names}
        missing = [n for n, v in out.items() if not v]
        if missing:
            logger.warning(
                "%d of %d name(s) have no %s equivalent in %s (e.g. %s)",
                len(missing),
                len(names),
                target,
                self.source,
                missing[0],
            )
        return out


def _split(cell: str) -> list[str]:
    return [x.strip() for x in re.split(r"[;,]", str(cell)) if x.strip()]


def translate_signature(
    signature: Iterable[str], name_map: NameMap, target: str, source: str = "auto"
) -> list[str]:
    """A signature's species in ``target`` naming (all equivalents; unmapped ones dropped).

    Examples
    --------
    >>> m = NameMap(pd.DataFrame({"mpa": ["Bacteroides_vulgatus", "Blautia_obeum"],
    ...                           "gtdb": ["s__Phocaeicola vulgatus", "s__Blautia_A obeum"]}))
    >>> translate_signature(["s__Bacteroides_vulgatus"], m, "gtdb")
    ['s__Phocaeicola vulgatus']
    """
    out: list[str] = []
    for targets in name_map.translate(list(signature), target, source).values():
        for t in targets:
            if t not in out:
                out.append(t)
    return out


def harmonise_table(
    table: pd.DataFrame,
    name_map: NameMap,
    target: str,
    source: str = "auto",
    unmapped: str = "keep",
    one_to_many: str = "error",
    prefix: str = "s__",
) -> pd.DataFrame:
    """Rename a standard table's taxa into ``target`` naming.

    Parameters
    ----------
    table : DataFrame
        Standard table (``clade_name``, ``lineage``, sample columns).
    name_map : NameMap
    target, source : str
        Namings (map columns); ``source="auto"`` detects it from the table's names.
    unmapped : {"keep", "drop", "error"}
        Taxa with no equivalent: keep under their own name, drop them (abundance columns are
        then renormalised to 100), or raise naming them.
    one_to_many : {"error", "split", "first"}
        A taxon with several equivalents: raise, split its abundance equally, or give it all to
        the first.
    prefix : str
        Rank prefix of the new clade names (target names are normalised: ``s__Phocaeicola_vulgatus``).

    Returns
    -------
    DataFrame
        Standard table in the target naming; rows mapped to the same target are summed. The
        ``lineage`` keeps the source lineage's upper ranks with the renamed clade last.
    """
    if unmapped not in ("keep", "drop", "error") or one_to_many not in ("error", "split", "first"):
        raise ValueError("unmapped must be keep/drop/error; one_to_many error/split/first")
    samples = [c for c in table.columns if c not in ("clade_name", "lineage")]
    body = table[table["clade_name"] != UNCLASSIFIED]
    unc = table[table["clade_name"] == UNCLASSIFIED]
    trans = name_map.translate(list(body["clade_name"]), target, source)
    rows = []
    missing = []
    for _, r in body.iterrows():
        targets = trans.get(r["clade_name"], [])
        if not targets:
            missing.append(r["clade_name"])
            if unmapped == "keep":
                rows.append((r["clade_name"], r["lineage"], r[samples].to_numpy(float)))
            continue
        if len(targets) > 1 and one_to_many == "error":
            raise HarmoniseError(
                f"{r['clade_name']} has {len(targets)} {target} equivalents {targets} in "
                f"{name_map.source}; pass one_to_many='split' or 'first'"
            )
        chosen = targets[:1] if one_to_many == "first" else targets
        share = 1.0 / len(chosen)
        for t in chosen:
            clade = prefix + normalise_name(t)
            lin = "|".join([*str(r["lineage"]).split("|")[:-1], clade])
            rows.append((clade, lin, r[samples].to_numpy(float) * share))
    if missing and unmapped == "error":
        raise HarmoniseError(
            f"{len(missing)} taxa have no {target} name in {name_map.source}: {missing[:10]}"
        )
    out = pd.DataFrame([v for *_, v in rows], columns=samples)
    out.insert(0, "lineage", [lin for _, lin, _ in rows])
    out.insert(0, "clade_name", [c for c, _, _ in rows])
    lineage_of = out.groupby("clade_name", sort=False)["lineage"].first()
    out = out.groupby("clade_name", sort=False)[samples].sum()
    out.insert(0, "lineage", lineage_of.reindex(out.index).to_numpy())
    out = out.reset_index()
    sums = body[samples].sum().to_numpy(float)
    is_abundance = unc.empty and all(abs(x - 100) < 1e-3 or x == 0 for x in sums)
    if is_abundance and unmapped == "drop" and len(out):
        tot = out[samples].sum()
        out[samples] = out[samples].div(tot.where(tot > 0, 1.0)) * 100
    if not unc.empty:
        out = pd.concat([out, unc[out.columns]], ignore_index=True)
    logger.info(
        "harmonised %d taxa to %d %s names (%d unmapped, %s)",
        len(body),
        len(out),
        target,
        len(missing),
        unmapped,
    )
    return out


def name_map_from_pairs(pairs: Mapping[str, str], source: str, target: str) -> NameMap:
    """A :class:`NameMap` from a ``source name -> target name`` dict."""
    return NameMap(pd.DataFrame({source: list(pairs), target: list(pairs.values())}), "pairs")
