"""The shipped database catalogue (config/database_catalogue.yaml) and icibiome.dbsetup helpers."""

from pathlib import Path

import pytest
import yaml

from icibiome.dbsetup import DbSetupError, read_catalogue, write_manifest_row
from icibiome.errors import UserError
from icibiome.tools import TOOLS

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "config" / "database_catalogue.yaml"
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def _schema_has(key: str) -> bool:
    node = SCHEMA
    for part in key.split("."):
        props = node.get("properties", {})
        if part not in props:
            return False
        node = props[part]
    return True


def test_catalogue_covers_the_pipeline_databases():
    dbs = read_catalogue(CATALOGUE)
    keys = {k for e in dbs.values() for k in e["config"]}
    assert keys == {
        "host_removal.bowtie2_index",
        "taxonomy.sylph.database",
        "taxonomy.sylph.taxonomy",
        "taxonomy.kraken2.database",
        "taxonomy.metaphlan.db_dir",
        "humann.nucleotide_database",
        "humann.protein_database",
        "function_panel.proteins",
        "function_panel.categories",
    }
    for name, e in dbs.items():
        for key in e["config"]:
            assert _schema_has(key), f"{name}: {key} is not a config key"
        assert e["tool"] in TOOLS, name
        assert e.get("disk") and e.get("ram"), f"{name}: cost not documented"
        names = [x["manifest_name"] for x in dbs.values()]
        assert len(names) == len(set(names))
        # no checksum was invented: unverified entries pin none
        for s in e["sources"]:
            assert s["sha256"] is None and e["verified"] is False, name
            assert s["url"] is None or s["url"].startswith(("http://", "https://")), name
    assert any(e.get("from_fasta") for e in dbs.values())  # a host index can be built


def test_catalogue_errors_name_the_entry(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "databases": {
                    "x": {
                        "tool": "kraken2",
                        "version": "1",
                        "dest": "d",
                        "manifest_name": "x",
                        "config": {"taxonomy.kraken2.database": "."},
                        "verified": True,
                        "sources": [{"file": "a", "sha256": "abc", "extract": "rar"}],
                    }
                }
            }
        )
    )
    with pytest.raises(DbSetupError) as err:
        read_catalogue(bad)
    msg = str(err.value)
    assert "databases.x.sources[0]: extract must be one of" in msg
    assert "databases.x.sources[0]: sha256 is not 64 hex digits" in msg
    assert isinstance(err.value, UserError)
    with pytest.raises(DbSetupError, match="catalogue not found"):
        read_catalogue(tmp_path / "absent.yaml")


def test_manifest_row_refuses_foreign_columns(tmp_path):
    m = tmp_path / "m.tsv"
    m.write_text("name\tpath\nx\ty\n")
    row = dict.fromkeys(["tool", "name", "version", "path", "sha256"], "x")
    with pytest.raises(DbSetupError, match="columns"):
        write_manifest_row(m, {**row, "compatible_tool_versions": "*"})


def test_pipeline_never_runs_the_setup():
    for smk in [ROOT / "Snakefile", *(ROOT / "rules").glob("*.smk")]:
        assert "dbsetup" not in smk.read_text(), smk
