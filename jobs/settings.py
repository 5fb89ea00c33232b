"""The settings each workflow job reads, as rule ``params``: a changed setting reruns exactly the
jobs that read it (Snakemake's ``params`` rerun trigger); the jobs after them rerun because their
input stamps change. Inputs (VCFs, tables, FHIR files) are rule inputs, not settings."""
from __future__ import annotations

import json
import os

# Read by every job: where the lake and results are, and the cohort's name.
COMMON = ("cohort", "results", "lake", "delta_engine")

# The config sections each job (jobs/<name>.py and the helpers it uses) reads. Generous on
# purpose: a section listed needlessly costs a rerun; one missing would leave results stale.
JOB_SETTINGS: dict[str, tuple[str, ...]] = {
    "read_genotypes": ("reference_genome", "carriers", "privacy", "spark"),     # privacy: samples saved as pseudonyms
    "genotypes": ("reference_genome", "genotypes", "qc", "ancestry", "pca", "carriers", "linkage", "fhir",
                  "phenotypes", "traits", "features", "privacy", "spark"),
    "phenotypes": ("phenotypes", "traits", "features", "codes", "fhir", "devices", "consent",
                   "consent_feedback_column", "privacy", "linkage"),
    "cohort": ("qc", "split", "traits", "features", "covariates", "consent_feedback_column", "privacy"),
    "gwas_chunk": ("gwas", "traits", "covariates", "reference_genome", "spark"),
    "gwas": ("gwas", "traits", "covariates", "reference_genome", "spark"),
    "prs": ("prs", "gwas", "traits", "covariates", "reference_genome", "split", "spark"),
    "risk": ("traits", "covariates", "mlflow"),
    "reports": ("reports", "traits", "consent_feedback_column", "privacy"),
    "summary": ("traits",),
}


def settings_for(job: str, config: dict) -> str:
    """The JSON (sorted keys) of exactly the config sections ``job`` reads, absent sections omitted."""
    try:
        keys = COMMON + JOB_SETTINGS[job]
    except KeyError:
        raise ValueError(f"settings_for: unknown job {job!r} (one of {', '.join(JOB_SETTINGS)})") from None
    return json.dumps({k: config[k] for k in keys if k in config}, sort_keys=True, default=str)


def clinical_inputs(config: dict) -> list[str]:
    """The phenotype rule's clinical input files: each FHIR folder's *.json / *.ndjson[.gz] (so a
    new or changed extract reruns the ingest), FHIR files, and the device files.

    A FHIR folder or device file the example cohort writes (under ``example_cohort.out``) stands
    as the example's ``clinical_dirty.tsv`` (an output of the example_cohort rule) whether or not it
    exists yet, so the input set is the same on the first run and every run after it."""
    out = config["example_cohort"]["out"] if "example_cohort" in config else None

    def written_by_example(p: str) -> bool:
        return out is not None and os.path.normpath(p).startswith(os.path.normpath(out) + os.sep)

    paths = []
    for p in [*config["fhir"].get("paths", []), *(d["path"] for d in config["devices"])]:
        if written_by_example(p):
            paths.append(os.path.join(out, "clinical_dirty.tsv"))
        elif os.path.isdir(p):
            paths += sorted(os.path.join(p, f) for f in os.listdir(p) if not f.startswith(".")
                            and f.endswith((".json", ".ndjson", ".ndjson.gz")))
        else:
            paths.append(p)
    return list(dict.fromkeys(paths))


# -- resuming after a killed job -------------------------------------------------------------
# Snakemake does not rebuild a missing intermediate output while the outputs after it exist
# (a killed job's stamp is removed, the later stamps and summary.txt stay, and the next run
# says "Nothing to be done" or reruns the later jobs on stale inputs). So each job, as it
# starts, removes the outputs of every job downstream of it: after a kill, the chain from the
# killed job to the end is missing and the next run redoes exactly that chain.
STALE_ENV = "GENOLAKE_STALE"


def downstream_outputs(rules) -> dict[str, list[str]]:
    """For each rule (Snakemake ``Rule`` objects: ``name``, ``input``, ``output``,
    ``is_producer(path)``), the outputs of every rule downstream of it, transitively, sorted.
    An output with a wildcard stands as the folder before its first wildcard (all its files)."""
    rules = list(rules)
    children: dict[str, set[str]] = {r.name: set() for r in rules}
    for r in rules:
        for f in r.input:
            if callable(f) or "{" in str(f):
                continue
            for p in rules:
                if p is not r and p.is_producer(str(f)):
                    children[p.name].add(r.name)
    outputs = {r.name: [_as_removable(str(o)) for o in r.output] for r in rules}

    def below(name, seen):
        for c in children[name]:
            if c not in seen:
                seen.add(c)
                below(c, seen)
        return seen
    return {r.name: sorted({o for c in below(r.name, set()) if c != r.name for o in outputs[c]}) for r in rules}


def _as_removable(pattern: str) -> str:
    if "{" not in pattern:
        return pattern
    return os.path.dirname(pattern[:pattern.index("{")].rstrip(os.sep) + os.sep + "x")


def remove_stale_outputs(job: str, environ=os.environ) -> list[str]:
    """Remove the outputs downstream of ``job`` named in ``$GENOLAKE_STALE`` (set by the
    Snakefile); returns those that existed. Outside a workflow (no variable) nothing is removed."""
    import shutil
    stale = json.loads(environ.get(STALE_ENV) or "{}").get(job, [])
    removed = []
    for path in stale:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        elif os.path.lexists(path):
            os.remove(path)
            removed.append(path)
    return removed
