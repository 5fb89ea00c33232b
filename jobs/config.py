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
    _apply_dictionary(config["phenotypes"], source)
    columns = config["phenotypes"].get("columns", {})
    known = set(columns) | {config["phenotypes"]["sex_column"]}
    for t in [*config["traits"], *config["features"]]:
        derived = [k for k in ("conditions", "measure") if k in t]
        if len(derived) > 1 or (derived and t.get("column", t["name"]) != t["name"]) \
                or (not derived and "column" not in t):
            raise ConfigError(f"{source}: trait {t['name']!r} needs exactly one of column, conditions, measure")
        if "conditions" in t and t["type"] != "binary":
            raise ConfigError(f"{source}: trait {t['name']!r} comes from conditions, so its type must be binary")
        if "measure" in t and t["measure"].get("summary") == "share_above" and "threshold" not in t["measure"]:
            raise ConfigError(f"{source}: trait {t['name']!r}: summary share_above needs a threshold")
        if not derived and t["column"] not in known:
            raise ConfigError(f"{source}: trait {t['name']!r} uses column {t['column']!r}, "
                              f"which is not listed under phenotypes/columns")
        t.setdefault("column", t["name"])
    for c in config["covariates"]:
        if c != "sex" and c not in columns:
            raise ConfigError(f"{source}: covariate {c!r} is not listed under phenotypes/columns")
    names = [t["name"] for t in [*config["traits"], *config["features"]]]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: trait names must be unique, got {names}")
    return config


_DICT_KEYS = ("type", "min", "max", "codes", "unit", "description", "required")


def _apply_dictionary(pc: dict, source: str) -> None:
    """Fill ``phenotypes.columns`` from the data dictionary: every field but the sample ID, the
    sex column and direct identifiers (explicit ``columns`` entries win)."""
    path = pc.get("dictionary")
    if not path:
        return
    full = path if os.path.isabs(path) or os.path.exists(path) else str(SCHEMA_PATH.parent.parent / path)
    try:
        fields = (yaml.safe_load(open(full)) or {}).get("fields") or {}
    except OSError as e:
        raise ConfigError(f"{source}: phenotypes/dictionary {path}: {e.strerror}") from None
    cols = {}
    for name, spec in fields.items():
        if name in (pc["sample_id_column"], pc["sex_column"]) or spec.get("identifier") == "direct" \
                or spec.get("type") in ("id", "date"):
            continue
        cols[name] = {k: v for k, v in spec.items() if k in _DICT_KEYS}
        cols[name].setdefault("required", False)
    pc["columns"] = {**cols, **pc.get("columns", {})}


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
