"""Every command of the README and every config under config/ is exercised by a test.

The README's code blocks and inline code are parsed for ``make ...`` and ``snakemake ...``
commands and ``config/*.yaml`` paths; each must be listed in :data:`COMMANDS` or
:data:`CONFIGS` with the test that exercises it, and that test must exist. The tests here dry-run
every shipped config on a small demo (8 samples, made in seconds) in the layout the Makefile
uses (a working directory with ``demo/`` and ``config/``), follow the README's "Your own reads"
steps literally on demo-shaped inputs (copy the template, fill its paths, dry-run to the report),
and check the README's stage table names config keys and library modules that exist. The 16S
demo and the import example run for real in tests/e2e/test_shipped_configs_run.py.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SELF = "tests/integration/test_readme_commands.py"
RUN = "tests/e2e/test_shipped_configs_run.py"

# README command -> the test that exercises it ("file::function")
COMMANDS = {
    "make demo": f"{SELF}::test_config_dry_runs_to_the_report",
    "make demo-16s": f"{RUN}::test_16s_demo_config_runs",
    "make test": f"{SELF}::test_makefile_targets_named_in_the_readme_exist",
    "make test-fast": f"{SELF}::test_makefile_targets_named_in_the_readme_exist",
    "make setup": f"{SELF}::test_makefile_targets_named_in_the_readme_exist",
    "make lint": "tests/integration/test_style.py::test_ruff_check",
    "make bench": f"{SELF}::test_makefile_targets_named_in_the_readme_exist",
    "make databases": "tests/integration/test_dbsetup_http.py::test_interrupted_download_resumes_and_manifest_is_accepted",
    "make validate": (
        "tests/integration/test_validate_pipeline_inputs.py::test_pipeline_plans_the_import_mode_run"
    ),
    "snakemake --cores 16 --configfile my_config.yaml": f"{SELF}::test_your_own_reads_steps",
    "snakemake --sdm conda --cores 16": (
        "tests/integration/test_architecture.py::"
        "test_every_script_and_env_path_exists_and_every_rule_has_log_and_conda"
    ),
    "snakemake --profile profiles/slurm": (
        "tests/e2e/test_slurm.py::test_profile_marks_site_settings_and_scales_resources"
    ),
}
# config file -> the test that runs it (every config/*.yaml must be here)
CONFIGS = {
    "config/config.yaml": f"{SELF}::test_your_own_reads_steps",
    "config/config_demo.yaml": f"{SELF}::test_config_dry_runs_to_the_report",
    "config/config_16s.yaml": f"{RUN}::test_16s_demo_config_runs",
    "config/config_import.yaml": f"{RUN}::test_import_example_config_runs",
    "config/multiqc_config.yaml": "tests/e2e/test_basic.py::test_multiqc_report_has_native_and_custom_sections",
    "config/database_catalogue.yaml": "tests/unit/test_dbsetup_catalogue.py::test_catalogue_covers_the_pipeline_databases",
}
# configs given after config/config.yaml, as the Makefile and the README give them
STACKS = {
    "demo": ["config/config_demo.yaml"],
    "16s": ["config/config_demo.yaml", "config/config_16s.yaml"],
    "import": ["config/config_demo.yaml", "config/config_import.yaml"],
}


def _code(text: str) -> list[str]:
    """Lines of fenced code blocks and inline code spans of a Markdown text."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    rest = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    lines = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines()]
    return [ln for ln in lines + re.findall(r"`([^`\n]+)`", rest) if ln]


def readme_commands(text: str) -> set[str]:
    """``make``/``snakemake`` commands of the README (``.venv/bin/`` dropped)."""
    found = set()
    for code in _code(text):
        code = code.replace(".venv/bin/", "")
        m = re.match(r"^((?:make|snakemake)(?:\s+\S+)*)$", code)
        if m and (code.startswith("snakemake ") or re.fullmatch(r"make [a-z0-9-]+", code)):
            found.add(m.group(1))
    return found


def readme_configs(text: str) -> set[str]:
    return set(re.findall(r"config/[A-Za-z0-9_]+\.yaml", text))


def _test_exists(ref: str) -> bool:
    path, func = ref.split("::")
    p = ROOT / path
    return p.exists() and re.search(rf"^def {func}\(", p.read_text(), re.M) is not None


def test_readme_parsing_finds_commands():
    text = "x `make demo` and\n```bash\nmake test   # all\n.venv/bin/snakemake --cores 2\n```\n"
    assert readme_commands(text) == {"make demo", "make test", "snakemake --cores 2"}
    assert readme_configs("see config/config_16s.yaml.") == {"config/config_16s.yaml"}


