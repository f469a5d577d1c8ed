"""Shared builders of the integration tests."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml


def write_generic_import(wd: Path, config: dict, config_name: str, seed: int = 1) -> None:
    """A small generic counts table (15 taxa x 12 samples, 2 cohorts, R/NR) and its sample sheet
    under ``wd/data/``, and an import-mode config ``wd/<config_name>`` (``config`` on top of the
    import settings)."""
    rng = np.random.default_rng(seed)
    taxa = [
        f"k__Bacteria|p__P{i % 3}|c__C{i % 3}|o__O{i % 4}|f__F{i % 5}|g__G{i % 6}|s__G{i % 6}_sp{i}"
        for i in range(15)
    ]
    samples = [f"S{j:02d}" for j in range(12)]
    counts = rng.poisson(rng.gamma(1.0, 200, size=(15, 12))) + 1
    counts[:5, :6] = 0  # some taxa absent from some samples
    (wd / "data").mkdir(parents=True)
    table = pd.DataFrame(counts, index=pd.Index(taxa, name="taxon"), columns=samples)
    table.to_csv(wd / "data/counts.tsv", sep="\t")
    sheet = pd.DataFrame(
        {
            "sample_id": samples,
            "subject_id": samples,
            "cohort": ["C1"] * 6 + ["C2"] * 6,
            "timepoint": "baseline",
            "response": ["R", "NR"] * 6,
        }
    )
    sheet.to_csv(wd / "data/samples.tsv", sep="\t", index=False)
    cfg = {
        "samples": "data/samples.tsv",
        "import": {"activate": True, "profiles": ["data/counts.tsv"], "format": "generic"},
        "networks": {"activate": False},
        "toposcore": {"activate": False},
        "signatures": {"activate": False},
        "function_panel": {"activate": False},
        **config,
    }
    (wd / config_name).write_text(yaml.safe_dump(cfg))


@pytest.fixture
def generic_import():
    return write_generic_import
