# Phenotypes: the table -> participants + quarantine; then the cohort with its split.

def clinical_inputs(wildcards=None):
    """FHIR files/folders and device files (a folder's files changing reruns the ingest)."""
    return [os.path.normpath(p) for p in config["fhir"]["paths"]] + [d["path"] for d in config["devices"]]


rule phenotypes:
    input:
        table=config["phenotypes"]["path"],
        vcfs=config["vcfs"],
        clinical=clinical_inputs,
    output:
        stamp=os.path.join(STAMPS, "phenotypes.json"),
    resources:
        mem_mb=2000,
    log: os.path.join(LOGS, "phenotypes.log"),
    benchmark: os.path.join(BENCH, "phenotypes.tsv"),
    shell: job("phenotypes") + " --stamp {output.stamp} > {log} 2>&1"


rule cohort:
    input:
        os.path.join(STAMPS, "genotypes.json"),
    output:
        stamp=os.path.join(STAMPS, "cohort.json"),
    resources:
        mem_mb=2000,
    log: os.path.join(LOGS, "cohort.log"),
    benchmark: os.path.join(BENCH, "cohort.tsv"),
    shell: job("cohort") + " --stamp {output.stamp} > {log} 2>&1"
