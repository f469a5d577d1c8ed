"""Published reference numbers shown in the report, per stage, cancer type and endpoint.

A sentence is shown only where the run's cancer type (config ``toposcore.cancer_type``) and an
endpoint present in the run's data match a published result (docs/methods.md §8), so a renal-cell
survival run gets no melanoma response-AUC sentence, and a run of unknown cancer type gets none.
Endpoints: ``response`` (R / NR labels in the sheet), ``OS`` and ``PFS`` (survival columns).
"""

from __future__ import annotations

from collections.abc import Iterable

CANCER_TYPES = ("nsclc", "melanoma", "rcc", "urothelial", "other")

#: (stage, cancer type, endpoint) -> sentence (docs/methods.md §8 rows 8-14 and 20).
REFERENCES: dict[tuple[str, str, str], str] = {
    ("toposcore", "nsclc", "OS"): (
        "Published reference (Derosa et al. 2024, NSCLC, MetaPhlAn 4 vJan21; docs/methods.md §8 rows 10 "
        "and 14): OS HR predicted NR vs R 2.13 (1.54-2.95) in the discovery cohort (n = 245), "
        "1.80 (1.21-2.67) in the validation cohorts (n = 254)."
    ),
    ("toposcore", "nsclc", "PFS"): (
        "Published reference (NSCLC discovery, docs/methods.md §8 row 11): PFS HR predicted NR vs R "
        "1.48 (1.12-1.96)."
    ),
    ("toposcore", "nsclc", "response"): (
        "Published reference (NSCLC discovery, docs/methods.md §8 row 8): AUC of the score for OS12 "
        "0.660 (n = 230)."
    ),
    ("signatures", "melanoma", "response"): (
        "Published reference: LOCO mean AUC about 0.59-0.60 for melanoma response (Lee et al. "
        "2022)."
    ),
}


def published_reference(stage: str, cancer_type: str | None, endpoints: Iterable[str]) -> str:
    """The reference sentences of ``stage`` for ``cancer_type`` and the run's ``endpoints``.

    Empty when none applies (unknown cancer type, or no published number for that endpoint).

    Examples
    --------
    >>> published_reference("signatures", "melanoma", ["response"])[:31]
    'Published reference: LOCO mean '
    >>> published_reference("signatures", "rcc", ["OS", "response"])
    ''
    """
    if not cancer_type:
        return ""
    ct = str(cancer_type).lower()
    return " ".join(REFERENCES[(stage, ct, ep)] for ep in ("response", "OS", "PFS")
                    if ep in set(endpoints) and (stage, ct, ep) in REFERENCES)  # fmt: skip
