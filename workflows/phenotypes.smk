# Phenotypes: the table -> participants + quarantine; then the cohort with its split.

def clinical_inputs(wildcards=None):
    """The FHIR files (a folder's *.json / *.ndjson[.gz], so a new or changed extract reruns
    the ingest) and the device files. A folder the example cohort has yet to write stands for
    the example's clinical files."""
    paths = []
    for p in config["fhir"]["paths"]:
        if os.path.isdir(p):
            paths += sorted(os.path.join(p, f) for f in os.listdir(p) if not f.startswith(".")
                            and f.endswith((".json", ".ndjson", ".ndjson.gz")))
        elif not os.path.exists(p) and "example_cohort" in config:
            paths.append(os.path.join(config["example_cohort"]["out"], "clinical_dirty.tsv"))
        else:
            paths.append(p)
    return paths + [d["path"] for d in config["devices"]]


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
