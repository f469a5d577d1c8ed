"""TOPOSCORE: species-interacting groups SIG1/SIG2 and the Akkermansia rule (Derosa et al. 2024).

Derosa L, Iebba V, Silva CAC, et al. Custom scoring based on ecological topology of gut
microbiota associated with cancer immunotherapy outcome. Cell 2024;187:3373-3389
(doi 10.1016/j.cell.2024.05.029). Code: ``github.com/valerioiebba/TOPOSCORE`` — the analysis
scripts ``tp_main.R`` / ``tp_helper.R`` (commit ``0ce0810``) and the production calculator
``app/R/toposcore_calc.R`` with the lists ``app/data/sig1.txt`` / ``sig2.txt`` (HEAD
``4693218``). Section numbers below refer to the project's methods notes
(``docs/methods.md`` §1.2, §8, §9c).

Frozen mode (:func:`score_samples`), step by step as the published code computes it:

1. presence of a list entry = abundance > 0 of **any** of its names in the profile (an entry such
   as ``Hungatella_hathewayi`` has three SGBs / GTDB species; duplicate species columns are
   summed first) — docs/methods.md §1.3, ``toposcore_calc.R``;
2. ``n1``, ``n2`` = entries of SIG1 / SIG2 present; denominators = list sizes (37 / 45 for the
   published lists, hard-coded in the calculator), so an entry missing from the profile counts
   as absent — §1.2 step 5;
3. ``s = (n2/|SIG2| - n1/|SIG1| + 1) / 2`` in [0, 1] (``TOPOB01`` of ``tp_helper.R``);
4. category: ``s <= 0.5351`` → ``SIG1`` (predict NR), ``s >= 0.7911`` → ``SIG2`` (predict R),
   otherwise ``Gray`` — §1.2 step 6 (Youden cut-offs of the discovery ROC);
5. *Akkermansia muciniphila* status: ``Zero`` (= 0), ``Low`` (0 < Akk < 4.799 %), ``High``
   (>= 4.799 %); in the gray zone ``Low`` → ``SIG2+`` (R) and ``Zero``/``High`` → ``SIG1+`` (NR)
   — §1.2 step 7 (``AKK_TRICHO`` of the released data).

Recomputed this way from the released discovery table the score equals the published ``SCORE`` for
all 245 discovery patients (tests/integration/test_toposcore_real.py).

De-novo mode (:func:`icibiome.signatures.toposcore_discovery.discover_signatures`) re-derives
SIG lists on a training cohort with the algorithm of ``tp_main.R`` (§1.2 steps 1-4: Cox screen,
Fisher co-occurrence, Ward on Manhattan distances, k clusters) and labels clusters by hazard
direction (§9c).

The stage's modules: this one holds the lists, the score and the evaluation helpers (AUC, Cox
HR, Youden cut-offs); :mod:`icibiome.signatures.toposcore_discovery` the de-novo mode;
:mod:`icibiome.signatures.toposcore_endpoints` the sample-sheet inputs, survival by predicted
class and the cut-off calibration; :mod:`icibiome.signatures.toposcore_stage` the pipeline entry
point :func:`~icibiome.signatures.toposcore_stage.run_toposcore` (rule ``toposcore``) and its
MultiQC content.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.errors import UserError
from icibiome.io import UNCLASSIFIED
from icibiome.stats import auroc
from icibiome.taxonomy.harmonise import NameMap, normalise_name

logger = logging.getLogger(__name__)

#: Published cut-offs (docs/methods.md §1.2 step 6-7; ``toposcore_calc.R``).
CUT_NR = 0.5351
CUT_R = 0.7911
AKK_HIGH = 4.799
#: Names of *A. muciniphila* in MetaPhlAn 4 species / SGB and GTDB naming (compared normalised).
AKK_NAMES = ("Akkermansia_muciniphila", "SGB9226", "SGB9226_group")
#: Header words of a one-column signature file.
_LIST_HEADERS = {"taxon", "clade_name", "species", "name", "names", "sgb", "sig1", "sig2"}


class ToposcoreError(UserError):
    """A signature or profile cannot be used; the message names the file or setting."""


# --------------------------------------------------------------------------------------------
# signatures
# --------------------------------------------------------------------------------------------
@dataclass
class Signature:
    """A SIG list: one row per entry, one column per naming (cells may hold ``,``-separated names).

    ``size`` is the denominator of the score: the number of entries (37 / 45 for the published
    SIG1 / SIG2), whether or not an entry occurs in a profile.
    """

    table: pd.DataFrame
    name: str = "SIG"
    source: str = ""
    namings: list[str] = field(init=False)

    def __post_init__(self):
        self.table = self.table.fillna("").astype(str).reset_index(drop=True)
        self.namings = [str(c) for c in self.table.columns]
        if self.table.empty:
            raise ToposcoreError(f"{self.source or self.name}: the signature has no entries")

    @property
    def size(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> list[str]:
        """Entry labels: the first naming's first name."""
        return [_split(x)[0] if _split(x) else f"entry_{i + 1}"
                for i, x in enumerate(self.table[self.namings[0]])]  # fmt: skip

    def aliases(self, naming: str) -> list[list[str]]:
        """Per entry, its names in ``naming`` (normalised)."""
        return [[normalise_name(x) for x in _split(cell)] for cell in self.table[naming]]