def test_every_readme_command_and_config_has_a_test():
    text = README.read_text()
    commands, configs = readme_commands(text), readme_configs(text)
    assert {"make demo", "make test", "make demo-16s"} <= commands  # the parser sees them
    assert not commands - COMMANDS.keys(), (
        f"README commands without a test: {commands - COMMANDS.keys()}"
    )
    shipped = {f"config/{p.name}" for p in (ROOT / "config").glob("*.yaml")}
    assert not configs - shipped, f"README names configs that do not exist: {configs - shipped}"
    assert not shipped - CONFIGS.keys(), f"configs without a test: {shipped - CONFIGS.keys()}"
    for ref in [*COMMANDS.values(), *CONFIGS.values()]:
        assert _test_exists(ref), f"no such test: {ref}"


def test_makefile_targets_named_in_the_readme_exist():
    targets = sorted(
        {c.split()[1] for c in readme_commands(README.read_text()) if c.startswith("make ")}
    )
    assert "demo" in targets
    for t in targets:  # -n: print the recipe, run nothing
        proc = subprocess.run(
            ["make", "-n", t], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"make -n {t}: {proc.stderr}"
    recipe = subprocess.run(["make", "-n", "demo-16s"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    assert " ".join(STACKS["16s"]) in recipe
    demo = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    assert "--configfile config/config_demo.yaml" in demo


def test_readme_stage_table_names_existing_keys_and_modules():
    from snakemake.utils import validate

    cfg = {}
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))  # every default
    text = README.read_text()
    table = "\n".join(
        ln for ln in text.split("## What it does")[1].splitlines() if ln.startswith("|")
    )
    keys = set(re.findall(r"`([a-z_0-9]+(?:\.[a-z_0-9]+)+)`", table))
    keys = {k for k in keys if k.split(".")[0] in cfg}
    assert {"report.truth", "humann.activate", "function_panel.activate"} <= keys
    for key in keys:
        node = cfg
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"README names unknown config key {key}"
            node = node[part]
    modules = set(re.findall(r"`(icibiome(?:\.[a-z_0-9]+)+)", text))
    assert len(modules) >= 10
    for m in modules:  # a module, or a name in one
        try:
            importlib.import_module(m)
        except ModuleNotFoundError:
            parent, name = m.rsplit(".", 1)
            assert hasattr(importlib.import_module(parent), name), f"README names unknown {m}"


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    missing = [t for t in ("bowtie2-build", "kraken2-build", "art_illumina") if not shutil.which(t)]
    if missing:
        pytest.skip(f"tools not installed: {', '.join(missing)} (run `make setup`)")
    from icibiome.demo.make import make_demo

    out = tmp_path_factory.mktemp("readme") / "demo"
    make_demo(out, seed=7, n_samples=8, pairs_per_sample=300, threads=1, amplicon_pairs=300)
    return out


def _workdir(tmp_path: Path, demo: Path) -> Path:
    """The Makefile's layout: demo/ and config/ (the shipped one) in the working directory."""
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "demo").symlink_to(demo, target_is_directory=True)
    (wd / "config").symlink_to(ROOT / "config", target_is_directory=True)
    return wd


def _dry_run(wd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(wd), "-n", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False,
                          cwd=wd)  # fmt: skip


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_config_dry_runs_to_the_report(small_demo, tmp_path, stack):
    wd = _workdir(tmp_path, small_demo)
    proc = _dry_run(wd, "--cores", "2", "--configfile", *STACKS[stack])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule in ("multiqc_report", "signatures", "toposcore", "build_guilds"):
        assert re.search(rf"\b{rule}\b", out), (stack, rule)
    if stack == "16s":
        assert "amplicon_vsearch_denoise" in out and "fastp" not in out
    if stack == "import":
        assert "import_profiles" in out and "check_reads" not in out


def test_template_has_placeholders_and_nothing_from_the_demo():
    text = (ROOT / "config" / "config.yaml").read_text()
    values = "\n".join(ln.split("#")[0] for ln in text.splitlines())
    assert "demo/" not in values, "config/config.yaml is the template for real data"
    cfg = yaml.safe_load(text)
    assert cfg["samples"].startswith("path/to/")
    assert cfg["report"]["truth"] is None
    for ln in text.splitlines():
        if re.search(r":\s*path/to/", ln):
            assert "# EDIT" in ln, f"placeholder without an EDIT comment: {ln.strip()}"


