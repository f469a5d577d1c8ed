"""Typed settings of the ecology stage (config section ``networks``).

Defaults are the schema's (``workflow/schemas/config.schema.yaml``); tests/unit/test_settings.py
checks that the fields are exactly the section's keys less the routing keys and that every
default equals the schema's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from icibiome.config import Settings


@dataclass(frozen=True)
class NetworkSettings(Settings):
    """Arguments of :func:`icibiome.ecology.network.build_network` (see its parameters)."""

    section: ClassVar[str] = "networks"

    method: str = "sparcc"
    min_prevalence: float = 0.2
    min_abundance: float = 0.0001
    iterations: int = 50
    exclusions: int = 10
    threshold: float = 0.1
    fastspar_threshold: bool = False
    permutations: int = 1000
    perm_iterations: int = 5
    alpha: float = 0.001
    edge_test: str = "q"
    fdr: float = 0.05
    min_abs_r: float = 0.2
    group_column: str | None = None
    min_groups: int | None = None
    min_group_samples: int = 8
    seed: int = 1
