# Phenotypes: the table -> participants + quarantine; then the cohort with its split.

rule phenotypes:
    input:
        table=config["phenotypes"]["path"],   # no VCFs: phenotype ingest never reads them
        clinical=clinical_inputs(config),   # jobs/settings.py: the same set on every run
    output:
        stamp=os.path.join(STAMPS, "phenotypes.json"),
    resources:
        mem_mb=2000,
    params: settings=settings_for("phenotypes", config),
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
    params: settings=settings_for("cohort", config),
    log: os.path.join(LOGS, "cohort.log"),
    benchmark: os.path.join(BENCH, "cohort.tsv"),
    shell: job("cohort") + " --stamp {output.stamp} > {log} 2>&1"
