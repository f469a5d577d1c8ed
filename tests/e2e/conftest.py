"""Shared fixtures for the end-to-end tests: a small synthetic demo, made once per session."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
E2E_SAMPLES = int(os.environ.get("ICIBIOME_E2E_SAMPLES", "8"))
E2E_PAIRS = int(os.environ.get("ICIBIOME_E2E_PAIRS", "5000"))

REQUIRED_TOOLS = ("fastp", "bowtie2", "samtools", "art_illumina", "kraken2-build")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    """A small demo (reads, databases, truth) shared by every e2e case; the cases copy nothing."""
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"tools not installed: {', '.join(missing)} (run `make setup`)")
    out = tmp_path_factory.mktemp("demo") / "data"
    from icibiome.demo.make import make_demo

    make_demo(out, seed=7, n_samples=E2E_SAMPLES, pairs_per_sample=E2E_PAIRS, threads=2)
    return out


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1200):
    """Run Snakemake on the project's Snakefile in ``workdir``; return the CompletedProcess."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-10000:]}"
        )
    return proc


def make_case(tmp_path: Path, case: str, demo: Path) -> Path:
    """A working directory for e2e case ``case``: its config plus a link to the demo data."""
    wd = tmp_path / case
    (wd / "config").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "e2e" / case / "config.yaml", wd / "config" / "config.yaml")
    (wd / "data").symlink_to(demo, target_is_directory=True)
    return wd


@pytest.fixture(scope="session")
def basic_run(demo_data, tmp_path_factory):
    """The "basic" case run once per session; e2e tests of any stage may read its results."""
    wd = make_case(tmp_path_factory.mktemp("e2e"), "basic", demo_data)
    # --notemp keeps the trimmed reads, so host removal is measured on exactly its input
    run_snakemake(wd, "--notemp")
    return wd
