# Phenotypes: the table -> participants + quarantine; then the cohort with its split.

def clinical_inputs(wildcards=None):
    """FHIR files/folders and device files; those the example cohort writes come from its rule."""
    paths = list(config["fhir"]["paths"]) + [d["path"] for d in config["devices"]]
    if "example_cohort" in config:
        ex = os.path.normpath(config["example_cohort"]["out"])
        inside = [p for p in paths if os.path.normpath(p).startswith(ex + os.sep)]
        paths = [p for p in paths if p not in inside]
        if inside:
            paths.append(os.path.join(ex, "clinical_dirty.tsv"))
    return paths


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
