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
from icibiome.harmonise import NameMap, normalise_name
from icibiome.io import UNCLASSIFIED, atomic_path, read_abundance, write_tsv

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
        :func:`icibiome.harmonise.normalise_name`).
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

    Returns
    -------
    scores : DataFrame
        Index ``sample_id``; columns ``sig1_count, sig2_count, sig1_score, sig2_score``
        (fraction of the list present), ``toposcore`` (s), ``category`` (SIG1 / Gray / SIG2),
        ``akkermansia`` (%), ``akkermansia_status`` (Zero / Low / High), ``toposcore_class``
        (SIG1+ / SIG2+) and ``predicted_response`` (NR / R).
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
# the pipeline stage
# --------------------------------------------------------------------------------------------
def guild_signatures(guilds_tsv: str | os.PathLike) -> tuple[Signature, Signature]:
    """SIG1 = the ``pathobiont`` guild, SIG2 = the ``foundation`` guild of a ``guilds.tsv``
    (:func:`icibiome.guilds.guild_table`): TOPOSCORE's counting applied to the run's own guilds."""
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


def _write_mqc(
    scores: pd.DataFrame, response: pd.Series | None, out_dir: Path, label: str, note: str
) -> list[Path]:
    import yaml

    from icibiome.report_sections import toposcore_prediction_note

    key = "_" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") if label else ""
    resp = (response.reindex(scores.index) if response is not None
            else pd.Series("", index=scores.index)).fillna("").replace("", "unknown")  # fmt: skip
    a = auc(scores["toposcore"], resp.where(resp.isin(["R", "NR"]), ""))
    auc_txt = f"AUC of the score for response (R vs NR): {a:.3f}. " if np.isfinite(a) else ""
    parent = {
        "parent_id": f"icibiome_toposcore{key}",
        "parent_name": f"TOPOSCORE ({label})" if label else "TOPOSCORE",
        "parent_description": (
            "TOPOSCORE of Derosa et al. (2024, Cell 187:3373): s = (SIG2 present/|SIG2| - SIG1 "
            "present/|SIG1| + 1)/2; s <= cut_nr predicts NR, s >= cut_r predicts R, in between "
            "Akkermansia decides (0 < Akk < 4.799 % predicts R). "
            + note
            + " "
            + auc_txt
            + toposcore_prediction_note(scores)  # why (nearly) all samples share one class
            + " "
            + "Table: results/signatures/<profiler>/toposcore.tsv (icibiome.toposcore)."
        ),
    }
    written = []
    head = {
        "id": f"icibiome_toposcore_table{key}",
        "section_name": "TOPOSCORE per sample",
        "description": "Counts of SIG1/SIG2 entries present, the score, its category, "
                       "Akkermansia status and the prediction, with the sheet's response.",
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
    tab = scores[["toposcore", "category", "sig1_count", "sig2_count", "akkermansia",
                  "akkermansia_status", "predicted_response"]].assign(response=resp)  # fmt: skip
    lines = yaml.safe_dump(head, sort_keys=False, width=1000).splitlines()
    p = out_dir / "toposcore_table_mqc.tsv"
    with atomic_path(p) as tmp, open(tmp, "w") as fh:
        fh.writelines(f"# {line}\n" for line in lines)
        tab.to_csv(fh, sep="\t", index_label="Sample", float_format="%.4g")
    written.append(p)
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


SCORE_COLUMNS = ["sig1_count", "sig2_count", "sig1_score", "sig2_score", "toposcore", "category",
                 "akkermansia", "akkermansia_status", "toposcore_class", "predicted_response"]  # fmt: skip


def _write_empty(samples: pd.Index, out: Path, reason: str, label: str) -> dict[str, Path]:
    """No lists (no competing guild pair): NaN scores, empty members, a note in the report."""
    import yaml

    scores = pd.DataFrame(index=pd.Index(samples, name="sample_id"), columns=SCORE_COLUMNS)
    paths = {"scores": out / "toposcore.tsv", "members": out / "toposcore_members.tsv"}
    write_tsv(scores, paths["scores"], index=True)
    write_tsv(pd.DataFrame(columns=["signature", "entry", "naming", "names", "profile_taxa",
                                    "in_profile"]), paths["members"])  # fmt: skip
    key = "_" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") if label else ""
    parent = {"parent_id": f"icibiome_toposcore{key}",
              "parent_name": f"TOPOSCORE ({label})" if label else "TOPOSCORE"}  # fmt: skip
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
    return paths


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
    cut_nr: float = CUT_NR,
    cut_r: float = CUT_R,
    akk_high: float = AKK_HIGH,
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
        Writes ``toposcore.tsv`` (:func:`score_samples`, index ``sample_id``),
        ``toposcore_members.tsv`` (each list entry, the profile taxa standing for it and
        ``in_profile``: the members missing from the profile) and the MultiQC files
        ``toposcore_table_mqc.tsv`` / ``toposcore_scores_mqc.yaml``.
    samples_tsv : path-like, optional
        Sample sheet; its ``response`` column is shown beside the scores in the report.
    sig1, sig2 : path-like, optional
        SIG list files (:func:`read_signature`), e.g. the published ``sig1.txt`` / ``sig2.txt``.
    guilds_tsv : path-like, optional
        Used when no SIG files are given: :func:`guild_signatures`.
    naming, name_map, akkermansia, cut_nr, cut_r, akk_high
        See :func:`score_samples`; ``name_map`` is a file for :class:`icibiome.harmonise.NameMap`.
    sig1_size, sig2_size : int, optional
        Denominators; None = list sizes.
    label : str
        Shown in the report section name, e.g. ``"sylph, species"``.
    """
    out = Path(out_dir)
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
            return _write_empty(read_abundance(abundance_tsv).index, out, str(err), label)
        note = (
            f"Lists from the run's guilds: SIG1 = pathobiont ({s1.size}), SIG2 = foundation "
            f"({s2.size})."
        )
    else:
        raise ToposcoreError("toposcore: no SIG lists (sig1/sig2 files or a guilds table)")
    nm = NameMap.from_file(name_map) if name_map else None
    ab = read_abundance(abundance_tsv)
    response = None
    if samples_tsv is not None:
        sheet = pd.read_csv(samples_tsv, sep="\t", dtype=str, comment="#", keep_default_na=False)
        sheet = sheet.set_index("sample_id")
        if "response" in sheet.columns:
            response = sheet["response"].str.strip()
    size_pair = (sig1_size or s1.size, sig2_size or s2.size)
    scores, members = score_samples(
        ab, s1, s2, naming=naming, name_map=nm, akkermansia=akkermansia, cut_nr=cut_nr,
        cut_r=cut_r, akk_high=akk_high, sizes=size_pair,
    )  # fmt: skip
    paths = {"scores": out / "toposcore.tsv", "members": out / "toposcore_members.tsv"}
    write_tsv(scores, paths["scores"], index=True, float_format="%.10g")
    write_tsv(members, paths["members"])
    for p in _write_mqc(scores, response, out, label, note):
        paths[p.stem] = p
    logger.info("TOPOSCORE of %d samples: %s", len(scores),
                scores["predicted_response"].value_counts().to_dict())  # fmt: skip
    return paths
