"""Typed stage settings: exactly the schema section's keys, with the schema's defaults."""

import inspect
from dataclasses import fields

import pytest
import yaml

from icibiome.config import CONFIG_SCHEMA_PATH, ConfigError
from icibiome.ecology.network import build_network
from icibiome.ecology.settings import NetworkSettings
from icibiome.signatures.settings import SignatureSettings, ToposcoreSettings
from icibiome.signatures.stage import run_signatures
from icibiome.signatures.toposcore_stage import run_toposcore

# (settings class, the library entry point that takes it)
STAGES = [
    (NetworkSettings, build_network),
    (ToposcoreSettings, run_toposcore),
    (SignatureSettings, run_signatures),
]


def _section(name):
    return yaml.safe_load(CONFIG_SCHEMA_PATH.read_text())["properties"][name]["properties"]


@pytest.mark.parametrize("cls, entry", STAGES, ids=lambda x: getattr(x, "__name__", ""))
def test_settings_are_the_schema_section(cls, entry):
    props = _section(cls.section)
    keys = set(props) - set(cls.routing)
    assert {f.name for f in fields(cls)} == keys
    default = cls()
    for f in fields(cls):
        want = props[f.name].get("default")
        want = tuple(want) if isinstance(want, list) else want
        got = getattr(default, f.name)
        assert got == want, f"{cls.section}.{f.name}: library {got!r}, schema {want!r}"
    # the entry point takes the settings object, not one argument per key
    params = inspect.signature(entry).parameters
    assert "settings" in params and not keys & set(params)


def test_from_config_names_a_key_the_library_does_not_take():
    s = NetworkSettings.from_config({"activate": True, "rank": "genus", "alpha": 0.01})
    assert s.alpha == 0.01 and s.method == "sparcc"
    with pytest.raises(ConfigError, match="networks.alfa: not a setting of the networks stage"):
        NetworkSettings.from_config({"alfa": 0.01})
    with pytest.raises(TypeError):
        build_network("a.tsv", None, None, "out", alfa=0.01)
