"""Pseudonyms: a keyed hash (HMAC-SHA256) of a source identifier.

The same key gives the same pseudonym for the same identifier in every source (VCF sample
IDs, the phenotype table, FHIR Patient identifiers, device files), so sources link without
the identifier itself ever reaching a research table. Without the key a pseudonym cannot be
recomputed from a guessed identifier. Where the key comes from is the job's business.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Iterable

PREFIX = "P"
HEX_CHARS = 20      # 80 bits: no collision in practice for cohorts of millions


class Pseudonymiser:
    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("pseudonymisation key: at least 16 bytes are needed")
        self._key = key
        self._cache: dict[str, str] = {}

    def __call__(self, identifier: str) -> str:
        got = self._cache.get(identifier)
        if got is None:
            digest = hmac.new(self._key, identifier.strip().encode("utf-8"), hashlib.sha256).hexdigest()
            got = self._cache[identifier] = PREFIX + digest[:HEX_CHARS]
        return got

    def many(self, identifiers: Iterable[str]) -> list[str]:
        return [self(i) for i in identifiers]

    def __repr__(self) -> str:      # never show the key
        return "Pseudonymiser(<key>)"
