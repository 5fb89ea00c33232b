# Association: every trait on each block of the QC-passed genotype store as a Spark task
# (gwas.engine: spark), or the genome in gwas.chunks chunks of consecutive contig ranges, one
# Snakemake job each (gwas.engine: chunks); either way into the Delta table gwas_results, then
# loci, plots, pages.

GWAS_CHUNKS = config["gwas"]["chunks"]
GWAS_ON_SPARK = config["gwas"]["engine"] == "spark"


rule gwas_chunk:
    input:
        os.path.join(STAMPS, "cohort.json"),
    output:
        stamp=os.path.join(STAMPS, "gwas_chunk", f"{GWAS_CHUNKS}", "{c}.json"),
    wildcard_constraints:
        c=r"\d+",
    threads: 2 if GWAS_CHUNKS == 1 else 1
    resources:
        mem_mb=4000,
    params: settings=settings_for("gwas_chunk", config),
    log: os.path.join(LOGS, "gwas_chunk_{c}.log"),
    benchmark: os.path.join(BENCH, "gwas_chunk_{c}.tsv"),
    shell: job("gwas_chunk") + " --chunk {wildcards.c} --stamp {output.stamp} > {log} 2>&1"


rule gwas:
    input:
        [os.path.join(STAMPS, "cohort.json")] if GWAS_ON_SPARK else
        expand(os.path.join(STAMPS, "gwas_chunk", f"{GWAS_CHUNKS}", "{c}.json"), c=range(GWAS_CHUNKS)),
    threads: 2 if GWAS_ON_SPARK else 1
    output:
        stamp=os.path.join(STAMPS, "gwas.json"),
    resources:
        mem_mb=3000,
    params: settings=settings_for("gwas", config),
    log: os.path.join(LOGS, "gwas.log"),
    benchmark: os.path.join(BENCH, "gwas.tsv"),
    shell: job("gwas") + " --stamp {output.stamp} > {log} 2>&1"
