"""`make validate`, pipeline part: the import-mode inputs for the 8 real melanoma cohorts.

The full run (minutes) is `make validate`; here the sheet and config it writes are checked and
Snakemake plans the import-mode run from them (a dry run parses every profile before any job).
"""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from icibiome.validation.cohorts import DEFAULT_DATA, pipeline_inputs

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.shared, pytest.mark.slow]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    if not (DEFAULT_DATA / "labels_harmonised.tsv").exists():
        pytest.skip(
            f"shared data not found: {DEFAULT_DATA} (../shared/data is not beside the project)"
        )
    wd = tmp_path_factory.mktemp("validate")
    return wd, pipeline_inputs(DEFAULT_DATA, wd)


def test_sheet_holds_the_labelled_baseline_samples_without_the_fmt_trials(inputs):
    wd, _ = inputs
    sheet = pd.read_csv(wd / "samples.tsv", sep="\t")
    assert len(sheet) == 447 and sheet["cohort"].nunique() == 9  # as the library validation
    assert sheet["sample_id"].is_unique and set(sheet["response"]) == {"R", "NR"}
    assert not sheet["cohort"].str.contains("Davar|Baruch").any()
    assert sheet["cohort"].str.fullmatch(r"[A-Za-z0-9_.-]+").all()


def test_pipeline_plans_the_import_mode_run(inputs):
    wd, cfg = inputs
    conf = yaml.safe_load(cfg.read_text())
    assert (
        conf["import"]["activate"] and len(conf["import"]["profiles"]) == 6
    )  # 8 tables, 2 FMT trials out
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
         str(wd), "--configfile", str(cfg), "--cores", "1", "-n"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule in ("import_profiles", "signatures", "multiqc_report"):
        assert rule in out, rule
    assert "fastp" not in out and "sylph_profile" not in out  # no read rule in import mode