def _split(cell: str) -> list[str]:
    return [x.strip() for x in re.split(r"[;,]", str(cell)) if x.strip()]


def read_signature(path: str | os.PathLike, name: str | None = None) -> Signature:
    """Read a SIG list: a naming table (``sig1.txt``: ``species_Jan21 SGB_Jan21 GTDB_r207
    GTDB_r220``, tab- or comma-separated) or a plain list, one name per line.

    A one-column file may start with a header (``taxon``, ``clade_name``, ``species``, …);
    ``#`` lines are comments. Duplicate entries are kept once.
    """
    path = Path(path)
    if not path.exists():
        raise ToposcoreError(f"{path}: signature file not found")
    lines = [ln.rstrip("\n\r") for ln in path.read_text().splitlines()]
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ToposcoreError(f"{path}: empty signature file")
    # a naming table is tab-separated (sig1.txt) or a CSV with a header of namings (cells with
    # several names quoted); anything else is one name per line
    sep = "\t" if "\t" in lines[0] else ("," if "," in lines[0] else None)
    if sep is None:
        names = [ln.strip() for ln in lines]
        if names[0].lower() in _LIST_HEADERS:
            names = names[1:]
        table = pd.DataFrame({"taxon": list(dict.fromkeys(names))})
    else:
        table = pd.read_csv(path, sep=sep, dtype=str, comment="#", keep_default_na=False)
        table.columns = [c.strip() for c in table.columns]
        table = table.drop_duplicates()
        if table.shape[1] < 2:
            raise ToposcoreError(f"{path}: a naming table needs a header and two columns or more")
    return Signature(table, name=name or path.stem, source=str(path))


def signature_from_names(names: Iterable[str], name: str = "SIG") -> Signature:
    """A one-naming :class:`Signature` from names (e.g. the members of a guild)."""
    return Signature(pd.DataFrame({"taxon": list(dict.fromkeys(names))}), name=name)


def guild_signatures(guilds_tsv: str | os.PathLike) -> tuple[Signature, Signature]:
    """SIG1 = the ``pathobiont`` guild, SIG2 = the ``foundation`` guild of a ``guilds.tsv``
    (:func:`icibiome.ecology.guilds.guild_table`): TOPOSCORE's counting applied to the run's own guilds."""
    g = pd.read_csv(guilds_tsv, sep="\t", dtype=str)
    for col in ("clade_name", "guild"):
        if col not in g.columns:
            raise ToposcoreError(f"{guilds_tsv}: no {col} column")
    path = g.loc[g["guild"] == "pathobiont", "clade_name"].tolist()
    found = g.loc[g["guild"] == "foundation", "clade_name"].tolist()
    if not path or not found:
        raise ToposcoreError(
            f"{guilds_tsv}: no competing guild pair (foundation {len(found)}, pathobiont "
            f"{len(path)} taxa), so no SIG lists; give toposcore.sig1 and toposcore.sig2 files"
        )
    return signature_from_names(path, "SIG1"), signature_from_names(found, "SIG2")


def _profile_index(taxa: Iterable[str]) -> dict[str, list[str]]:
    """``normalised name -> profile columns`` (several columns may share a normalised name)."""
    out: dict[str, list[str]] = {}
    for t in taxa:
        if t == UNCLASSIFIED:
            continue
        out.setdefault(normalise_name(t), []).append(t)
    return out


def choose_naming(sig: Signature, taxa: Iterable[str]) -> tuple[str, int]:
    """The naming of ``sig`` matching most entries in ``taxa``, and that number of entries.

    Ties go to the earlier column (``species_Jan21`` before ``SGB_Jan21`` …).
    """
    index = _profile_index(taxa)
    best, n_best = sig.namings[0], -1
    for col in sig.namings:
        n = sum(any(a in index for a in al) for al in sig.aliases(col))
        if n > n_best:
            best, n_best = col, n
    return best, n_best


