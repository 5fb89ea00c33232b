"""Run configuration: load, validate against conf/config.schema.yaml (filling defaults), hash."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from pathlib import Path

import jsonschema
import yaml

# The workflow tells its jobs the effective config's path in this variable (not on the command line,
# so the shell command, and Snakemake's code rerun trigger, do not change from one run to the next).
CONFIG_ENV = "GENOLAKE_CONFIG"

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
    refuse_inline_secrets(config, source)       # before the schema, whose messages quote values
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
    _check_output_paths(config, source)
    _check_encodings(config, source)
    _check_measure_names(config, source)
    _canonical_input_paths(config)
    return config


def _canonical(path: str) -> str:
    return path if "://" in path else os.path.realpath(path)


def _canonical_input_paths(config: dict) -> None:
    """Input data paths as absolute, resolved paths: the lake keys rows on their source file, and
    the same extract named by a relative, an absolute or a symlinked path must be one source."""
    config["vcfs"] = [_canonical(v) for v in config["vcfs"]]
    config["phenotypes"]["path"] = _canonical(config["phenotypes"]["path"])
    config["fhir"]["paths"] = [_canonical(p) for p in config["fhir"].get("paths", [])]
    for d in config["devices"]:
        d["path"] = _canonical(d["path"])
    if "example_cohort" in config and config["example_cohort"].get("out"):
        config["example_cohort"]["out"] = _canonical(config["example_cohort"]["out"])   # it writes those inputs


def _check_encodings(config: dict, source: str) -> None:
    import codecs
    keys = [("phenotypes.encoding", config["phenotypes"]["encoding"])]
    keys += [(f"devices[{i}].encoding", d["encoding"]) for i, d in enumerate(config["devices"]) if d.get("encoding")]
    for key, name in keys:
        try:
            codecs.lookup(name)
        except LookupError:
            raise ConfigError(f"{source}: {key}: unknown text encoding {name!r} (use a Python codec name: "
                              f"utf-8, latin-1, cp1252, ...)") from None


def _check_measure_names(config: dict, source: str) -> None:
    """Every trait / feature with a ``measure`` names a measure of the code book (``codes``).
    A code book that cannot be read is left to ``check_input_files`` and the phenotype job."""
    wanted = [(f"{kind}[{i}].measure", t["measure"]["name"])
              for kind in ("traits", "features") for i, t in enumerate(config[kind]) if "measure" in t]
    if not wanted:
        return
    path = config["codes"]
    full = path if os.path.isabs(path) or os.path.exists(path) else str(SCHEMA_PATH.parent.parent / path)
    try:
        book = yaml.safe_load(open(full)) or {}
    except (OSError, yaml.YAMLError):
        return
    known = sorted({str(v.get("name")) for v in (book.get("observations") or {}).values() if isinstance(v, dict)})
    for key, name in wanted:
        if name not in known:
            raise ConfigError(f"{source}: {key}: measure name {name!r} is not in the code book {path}; "
                              f"known names: {', '.join(known) or 'none'}")


_SECRET_WORDS = re.compile(r"key|secret|pass|token|credential", re.I)
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PRIVACY_KEYS = {"key_env", "key_file", "private_dir"}


def refuse_inline_secrets(config: dict, source: str) -> None:
    """Secrets come only from the environment or files: refuse a config that holds one inline
    (a key under ``privacy``, a password or token under ``mlflow``, credentials in a
    ``user:password@`` URI), naming the setting, never its value."""
    privacy = config.get("privacy") or {}
    mlflow = config.get("mlflow") or {}
    for k in (privacy if isinstance(privacy, dict) else {}):
        if k not in _PRIVACY_KEYS and _SECRET_WORDS.search(str(k)):
            raise ConfigError(f"{source}: privacy/{k}: the pseudonymisation key must not be in the config; "
                              f"put it in the environment variable named by privacy/key_env (default "
                              f"GENOLAKE_PSEUDONYM_KEY) or in a file named by privacy/key_file")
    env = privacy.get("key_env") if isinstance(privacy, dict) else None
    if isinstance(env, str) and not _ENV_NAME.match(env):
        raise ConfigError(f"{source}: privacy/key_env must name an environment variable (letters, digits "
                          f"and _, not starting with a digit), not hold the key itself; put the key in that "
                          f"variable or in a file named by privacy/key_file")
    for k, v in (mlflow.items() if isinstance(mlflow, dict) else ()):
        if _SECRET_WORDS.search(str(k)) or (isinstance(v, str) and _URL_PASSWORD.match(v)):
            raise ConfigError(f"{source}: mlflow/{k} holds a credential; tracking-server credentials come "
                              f"from the environment: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
                              f"(or MLFLOW_TRACKING_TOKEN), with a tracking_uri without user:password@")


# Characters delta-rs cannot take in a local table path (it panics: "Invalid object store url").
_LAKE_PATH_BAD_CHARS = "^[]|\\"


def _check_output_paths(config: dict, source: str) -> None:
    """Refuse output folders that hold Delta tables when their path has a character delta-rs rejects."""
    for key, path in (("results", config["results"]), ("lake", config["lake"]),
                      ("privacy/private_dir", config["privacy"].get("private_dir"))):
        bad = sorted({c for c in (path or "") if c in _LAKE_PATH_BAD_CHARS})
        if bad:
            raise ConfigError(f"{source}: {key} {path!r} contains {' '.join(map(repr, bad))}, which the Delta "
                              f"Lake library cannot use in a table path; choose a folder name without "
                              f"{' '.join(_LAKE_PATH_BAD_CHARS)}")


def input_files(config: dict) -> list[tuple[str, str]]:
    """Every input file or folder the config names, as (config key, path)."""
    files = [(f"vcfs/{i}", v) for i, v in enumerate(config["vcfs"])]
    pc = config["phenotypes"]
    files.append(("phenotypes/path", pc["path"]))
    if pc.get("dictionary"):
        files.append(("phenotypes/dictionary", pc["dictionary"]))
    files += [(f"fhir/paths/{i}", p) for i, p in enumerate(config["fhir"].get("paths", []))]
    files += [(f"devices/{i}/path", d["path"]) for i, d in enumerate(config["devices"])]
    if config["ancestry"].get("reference"):
        files.append(("ancestry/reference", config["ancestry"]["reference"]))
    files.append(("codes", config["codes"]))
    files.append(("consent/mapping", config["consent"]["mapping"]))
    return files


def check_input_files(config: dict, source: str = "config") -> None:
    """Stop before any job starts when an input file the config names is missing or unreadable.

    Paths under ``example_cohort.out`` are skipped when the example cohort is simulated (the
    workflow writes them); remote URLs (``scheme://``) are not checked. A relative path is looked
    up from the working folder, then from the repository (as the shipped ``conf/`` files are)."""
    example = config.get("example_cohort", {}).get("out") if "example_cohort" in config else None
    problems = []
    for key, path in input_files(config):
        if "://" in path:
            continue
        if example and os.path.realpath(path).startswith(os.path.realpath(example) + os.sep):
            continue
        full = path if os.path.isabs(path) or os.path.exists(path) else str(SCHEMA_PATH.parent.parent / path)
        if not os.path.exists(full):
            problems.append(f"  - {key}: {path}: no such file or folder; correct the path in the config")
        elif not os.access(full, os.R_OK):
            problems.append(f"  - {key}: {path}: not readable by this user; fix its permissions")
    if problems:
        raise ConfigError(f"{source}: input files missing or unreadable\n" + "\n".join(problems))


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
