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
    "genotypes": ("reference_genome", "qc", "ancestry", "pca", "carriers", "linkage", "fhir",
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
