"""CONTRIBUTING.md's claim: a new stage touches only its own files plus schema/config/README.

The example stage of CONTRIBUTING.md (library, thin script, rules file, schema section; each
code block is marked ``<!-- file: ... -->``) is written into a copy of this project, and nothing
else is changed there: the Snakefile includes the new rules file by itself, the stage registers
its outputs in TARGETS and REPORT, and the run (import mode, 12 samples) makes its table and puts
its section into the MultiQC report.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("Snakefile", "rules", "scripts", "workflow", "envs", "config", "profiles")


def example_files() -> dict[str, str]:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)\n```", text, re.S)
    return {name: body + "\n" for name, body in blocks}


def _copy_project(dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in PROJECT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)


def test_contributing_names_every_file_of_the_example():
    files = example_files()
    assert set(files) == {
        "workflow/icibiome/richness/__init__.py",
        "scripts/richness.py",
        "rules/richness.smk",
        "schema:richness",
    }
    # the shipped project does not contain the example: the test adds it
    assert not (ROOT / "rules/richness.smk").exists()
    assert not (ROOT / "workflow/icibiome/richness").exists()


@pytest.mark.slow
def test_example_stage_runs_with_only_its_own_files(tmp_path, generic_import):
    proj = tmp_path / "project"
    _copy_project(proj)
    before = {p.relative_to(proj) for p in proj.rglob("*") if p.is_file()}
    touched = []
    for name, body in example_files().items():
        if name.startswith("schema:"):
            path = proj / "workflow/schemas/config.schema.yaml"
            schema = yaml.safe_load(path.read_text())
            schema["properties"].update(yaml.safe_load(body))
            path.write_text(yaml.safe_dump(schema, sort_keys=False))
            touched.append(path.relative_to(proj))
            continue
        path = proj / name
        assert not path.exists(), f"{name}: the example must add a file, not change one"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        touched.append(path.relative_to(proj))
    # changed: the schema only; everything else the example wrote is new
    assert [t for t in touched if t in before] == [Path("workflow/schemas/config.schema.yaml")]

    wd = tmp_path / "run"
    generic_import(
        wd,
        {
            "diversity": {"activate": False},
            "report": {"title": "example stage", "truth": None},
            "richness": {"min_percent": 1.0},
        },
        "run.yaml",
        seed=2,
    )
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    # the copy's own library first (the editable install points at this checkout)
    env["PYTHONPATH"] = str(proj / "workflow")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(proj / "Snakefile")]
    cmd += ["--directory", str(wd), "--cores", "2", "--configfile", str(wd / "run.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "rule richness:" in proc.stderr
    got = pd.read_csv(wd / "results/richness/imported/richness.tsv", sep="\t", index_col=0)
    assert got.shape[0] == 12
    # the same count from the imported table itself: taxa at >= 1 % of each sample
    table = pd.read_csv(wd / "data/counts.tsv", sep="\t", index_col=0)
    expected = (table / table.sum() * 100 >= 1.0).sum()
    assert got["taxa_present"].to_dict() == expected.to_dict()
    # its registered section reached the report
    html = (wd / "results/report/multiqc_report.html").read_text()
    assert "icibiome_richness" in html and "Richness (imported, species)" in html
