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

De-novo mode (:func:`discover_signatures`) re-derives SIG lists on a training cohort with the
algorithm of ``tp_main.R`` (§1.2 steps 1-4: Cox screen, Fisher co-occurrence, Ward on Manhattan
distances, k clusters) and labels clusters by hazard direction (§9c).

:func:`run_toposcore` is the pipeline entry point (rule ``toposcore``).
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
from icibiome.io import UNCLASSIFIED, atomic_path, read_abundance, write_tsv
from icibiome.mqc import write_table
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
        qPCR; :func:`sheet_akkermansia`); where given (not empty) it replaces the status from
        the profile in the gray-zone rule.

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
    from scipy.stats import rankdata

    s = pd.Series(np.asarray(score, dtype=float))
    lab = pd.Series(np.asarray(labels, dtype=object)).fillna("").astype(str)
    keep = (lab != "") & (lab.str.lower() != "nan") & s.notna()
    s, lab = s[keep], lab[keep]
    pos = (lab == positive).to_numpy()
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(s.to_numpy())
    return float((r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


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


# --------------------------------------------------------------------------------------------
# de-novo discovery (tp_main.R; docs/methods.md §1.2 steps 1-4, §9c)
# --------------------------------------------------------------------------------------------
def cox_binary(time, event, x: np.ndarray, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Cox PH of survival on each column of ``x`` alone (Efron ties, as R's ``coxph``).

    Newton-Raphson on the partial likelihood, all columns at once; ``x`` is samples x
    covariates. Returns the coefficients and their Wald standard errors. A covariate that
    separates the events diverges, as in R (a very large |beta|, flagged by R with a warning).
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float) > 0
    x = np.asarray(x, dtype=float)
    order = np.argsort(-t, kind="stable")
    t, e, x = t[order], e[order], x[order]
    # groups of equal times, in decreasing time; the risk set of a group = everything up to its end
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    ends = np.r_[starts[1:], len(t)] - 1
    d = np.add.reduceat(e.astype(float), starts)
    ev = d > 0
    starts, ends, d = starts[ev], ends[ev], d[ev]
    xe = x * e[:, None]
    sum_x_events = xe.sum(axis=0)
    beta = np.zeros(x.shape[1])
    info = np.ones(x.shape[1])
    for _ in range(max_iter):
        w = np.exp(np.clip(x * beta, -700, 700))
        c0, c1, c2 = (np.cumsum(v, axis=0) for v in (w, w * x, w * x * x))
        s0, s1, s2 = c0[ends], c1[ends], c2[ends]
        ew = w * e[:, None]
        zero = np.zeros((1, x.shape[1]))
        # sums over the events of each group (Efron's tie correction)
        e0, e1, e2 = (_group_sums(np.vstack([zero, np.cumsum(v, axis=0)]), starts, ends)
                      for v in (ew, ew * x, ew * x * x))  # fmt: skip
        score = sum_x_events.copy()
        info = np.zeros_like(beta)
        for ell in range(int(d.max())):
            m = d > ell
            a = (ell / d[m])[:, None]
            den = s0[m] - a * e0[m]
            m1 = (s1[m] - a * e1[m]) / den
            m2 = (s2[m] - a * e2[m]) / den
            score -= m1.sum(axis=0)
            info += (m2 - m1**2).sum(axis=0)
        step = score / np.where(info > 0, info, np.inf)
        beta = beta + step
        if np.all(np.abs(step) < 1e-9):
            break
    se = 1 / np.sqrt(np.where(info > 0, info, np.nan))
    return beta, se


def _group_sums(cum: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    # cum has a leading zero row: sum of rows starts..ends = cum[ends + 1] - cum[starts]
    return cum[ends + 1] - cum[starts]


def cox_screen(
    abundance: pd.DataFrame,
    time: pd.Series,
    event: pd.Series,
    hr_low: float = 0.8,
    hr_high: float = 1.25,
    exclude: Iterable[str] = AKK_NAMES,
) -> pd.DataFrame:
    """Univariate Cox screen of every species (``tp_main.R``; docs/methods.md §1.2 step 1).

    Each species becomes binary: above its median when the median is not 0, else presence. Cox
    PH (Efron ties, as R's ``coxph``; :func:`cox_binary`) of OS on it; ``keep`` = HR <=
    ``hr_low`` or >= ``hr_high`` (no p-value filter). *Akkermansia* is left out (it enters
    through the tripartite rule). Samples without time or event are dropped.
    """
    from scipy.stats import norm

    skip = {normalise_name(n) for n in exclude}
    t = pd.to_numeric(pd.Series(time, index=abundance.index), errors="coerce")
    e = pd.to_numeric(pd.Series(event, index=abundance.index), errors="coerce")
    ok = (t.notna() & e.notna()).to_numpy()
    ab = abundance.loc[ok, [c for c in abundance.columns if normalise_name(c) not in skip]]
    x = ab.to_numpy(float)
    med = np.median(x, axis=0)
    b = np.where(med != 0, x > med, x > 0)
    var = b.any(axis=0) & ~b.all(axis=0)
    beta, se = cox_binary(t[ok].to_numpy(), e[ok].to_numpy(), b[:, var].astype(float))
    out = pd.DataFrame({
        "taxon": ab.columns[var],
        "split": np.where(med[var] != 0, "median", "presence"),
        "hr": np.exp(beta),
        "p_value": 2 * norm.sf(np.abs(beta / se)),
    })  # fmt: skip
    out["keep"] = (out["hr"] <= hr_low) | (out["hr"] >= hr_high)
    return out


def fisher_cooccurrence(present: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairwise Fisher exact tests on presence/absence (``tp_helper.R``; §1.2 step 2).

    Two-sided p-values as R's ``fisher.test`` computes them (sum of the hypergeometric
    probabilities not above the observed one, relative tolerance 1e-7), vectorised over all
    pairs. Returns the p-value matrix and the association sign (+1 when the two co-occur more
    than expected, i.e. odds ratio > 1; -1 below; 0 at independence); diagonal p = 1, sign 0.
    """
    from scipy.special import gammaln

    x = present.to_numpy(bool)
    n, k = x.shape
    both = x.T.astype(float) @ x.astype(float)
    cnt = x.sum(axis=0).astype(float)
    grid = np.arange(n + 1, dtype=float)

    def lchoose(a, b):
        with np.errstate(invalid="ignore"):
            return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    p = np.ones((k, k))
    for i in range(k):
        kk, mm = cnt[i], cnt[:, None]  # margins of each pair (i, j)
        a = grid[None, :]
        valid = (a >= np.maximum(0, kk + mm - n)) & (a <= np.minimum(kk, mm))
        logp = np.where(valid, lchoose(kk, a) + lchoose(n - kk, mm - a) - lchoose(n, mm), -np.inf)
        obs = np.take_along_axis(logp, both[i][:, None].astype(int), axis=1)
        dens = np.exp(logp)
        keep = logp <= obs + np.log1p(1e-7)
        p[i] = np.minimum(1.0, (dens * keep).sum(axis=1))
    np.fill_diagonal(p, 1.0)
    sign = np.sign(both * n - cnt[:, None] * cnt[None, :])
    np.fill_diagonal(sign, 0.0)
    cols = present.columns
    return pd.DataFrame(p, cols, cols), pd.DataFrame(sign, cols, cols)


@dataclass
class Discovery:
    """Result of :func:`discover_signatures`."""

    sig1: Signature
    sig2: Signature
    cox: pd.DataFrame
    clusters: pd.Series
    cluster_labels: dict[int, str]


def discover_signatures(
    abundance: pd.DataFrame,
    time: pd.Series,
    event: pd.Series,
    *,
    k: int = 7,
    hr_low: float = 0.8,
    hr_high: float = 1.25,
    min_prevalence: float = 0.025,
    drop_unnamed: bool = True,
    majority: float = 2 / 3,
    alpha: float = 0.05,
) -> Discovery:
    """Re-derive SIG1/SIG2 on a training cohort (de-novo mode; ``tp_main.R``, docs/methods.md §1.2, §9c).

    1. Filter species: prevalence >= ``min_prevalence`` and no ``GGB*`` unnamed groups (the 2024
       re-run, ``final_script_paper.ipynb``);
    2. :func:`cox_screen`: keep HR <= ``hr_low`` or >= ``hr_high``;
    3. :func:`fisher_cooccurrence` on presence; keep species whose smallest pair p-value is
       <= ``alpha`` / number of species (Bonferroni), and all their pairs;
    4. ``S_ij = -log10(p_ij) sign(OR_ij - 1)``; Manhattan distances between the rows of S;
       Ward (``hclust(method = "ward.D2")`` = scipy ``ward`` on the distances); cut into ``k``;
    5. a cluster is SIG1 (resistance) when >= ``majority`` of its species have HR > 1, SIG2 when
       >= ``majority`` have HR < 1 (§9c step 4, generalising the paper's fixed cluster map);
       species whose own HR points the other way are dropped (the 2024 notebook rule).

    The published lists cannot be re-derived exactly from the released code (docs/methods.md §1.2
    step 4); use this mode on a training cohort and always evaluate on held-out cohorts.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    ab = abundance.drop(columns=[UNCLASSIFIED], errors="ignore").fillna(0)
    keep = (ab > 0).mean() >= min_prevalence
    if drop_unnamed:
        keep &= ~pd.Index([normalise_name(c) for c in ab.columns]).str.startswith("GGB")
    ab = ab.loc[:, keep.to_numpy()]
    cox = cox_screen(ab, time, event, hr_low, hr_high)
    taxa = list(cox.loc[cox["keep"], "taxon"])
    if len(taxa) < k:
        raise ToposcoreError(f"only {len(taxa)} species pass the Cox screen; need at least k={k}")
    p, sign = fisher_cooccurrence(ab[taxa] > 0)
    pmin = p.where(~np.eye(len(taxa), dtype=bool)).min()
    taxa = list(pmin.index[pmin <= alpha / len(taxa)])
    if len(taxa) < k:
        raise ToposcoreError(f"only {len(taxa)} species pass the Fisher filter; need k={k}")
    p, sign = p.loc[taxa, taxa], sign.loc[taxa, taxa]
    s = -np.log10(p.clip(lower=1e-300)) * sign
    z = linkage(pdist(s.to_numpy(), metric="cityblock"), method="ward")
    clusters = pd.Series(fcluster(z, t=k, criterion="maxclust"), index=taxa, name="cluster")
    hr = cox.set_index("taxon")["hr"].reindex(taxa)
    labels: dict[int, str] = {}
    sig1, sig2 = [], []
    for c in sorted(clusters.unique()):
        mem = clusters.index[clusters == c]
        up = float((hr[mem] > 1).mean())
        if up >= majority:
            labels[int(c)] = "SIG1"
            sig1 += [t for t in mem if hr[t] > 1]
        elif 1 - up >= majority:
            labels[int(c)] = "SIG2"
            sig2 += [t for t in mem if hr[t] < 1]
        else:
            labels[int(c)] = "mixed"
    if not sig1 or not sig2:
        raise ToposcoreError("de-novo discovery found no SIG1 or no SIG2 cluster")
    logger.info("de-novo TOPOSCORE: %d species -> %d clusters -> SIG1 %d / SIG2 %d",
                len(taxa), k, len(sig1), len(sig2))  # fmt: skip
    return Discovery(signature_from_names(sig1, "SIG1"), signature_from_names(sig2, "SIG2"),
                     cox, clusters, labels)  # fmt: skip


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


# --------------------------------------------------------------------------------------------
# sample sheet inputs: survival, external Akkermansia status
# --------------------------------------------------------------------------------------------
AKK_STATUSES = ("Zero", "Low", "High")


def read_sheet(samples_tsv: str | os.PathLike) -> tuple[pd.DataFrame, pd.Series]:
    """The validated sample sheet (:func:`icibiome.samplesheet.read_sample_sheet`, no file
    checks) and each sample's line number in the file (header = line 1), for error messages."""
    from icibiome.samplesheet import outcomes_at_baseline, read_sample_sheet

    # response and survival only at each patient's baseline (donors and follow-ups are scored,
    # not counted in the AUC, hazard ratios or calibration)
    sheet = outcomes_at_baseline(read_sample_sheet(samples_tsv, check_files=False))
    lines = [i + 1 for i, ln in enumerate(Path(samples_tsv).read_text(errors="replace").splitlines())
             if ln.strip() and not ln.lstrip().startswith("#")][1:]  # fmt: skip
    return sheet, pd.Series(lines[: len(sheet)], index=sheet.index)


def sheet_akkermansia(
    sheet: pd.DataFrame, column: str, lines: pd.Series | None = None, source: str = "sample sheet"
) -> pd.Series:
    """External *Akkermansia* status per sample from a sample-sheet column (e.g. qPCR).

    Values ``Zero`` / ``Low`` / ``High`` (any case); an empty cell (or ``NA``) = not measured:
    that sample keeps the status from its profile. Anything else raises :class:`ToposcoreError`
    naming the file, row, sample and column (config key ``toposcore.akkermansia_column``).

    Examples
    --------
    >>> sheet = pd.DataFrame({"akk": ["zero", "", "HIGH"]}, index=["a", "b", "c"])
    >>> sheet_akkermansia(sheet, "akk").tolist()
    ['Zero', '', 'High']
    """
    if column not in sheet.columns:
        raise ToposcoreError(
            f"toposcore.akkermansia_column: {source} has no column {column!r} "
            f"(columns: {', '.join(map(str, sheet.columns))})"
        )
    canon = {v.lower(): v for v in AKK_STATUSES}
    raw = sheet[column].astype(object).where(sheet[column].notna(), "").astype(str).str.strip()
    raw = raw.where(~raw.str.lower().isin(["na", "nan", "none"]), "")
    bad = raw[(raw != "") & ~raw.str.lower().isin(list(canon))]
    if len(bad):
        sid = bad.index[0]
        row = f"row {int(lines[sid])} " if lines is not None and sid in lines.index else ""
        more = f" (and {len(bad) - 1} more row(s))" if len(bad) > 1 else ""
        raise ToposcoreError(
            f"{source}: {row}(sample {sid}): column {column!r} "
            f"(toposcore.akkermansia_column): {bad.iloc[0]!r} is not one of Zero, Low, High "
            f"(empty = use the profile){more}"
        )
    return raw.map(lambda v: canon.get(v.lower(), ""))


# --------------------------------------------------------------------------------------------
# survival by predicted class and category (the published endpoint, docs/methods.md §8 rows 10-14)
# --------------------------------------------------------------------------------------------
SURVIVAL_COLUMNS = ["endpoint", "comparison", "n", "events", "n_cohorts", "hr", "ci_low",
                    "ci_high", "p_value", "logrank_p", "medians", "note"]  # fmt: skip
KM_COLUMNS = ["endpoint", "by", "group", "time", "survival", "at_risk"]
#: Comparisons of :func:`survival_endpoints`: (label, column, group coded 1, group coded 0).
COMPARISONS = (("predicted NR vs R", "predicted_response", "NR", "R"),
               ("SIG1 vs SIG2 (Gray left out)", "category", "SIG1", "SIG2"))  # fmt: skip


class _NotEstimable(Exception):
    pass


def _cox_lifelines(d: pd.DataFrame, covariate: str, strata: bool) -> tuple[float, ...]:
    """HR, 95% CI, p of ``covariate``; raises :class:`_NotEstimable` when the fit does not
    converge or the CI is not finite (the events of a group separate, e.g. no events in one
    group of a stratum: the HR would be 0 or infinite, lifelines returns e.g. 3.5e7 (0-inf))."""
    import warnings

    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceWarning

    cols = ["time", "event", covariate] + (["stratum"] if strata else [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        cph = CoxPHFitter().fit(d[cols], duration_col="time", event_col="event",
                                strata=["stratum"] if strata else None)  # fmt: skip
    r = cph.summary.loc[covariate]
    out = (float(r["exp(coef)"]), float(r["exp(coef) lower 95%"]),
           float(r["exp(coef) upper 95%"]), float(r["p"]))  # fmt: skip
    diverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if diverged or not np.all(np.isfinite(out[:3])) or out[1] <= 0:
        raise _NotEstimable("not estimable: the events separate the groups (Cox did not "
                            "converge; the HR would be 0 or infinite)")  # fmt: skip
    return out


def _medians(km: pd.DataFrame) -> str:
    out = []
    for g, sub in km.groupby("group", sort=True):
        below = sub[sub["survival"] <= 0.5]
        out.append(f"{g} {below['time'].iloc[0]:.3g}" if len(below) else f"{g} not reached")
    return "; ".join(out)


def survival_endpoints(
    scores: pd.DataFrame, sheet: pd.DataFrame, min_events: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cox PH and Kaplan-Meier of OS / PFS by TOPOSCORE's prediction, category and score.

    For each endpoint of :data:`icibiome.signatures.survival.ENDPOINTS` with time/event columns in the
    sheet (samples with time > 0 and an event flag):

    * ``predicted NR vs R``: Cox PH hazard ratio of predicted non-responders (SIG1+) vs
      predicted responders (SIG2+) — the published endpoint (Derosa 2024; docs/methods.md §8 row 10:
      OS HR 2.13 (1.54-2.95) on the NSCLC discovery cohort) — with the log-rank p;
    * ``SIG1 vs SIG2 (Gray left out)``: the same for the two outer categories;
    * ``toposcore per SD``: HR per SD of the score (higher score = expected better, HR < 1).

    lifelines ``CoxPHFitter`` (Efron ties; the published 2.13 (1.54-2.95) is reproduced to two
    decimals by both Efron and Breslow), stratified by ``cohort`` when the samples come from
    more than one cohort (each its own baseline hazard); the log-rank test is then unstratified
    and the note says so. Fewer than ``min_events`` events, an empty group or a fit that does
    not converge (the events separate the groups, e.g. none in one group: the HR would be 0 or
    infinite): the row holds no HR and its note starts with ``not estimable``.

    Returns
    -------
    table : DataFrame
        :data:`SURVIVAL_COLUMNS`; ``medians`` = median survival per group (months).
    km : DataFrame
        :data:`KM_COLUMNS`: Kaplan-Meier curves by ``predicted_response`` and by ``category``.
    """
    from lifelines.statistics import logrank_test

    from icibiome.signatures.survival import ENDPOINTS, kaplan_meier

    rows, kms = [], []
    for ep, (tcol, ecol) in ENDPOINTS.items():
        if tcol not in sheet.columns or ecol not in sheet.columns:
            continue
        d = pd.DataFrame({
            "time": pd.to_numeric(sheet[tcol].reindex(scores.index), errors="coerce"),
            "event": pd.to_numeric(sheet[ecol].reindex(scores.index), errors="coerce"),
            "toposcore": pd.to_numeric(scores["toposcore"], errors="coerce"),
            "predicted_response": scores["predicted_response"],
            "category": scores["category"],
            "stratum": (sheet["cohort"].reindex(scores.index).astype(str)
                        if "cohort" in sheet.columns else "all"),
        }, index=scores.index)  # fmt: skip
        d = d.dropna(subset=["time", "event", "toposcore"])
        d = d[d["time"] > 0]
        if d.empty:
            continue
        n_coh = int(d["stratum"].nunique())
        strat = n_coh > 1
        base = {"endpoint": ep, "n_cohorts": n_coh}
        lr_note = "log-rank unstratified; Cox stratified by cohort" if strat else ""
        for label, col, one, zero in COMPARISONS:
            sub = d[d[col].isin([one, zero])].assign(x=lambda t, c=col, o=one: (t[c] == o) * 1.0)
            row = base | {"comparison": label, "n": len(sub), "events": int(sub["event"].sum())}
            n1, n0 = int((sub["x"] == 1).sum()), int((sub["x"] == 0).sum())
            km = kaplan_meier(d, "time", "event", col)  # by category: Gray included
            kms.append(km.assign(endpoint=ep, by=col))
            if n1 == 0 or n0 == 0 or row["events"] < min_events:
                rows.append(row | {"note": f"not estimable: {n1} {one}, {n0} {zero}, "
                                   f"{row['events']} events"})  # fmt: skip
                continue
            notes = [lr_note] if lr_note else []
            try:
                hr, lo, hi, p = _cox_lifelines(sub, "x", strat)
                row |= {"hr": hr, "ci_low": lo, "ci_high": hi, "p_value": p}
            except _NotEstimable as err:
                notes.insert(0, str(err))
            except Exception as err:  # other lifelines failures on tiny data
                notes.insert(0, f"not estimable: Cox failed ({str(err).split('.')[0]})")
            a, b = sub[sub["x"] == 1], sub[sub["x"] == 0]
            row["logrank_p"] = float(logrank_test(a["time"], b["time"], a["event"],
                                                  b["event"]).p_value)  # fmt: skip
            row["medians"] = _medians(km[km["group"].isin([one, zero])])
            rows.append(row | {"note": "; ".join(notes)})
        row = base | {"comparison": "toposcore per SD", "n": len(d),
                      "events": int(d["event"].sum())}  # fmt: skip
        sd = d["toposcore"].std(ddof=0)
        if row["events"] < min_events or not sd > 0:
            rows.append(row | {"note": f"not estimable: {row['events']} events, score SD {sd:.3g}"})
            continue
        d["z"] = (d["toposcore"] - d["toposcore"].mean()) / sd
        try:
            hr, lo, hi, p = _cox_lifelines(d, "z", strat)
            row |= {"hr": hr, "ci_low": lo, "ci_high": hi, "p_value": p,
                    "note": "Cox stratified by cohort" if strat else ""}  # fmt: skip
        except _NotEstimable as err:
            row["note"] = str(err)
        except Exception as err:
            row["note"] = f"not estimable: Cox failed ({str(err).split('.')[0]})"
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=SURVIVAL_COLUMNS)
    km = (pd.concat(kms, ignore_index=True).reindex(columns=KM_COLUMNS) if kms
          else pd.DataFrame(columns=KM_COLUMNS))  # fmt: skip
    return table, km


# --------------------------------------------------------------------------------------------
# category distribution and cut-off calibration
# --------------------------------------------------------------------------------------------
#: Category shares with the published cut-offs on the NSCLC discovery cohort (MetaPhlAn 4
#: vJan21; SIG1 74 / Gray 114 / SIG2 57 of 245, docs/methods.md §8 row 9).
PUBLISHED_SHARES = {"SIG1": 74 / 245, "Gray": 114 / 245, "SIG2": 57 / 245}
#: A distribution is *degenerate* when SIG1 or SIG2 holds less than this share of the samples
#: (published: 30 % and 23 %) ...
DEGENERATE_SHARE = 0.05
#: ... among at least this many scored samples (fewer: not judged).
DEGENERATE_MIN_SAMPLES = 20


def category_check(category: Sequence[str]) -> tuple[pd.DataFrame, bool]:
    """Counts and shares of SIG1 / Gray / SIG2 and whether the distribution is degenerate.

    Degenerate = at least :data:`DEGENERATE_MIN_SAMPLES` samples and SIG1 or SIG2 (the two
    categories that predict) with a share below :data:`DEGENERATE_SHARE` (5 %), where the
    published cut-offs give 30 % / 23 % on MetaPhlAn 4 profiles: the cut-offs do not fit this
    profiler / depth (e.g. 3 of 627 samples in SIG2 on another profiler's tables; 0 of 266 on
    the MetaPhlAn 3 melanoma tables of curatedMetagenomicData). A thin Gray zone is not
    degenerate: cut-offs fitted by :func:`youden_cutoffs` are often close together.

    Examples
    --------
    >>> tab, bad = category_check(["SIG1"] * 30 + ["Gray"] * 60 + ["SIG2"] * 1)
    >>> bad, int(tab.loc["SIG2", "n"])
    (True, 1)
    """
    c = pd.Series(np.asarray(category, dtype=object)).dropna()
    n = len(c)
    tab = pd.DataFrame({"n": [int((c == k).sum()) for k in PUBLISHED_SHARES]},
                       index=pd.Index(list(PUBLISHED_SHARES), name="category"))  # fmt: skip
    tab["share"] = tab["n"] / n if n else np.nan
    tab["published_share"] = pd.Series(PUBLISHED_SHARES)
    tab["below_threshold"] = (tab["share"] < DEGENERATE_SHARE) & (tab.index != "Gray")
    degenerate = bool(n >= DEGENERATE_MIN_SAMPLES and tab["below_threshold"].any())
    return tab, degenerate


@dataclass
class Calibration:
    """The cut-offs a run used and where they come from (``toposcore_calibration.yaml``)."""

    cut_nr: float
    cut_r: float
    akk_high: float
    source: str  # published | config | fitted | file
    profile: str = ""
    cohorts: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    n_R: int = 0
    n_NR: int = 0
    origin: str = ""

    def to_dict(self) -> dict:
        doc = {
            "cut_nr": float(self.cut_nr), "cut_r": float(self.cut_r),
            "akk_high": float(self.akk_high), "source": self.source, "profile": self.profile,
            "description": {
                "published": "published cut-offs of Derosa et al. 2024 (MetaPhlAn 4 vJan21)",
                "config": "cut-offs set in the config (toposcore.cut_nr / cut_r)",
                "fitted": "fitted on the labelled samples of the training cohorts below (Youden "
                          "J on the sheet's response, icibiome.signatures.toposcore.youden_cutoffs); those "
                          "samples are left out of this run's evaluation",
                "file": f"reused from {self.origin}",
            }[self.source],
        }  # fmt: skip
        if self.source in ("fitted", "file") and self.samples:
            doc |= {"fitted_on_cohorts": list(self.cohorts), "n_R": int(self.n_R),
                    "n_NR": int(self.n_NR), "fitted_on_samples": list(self.samples)}  # fmt: skip
        return doc


def _training_labels(
    sheet: pd.DataFrame, ids: pd.Index, cohorts: Sequence[str]
) -> tuple[pd.Series, int, int]:
    """The response of the samples ``ids`` of training ``cohorts`` ("" elsewhere), with the
    checks of :func:`fit_calibration`; R and NR counts."""
    have = sorted(sheet["cohort"].astype(str).unique())
    unknown = [c for c in cohorts if c not in have]
    if unknown:
        raise ToposcoreError(f"toposcore.calibration_cohorts: {unknown} not in the sample sheet's "
                             f"cohorts {have}")  # fmt: skip
    coh = sheet["cohort"].astype(str).reindex(ids)
    train = coh.isin(list(cohorts))
    if train.all() or not (coh.notna() & ~train).any():
        raise ToposcoreError(
            "toposcore.calibration_cohorts covers every scored sample: the cut-offs would be "
            "fitted on the data they evaluate; keep at least one cohort out, or fit them in a "
            "training run and give its toposcore_calibration.yaml as toposcore.calibration"
        )
    lab = sheet["response"].reindex(ids).fillna("").astype(str).where(train, "")
    n_r, n_nr = int((lab == "R").sum()), int((lab == "NR").sum())
    if n_r < 2 or n_nr < 2:
        raise ToposcoreError(f"toposcore.calibration_cohorts {list(cohorts)}: {n_r} R and {n_nr} "
                             "NR labelled samples; need at least 2 of each in the sheet's "
                             "response column")  # fmt: skip
    return lab, n_r, n_nr


def check_settings(
    samples_tsv: str | os.PathLike,
    akkermansia_column: str | None = None,
    calibration: str | os.PathLike | None = None,
    calibration_cohorts: Sequence[str] = (),
) -> None:
    """The sheet-dependent ``toposcore`` settings, checked before any job (rules/common.smk):
    the Akkermansia column's values, the calibration cohorts and the calibration file. Raises
    :class:`ToposcoreError` with one line naming the key (and file, row, column)."""
    sheet, lines = read_sheet(samples_tsv)
    if akkermansia_column:
        sheet_akkermansia(sheet, akkermansia_column, lines, str(samples_tsv))
    if calibration and calibration_cohorts:
        _calibration(calibration, calibration_cohorts, CUT_NR, CUT_R, AKK_HIGH, "")
    if calibration:
        if Path(calibration).parts[:1] == ("results",):  # would be this run's own output
            raise ToposcoreError(f"toposcore.calibration: {calibration} is inside this run's "
                                 "results/; copy the training run's file elsewhere (e.g. "
                                 "config/toposcore_calibration.yaml)")  # fmt: skip
        read_calibration(calibration)
    if calibration_cohorts:
        _training_labels(sheet, sheet.index, calibration_cohorts)


def fit_calibration(
    scores: pd.DataFrame, sheet: pd.DataFrame, cohorts: Sequence[str], akk_high: float,
    profile: str = "",
) -> Calibration:  # fmt: skip
    """Cut-offs re-fitted on the labelled samples of training ``cohorts`` (docs/methods.md §9c step 5).

    :func:`youden_cutoffs` of the score against the sheet's ``response`` (R / NR) of those
    cohorts' samples only. Raises :class:`ToposcoreError` naming ``toposcore.calibration_cohorts``
    when a cohort is not in the sheet, when every cohort would be used (nothing would be left to
    evaluate: fit on a training run and reuse its calibration file instead) or when R or NR
    labels are missing.
    """
    lab, n_r, n_nr = _training_labels(sheet, scores.index, cohorts)
    cut_nr, cut_r = youden_cutoffs(scores["toposcore"], lab)
    used = sorted(lab.index[lab.isin(["R", "NR"])].astype(str))
    logger.info("TOPOSCORE cut-offs fitted on cohorts %s (%d R / %d NR): %.4f / %.4f",
                list(cohorts), n_r, n_nr, cut_nr, cut_r)  # fmt: skip
    return Calibration(cut_nr, cut_r, akk_high, "fitted", profile, list(cohorts), used, n_r, n_nr)


def read_calibration(path: str | os.PathLike) -> Calibration:
    """A stored ``toposcore_calibration.yaml`` (of a training run) to reuse."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ToposcoreError(f"toposcore.calibration: {path}: file not found")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ToposcoreError(f"toposcore.calibration: {path}: not YAML ({err})") from None
    if not isinstance(doc, dict):
        raise ToposcoreError(f"toposcore.calibration: {path}: not a calibration file")
    vals = {}
    for k in ("cut_nr", "cut_r", "akk_high"):
        v = doc.get(k)
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
            raise ToposcoreError(f"toposcore.calibration: {path}: {k} must be a number, got {v!r}")
        vals[k] = float(v)
    if not 0 <= vals["cut_nr"] < vals["cut_r"] <= 1:
        raise ToposcoreError(f"toposcore.calibration: {path}: need 0 <= cut_nr < cut_r <= 1, got "
                             f"{vals['cut_nr']} / {vals['cut_r']}")  # fmt: skip
    return Calibration(vals["cut_nr"], vals["cut_r"], vals["akk_high"], "file",
                       str(doc.get("profile") or ""), list(doc.get("fitted_on_cohorts") or []),
                       [str(s) for s in doc.get("fitted_on_samples") or []],
                       int(doc.get("n_R") or 0), int(doc.get("n_NR") or 0), str(path))  # fmt: skip


# --------------------------------------------------------------------------------------------
# the pipeline stage
# --------------------------------------------------------------------------------------------
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


def _key(label: str) -> str:
    return "_" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") if label else ""


def _parent(label: str, description: str | None = None) -> dict:
    key = _key(label)
    out = {"parent_id": f"icibiome_toposcore{key}",
           "parent_name": f"TOPOSCORE ({label})" if label else "TOPOSCORE"}  # fmt: skip
    return out | ({"parent_description": description} if description is not None else {})


def _write_mqc(
    scores: pd.DataFrame, response: pd.Series | None, out_dir: Path, label: str, note: str,
    cal: Calibration | None = None, reference: str = "",
) -> list[Path]:  # fmt: skip
    import yaml

    from icibiome.report.sections import toposcore_prediction_note

    key = _key(label)
    resp = (response.reindex(scores.index) if response is not None
            else pd.Series("", index=scores.index)).fillna("").replace("", "unknown")  # fmt: skip
    held = ~scores.get("calibration_sample", pd.Series(False, index=scores.index)).astype(bool)
    a = auc(scores.loc[held, "toposcore"],
            resp[held].where(resp[held].isin(["R", "NR"]), ""))  # fmt: skip
    auc_txt = f"AUC of the score for response (R vs NR): {a:.3f}. " if np.isfinite(a) else ""
    if cal is not None and cal.source == "fitted":
        auc_txt = auc_txt.replace("AUC", "AUC on the cohorts not used for calibration", 1)
    cut_txt = (f"Cut-offs {cal.cut_nr:.4g} / {cal.cut_r:.4g}, Akkermansia High >= "
               f"{cal.akk_high:.4g} % ({cal.to_dict()['description']}). " if cal else "")  # fmt: skip
    parent = _parent(label,
        "TOPOSCORE of Derosa et al. (2024, Cell 187:3373): s = (SIG2 present/|SIG2| - SIG1 "
        "present/|SIG1| + 1)/2; s <= cut_nr predicts NR, s >= cut_r predicts R, in between "
        "Akkermansia decides (0 < Akk < 4.799 % predicts R). "
        + note + " " + cut_txt + auc_txt
        + toposcore_prediction_note(scores) + " "  # why (nearly) all samples share one class
        + (reference + " " if reference else "")
        + "Tables: results/signatures/<profiler>/toposcore*.tsv (icibiome.signatures.toposcore).",
    )  # fmt: skip
    written = []
    head = {
        "id": f"icibiome_toposcore_table{key}",
        "section_name": "TOPOSCORE per sample",
        "description": "Counts of SIG1/SIG2 entries present, the score, its category, "
                       "Akkermansia status (and its source: profile or sample sheet) and the "
                       "prediction, with the sheet's response.",
        "plot_type": "table",
        **parent,
        # every column, not only those with a header below (the prediction was left out)
        "pconfig": {"id": f"icibiome_toposcore_table_plot{key}", "title": "icibiome: TOPOSCORE",
                    "only_defined_headers": False},
        "headers": {
            "toposcore": {"title": "TOPOSCORE", "format": "{:,.3f}", "min": 0, "max": 1},
            "sig1_count": {"title": "SIG1 present", "format": "{:,.0f}"},
            "sig2_count": {"title": "SIG2 present", "format": "{:,.0f}"},
            "akkermansia": {"title": "Akkermansia %", "format": "{:,.3f}"},
        },
    }  # fmt: skip
    cols = ["toposcore", "category", "sig1_count", "sig2_count", "akkermansia",
            "akkermansia_status", "akkermansia_source", "predicted_response"]  # fmt: skip
    tab = scores[[c for c in cols if c in scores.columns]].assign(response=resp)
    if (~held).any():
        tab["calibration_sample"] = ~held
    written.append(write_table(tab, head, out_dir / "toposcore_table_mqc.tsv", "Sample"))
    datasets, labels = [], []
    for col, name in (("toposcore", "TOPOSCORE"), ("sig1_score", "SIG1 fraction present"),
                      ("sig2_score", "SIG2 fraction present")):  # fmt: skip
        v = scores[col].astype(float)
        ds = {f"{g} (n={int((resp == g).sum())})": [float(x) for x in v[resp == g].dropna()]
              for g in sorted(resp.unique())}  # fmt: skip
        datasets.append({k: x for k, x in ds.items() if x})
        labels.append({"name": name, "ylab": name})
    doc = {
        "id": f"icibiome_toposcore_scores{key}",
        "section_name": "TOPOSCORE by response",
        **parent,
        "description": "Per-sample TOPOSCORE and the fraction of each SIG list present, by the "
                       "sample sheet's response group. " + auc_txt,
        "plot_type": "box",
        "pconfig": {"id": f"icibiome_toposcore_scores_plot{key}",
                    "title": "icibiome: TOPOSCORE by response", "data_labels": labels,
                    "boxpoints": "all"},
        "data": datasets,
    }  # fmt: skip
    p = out_dir / "toposcore_scores_mqc.yaml"
    with atomic_path(p) as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    written.append(p)
    return written


def _write_mqc_endpoints(
    surv: pd.DataFrame, km: pd.DataFrame, categories: pd.DataFrame, degenerate: bool,
    cal: Calibration, out_dir: Path, label: str,
) -> list[Path]:  # fmt: skip
    """Survival table, Kaplan-Meier curves and the category warning; each left out of the report
    when it has nothing to show (no survival columns; a category distribution that is fine)."""
    import yaml

    key, parent = _key(label), _parent(label)
    written = []
    stab = surv.assign(row=surv["endpoint"].astype(str) + " | " + surv["comparison"].astype(str))
    stab = stab.set_index("row")
    stab = stab[["n", "events", "hr", "ci_low", "ci_high", "p_value", "logrank_p", "medians",
                 "note"]]  # fmt: skip
    written.append(write_table(stab, {
        "id": f"icibiome_toposcore_survival{key}", "section_name": "TOPOSCORE and survival",
        "description": "Cox hazard ratio (lifelines, 95% CI, Wald p; stratified by cohort when "
                       "there are several) of predicted non-responders (SIG1+) vs predicted "
                       "responders (SIG2+), the published endpoint; of SIG1 vs SIG2; and per SD of "
                       "the score (HR < 1 expected). Log-rank p and median survival (months) per "
                       "group. Samples used to calibrate the cut-offs are left out.",
        "plot_type": "table", **parent,
        "pconfig": {"id": f"icibiome_toposcore_survival_table{key}",
                    "title": "icibiome: TOPOSCORE survival"}},
        out_dir / "toposcore_survival_mqc.tsv", "Endpoint | comparison"))  # fmt: skip
    data, labels = [], []
    for (ep, by), d in km.groupby(["endpoint", "by"], sort=True) if len(km) else []:
        data.append({f"{g} (n={int(s['at_risk'].iloc[0])})": {
            round(float(t), 3): round(float(v), 4)
            for t, v in zip(s["time"], s["survival"], strict=True)}
            for g, s in d.groupby("group", sort=True)})  # fmt: skip
        labels.append({"name": f"{ep} by {by}", "ylab": f"{ep} probability"})
    p = out_dir / "toposcore_km_mqc.yaml"
    with atomic_path(p) as tmp:
        if data:
            tmp.write_text(yaml.safe_dump({
                "id": f"icibiome_toposcore_km{key}", "section_name": "TOPOSCORE Kaplan-Meier",
                **parent, "description": "Kaplan-Meier curves by predicted response (NR = SIG1+, "
                "R = SIG2+) and by category (SIG1 / Gray / SIG2); n = samples at time 0.",
                "plot_type": "linegraph",
                "pconfig": {"id": f"icibiome_toposcore_km_plot{key}",
                            "title": "icibiome: TOPOSCORE Kaplan-Meier", "xlab": "months",
                            "ylab": "survival probability", "ymin": 0, "ymax": 1,
                            "data_labels": labels},
                "data": data}, sort_keys=False, width=1000))  # fmt: skip
        else:  # no survival columns: comments only, left out of the report
            tmp.write_text("# no survival data (os_months/os_event, pfs_months/pfs_event)\n")
    written.append(p)
    warn = categories.assign(cut_nr=cal.cut_nr, cut_r=cal.cut_r) if degenerate else (
        categories.iloc[:0])  # fmt: skip
    written.append(write_table(warn, {
        "id": f"icibiome_toposcore_warnings{key}",
        "section_name": "TOPOSCORE warning: degenerate categories",
        "description": f"SIG1 or SIG2 holds less than {DEGENERATE_SHARE:.0%} of the "
                       f"{int(categories['n'].sum())} samples scored with cut-offs "
                       f"{cal.cut_nr:.4g} / {cal.cut_r:.4g} ({cal.source}); with MetaPhlAn 4 "
                       "profiles the published cut-offs give 30 % / 23 %. The cut-offs fit "
                       "another profiler / depth: predictions are not comparable with the "
                       "paper. Re-calibrate on a labelled training cohort "
                       "(toposcore.calibration_cohorts or toposcore.calibration).",
        "plot_type": "table", **parent,
        "pconfig": {"id": f"icibiome_toposcore_warnings_table{key}",
                    "title": "icibiome: TOPOSCORE categories"}},
        out_dir / "toposcore_warnings_mqc.tsv", "Category"))  # fmt: skip
    return written


SCORE_COLUMNS = ["sig1_count", "sig2_count", "sig1_score", "sig2_score", "toposcore", "category",
                 "akkermansia", "akkermansia_status", "akkermansia_source", "toposcore_class",
                 "predicted_response", "calibration_sample"]  # fmt: skip
#: Files of the stage (key -> name in ``out_dir``); the rule's outputs.
OUTPUTS = {"scores": "toposcore.tsv", "members": "toposcore_members.tsv",
           "survival": "toposcore_survival.tsv", "km": "toposcore_km.tsv",
           "calibration": "toposcore_calibration.yaml"}  # fmt: skip


def _write_empty(samples: pd.Index, out: Path, reason: str, label: str,
                 cal: Calibration) -> dict[str, Path]:  # fmt: skip
    """No lists (no competing guild pair): NaN scores, empty members, a note in the report."""
    import yaml

    scores = pd.DataFrame(index=pd.Index(samples, name="sample_id"), columns=SCORE_COLUMNS)
    paths = {k: out / v for k, v in OUTPUTS.items()}
    write_tsv(scores, paths["scores"], index=True)
    write_tsv(pd.DataFrame(columns=["signature", "entry", "naming", "names", "profile_taxa",
                                    "in_profile"]), paths["members"])  # fmt: skip
    write_tsv(pd.DataFrame(columns=SURVIVAL_COLUMNS), paths["survival"])
    write_tsv(pd.DataFrame(columns=KM_COLUMNS), paths["km"])
    with atomic_path(paths["calibration"]) as tmp:
        tmp.write_text(yaml.safe_dump(cal.to_dict(), sort_keys=False, width=1000))
    key, parent = _key(label), _parent(label)
    for name in ("table_mqc.tsv", "scores_mqc.yaml"):
        doc = {"id": f"icibiome_toposcore_{name.split('_')[0]}{key}",
               "section_name": "TOPOSCORE", **parent, "plot_type": "html",
               "data": f"<p>No TOPOSCORE: {reason}.</p>"}  # fmt: skip
        p = out / f"toposcore_{name}"
        with atomic_path(p) as tmp:
            if name.endswith(".tsv"):  # a table section needs a table: one row per sample
                head = {k: v for k, v in doc.items() if k != "data"} | {"plot_type": "table"}
                lines = yaml.safe_dump(head, sort_keys=False, width=1000).splitlines()
                body = "".join(f"# {line}\n" for line in lines) + "Sample\tnote\n"
                body += "".join(f"{s}\tno SIG lists\n" for s in samples)
                tmp.write_text(body)
            else:
                tmp.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
        paths[p.stem] = p
    cats = category_check([])[0]
    for p in _write_mqc_endpoints(
        pd.DataFrame(columns=SURVIVAL_COLUMNS),
        pd.DataFrame(columns=KM_COLUMNS),
        cats,
        False,
        cal,
        out,
        label,
    ):
        paths[p.stem] = p  # fmt: skip
    return paths


def _calibration(
    calibration, calibration_cohorts, cut_nr, cut_r, akk_high, label
) -> Calibration | None:
    """The stored calibration to reuse, or the config's cut-offs; None = fit them later."""
    if calibration and calibration_cohorts:
        raise ToposcoreError("toposcore: give calibration (a stored file) or calibration_cohorts "
                             "(fit on training cohorts of this run), not both")  # fmt: skip
    if calibration:
        cal = read_calibration(calibration)
        if cal.profile and label and cal.profile != label:
            raise ToposcoreError(f"toposcore.calibration: {calibration} was fitted on {cal.profile} "
                                 f"tables; this run scores {label} tables")  # fmt: skip
        return cal
    if calibration_cohorts:
        return None
    published = (cut_nr, cut_r, akk_high) == (CUT_NR, CUT_R, AKK_HIGH)
    return Calibration(cut_nr, cut_r, akk_high, "published" if published else "config", label)


def run_toposcore(
    abundance_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    samples_tsv: str | os.PathLike | None = None,
    sig1: str | os.PathLike | None = None,
    sig2: str | os.PathLike | None = None,
    guilds_tsv: str | os.PathLike | None = None,
    naming: str = "auto",
    name_map: str | os.PathLike | None = None,
    akkermansia: Sequence[str] = AKK_NAMES,
    akkermansia_column: str | None = None,
    cut_nr: float = CUT_NR,
    cut_r: float = CUT_R,
    akk_high: float = AKK_HIGH,
    calibration: str | os.PathLike | None = None,
    calibration_cohorts: Sequence[str] = (),
    cancer_type: str | None = None,
    sig1_size: int | None = None,
    sig2_size: int | None = None,
    label: str = "",
) -> dict[str, Path]:
    """Score every sample of a standard abundance table (rule ``toposcore``).

    Parameters
    ----------
    abundance_tsv : path-like
        Standard abundance table (percent of classified, :mod:`icibiome.io`).
    out_dir : path-like
        Writes (:data:`OUTPUTS`) ``toposcore.tsv`` (:func:`score_samples`, index ``sample_id``;
        ``calibration_sample`` marks samples used to fit the cut-offs), ``toposcore_members.tsv``
        (each list entry, the profile taxa standing for it and ``in_profile``),
        ``toposcore_survival.tsv`` / ``toposcore_km.tsv`` (:func:`survival_endpoints`: HR of
        predicted NR vs R, SIG1 vs SIG2, per SD; Kaplan-Meier by prediction and category),
        ``toposcore_calibration.yaml`` (the cut-offs used and their source; give it as
        ``calibration`` to reuse them) and the MultiQC files ``toposcore_*_mqc.*``.
    samples_tsv : path-like, optional
        Sample sheet: ``response`` (shown beside the scores), survival columns, cohorts.
    sig1, sig2 : path-like, optional
        SIG list files (:func:`read_signature`), e.g. the published ``sig1.txt`` / ``sig2.txt``.
    guilds_tsv : path-like, optional
        Used when no SIG files are given: :func:`guild_signatures`.
    naming, name_map, akkermansia, cut_nr, cut_r, akk_high
        See :func:`score_samples`; ``name_map`` is a file for :class:`icibiome.taxonomy.harmonise.NameMap`.
    akkermansia_column : str, optional
        Sample-sheet column with an external *Akkermansia* status (:func:`sheet_akkermansia`).
    calibration : path-like, optional
        A ``toposcore_calibration.yaml`` of a training run: its cut-offs replace ``cut_nr`` /
        ``cut_r`` / ``akk_high``. Refused when fitted on other tables (``label``) or on samples
        of this run.
    calibration_cohorts : sequence of str
        Cohorts of the sheet whose labelled samples fit the cut-offs (:func:`fit_calibration`);
        those samples are then left out of the survival table and the AUC.
    cancer_type : str, optional
        Chooses the published reference sentences of the report (:mod:`icibiome.signatures.references`).
    sig1_size, sig2_size : int, optional
        Denominators; None = list sizes.
    label : str
        Shown in the report section name, e.g. ``"sylph, species"``.
    """
    from icibiome.signatures.references import published_reference

    out = Path(out_dir)
    cal = _calibration(calibration, list(calibration_cohorts), cut_nr, cut_r, akk_high, label)
    if akkermansia_column and samples_tsv is None:
        raise ToposcoreError("toposcore.akkermansia_column needs a sample sheet")
    if sig1 and sig2:
        s1, s2 = read_signature(sig1, "SIG1"), read_signature(sig2, "SIG2")
        note = f"Lists: {Path(sig1).name} ({s1.size}) / {Path(sig2).name} ({s2.size})."
    elif sig1 or sig2:
        raise ToposcoreError("toposcore: give both sig1 and sig2 files, or neither")
    elif guilds_tsv:
        try:
            s1, s2 = guild_signatures(guilds_tsv)
        except ToposcoreError as err:  # a weak network is a result, not a failed run
            logger.warning("%s; every score is NaN", err)
            return _write_empty(
                read_abundance(abundance_tsv).index,
                out,
                str(err),
                label,
                cal or Calibration(cut_nr, cut_r, akk_high, "config", label),
            )
        note = (
            f"Lists from the run's guilds: SIG1 = pathobiont ({s1.size}), SIG2 = foundation "
            f"({s2.size})."
        )
    else:
        raise ToposcoreError("toposcore: no SIG lists (sig1/sig2 files or a guilds table)")
    nm = NameMap.from_file(name_map) if name_map else None
    ab = read_abundance(abundance_tsv)
    ab.index = ab.index.astype(str)
    sheet, response, akk_ext = pd.DataFrame(index=ab.index), None, None
    if samples_tsv is not None:
        sheet, lines = read_sheet(samples_tsv)
        sheet.index = sheet.index.astype(str)
        response = sheet["response"].fillna("").astype(str).str.strip()
        if akkermansia_column:
            akk_ext = sheet_akkermansia(sheet, akkermansia_column, lines, str(samples_tsv))
            logger.info("Akkermansia status from sheet column %r for %d of %d samples",
                        akkermansia_column, int((akk_ext.reindex(ab.index).fillna("") != "").sum()),
                        len(ab))  # fmt: skip
    size_pair = (sig1_size or s1.size, sig2_size or s2.size)

    def score(c: Calibration | None):
        c = c or Calibration(cut_nr, cut_r, akk_high, "config")
        return score_samples(ab, s1, s2, naming=naming, name_map=nm, akkermansia=akkermansia,
                             cut_nr=c.cut_nr, cut_r=c.cut_r, akk_high=c.akk_high,
                             sizes=size_pair, akk_status=akk_ext)  # fmt: skip

    scores, members = score(cal)
    if cal is None:  # fit on the training cohorts (the score itself does not depend on cut-offs)
        if "cohort" not in sheet.columns:
            raise ToposcoreError("toposcore.calibration_cohorts needs a sample sheet with cohorts")
        cal = fit_calibration(scores, sheet, list(calibration_cohorts), akk_high, label)
        scores, members = score(cal)
    reused = sorted(set(cal.samples) & set(scores.index)) if cal.source == "file" else []
    if reused:
        raise ToposcoreError(
            f"toposcore.calibration: {cal.origin} was fitted on {len(reused)} sample(s) of this "
            f"run (e.g. {', '.join(reused[:3])}); cut-offs must not be evaluated on the samples "
            "they were fitted on"
        )
    scores["calibration_sample"] = scores.index.isin(cal.samples if cal.source == "fitted" else [])
    held = ~scores["calibration_sample"]
    cats, degenerate = category_check(scores.loc[held, "category"])
    if degenerate:
        logger.warning(
            "TOPOSCORE categories are degenerate on these tables (%s; SIG1 or SIG2 below %.0f%% of "
            "%d samples, published 30%% / 23%%): cut-offs %.4g / %.4g (%s) do not fit this "
            "profiler/depth; calibrate them on a labelled training cohort "
            "(toposcore.calibration_cohorts or toposcore.calibration)",
            ", ".join(f"{k} {int(r['n'])} ({r['share']:.1%})" for k, r in cats.iterrows()),
            100 * DEGENERATE_SHARE, int(cats["n"].sum()), cal.cut_nr, cal.cut_r, cal.source,
        )  # fmt: skip
    surv, km = survival_endpoints(scores[held], sheet)
    endpoints = set(surv.loc[surv["hr"].notna(), "endpoint"]) if len(surv) else set()
    if response is not None and response.reindex(scores.index[held]).isin(["R", "NR"]).any():
        endpoints.add("response")
    reference = published_reference("toposcore", cancer_type, endpoints)
    paths = {k: out / v for k, v in OUTPUTS.items()}
    write_tsv(scores, paths["scores"], index=True, float_format="%.10g")
    write_tsv(members, paths["members"])
    write_tsv(surv, paths["survival"], float_format="%.6g")
    write_tsv(km, paths["km"], float_format="%.10g")
    import yaml

    with atomic_path(paths["calibration"]) as tmp:
        tmp.write_text(yaml.safe_dump(cal.to_dict(), sort_keys=False, width=1000))
    for p in _write_mqc(scores, response, out, label, note, cal, reference):
        paths[p.stem] = p
    for p in _write_mqc_endpoints(surv, km, cats, degenerate, cal, out, label):
        paths[p.stem] = p
    logger.info("TOPOSCORE of %d samples: %s", len(scores),
                scores["predicted_response"].value_counts().to_dict())  # fmt: skip
    return paths
