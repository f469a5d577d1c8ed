"""Config schema: the shipped configs validate, defaults fill in, typos and bad values are rejected."""

import copy
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator, ValidationError, validators

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def _with_defaults(cls):
    validate_props = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        for prop, sub in properties.items():
            if isinstance(instance, dict) and "default" in sub:
                instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_props(validator, properties, instance, schema)

    return validators.extend(cls, {"properties": set_defaults})


Filler = _with_defaults(Draft202012Validator)


def _validate(cfg):
    Filler(SCHEMA).validate(cfg)
    return cfg


CONFIGS = [
    *sorted((ROOT / "config").glob("config*.yaml")),
    *sorted((ROOT / "tests/e2e").glob("*/config.yaml")),
]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_configs_validate(path):
    _validate(yaml.safe_load(path.read_text()))


def test_empty_config_gets_every_default():
    cfg = _validate({})
    assert cfg["on_bad_sample"] == "stop"
    assert cfg["qc"]["fastp"]["min_length"] == 50
    assert cfg["taxonomy"]["sylph"]["min_ani"] == 95
    assert cfg["taxonomy"]["ranks"] == ["species", "genus", "family", "phylum"]


def test_every_key_has_description_and_default():
    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub or sub.get("type") == "object", (
                f"{path}{key}: no description"
            )
            assert "default" in sub, f"{path}{key}: no default"
            if sub.get("type") == "object":
                assert sub.get("additionalProperties") is False, f"{path}{key}: allows unknown keys"
                walk(sub, f"{path}{key}.")

    walk(SCHEMA, "")


@pytest.mark.parametrize(
    "bad",
    [
        {"qc": {"fastp": {"min_lenght": 30}}},  # typo
        {"on_bad_sample": "ignore"},
        {"taxonomy": {"sylph": {"min_ani": 120}}},
        {"taxonomy": {"profilers": ["sylph", "sylph"]}},
        {"host_removal": {"extra": "--sensitive; rm -rf /"}},  # shell metacharacters
    ],
)
def test_typos_and_out_of_range_are_rejected(bad):
    with pytest.raises(ValidationError):
        _validate(bad)
