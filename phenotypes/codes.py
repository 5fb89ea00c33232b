"""The clinical code book (conf/clinical_codes.yaml, given as a dict): which observation codes
are accepted, their canonical unit and conversions, physiological ranges, condition code
systems, and the device measure names."""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    key: str                 # "<system>|<code>"
    name: str                # short name (ldl_c, systolic_bp, ...)
    unit: str                # canonical unit
    units: dict              # accepted unit -> factor to the canonical unit
    low: float
    high: float

    @property
    def system(self) -> str:
        return self.key.split("|", 1)[0]

    @property
    def code(self) -> str:
        return self.key.split("|", 1)[1]


class CodeBook:
    def __init__(self, book: dict):
        self.measures = {k: Measure(k, v["name"], v["unit"], {str(u): float(f) for u, f in v["units"].items()},
                                    float(v["range"][0]), float(v["range"][1]))
                         for k, v in (book.get("observations") or {}).items()}
        self.panels = set(book.get("panels") or [])
        self.condition_systems = {}     # system URL -> (short name, compiled pattern)
        for short, spec in (book.get("conditions") or {}).items():
            for url in spec["systems"]:
                self.condition_systems[url] = (short, re.compile(spec["pattern"]))
        self.devices = {}
        for measure, key in (book.get("devices") or {}).items():
            if key not in self.measures:
                raise ValueError(f"clinical codes: device measure {measure!r} maps to {key!r}, "
                                 "which is not under observations")
            self.devices[measure] = self.measures[key]

    def measure(self, system: str | None, code: str | None) -> Measure | None:
        return self.measures.get(f"{system}|{code}")

    def names(self) -> set[str]:
        return {m.name for m in self.measures.values()}
