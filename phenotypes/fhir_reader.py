"""FHIR R4 records (Bundles as JSON, bulk-export NDJSON) -> rows for the lake's tables.

Each resource is validated with the ``fhir.resources`` R4B models (R4B reads R4 for Patient,
Observation, Condition and Consent). A resource that fails validation, uses a code or unit the
code book does not accept, holds a value outside its physiological range, or refers to a
Patient that is in no extract goes to quarantine with the file, its record number (NDJSON line
or Bundle entry), the field and the reason; the rest of the file is still read. Only a file
that cannot be read at all (a Bundle that is not JSON) raises ``InputDataError``.

Every resource ends up exactly once: accepted, quarantined, or (its participant withdrew)
dropped, so per file read = accepted + quarantined + withdrawn.

No identifiers leave this module except as pseudonyms: Patient names, addresses, telecom and
exact birth dates are dropped (birth year kept); the sample identifier becomes the
participant's pseudonym.
"""
from __future__ import annotations

import codecs
import gzip
import json
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pandas as pd
from pydantic import ValidationError

from genomics.errors import InputDataError
from phenotypes.codes import CodeBook
from phenotypes.table_reader import decode_text

QUARANTINE_COLUMNS = ["source", "line", "record_id", "participant_id", "field", "reason", "record"]
OBSERVATION_COLUMNS = ["record_id", "participant_id", "code_system", "code", "name", "value", "unit",
                       "original_value", "original_unit", "time", "source_kind", "source"]
CONDITION_COLUMNS = ["record_id", "participant_id", "code_system", "code", "onset", "clinical_status",
                     "verification_status", "source"]
CONSENT_COLUMNS = ["record_id", "participant_id", "purpose", "granted", "status", "date", "source"]
PATIENT_COLUMNS = ["participant_id", "fhir_id", "sex", "birth_year", "source"]

_NOT_IN_FORCE = {"entered-in-error", "cancelled"}
_UTF8_ADVICE = "FHIR JSON is UTF-8: convert or re-export the file"


def _models():
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.consent import Consent
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient
    return {"Patient": Patient, "Observation": Observation, "Condition": Condition, "Consent": Consent}


@dataclass
class RawRecord:
    source: str
    line: int                  # NDJSON line, or Bundle entry number (1-based)
    resource: dict | None
    full_url: str | None = None
    problem: str | None = None  # set when the record is not a JSON object