def match_signature(
    sig: Signature,
    taxa: Sequence[str],
    naming: str = "auto",
    name_map: NameMap | None = None,
) -> pd.DataFrame:
    """Which profile columns stand for each entry of ``sig``.

    Parameters
    ----------
    sig : Signature
    taxa : sequence of str
        The profile's taxon names (any rank prefix / lineage; compared by
        :func:`icibiome.taxonomy.harmonise.normalise_name`).
    naming : str
        Signature column to use, or ``"auto"``: the one matching most entries
        (:func:`choose_naming`).
    name_map : NameMap, optional
        Translates a signature whose namings do not fit the profile (e.g. a MetaPhlAn species
        list scored on GTDB profiles): each entry's names are mapped into the map column that
        matches the profile best.

    Returns
    -------
    DataFrame
        One row per entry: ``signature, entry, naming, names`` (the entry's names in that
        naming), ``profile_taxa`` (``;``-joined matched columns, empty when none) and
        ``in_profile``.
    """
    if naming == "auto":
        naming, n = choose_naming(sig, taxa)
        logger.info("%s: %d of %d entries found in the profile with naming %s",
                    sig.name, n, sig.size, naming)  # fmt: skip
    elif naming not in sig.namings:
        raise ToposcoreError(
            f"{sig.source or sig.name}: no naming column {naming!r}; it has {sig.namings}"
        )
    aliases = sig.aliases(naming)
    if name_map is not None:
        target, frac = name_map.detect_naming(taxa)
        logger.info("%s: translating into %s with %s (%.0f%% of the profile's taxa in it)",
                    sig.name, target, name_map.source, 100 * frac)  # fmt: skip
        trans = name_map.translate([a for al in aliases for a in al], target)
        # only the translated names: the same string can name another organism in the target
        # naming (MetaPhlAn's Veillonella_dispar is GTDB's V. nakazawae, and GTDB has its own
        # V. dispar); an entry the map does not cover keeps its own names
        aliases = [list(dict.fromkeys(normalise_name(t) for a in al for t in trans[a])) or al
                   for al in aliases]  # fmt: skip
    index = _profile_index(taxa)
    rows = []
    for label, names, al in zip(sig.labels, sig.table[naming], aliases, strict=True):
        cols = list(dict.fromkeys(c for a in al for c in index.get(a, [])))
        rows.append({"signature": sig.name, "entry": label, "naming": naming, "names": names,
                     "profile_taxa": ";".join(cols), "in_profile": bool(cols)})  # fmt: skip
    out = pd.DataFrame(rows)
    missing = int((~out["in_profile"]).sum())
    if missing:
        logger.warning("%s: %d of %d entries are not in the profile and count as absent",
                       sig.name, missing, sig.size)  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------
# the score
# --------------------------------------------------------------------------------------------
def presence(abundance: pd.DataFrame, matched: pd.DataFrame) -> pd.DataFrame:
    """Samples x entries, True where any of the entry's profile columns is > 0 (docs/methods.md §1.3)."""
    out = {}
    for entry, cols in zip(matched["entry"], matched["profile_taxa"], strict=True):
        cols = [c for c in str(cols).split(";") if c]
        out[entry] = (abundance[cols].fillna(0).sum(axis=1) > 0) if cols else False
    return pd.DataFrame(out, index=abundance.index).astype(bool)


def s_score(n1, n2, size1: int, size2: int):
    """``(n2/size2 - n1/size1 + 1) / 2`` — ``TOPOB01`` of ``tp_helper.R`` (docs/methods.md §1.2 step 5).

    Examples
    --------
    >>> float(round(s_score(11, 26, 37, 45), 6))  # patient PD1p_049 of the released data
    0.64024
    """
    return (np.asarray(n2) / size2 - np.asarray(n1) / size1 + 1) / 2


def sig_category(score, cut_nr: float = CUT_NR, cut_r: float = CUT_R) -> np.ndarray:
    """``SIG1`` (s <= cut_nr), ``SIG2`` (s >= cut_r) or ``Gray`` (docs/methods.md §1.2 step 6).

    Examples
    --------
    >>> sig_category([0.5351, 0.6, 0.7911]).tolist()
    ['SIG1', 'Gray', 'SIG2']
    """
    s = np.asarray(score, dtype=float)
    if cut_nr >= cut_r:
        raise ToposcoreError(f"cut_nr ({cut_nr}) must be below cut_r ({cut_r})")
    return np.where(s <= cut_nr, "SIG1", np.where(s >= cut_r, "SIG2", "Gray"))


