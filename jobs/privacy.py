"""The pseudonymisation key and the private store (kept apart from the research lake).

Key: the environment variable named by ``privacy.key_env`` (default GENOLAKE_PSEUDONYM_KEY),
else the file ``privacy.key_file``. When neither exists a throwaway random key is created in
that file (mode 0600) and the job says so: pseudonyms are then stable for these results only.

Private store (``privacy.private_dir``, default ``<results>/private``): the ``linkage`` Delta
table (source kind, source identifier -> pseudonym) and the ``withdrawals`` register
(pseudonyms only, with the run that erased them). Research tables never hold source IDs.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets

import pandas as pd

from genomics.errors import GenoLakeError
from jobs.lake import open_lake
from phenotypes.pseudonyms import Pseudonymiser

LINK_COLUMNS = ["source_kind", "source_id", "participant_id"]


def key_file(config: dict) -> str:
    p = config["privacy"]
    return p.get("key_file") or os.path.join(private_dir(config), "pseudonym.key")


def private_dir(config: dict) -> str:
    return config["privacy"].get("private_dir") or os.path.join(config["results"], "private")


def load_key(config: dict, log=None) -> bytes:
    env = config["privacy"]["key_env"]
    if os.environ.get(env):
        return os.environ[env].encode("utf-8")
    path = key_file(config)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            if log:
                log(f"no pseudonymisation key given (${env} or privacy.key_file): created a throwaway "
                    f"key in {path}; pseudonyms are stable only for runs that keep this file")
        except FileExistsError:
            pass      # another job created it at the same moment
    with open(path) as fh:
        key = fh.read().strip()
    if not key:
        raise ValueError(f"pseudonymisation key file {path} is empty")
    return key.encode("utf-8")


def pseudonymiser(config: dict, log=None) -> Pseudonymiser:
    key = load_key(config, log)
    check_lake_key(config["lake"], key)
    return Pseudonymiser(key)


class KeyMismatchError(GenoLakeError):
    """The lake's pseudonyms were made with another key."""
    exit_code = 4


def key_fingerprint(key: bytes) -> str:
    """A keyed digest that names the key without revealing it (16 hex characters)."""
    return hmac.new(key, b"genolake pseudonym-key fingerprint v1", hashlib.sha256).hexdigest()[:16]


def check_lake_key(lake_root: str, key: bytes) -> None:
    """The lake records the fingerprint of the key that made its pseudonyms (first writer wins,
    ``<lake>/_genolake/pseudonym_key.json``); a run with another key is refused before it writes
    a row, so two configs sharing a lake can never mix two pseudonym sets."""
    if "://" in lake_root:
        return                   # object stores: not checked here (see README, "Privacy")
    folder = os.path.join(lake_root, "_genolake")
    path = os.path.join(folder, "pseudonym_key.json")
    mine = key_fingerprint(key)
    os.makedirs(folder, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as fh:
            json.dump({"fingerprint": mine}, fh)
        return
    except FileExistsError:
        pass
    with open(path) as fh:
        theirs = json.load(fh).get("fingerprint")
    if theirs != mine:
        raise KeyMismatchError(
            f"the lake {lake_root} holds pseudonyms made with another key (fingerprint {theirs}; this run's "
            f"key has {mine}): give this run the lake's key (privacy.key_env or privacy.key_file), or use "
            "another lake; nothing was written")


def private_lake(config: dict):
    return open_lake(private_dir(config), "delta-rs")


def update_linkage(config: dict, links: pd.DataFrame) -> None:
    lake = private_lake(config)
    links = links[LINK_COLUMNS].drop_duplicates(["source_kind", "source_id"], keep="last").astype("string")
    lake.merge("linkage", links, keys=["source_kind", "source_id"])


def read_linkage(config: dict) -> pd.DataFrame:
    lake = private_lake(config)
    if not lake.exists("linkage"):
        return pd.DataFrame(columns=LINK_COLUMNS, dtype="string")
    return lake.read("linkage")


def withdrawn(config: dict) -> set[str]:
    lake = private_lake(config)
    return set(lake.read("withdrawals")["participant_id"]) if lake.exists("withdrawals") else set()


def register_withdrawals(config: dict, pids: set[str], run_id: str) -> None:
    """Remember erased pseudonyms (so later extracts' records of theirs are dropped) and drop
    their linkage rows."""
    if not pids:
        return
    lake = private_lake(config)
    df = pd.DataFrame({"participant_id": sorted(pids), "run_id": run_id}).astype("string")
    lake.merge("withdrawals", df, keys=["participant_id"])
    if lake.exists("linkage"):
        lake.erase("linkage", "participant_id", pids)