def test_your_own_reads_steps(small_demo, tmp_path):
    """README "Your own reads", literally: sheet, copy the template, fill its paths, run (-n)."""
    text = README.read_text()
    steps = text.split("## Your own reads")[1].split("\n## ")[0]
    assert "Copy `config/config.yaml`" in steps
    run = re.search(r"Run `\.venv/bin/(snakemake [^`]+)`", steps).group(1)
    wd = _workdir(tmp_path, small_demo)
    (wd / "config").unlink()  # a user's checkout: the template as shipped, copied
    shutil.copytree(ROOT / "config", wd / "config")
    # 1. the sample sheet (the demo's, with its clinical columns; paths relative to the sheet)
    sheet = small_demo / "samples.tsv"
    # 2. copy config/config.yaml and point samples, host index and sylph database at the data
    fill = {
        "samples": str(sheet),
        "host_removal.bowtie2_index": str(small_demo / "db" / "host" / "host"),
        "taxonomy.sylph.database": str(small_demo / "db" / "sylph" / "demo.syldb"),
        "taxonomy.sylph.taxonomy": str(small_demo / "db" / "sylph" / "taxonomy.tsv"),
    }
    lines = (ROOT / "config" / "config.yaml").read_text().splitlines()
    stack, filled = [], set()
    for i, ln in enumerate(lines):
        indent = len(ln) - len(ln.lstrip())
        stack = [(d, k) for d, k in stack if d < indent]
        m = re.match(r"^(\s*)([a-z_0-9]+):(.*)$", ln)
        if not m:
            continue
        key = ".".join([k for _, k in stack] + [m.group(2)])
        stack.append((indent, m.group(2)))
        if key in fill:
            lines[i] = f"{m.group(1)}{m.group(2)}: {fill[key]}"
            filled.add(key)
    assert filled == set(fill)
    (wd / "my_config.yaml").write_text("\n".join(lines) + "\n")
    # 3. the README's command, as a dry run
    proc = _dry_run(wd, *run.split()[1:])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    # the read rules come after checkpoint select_samples (planned once the checks ran)
    for rule in ("check_reads", "select_samples", "merge_profiles", "build_network", "toposcore",
                 "signatures", "multiqc_report"):  # fmt: skip
        assert re.search(rf"\b{rule}\b", out), rule
    # the template's placeholders stop a run loudly, naming the key
    proc = _dry_run(wd, "--cores", "1")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "path/to/" in proc.stdout + proc.stderr


def _methods_sections() -> set[str]:
    """Section ids of docs/methods.md: "1", "1.2", "9a", ..."""
    ids, top = set(), None
    for ln in (ROOT / "docs" / "methods.md").read_text().splitlines():
        m = re.match(r"^## (\d+)\. ", ln)
        if m:
            top = m.group(1)
            ids.add(top)
        m = re.match(r"^### (\d+\.\d+) ", ln)
        if m:
            ids.add(m.group(1))
        m = re.match(r"^### \(([a-z])\) ", ln)
        if m and top:
            ids.add(f"{top}{m.group(1)}")
    return ids


def test_methods_references_point_at_existing_sections():
    """Every "methods §N" in the code and schema points at docs/methods.md, which has §N."""
    sections = _methods_sections()
    assert {"1", "1.2", "1.3", "3.1", "4.1", "5", "8", "9a", "9b", "9c", "9d"} <= sections
    files = [*(ROOT / "workflow").rglob("*.py"), *(ROOT / "workflow").rglob("*.yaml"),
             *(ROOT / "tests").rglob("*.py"), *(ROOT / "scripts").glob("*.py")]  # fmt: skip
    cited = 0
    for f in files:
        for ln in f.read_text().splitlines():
            for m in re.finditer(
                r"(\S*methods(?:\.md)?) §([\d.]+[a-z]?)((?:, §[\d.]+[a-z]?)*)", ln
            ):
                assert m.group(1).endswith("docs/methods.md"), f"{f}: {ln.strip()}"
                for sec in [m.group(2), *re.findall(r"§([\d.]+[a-z]?)", m.group(3))]:
                    assert sec.rstrip(".") in sections, f"{f}: §{sec} not in docs/methods.md"
                    cited += 1
    assert cited >= 28
    text = (ROOT / "docs" / "methods.md").read_text()
    assert re.search(r"^\| 20 \| Lee 2022", text, re.M)  # "§8 row 20"
