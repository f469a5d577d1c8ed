"""House rules that keep the workflow thin and the library testable."""

import ast
import importlib
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
RULE_FILES = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_thin_shims(script):
    text = script.read_text()
    tree = ast.parse(text)
    # log set-up plus one library call (its arguments one per line, named as the rule's keys)
    calls = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    assert len(tree.body) <= 9 and len(calls) <= 3, "a script is a shim: log set-up + one call"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] in {"icibiome", "pathlib"}, node.module
        if isinstance(node, ast.Import):
            assert all(a.name in {"sys"} for a in node.names)
        assert not isinstance(node, (ast.If, ast.For, ast.While)), "no branching in a shim"
        # every argument named (a rule's input/output/params key): no ** of a config section
        if isinstance(node, ast.Call):
            assert all(k.arg is not None for k in node.keywords), "no ** splat in a shim"


def test_every_script_and_env_path_exists_and_every_rule_has_log_and_conda():
    for f in RULE_FILES:
        text = f.read_text()
        for rel in re.findall(r'"(\.\./(?:scripts|envs)/[^"]+)"', text):
            assert (f.parent / rel).resolve().exists(), f"{f.name}: {rel} missing"
        for m in re.finditer(r"^(?:rule|checkpoint) (\w+):\n((?:    .*\n|\n)+)", text, re.M):
            name, body = m.group(1), m.group(2)
            if name == "all":
                continue
            assert "    log:" in body, f"rule {name} has no log"
            assert "    conda:" in body, f"rule {name} has no conda env"
            assert "    run:" not in body, f"rule {name} has a run: block"


def test_scripts_named_after_their_rules():
    text = "".join(f.read_text() for f in RULE_FILES)
    for script in SCRIPTS:
        assert re.search(rf"(?:rule|checkpoint) {script.stem}:", text), f"no rule {script.stem}"


def test_library_never_imports_snakemake():
    for py in (ROOT / "workflow/icibiome").rglob("*.py"):
        tree = ast.parse(py.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "snakemake" for n in names), py


def _norm(name):
    # conda-forge ships matplotlib without Qt as matplotlib-base
    return re.sub(r"[-_.]+", "-", name).lower().removesuffix("-base")


def test_pyproject_dependencies_are_pinned_in_pylib_env_and_lock():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {_norm(re.split(r"[<>=!~ \[]", d)[0]) for d in deps}
    env = yaml.safe_load((ROOT / "envs/pylib.yaml").read_text())["dependencies"]
    pinned = {}
    for d in env:
        items = d["pip"] if isinstance(d, dict) else [d]
        for item in items:
            m = re.match(r"([A-Za-z0-9_.-]+)\s*=?=\s*([0-9][^\s]*)", item)
            if m:
                pinned[_norm(m.group(1))] = m.group(2)
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            n, v = line.split("==")
            lock[_norm(n)] = v.strip()
    for n in names:
        assert n in pinned, f"{n} is a dependency but not pinned in envs/pylib.yaml"
        assert lock.get(n) == pinned[n], (
            f"{n}: envs/pylib.yaml {pinned[n]} != requirements.lock {lock.get(n)}"
        )


def test_envs_pin_exact_versions():
    for env in (ROOT / "envs").glob("*.yaml"):
        data = yaml.safe_load(env.read_text())
        assert "nodefaults" in data["channels"], env.name
        for d in data["dependencies"]:
            if isinstance(d, str) and d != "pip":
                assert re.search(r"=\s*[0-9]", d), f"{env.name}: {d} is not pinned"


def test_test_module_basenames_are_unique():
    # pytest's default (prepend) import mode imports test modules by basename, so two test
    # files with the same name in different folders break collection of the whole suite
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    assert not duplicated, f"test files with the same basename: {duplicated}"


def _rule_blocks(text):
    """(rule name, its text) of every rule / checkpoint of a rules file."""
    starts = [
        (m.start(), m.group(2)) for m in re.finditer(r"^\s*(rule|checkpoint) (\w+):", text, re.M)
    ]
    ends = [s for s, _ in starts[1:]] + [len(text)] if starts else []
    return [(name, text[s:e]) for (s, name), e in zip(starts, ends, strict=True)]