def akkermansia_status(akk, high: float = AKK_HIGH) -> np.ndarray:
    """``Zero`` (0), ``Low`` (0 < Akk < high) or ``High`` (>= high); Akk in percent (§1.2 step 7).

    Examples
    --------
    >>> akkermansia_status([0, 4.7952, 4.799]).tolist()
    ['Zero', 'Low', 'High']
    """
    a = np.nan_to_num(np.asarray(akk, dtype=float), nan=0.0)
    return np.where(a <= 0, "Zero", np.where(a < high, "Low", "High"))


def toposcore_class(category, akk_status) -> np.ndarray:
    """Two-class TOPOSCORE: ``SIG1+`` (predict NR) or ``SIG2+`` (predict R) (§1.2 step 7).

    ``SIG1`` → SIG1+, ``SIG2`` → SIG2+; in the ``Gray`` zone Akkermansia ``Low`` → SIG2+ and
    ``Zero`` / ``High`` → SIG1+.

    Examples
    --------
    >>> toposcore_class(["SIG1", "SIG2", "Gray", "Gray", "Gray"],
    ...                 ["Low", "Zero", "Zero", "Low", "High"]).tolist()
    ['SIG1+', 'SIG2+', 'SIG1+', 'SIG2+', 'SIG1+']
    """
    c = np.asarray(category)
    a = np.asarray(akk_status)
    sig2 = (c == "SIG2") | ((c == "Gray") & (a == "Low"))
    return np.where(sig2, "SIG2+", "SIG1+")


def akkermansia_abundance(abundance: pd.DataFrame, names: Iterable[str] = AKK_NAMES) -> pd.Series:
    """Summed abundance of the profile columns named like *A. muciniphila* (0 when none)."""
    wanted = {normalise_name(n) for n in names}
    cols = [c for c in abundance.columns if c != UNCLASSIFIED and normalise_name(c) in wanted]
    if not cols:
        logger.warning("no Akkermansia muciniphila column (%s) in the profile: status Zero",
                       ", ".join(sorted(wanted)))  # fmt: skip
        return pd.Series(0.0, index=abundance.index)
    return abundance[cols].fillna(0).sum(axis=1)


