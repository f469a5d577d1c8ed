"""icibiome.config and icibiome.tools: one profiler table read by every check, and the run plan."""

from pathlib import Path

import pytest
import yaml

from icibiome.config import (
    CONFIG_SCHEMA_PATH,
    RESOURCE_KEYS,
    ConfigError,
    check_assays,
    check_config,
)
from icibiome.databases import CONFIG_KEYS
from icibiome.tools import PROFILERS, SHOTGUN_PROFILERS, TOOLS, run_tools

ROOT = Path(__file__).resolve().parents[2]


def _schema():
    return yaml.safe_load(CONFIG_SCHEMA_PATH.read_text())


def test_schema_enum_of_profilers_is_the_profiler_table():
    prop = _schema()["properties"]["taxonomy"]["properties"]["profilers"]
    assert prop["items"]["enum"] == list(PROFILERS)


def test_every_profiler_row_is_complete_and_read_by_the_checks():
    schema_keys = set()

    def walk(node, prefix):
        for k, v in node.get("properties", {}).items():
            schema_keys.add(prefix + k)
            walk(v, prefix + k + ".")

    walk(_schema(), "")
    resource_keys = {(k, when) for k, _, when in RESOURCE_KEYS}
    for name, prof in PROFILERS.items():
        assert prof.assay in ("shotgun", "16S"), name
        for key, _kind in prof.databases:
            assert key in schema_keys, (name, key)
            assert (key, f"taxonomy.profilers:{name}") in resource_keys, (name, key)
        tool, key = prof.manifest
        assert CONFIG_KEYS[tool] == key and key in schema_keys, name
        for t in prof.tools:
            assert t in TOOLS, (name, t)
    assert set(SHOTGUN_PROFILERS) == {n for n, p in PROFILERS.items() if p.assay == "shotgun"}


def test_rules_read_the_table_not_their_own_lists():
    # versions and run info list the same tools (they disagreed before: kraken2/metaphlan were
    # missing from the run info); profiler steps come from the table
    report = (ROOT / "rules/report.smk").read_text()
    prov = (ROOT / "rules/provenance.smk").read_text()
    tax = (ROOT / "rules/taxonomy.smk").read_text()
    assert "run_tools(PROFILERS" in report and "run_tools(PROFILERS" in prov
    assert '"kraken2"' not in report + prov
    assert "PROFILER_TABLE.items()" in tax and '"sylph_profile"]' not in tax
    assert run_tools(["sylph", "kraken2", "metaphlan"], shotgun=True) == [
        "fastp",
        "bowtie2",
        "samtools",
        "sylph",
        "kraken2",
        "metaphlan",
    ]


def test_check_config_names_an_unknown_profiler():
    with pytest.raises(ConfigError, match="taxonomy.profilers.0.*'sylf' is not one of"):
        check_config({"samples": "s.tsv", "taxonomy": {"profilers": ["sylf"]}})


def test_check_assays_lists_the_table_profilers():
    (msg,) = check_assays(["shotgun"], ["paired"], ["amplicon"])[1:]
    assert all(p in msg for p in SHOTGUN_PROFILERS)


def test_common_smk_holds_the_house_contract_only():
    common = (ROOT / "rules/common.smk").read_text().splitlines()
    assert len(common) < 200, len(common)
    text = "\n".join(common)
    # no cross-key check is written in the rules: they are icibiome.config.plan_run's
    assert "raise WorkflowError" not in text.replace("raise WorkflowError(str(err)) from None", "")