def test_every_mqc_output_is_registered_by_its_own_stage():
    """One home per stage: a rule that writes MultiQC custom content (``*_mqc*``) has its output
    registered in REPORT by its own rules file (``rules.<name>.output``); rules/common.smk and
    the report rule list no stage's files."""
    rules_dir = ROOT / "rules"
    found = 0
    for smk in sorted(rules_dir.glob("*.smk")):
        text = smk.read_text()
        registry = "\n".join(
            text[m.start() : text.find("\n\n", m.start())]
            for m in re.finditer(r"REPORT\.(append|extend)\(", text)
        )
        for name, block in _rule_blocks(text):
            out = block.split("output:", 1)[1].split("log:", 1)[0] if "output:" in block else ""
            if "_mqc" not in out:
                continue
            found += 1
            assert f"rules.{name}.output" in registry, (
                f"{smk.name}: rule {name}'s _mqc output is not in REPORT"
            )
    assert found >= 12
    common = (rules_dir / "common.smk").read_text()
    assert "_mqc" not in common and "report_files" not in common
    report = (rules_dir / "report.smk").read_text()
    assert "custom=REPORT" in report


def test_rules_files_hold_rules_and_functions_files_functions():
    """snakemake --lint: 'Mixed rules and functions in same snakefile'. A stage's input functions
    live in rules/functions/<stage>.smk, included by rules/<stage>.smk (its home)."""
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        has_rule = re.search(r"^\s*(rule|checkpoint) \w+:", text, re.M)
        has_def = re.search(r"^def \w+\(", text, re.M)
        assert not (has_rule and has_def), f"{smk.name} mixes rules and functions"
    for smk in (ROOT / "rules" / "functions").glob("*.smk"):
        assert (ROOT / "rules" / smk.name).exists(), f"{smk.name} has no stage file"
        assert f'include: "functions/{smk.name}"' in (ROOT / "rules" / smk.name).read_text()


LIB = ROOT / "workflow" / "icibiome"
STAGE_PACKAGES = (
    "reads",
    "taxonomy",
    "amplicon",
    "functions",
    "ecology",
    "signatures",
    "engraftment",
    "report",
)


def _library_modules():
    return sorted(p for p in LIB.rglob("*.py") if "__pycache__" not in p.parts)


def test_library_is_organised_by_stage():
    # one subpackage per pipeline stage, shared primitives once at the top, the demo and the
    # validation harness out of the pipeline's import path
    for pkg in (*STAGE_PACKAGES, "demo", "validation"):
        assert (LIB / pkg / "__init__.py").is_file(), pkg
    top = {p.stem for p in LIB.glob("*.py")} - {"__init__"}
    assert top <= {
        "config",
        "databases",
        "dbsetup",
        "errors",
        "io",
        "logging",
        "mqc",
        "resources",
        "samplesheet",
        "stats",
        "tools",
    }, top
    runtime = [*ROOT.joinpath("scripts").glob("*.py"), *ROOT.joinpath("rules").rglob("*.smk")]
    runtime += [p for p in _library_modules() if p.parent.name not in ("demo", "validation")]
    harness = re.compile(r"^\s*(from|import) icibiome\.(demo|validation)\b", re.M)
    for path in runtime:
        assert not harness.search(path.read_text()), (
            f"{path.relative_to(ROOT)} imports the demo or validation harness"
        )


def test_no_library_module_over_800_lines():
    long = {
        str(p.relative_to(LIB)): n
        for p in _library_modules()
        if (n := len(p.read_text().splitlines())) > 800
    }
    assert not long, long


def test_no_private_name_imported_across_modules():
    bad = []
    for path in [*_library_modules(), *ROOT.joinpath("scripts").glob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("icibiome"):
                bad += [
                    f"{path.relative_to(ROOT)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not bad, bad


def test_every_user_error_derives_from_one_base():
    from icibiome.errors import UserError

    for path in _library_modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Error_")):
                mod = ".".join(path.relative_to(LIB.parent).with_suffix("").parts)
                mod = mod.removesuffix(".__init__")
                cls = getattr(importlib.import_module(mod), node.name)
                assert issubclass(cls, UserError), f"{mod}.{node.name}"