def score_samples(
    abundance: pd.DataFrame,
    sig1: Signature,
    sig2: Signature,
    *,
    naming: str = "auto",
    name_map: NameMap | None = None,
    akkermansia: Iterable[str] = AKK_NAMES,
    cut_nr: float = CUT_NR,
    cut_r: float = CUT_R,
    akk_high: float = AKK_HIGH,
    sizes: tuple[int, int] | None = None,
    akk_status: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TOPOSCORE of every sample (frozen mode, docs/methods.md §1.2 steps 5-7 and §9c).

    Parameters
    ----------
    abundance : DataFrame
        Samples x taxa relative abundance in **percent** (the Akkermansia threshold is in
        percent); any naming the signatures cover.
    sig1, sig2 : Signature
        Resistance- (SIG1) and response-associated (SIG2) lists.
    naming, name_map
        See :func:`match_signature`.
    akkermansia : iterable of str
        Names of *A. muciniphila* columns (summed).
    cut_nr, cut_r, akk_high : float
        Cut-offs (published 0.5351, 0.7911, 4.799 %).
    sizes : (int, int), optional
        Denominators; default the list sizes (37 / 45 for the published lists).
    akk_status : Series, optional
        External *Akkermansia* status per sample (``Zero`` / ``Low`` / ``High``, e.g. from
        qPCR; :func:`~icibiome.signatures.toposcore_endpoints.sheet_akkermansia`); where given
        (not empty) it replaces the status from the profile in the gray-zone rule.

    Returns
    -------
    scores : DataFrame
        Index ``sample_id``; columns ``sig1_count, sig2_count, sig1_score, sig2_score``
        (fraction of the list present), ``toposcore`` (s), ``category`` (SIG1 / Gray / SIG2),
        ``akkermansia`` (%), ``akkermansia_status`` (Zero / Low / High),
        ``akkermansia_source`` (``profile``, or ``sheet`` where ``akk_status`` gave it),
        ``toposcore_class`` (SIG1+ / SIG2+) and ``predicted_response`` (NR / R).
    members : DataFrame
        :func:`match_signature` of both lists (``in_profile`` False = missing from the profile).
    """
    taxa = [c for c in abundance.columns if c != UNCLASSIFIED]
    m1 = match_signature(sig1, taxa, naming, name_map)
    m2 = match_signature(sig2, taxa, naming, name_map)
    size1, size2 = sizes or (sig1.size, sig2.size)
    n1 = presence(abundance, m1).sum(axis=1)
    n2 = presence(abundance, m2).sum(axis=1)
    s = s_score(n1, n2, size1, size2)
    akk = akkermansia_abundance(abundance, akkermansia)
    cat = sig_category(s, cut_nr, cut_r)
    status = akkermansia_status(akk, akk_high)
    source = np.full(len(status), "profile", dtype=object)
    if akk_status is not None:  # an external status (e.g. qPCR) replaces the profile's
        ext = akk_status.reindex(abundance.index).fillna("").astype(str).to_numpy()
        given = ext != ""
        status = np.where(given, ext, status)
        source = np.where(given, "sheet", source)
    cls = toposcore_class(cat, status)
    out = pd.DataFrame(
        {
            "sig1_count": n1.astype(int),
            "sig2_count": n2.astype(int),
            "sig1_score": n1 / size1,
            "sig2_score": n2 / size2,
            "toposcore": s,
            "category": cat,
            "akkermansia": akk.astype(float),
            "akkermansia_status": status,
            "akkermansia_source": source,
            "toposcore_class": cls,
            "predicted_response": np.where(cls == "SIG2+", "R", "NR"),
        },
        index=abundance.index,
    )
    out.index.name = "sample_id"
    return out, pd.concat([m1, m2], ignore_index=True)


# --------------------------------------------------------------------------------------------
# evaluation helpers
# --------------------------------------------------------------------------------------------
def auc(score, labels, positive: str = "R") -> float:
    """AUROC of ``score`` for ``labels == positive`` (Mann-Whitney, ties count 1/2; §8).

    Labels other than ``positive`` and the negative class (any other non-empty value) are used;
    NaN / empty labels are dropped. NaN when a class is empty.

    Examples
    --------
    >>> auc([0.1, 0.4, 0.35, 0.8], ["NR", "NR", "R", "R"])
    0.75
    """
    s = pd.Series(np.asarray(score, dtype=float))
    lab = pd.Series(np.asarray(labels, dtype=object)).fillna("").astype(str)
    keep = (lab != "") & (lab.str.lower() != "nan") & s.notna()
    s, lab = s[keep], lab[keep]
    pos = (lab == positive).to_numpy()
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float(auroc(s.to_numpy(), pos)[0])


def cox_hazard_ratio(time, event, group) -> dict[str, float]:
    """Cox PH hazard ratio of ``group`` (1 vs 0), Breslow ties, with 95% CI and Wald p (§8).

    Used for the published "predicted NR vs R" overall-survival hazard ratio (2.13).
    """
    from statsmodels.duration.hazard_regression import PHReg

    df = pd.DataFrame({"t": time, "e": event, "g": group}).apply(pd.to_numeric, errors="coerce")
    df = df.dropna()
    res = PHReg(df["t"].to_numpy(), df[["g"]].to_numpy(float), status=df["e"].to_numpy(),
                ties="breslow").fit()  # fmt: skip
    lo, hi = np.exp(res.conf_int()[0])
    return {"hr": float(np.exp(res.params[0])), "ci_low": float(lo), "ci_high": float(hi),
            "p_value": float(res.pvalues[0]), "n": len(df)}  # fmt: skip


def youden_cutoffs(
    score, labels, positive: str = "R", r_fraction: float = 0.9
) -> tuple[float, float]:
    """Training cut-offs (§9c step 5): NR cut = argmax Youden J; R cut = the highest threshold
    with J >= ``r_fraction`` * J_max. Thresholds are midpoints between observed scores (pROC)."""
    lab = pd.Series(np.asarray(labels, dtype=object)).fillna("").astype(str).to_numpy()
    s = np.asarray(score, dtype=float)
    ok = (lab != "") & np.isfinite(s)
    s, pos = s[ok], lab[ok] == positive
    u = np.unique(s)
    thr = (u[:-1] + u[1:]) / 2
    if thr.size == 0:
        raise ToposcoreError("one distinct score only: no cut-off")
    sens = np.array([(s[pos] >= t).mean() for t in thr])
    spec = np.array([(s[~pos] < t).mean() for t in thr])
    j = sens + spec - 1
    cut_nr = float(thr[int(np.argmax(j))])
    cut_r = float(thr[np.flatnonzero(j >= r_fraction * j.max()).max()])
    return cut_nr, max(cut_r, cut_nr + 1e-9)
