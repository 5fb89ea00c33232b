"""Run configuration: load, validate against conf/config.schema.yaml (filling defaults), hash."""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "conf" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration does not match conf/config.schema.yaml."""


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def validate_config(config: dict, source: str = "config") -> dict:
    """Validate a config dict, fill schema defaults, check cross-field rules; return a copy."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    config = copy.deepcopy(config)
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        lines = [f"  - {'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors]
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(lines))
    columns = config["phenotypes"].get("columns", {})
    known = set(columns) | {config["phenotypes"]["sex_column"]}
    for t in config["traits"]:
        if t["column"] not in known:
            raise ConfigError(f"{source}: trait {t['name']!r} uses column {t['column']!r}, "
                              f"which is not listed under phenotypes/columns")
    for c in config["covariates"]:
        if c != "sex" and c not in columns:
            raise ConfigError(f"{source}: covariate {c!r} is not listed under phenotypes/columns")
    names = [t["name"] for t in config["traits"]]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: trait names must be unique, got {names}")
    return config


def load_config(path: str | os.PathLike) -> dict:
    with open(path) as fh:
        raw = yaml.safe_load(fh) or {}
    return validate_config(raw, source=str(path))


def config_hash(config: dict) -> str:
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def write_effective_config(config: dict, path: str) -> str:
    """Write the validated config (defaults filled) for the jobs; rewrite only on change so the
    file's age says when the configuration last changed."""
    text = yaml.safe_dump(config, sort_keys=True)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if not (os.path.exists(path) and open(path).read() == text):
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return path
