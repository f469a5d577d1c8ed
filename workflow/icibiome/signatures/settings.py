"""Typed settings of the signatures stage (config sections ``toposcore`` and ``signatures``).

Defaults are the schema's (``workflow/schemas/config.schema.yaml``); tests/unit/test_settings.py
checks that the fields are exactly the section's keys less the routing keys and that every
default equals the schema's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from icibiome.config import Settings
from icibiome.signatures.toposcore import AKK_HIGH, AKK_NAMES, CUT_NR, CUT_R


@dataclass(frozen=True)
class ToposcoreSettings(Settings):
    """Arguments of :func:`icibiome.signatures.toposcore_stage.run_toposcore` (its parameters)."""

    section: ClassVar[str] = "toposcore"

    sig1: str | None = None
    sig2: str | None = None
    naming: str = "auto"
    name_map: str | None = None
    akkermansia: tuple[str, ...] = AKK_NAMES  # the published lists and cut-offs (Derosa 2024)
    cut_nr: float = CUT_NR
    cut_r: float = CUT_R
    akk_high: float = AKK_HIGH
    sig1_size: int | None = None
    sig2_size: int | None = None
    akkermansia_column: str | None = None
    calibration_cohorts: tuple[str, ...] = ()
    calibration: str | None = None
    cancer_type: str | None = None


@dataclass(frozen=True)
class SignatureSettings(Settings):
    """Arguments of :func:`icibiome.signatures.stage.run_signatures` (its parameters)."""

    section: ClassVar[str] = "signatures"
    routing: ClassVar[tuple[str, ...]] = (
        "activate",
        "profiler",
        "rank",
        "use_guilds",
        "use_toposcore",
        "use_functions",
        "extra_features",
        "frozen_model",
    )

    covariates: tuple[str, ...] = ()
    min_prevalence: float = 0.1
    min_per_class: int = 5
    sensitivity: tuple[str, ...] = ("ancombc", "dirmult")
    meta_method: str = "DL"
    classifiers: tuple[str, ...] = ("lasso", "rf")
    balance: bool = True
    transform: str = "log10"
    batch: str = "none"
    within_repeats: int = 5
    # label permutations per model (one number: every model); see run_signatures
    permutations: int | dict = field(
        default_factory=lambda: {
            "balance": 100,
            "lasso": 100,
            "rf": 20,
            "within_lasso": 20,
            "within_rf": 5,
        }
    )
    seed: int = 1
    threads: int = 1
    top_n: int = 25