def fhir_files(paths: list[str]) -> list[str]:
    """Files under ``paths`` (files, or folders holding *.json / *.ndjson / *.ndjson.gz)."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(os.path.join(p, f) for f in os.listdir(p)
                          if f.endswith((".json", ".ndjson", ".ndjson.gz")) and not f.startswith("."))
        elif os.path.exists(p):
            out.append(p)
        else:
            raise InputDataError(p, "file not found")
    return out


def iter_records(path: str) -> Iterator[RawRecord]:
    """The resources of one file. NDJSON: one per line (a line that is not JSON is a bad record,
    not a bad file). JSON: a Bundle (its entries) or one resource."""
    if path.endswith((".ndjson", ".ndjson.gz")):
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rb") as fh:
                for i, data in enumerate(fh, start=1):
                    text = decode_text(data[3:] if i == 1 and data.startswith(codecs.BOM_UTF8) else data,
                                       path, "utf-8", first_line=i, advice=_UTF8_ADVICE)
                    if not text.strip():
                        continue
                    try:
                        obj = json.loads(text)
                    except (json.JSONDecodeError, RecursionError):
                        yield RawRecord(path, i, None, problem="not valid JSON")
                        continue
                    if not isinstance(obj, dict):
                        yield RawRecord(path, i, None, problem="not a JSON object")
                    else:
                        yield RawRecord(path, i, obj)
        except (OSError, EOFError) as e:
            raise InputDataError(path, f"cannot be read ({type(e).__name__})") from None
        return
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise InputDataError(path, f"cannot be read ({type(e).__name__})") from None
    try:
        doc = json.loads(decode_text(data[3:] if data.startswith(codecs.BOM_UTF8) else data, path, "utf-8",
                                     advice=_UTF8_ADVICE))
    except json.JSONDecodeError as e:
        raise InputDataError(path, f"not valid JSON ({e.msg})", line=e.lineno) from None
    except RecursionError:
        raise InputDataError(path, "not valid JSON (nested too deeply)") from None
    if not isinstance(doc, dict) or "resourceType" not in doc:
        raise InputDataError(path, "not a FHIR resource or Bundle (no resourceType)", line=1)
    if doc["resourceType"] != "Bundle":
        yield RawRecord(path, 1, doc)
        return
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        raise InputDataError(path, "Bundle.entry is not a list", field="entry")
    for i, entry in enumerate(entries, start=1):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            yield RawRecord(path, i, None, problem="Bundle entry without a resource")
        else:
            url = entry.get("fullUrl")
            yield RawRecord(path, i, res, full_url=url if isinstance(url, str) else None)


@dataclass
class FhirExtract:
    patients: pd.DataFrame
    observations: pd.DataFrame
    conditions: pd.DataFrame
    consents: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict = field(default_factory=dict)     # file -> {read, accepted, quarantined, withdrawn}


class _Rejected(Exception):
    def __init__(self, field: str, reason: str, detail: dict | None = None):
        self.field, self.reason, self.detail = field, reason, detail or {}


def _timestamp(value) -> pd.Timestamp | None:
    if value is None:
        return None
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _codings(concept) -> list:
    return list(getattr(concept, "coding", None) or []) if concept is not None else []


def read_fhir(paths: list[str], sample_system: str, pseudonym: Callable[[str], str], codes: CodeBook,
              consent_map: dict, known_patients: dict | None = None, withdrawn: set | None = None) -> FhirExtract:
    """Read every FHIR file under ``paths``.

    ``sample_system``: the Patient.identifier system whose value is the sample ID (the ID in the
    VCFs and tables). ``known_patients``: FHIR Patient id -> participant pseudonym from earlier
    extracts (the linkage table). ``consent_map``: conf/consent_codes.yaml as a dict.
    ``withdrawn``: pseudonyms whose records are dropped (counted, never stored).
    """
    models = _models()
    withdrawn = withdrawn or set()
    files = fhir_files(paths)
    records: list[tuple[RawRecord, object]] = []
    counts = {f: {"read": 0, "accepted": 0, "quarantined": 0, "withdrawn": 0} for f in files}
    quarantine: list[dict] = []

    def reject(rec: RawRecord, field: str, reason: str, pid=None, detail=None):
        counts[rec.source]["quarantined"] += 1
        res = rec.resource or {}
        rid = f"{res.get('resourceType', '?')}/{res.get('id', '?')}" if rec.resource else ""
        quarantine.append({"source": rec.source, "line": rec.line, "record_id": rid, "participant_id": pid,
                           "field": field, "reason": reason,
                           "record": json.dumps(detail or {}, sort_keys=True, default=str)})

    # pass 1: validate every resource with its model
    for path in files:
        for rec in iter_records(path):
            counts[path]["read"] += 1
            if rec.problem:
                reject(rec, "", rec.problem)
                continue
            rtype = rec.resource.get("resourceType")
            model = models.get(rtype) if isinstance(rtype, str) else None
            if model is None:
                reject(rec, "resourceType", f"resource type not used: {str(rtype)[:40]}")
                continue
            try:
                records.append((rec, model.model_validate(rec.resource)))
            except ValidationError as e:
                err = e.errors()[0]
                loc = ".".join(str(x) for x in err.get("loc", ()))
                reject(rec, loc, f"invalid {rtype}: {err.get('msg', 'validation failed')}")

    # pass 2: Patients (the link from FHIR ids to participants)
    ref_to_pid = {f"Patient/{k}": v for k, v in (known_patients or {}).items()}
    patients = []
    for rec, m in records:
        if m.get_resource_type() != "Patient":
            continue
        sid = next((i.value for i in (m.identifier or []) if i.system == sample_system and i.value), None)
        if sid is None:
            reject(rec, "identifier", f"no identifier in the sample system {sample_system}")
            continue
        pid = pseudonym(sid)
        ref_to_pid[f"Patient/{m.id}"] = pid
        if rec.full_url:
            ref_to_pid[rec.full_url] = pid
        if pid in withdrawn:
            counts[rec.source]["withdrawn"] += 1
            continue
        sex = {"male": 1, "female": 0}.get(m.gender)
        birth_year = int(str(m.birthDate)[:4]) if m.birthDate is not None else None
        patients.append({"participant_id": pid, "fhir_id": m.id, "sex": sex, "birth_year": birth_year,
                         "source": rec.source})
        counts[rec.source]["accepted"] += 1

    observations, conditions, consents = [], [], []
    builders = {"Observation": (_observation_rows, observations), "Condition": (_condition_rows, conditions),
                "Consent": (_consent_rows, consents)}
    for rec, m in records:
        rtype = m.get_resource_type()
        if rtype == "Patient":
            continue
        ref = m.patient if rtype == "Consent" else m.subject
        pid = ref_to_pid.get(getattr(ref, "reference", None) or "")
        if pid is None:
            reject(rec, "patient" if rtype == "Consent" else "subject",
                   "refers to a Patient that is in no extract")
            continue
        if pid in withdrawn:
            counts[rec.source]["withdrawn"] += 1
            continue
        build, out = builders[rtype]
        try:
            rows = build(m, pid, rec.source, codes, consent_map)
        except _Rejected as r:
            reject(rec, r.field, r.reason, pid, r.detail)
            continue
        out.extend(rows)
        counts[rec.source]["accepted"] += 1

    def frame(rows, cols):
        return pd.DataFrame(rows, columns=cols)

    obs = frame(observations, OBSERVATION_COLUMNS)
    obs["time"] = pd.to_datetime(obs["time"], utc=True).astype("datetime64[us, UTC]")
    cond = frame(conditions, CONDITION_COLUMNS)
    cons = frame(consents, CONSENT_COLUMNS)
    q = frame(quarantine, QUARANTINE_COLUMNS)
    q["line"] = q["line"].astype("int64")
    pts = frame(patients, PATIENT_COLUMNS).drop_duplicates("participant_id", keep="last")
    pts["sex"] = pts["sex"].astype("Int8")
    pts["birth_year"] = pts["birth_year"].astype("Int32")
    return FhirExtract(pts, obs, cond, cons, q, counts)


def _observation_rows(m, pid, source, codes: CodeBook, _consent_map) -> list[dict]:
    if m.status in _NOT_IN_FORCE:
        raise _Rejected("status", f"observation status {m.status}")
    when = m.effectiveDateTime or (m.effectivePeriod.start if m.effectivePeriod else None) \
        or m.effectiveInstant or m.issued
    if when is None:
        raise _Rejected("effective[x]", "no effective time")
    t = _timestamp(when)
    parts = []
    keys = {f"{c.system}|{c.code}" for c in _codings(m.code)}
    if keys & codes.panels:
        parts = [(f"#{i}", comp.code, comp.valueQuantity) for i, comp in enumerate(m.component or [])]
        if not parts:
            raise _Rejected("component", "panel without components")
    else:
        parts = [("", m.code, m.valueQuantity)]
    rows = []
    for suffix, concept, q in parts:
        measure = next((codes.measure(c.system, c.code) for c in _codings(concept)
                        if codes.measure(c.system, c.code)), None)
        where = f"component{suffix}." if suffix else ""
        if measure is None:
            raise _Rejected(f"{where}code", "unknown code: not in conf/clinical_codes.yaml",
                            {"codes": sorted(f"{c.system}|{c.code}" for c in _codings(concept))})
        if q is None or q.value is None:
            raise _Rejected(f"{where}valueQuantity", "no value")
        unit = q.code or q.unit
        factor = measure.units.get(unit)
        if factor is None:
            raise _Rejected(f"{where}valueQuantity.unit", f"unit not accepted for {measure.name}",
                            {"unit": unit})
        value = float(q.value) * factor
        if not measure.low <= value <= measure.high:
            raise _Rejected(f"{where}valueQuantity.value",
                            f"out of physiological range for {measure.name} [{measure.low:g}, {measure.high:g}] {measure.unit}",
                            {"value": float(q.value), "unit": unit})
        rows.append({"record_id": f"fhir:Observation/{m.id}{suffix}", "participant_id": pid,
                     "code_system": measure.system, "code": measure.code, "name": measure.name,
                     "value": value, "unit": measure.unit, "original_value": float(q.value),
                     "original_unit": unit, "time": t, "source_kind": "fhir", "source": source})
    return rows


def _condition_rows(m, pid, source, codes: CodeBook, _consent_map) -> list[dict]:
    ver = next((c.code for c in _codings(m.verificationStatus)), None)
    if ver == "entered-in-error":
        raise _Rejected("verificationStatus", "condition entered in error")
    rows, bad = [], None
    for c in _codings(m.code):
        known = codes.condition_systems.get(c.system)
        if known is None:
            continue
        short, pattern = known
        if not c.code or not pattern.match(c.code):
            bad = (short, c.code)
            continue
        onset = m.onsetDateTime or (m.onsetPeriod.start if m.onsetPeriod else None)
        rows.append({"record_id": f"fhir:Condition/{m.id}|{short}|{c.code}", "participant_id": pid,
                     "code_system": short, "code": c.code,
                     "onset": _timestamp(onset).date() if onset is not None else None,
                     "clinical_status": next((x.code for x in _codings(m.clinicalStatus)), None),
                     "verification_status": ver, "source": source})
    if bad is not None:
        raise _Rejected("code.coding", f"malformed {bad[0]} code", {"code": bad[1]})
    if not rows:
        raise _Rejected("code.coding", "no ICD-10 or SNOMED CT code")
    return rows


def consent_purposes(m, consent_map: dict) -> list[str]:
    seen = set()
    for concept in [m.scope, *(m.category or []), *(m.policyRule and [m.policyRule] or [])]:
        seen |= {(c.system, c.code) for c in _codings(concept)}
    if m.provision is not None:
        seen |= {(c.system, c.code) for c in (m.provision.purpose or [])}
    return [p for p in ("research", "feedback")
            if any((e["system"], str(e["code"])) in seen for e in consent_map.get(p, []))]


def _consent_rows(m, pid, source, _codes, consent_map) -> list[dict]:
    purposes = consent_purposes(m, consent_map)
    # a research consent is about research; it grants feedback only when that is coded too
    if "feedback" in purposes and "research" in purposes and _only_scope_is_research(m, consent_map):
        purposes = ["feedback"]
    if not purposes:
        raise _Rejected("provision.purpose", "consent codes not in conf/consent_codes.yaml")
    ptype = m.provision.type if m.provision is not None else None
    if m.status == "active" and ptype in (None, "permit"):
        granted = True
    elif m.status in ("inactive", "rejected") or ptype == "deny":
        granted = False
    else:
        raise _Rejected("status", f"consent not in force (status {m.status})")
    date = _timestamp(m.dateTime)
    return [{"record_id": f"fhir:Consent/{m.id}#{p}", "participant_id": pid, "purpose": p, "granted": granted,
             "status": m.status, "date": date, "source": source} for p in purposes]


def _only_scope_is_research(m, consent_map) -> bool:
    """True when the research codes appear only in scope/category (the consent's kind), while
    its provision's purposes name feedback: then it is a feedback consent."""
    research = {(e["system"], str(e["code"])) for e in consent_map.get("research", [])}
    purposes = {(c.system, c.code) for c in ((m.provision.purpose or []) if m.provision else [])}
    return not (purposes & research)
