"""Typed settings of the signatures stage (config section ``toposcore``).

Defaults are the schema's (``workflow/schemas/config.schema.yaml``); tests/unit/test_settings.py
checks that the fields are exactly the section's keys less the routing keys and that every
default equals the schema's.
"""

from __future__ import annotations

from dataclasses import dataclass
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
