"""The pseudonymisation key and the private store (kept apart from the research lake).

Key: the environment variable named by ``privacy.key_env`` (default GENOLAKE_PSEUDONYM_KEY),
else the file ``privacy.key_file``. When neither exists a throwaway random key is created in
that file (mode 0600) and the job says so: pseudonyms are then stable for these results only.

Private store (``privacy.private_dir``, default ``<results>/private``): the ``linkage`` Delta
table (source kind, source identifier -> pseudonym) and the ``withdrawals`` register
(pseudonyms only, with the run that erased them), and the working copies of converted input VCFs
(``vcf_inputs/``). Research tables and the work files under ``<results>`` never hold source IDs.

Owner-only: the private folder and every folder in it are 0700, every file 0600. Each write here
runs under umask 0o077 (``owner_only``; delta-rs creates its files with the process umask) and
ends with ``restrict_private_dir`` (the folder and ``PRIVATE_ENTRIES``; a user's own files there are
left alone), which also tightens what an older version left 0755/0644.
The key itself is never written anywhere by a job, logged or recorded (the runs table holds none of it).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from contextlib import contextmanager

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


def vcf_work_dir(config: dict) -> str:
    """Where converted copies of the input VCFs (BCF, plain gzip -> bgzip) live: they hold the
    source sample IDs, so they sit in the private folder."""
    return os.path.join(private_dir(config), "vcf_inputs")


@contextmanager
def owner_only():
    """Files and folders created inside are owner-only (process umask 0o077, restored after)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def restrict_tree(path: str) -> None:
    """chmod ``path`` and every folder under it 0700, every file 0600 (symlinks left alone)."""
    if not os.path.isdir(path):
        return
    os.chmod(path, 0o700)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            if not os.path.islink(os.path.join(root, d)):
                os.chmod(os.path.join(root, d), 0o700)
        for f in files:
            if not os.path.islink(os.path.join(root, f)):
                os.chmod(os.path.join(root, f), 0o600)


def make_private_dir(config: dict) -> str:
    """Create the private folder (0700) if needed; return its path."""
    path = private_dir(config)
    with owner_only():
        os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o700)
    return path


# What GenoLake keeps in the private folder (other files there are the user's and left alone).
PRIVATE_ENTRIES = ("linkage", "withdrawals", "vcf_inputs", "pseudonym.key")


def restrict_private_dir(config: dict) -> None:
    """The private folder 0700; what GenoLake keeps there (``PRIVATE_ENTRIES`` and a key file
    inside it) owner-only: folders 0700, files 0600."""
    root = private_dir(config)
    if not os.path.isdir(root):
        return
    os.chmod(root, 0o700)
    entries = {os.path.join(root, e) for e in PRIVATE_ENTRIES}
    if os.path.dirname(os.path.abspath(key_file(config))) == os.path.abspath(root):
        entries.add(key_file(config))
    for path in entries:
        if os.path.isdir(path) and not os.path.islink(path):
            restrict_tree(path)
        elif os.path.isfile(path) and not os.path.islink(path):
            os.chmod(path, 0o600)


def load_key(config: dict, log=None) -> bytes:
    """The key from ``$<privacy.key_env>``, else from ``privacy.key_file``; else a throwaway key
    is created in the key file (0600, in a 0700 folder; written whole before it appears, so a
    job starting at the same moment never reads half a key)."""
    env = config["privacy"]["key_env"]
    if os.environ.get(env):
        return os.environ[env].encode("utf-8")
    path = key_file(config)
    if not os.path.exists(path):
        if os.path.abspath(os.path.dirname(path)) == os.path.abspath(private_dir(config)):
            make_private_dir(config)
        with owner_only():
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            tmp = f"{path}.{secrets.token_hex(8)}.tmp"
            with open(tmp, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)         # fails when another job created it at the same moment
            if log:
                log(f"no pseudonymisation key given (${env} or privacy.key_file): created a throwaway "
                    f"key in {path}; pseudonyms are stable only for runs that keep this file")
        except FileExistsError:
            pass
        finally:
            os.remove(tmp)
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o077 and log:
        log(f"WARNING: the pseudonymisation key file {path} is readable by others (mode {mode:o}); "
            f"make it owner-only (chmod 600)")
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
    # written whole, then linked into place: a job starting at the same moment sees either no
    # file or the whole one, never an empty one
    tmp = f"{path}.{secrets.token_hex(8)}.tmp"
    with open(tmp, "w") as fh:
        json.dump({"fingerprint": mine}, fh)
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        pass
    finally:
        os.remove(tmp)
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
    make_private_dir(config)
    lake = private_lake(config)
    links = links[LINK_COLUMNS].drop_duplicates(["source_kind", "source_id"], keep="last").astype("string")
    with owner_only():
        lake.merge("linkage", links, keys=["source_kind", "source_id"])
    restrict_private_dir(config)


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
    make_private_dir(config)
    lake = private_lake(config)
    df = pd.DataFrame({"participant_id": sorted(pids), "run_id": run_id}).astype("string")
    with owner_only():
        lake.merge("withdrawals", df, keys=["participant_id"])
        if lake.exists("linkage"):
            lake.erase("linkage", "participant_id", pids)
    restrict_private_dir(config)
